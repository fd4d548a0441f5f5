"""Fuzzing Meta's WhatsApp Cloud API webhook: JSON of every shape, encodings, sizes, signatures, and
the GET verification handshake.

Every example asserts: never a 5xx, the server still answers, a body without a valid
X-Hub-Signature-256 is refused and leaves nothing behind, and a message id (wamid) is stored at
most once (with its receipt), in values PostgreSQL would take.
"""
from __future__ import annotations

import itertools
import json
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import quote_from_bytes

from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict
from yarl import URL as RequestURL

from tests.support import fuzzing, signers
from tests.support.fuzzing import JSONObject, RawJSON, Stored
from tests.support.platforms import WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN

PATH = "/webhooks/whatsapp"
# A wamid no earlier example sent: each example makes "wamid.FRESH<n>" its own (Hypothesis repeats
# its simplest values often, and a wamid seen before is a redelivery, stored nowhere).
FRESH = "wamid.FRESH"
examples = itertools.count()
# Small pools, so the same wamid comes again in the same body and in later examples (a redelivery).
WAMIDS = ("wamid.A1", "wamid.B2", "wamid.C3", " wamid.D4 ", "wamid." + "E" * 60)
SENDERS = ("447700900123", "+447700900124", "15005550006")
ODD_SENDERS = ("4477009001", "٤٤٧٧٠٠٩٠٠١٢٣", "44 7700 900125", "+", "", "0" * 300, "+-447700900123")
TYPES = ("text", "interactive", "button", "image", "audio", "video", "document", "sticker", "location", "contacts")
ODD_TYPES = ("reaction", "unsupported", "system", "", "TEXT", " text")
KEYS = ("object", "entry", "changes", "field", "value", "messages", "statuses", "metadata", "from", "id",
        "timestamp", "type", "text", "body", "interactive", "button_reply", "list_reply", "title",
        "payload", "caption", "display_phone_number")


def signed_headers(body: bytes, content_type: Optional[str] = "application/json") -> CIMultiDict:
    """Meta's signature over `body`, with `content_type` (none when None)."""
    headers = CIMultiDict({"X-Hub-Signature-256": signers.meta_signature(WHATSAPP_APP_SECRET, body)})
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


async def post(client, body: bytes, headers: Mapping[str, str]):
    """POST `body` as it is (no Content-Type is added when the headers have none)."""
    return await client.post(PATH, data=body, headers=headers, skip_auto_headers=["Content-Type"])


# Numbers Python cannot parse make a whole body 400: the shape test leaves them to the JSON test.
ANY_JSON = fuzzing.json_documents(KEYS, max_leaves=4, huge_numbers=False)
# Built once: a strategy made inside a draw is validated again on every draw.
TEXT = st.one_of(fuzzing.hostile_text(40), st.sampled_from(["options", "handoff", "STOP", "lips swelling"]),
                 st.integers(2000, 8000).map(lambda n: "long " * n))
# Each message, and each level of the body around it, is as Meta sends it except at most one part:
# that part is odd (a value no sender sends) or wrong (any JSON value in its place).
GOOD = {
    "from": st.sampled_from(SENDERS),
    "id": st.one_of(st.integers(0, 3).map(f"{FRESH}{{}}".format), st.sampled_from(WAMIDS)),
    "timestamp": st.one_of(st.integers(0, 2**40).map(str), st.integers(0, 2**31)),
    "type": st.sampled_from(TYPES),
}
ODD = {
    "from": st.one_of(st.sampled_from(ODD_SENDERS), fuzzing.hostile_text(20), ANY_JSON),
    "id": st.one_of(fuzzing.hostile_text(20), st.sampled_from(["", "   ", "wamid." + "x" * 200, "wamid.\x00"]),
                    ANY_JSON),
    "timestamp": st.one_of(st.sampled_from(["-1", "1e10", "99999999999999999999", "now", 1e300, -5, 2**70, "NaN"]),
                           ANY_JSON),
    "type": st.one_of(st.sampled_from(ODD_TYPES), ANY_JSON),
    "content": ANY_JSON,
}
MESSAGE_PARTS = st.sampled_from([None] * 6 + ["from", "id", "timestamp", "type", "content"])
BODY_PARTS = st.sampled_from([None] * 8 + ["object", "entry", "changes", "field", "value", "messages", "metadata",
                                           "statuses"])


def content(draw, kind: str, odd: bool) -> Any:
    """The part of a message of type `kind` that holds what the patient wrote or pressed."""
    if odd:
        return draw(ODD["content"])
    if kind == "text":
        return {"body": draw(TEXT)}
    if kind == "interactive":
        reply_kind = draw(st.sampled_from(["button_reply", "list_reply", "nfm_reply"]))
        return {"type": reply_kind, reply_kind: {"id": draw(st.sampled_from(["/faq_pain", "/ask_cost", ""])),
                                                 "title": draw(TEXT)}}
    if kind == "button":
        return {"text": draw(TEXT), "payload": draw(TEXT)}
    return {"id": "media1", "caption": draw(TEXT)}


@st.composite
def messages(draw) -> Dict[str, Any]:
    """One entry of value.messages[], at most one part of it odd or wrong."""
    odd = draw(MESSAGE_PARTS)
    message = {part: draw(ODD[part] if part == odd else GOOD[part]) for part in ("from", "id", "timestamp", "type")}
    kind = message["type"] if isinstance(message["type"], str) else "text"
    message[kind] = content(draw, kind, odd == "content")
    return message


MESSAGE_LISTS = st.lists(messages(), min_size=1, max_size=3)


@st.composite
def webhook_bodies(draw) -> Tuple[bytes, int]:
    """(JSON text of a webhook, how many message entries it holds at most): Meta's shape with at most one
    level odd or wrong, a key repeated, the same message twice in one body."""
    odd = draw(BODY_PARTS)

    def part(name: str, good: Any) -> Any:
        return draw(ANY_JSON) if name == odd else good

    batch = draw(MESSAGE_LISTS)
    if draw(st.booleans()):
        batch.append(batch[0])  # the same wamid twice in one body
    metadata = {"display_phone_number": draw(st.sampled_from(["447700900999", "+44 7700 900999", ""])),
                "phone_number_id": "1234567890"}
    value = {"messaging_product": "whatsapp", "metadata": part("metadata", metadata),
             "contacts": [{"wa_id": "447700900123", "profile": {"name": draw(fuzzing.hostile_text(10))}}],
             "messages": part("messages", batch)}
    if draw(st.booleans()) or odd == "statuses":
        value["statuses"] = part("statuses", [{"id": "wamid.out1", "status": "delivered"}])
    change = {"field": part("field", draw(st.sampled_from(["messages"] * 4 + ["statuses"]))),
              "value": part("value", value)}
    entry = {"id": "1", "changes": part("changes", [change] * draw(st.integers(1, 2)))}
    pairs: List[Tuple[str, Any]] = [("object", part("object", "whatsapp_business_account")),
                                    ("entry", part("entry", [entry] * draw(st.integers(1, 2))))]
    if draw(st.integers(0, 4)) == 4:  # a repeated key: JSON parsers keep the last one
        pairs.insert(0, (draw(st.sampled_from(["object", "entry"])), draw(ANY_JSON)))
    return fuzzing.json_text(JSONObject(tuple(pairs))).encode("utf-8", "surrogatepass"), len(batch) * 4


@settings(max_examples=150)
@given(document=webhook_bodies())
async def test_signed_webhooks_of_any_shape_are_answered_never_500_and_stored_once(
        client, session_factory, replies_done, caplog, document):
    body, most = document
    body = body.replace(FRESH.encode(), f"wamid.E{next(examples)}.".encode())
    caplog.clear()
    before = Stored.now(session_factory)
    response = await post(client, body, signed_headers(body))
    await replies_done()
    after = Stored.now(session_factory)
    event(f"status {response.status}")
    assert response.status in (200, 400, 413), await response.text()
    assert fuzzing.errors_logged(caplog.records) == []
    if response.status == 200:
        received = (await response.json())["received"]
        event(f"received {min(received, 2)}+, stored {min(after.inbound - before.inbound, 2)}+")
        assert 0 <= after.inbound - before.inbound == after.receipts - before.receipts <= received <= most
    else:
        assert after == before
    fuzzing.assert_consistent(session_factory)
    assert fuzzing.personal_data_logged(caplog.records, "long " * 10, "447700900123", "447700900124") == []
    await fuzzing.assert_still_answering(client)


LONE_SURROGATE_TEXT = json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {
    "messages": [{"from": "447700900123", "id": "wamid.S1", "type": "text", "text": {"body": "hi \ud83d"}}]}}]}]})


@settings(max_examples=120)
@given(document=fuzzing.json_documents(KEYS, max_leaves=30))
@example(document=fuzzing.nested(100_000))
@example(document=fuzzing.nested(60_000, '{"a":', "}"))
@example(document=RawJSON(LONE_SURROGATE_TEXT))
@example(document=RawJSON('{"object": "whatsapp_business_account", "entry": [], "entry": ' + "1" * 5000 + "}"))
async def test_signed_json_of_any_kind_and_depth_gets_200_or_400(
        client, session_factory, replies_done, caplog, document):
    caplog.clear()
    body = fuzzing.json_text(document).encode("utf-8", "surrogatepass")
    before = Stored.now(session_factory)
    response = await post(client, body, signed_headers(body))
    await replies_done()
    event(f"status {response.status}")
    assert response.status in (200, 400, 413), await response.text()
    assert fuzzing.errors_logged(caplog.records) == []
    if response.status != 200:
        assert Stored.now(session_factory) == before
    fuzzing.assert_consistent(session_factory)
    await fuzzing.assert_still_answering(client)


@settings(max_examples=120)
@given(body=st.one_of(fuzzing.raw_bodies(), st.sampled_from([
           '{"object": "whatsapp_business_account", "entry": []}'.encode("utf-16"),
           '{"object": "whatsapp_business_account", "entry": []}'.encode("utf-32"),
           "\ufeff{}".encode("utf-8"), b'{"a": "\xff"}', b"\xef\xbb\xbf[]", b"", b"null", b"NaN"])),
       content_type=fuzzing.content_types(), signed=st.booleans())
async def test_arbitrary_bytes_never_get_a_5xx_and_unsigned_ones_are_refused(
        client, session_factory, replies_done, caplog, body, content_type, signed):
    caplog.clear()
    before = Stored.now(session_factory)
    headers = signed_headers(body, content_type) if signed else CIMultiDict(
        {"Content-Type": content_type} if content_type is not None else {})
    response = await post(client, body, headers)
    await replies_done()
    assert response.status < 500, await response.text()
    assert fuzzing.errors_logged(caplog.records) == []
    if signed:
        assert response.status in (200, 400)
    else:
        assert response.status == 403 and Stored.now(session_factory) == before
    fuzzing.assert_consistent(session_factory)
    await fuzzing.assert_still_answering(client)


WELL_FORMED = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
    "field": "messages", "value": {"messages": [{"from": "447700900123", "id": "wamid.unsigned", "timestamp": "1",
                                                 "type": "text", "text": {"body": "what is mesotherapy"}}]}}]}]}).encode()


def bad_signatures() -> st.SearchStrategy[Optional[str]]:
    """No header, noise, the prefix alone, a real HMAC over something else or under another secret, cut short."""
    right = signers.meta_signature(WHATSAPP_APP_SECRET, WELL_FORMED)
    latin1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                     max_size=80).map(str.strip)
    hex_digits = st.text(st.sampled_from("0123456789abcdef"), min_size=64, max_size=64)
    return st.one_of(
        st.none(), st.just(""), latin1, hex_digits.map(lambda digits: "sha256=" + digits),
        st.sampled_from(["sha256=", "sha256", right[len("sha256="):], right[:-1], right + "0", "sha1=" + right[7:],
                         "sha256=" + right[7:].replace("a", "g"), right.replace("sha256=", "sha256= x"),
                         signers.meta_signature("other-secret", WELL_FORMED),
                         signers.meta_signature(WHATSAPP_APP_SECRET, WELL_FORMED + b" "),
                         signers.meta_signature(WHATSAPP_APP_SECRET, b"")]),
    ).filter(lambda signature: signature is None or signature.lower() != right)


@settings(max_examples=60)
@given(signature=bad_signatures())
async def test_without_a_valid_signature_nothing_is_stored(client, session_factory, engine, signature):
    before, calls = Stored.now(session_factory), len(engine.calls)
    headers = CIMultiDict({"Content-Type": "application/json"})
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    response = await post(client, WELL_FORMED, headers)
    assert response.status == 403
    assert Stored.now(session_factory) == before and len(engine.calls) == calls
    await fuzzing.assert_still_answering(client)


# ---- the GET verification handshake ------------------------------------------------------------

PARAM_VALUES = st.one_of(
    st.sampled_from([b"subscribe", b"Subscribe", WHATSAPP_VERIFY_TOKEN.encode(), WHATSAPP_VERIFY_TOKEN.encode() + b" ",
                     WHATSAPP_VERIFY_TOKEN.upper().encode(), b"", b"1158201444"]),
    st.binary(max_size=12), st.sampled_from([b"\xff\xfe", b"\xed\xa0\x80", b"\xc3", b"caf\xc3\xa9", b"\x00"]),
    st.integers(1, 5000).map(lambda n: b"9" * n),
)
PARAM_NAMES = st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge", "hub.mode", "hub.verify_token",
                               "hub.challenge", "hub%2Emode", "hub.Mode", "x"])


LONG_QUERY = 8000


def first(pairs: List[Tuple[str, bytes]], name: str) -> Optional[bytes]:
    """The first value of parameter `name` as the server reads the query ("%2E" is a ".")."""
    return next((value for key, value in pairs if key.replace("%2E", ".") == name), None)


@settings(max_examples=120)
@given(pairs=st.lists(st.tuples(PARAM_NAMES, PARAM_VALUES), max_size=6))
@example(pairs=[("hub.mode", b"subscribe"), ("hub.verify_token", WHATSAPP_VERIFY_TOKEN.encode()),
                ("hub.challenge", b"\xed\xa0\x80")])
@example(pairs=[("hub.mode", b"subscribe"), ("hub.verify_token", WHATSAPP_VERIFY_TOKEN.encode()),
                ("hub.challenge", b"\xff")])
async def test_the_verification_handshake_echoes_only_for_our_token(client, pairs):
    query = "&".join(f"{key}={quote_from_bytes(value, safe='')}" for key, value in pairs)
    response = await client.get(RequestURL(f"{PATH}?{query}", encoded=True))
    if len(query) > LONG_QUERY and response.status == 400:
        return  # aiohttp's parser refuses a request line past about 8 KiB before any handler runs
    assert response.status in (200, 403), await response.text()
    mode, token, challenge = (first(pairs, name) for name in ("hub.mode", "hub.verify_token", "hub.challenge"))
    if response.status == 200:
        assert mode == b"subscribe" and token == WHATSAPP_VERIFY_TOKEN.encode() and challenge
        if challenge.isascii():  # other bytes are echoed as the query parser decodes them
            assert await response.text() == challenge.decode("ascii")
    elif mode == b"subscribe" and token == WHATSAPP_VERIFY_TOKEN.encode():
        assert not challenge
    await fuzzing.assert_still_answering(client)
