"""Fuzzing the Twilio webhook (SMS and WhatsApp through Twilio): form fields, encodings, sizes, signatures.

Every example asserts what a platform and a patient would see: never a 5xx, the server still
answers, a request without a valid X-Twilio-Signature is refused and leaves nothing behind, and a
MessageSid is stored at most once (with its receipt), in values PostgreSQL would take.
"""
from __future__ import annotations

import itertools
from typing import Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import parse_qsl, urlencode

from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict
from sqlalchemy import select
from yarl import URL as RequestURL

from bot.channels.twilio import EMPTY_TWIML
from bot.db.models import InboundReceipt
from tests.support import fuzzing, signers
from tests.support.fuzzing import Stored
from tests.support.platforms import TWILIO_AUTH_TOKEN

PATH = "/webhooks/twilio"
URL = "https://bot.clinic.example" + PATH
FORM_TYPE = "application/x-www-form-urlencoded"
# A small pool, so the same MessageSid comes again in later examples (a redelivery).
SIDS = ("SM" + "a" * 32, "SM" + "b" * 32, "MM" + "c" * 32, " SM" + "d" * 32 + " ", "SM" + "e" * 32)
PHONES = ("+447700900123", "whatsapp:+447700900124", "+15005550006", "WhatsApp: +44 7700 900125", "tel:+447700900126")
KEYS = ("MessageSid", "From", "To", "Body", "NumMedia", "ButtonPayload", "AccountSid", "MediaUrl0", "SmsSid")
REFUSED = (400, 403, 413, 415)  # what a request that is not Twilio's may get; never stored
# A MessageSid no earlier example sent: each example makes "SMFRESH<n>" its own (Hypothesis repeats
# its simplest values often, and a MessageSid seen before is a redelivery, stored nowhere).
FRESH = "SMFRESH"
examples = itertools.count()


def long_text(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """One character repeated (cheap to make, any size), sometimes after a word."""
    return st.tuples(st.sampled_from(["", "hello "]), st.characters(exclude_categories=("Cs",)),
                     st.integers(min_size, max_size)).map(lambda t: t[0] + t[1] * t[2])


def field_value(pool: Sequence[str] = ()) -> st.SearchStrategy[str]:
    """A form value: from `pool`, any text, numbers written oddly, or very long."""
    odd_numbers = st.sampled_from(["0", "-1", "1e3", "9" * 400, "NaN", " 2 ", "٣", "0x10", "1_000"])
    return st.one_of(st.sampled_from(list(pool) or [""]), fuzzing.wire_text(30), odd_numbers,
                     long_text(100, 5000))


ODD_VALUE = field_value(PHONES + SIDS)
BODY = st.one_of(fuzzing.wire_text(60), long_text(1500, 4000),
                 st.sampled_from(["STOP", "help", "options", "handoff", "2", "lips swelling", "/faq_pain"]))
# Each form is as Twilio posts it except that at most one field is odd or missing; unknown fields,
# a repeated key (the last value counts) and thousands of fields come on top.
GOOD = {
    "MessageSid": st.one_of(st.integers(0, 3).map(f"{FRESH}{{}}".format), st.sampled_from(SIDS)),
    "From": st.sampled_from(PHONES),
    "Body": BODY,
    "To": st.sampled_from(["+447700900999", "whatsapp:+447700900998", "", "+1"]),
    "NumMedia": st.sampled_from(["0", "1", "2"]),
    "ButtonPayload": st.sampled_from(["", "/faq_pain", "/ask_cost"]),
    "AccountSid": st.just("AC" + "0" * 32),
}
OPTIONAL = ("To", "NumMedia", "ButtonPayload", "AccountSid")
FIELDS = st.sampled_from([None] * 5 + list(GOOD))
EXTRA_FIELDS = st.lists(st.tuples(st.one_of(st.sampled_from(KEYS), fuzzing.wire_text(10)), ODD_VALUE), max_size=3)


@st.composite
def twilio_forms(draw) -> List[Tuple[str, str]]:
    """Twilio's fields with at most one odd and one missing, unknown fields, repeats, sometimes thousands."""
    odd, missing = draw(FIELDS), draw(FIELDS)
    pairs = [(key, draw(ODD_VALUE if key == odd else GOOD[key])) for key in GOOD
             if key != missing and (key not in OPTIONAL or draw(st.booleans()))]
    pairs += draw(EXTRA_FIELDS)
    pairs += [(f"Extra{n}", "x") for n in range(draw(st.sampled_from([0, 0, 0, 50, 3000])))]
    return draw(st.permutations(pairs)) if draw(st.booleans()) else pairs


def fresh(pairs: Sequence[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """The pairs with "SMFRESH<n>" made this example's own (a MessageSid no earlier example sent)."""
    number = next(examples)
    return [(key, value.replace(FRESH, f"SMF{number:08d}x")) for key, value in pairs]


def as_read(pairs: Sequence[Tuple[str, str]]) -> Dict[str, str]:
    """The fields as the webhook reads them: a repeated key keeps its last value."""
    return dict(pairs)


def form_headers(signature: Optional[str], content_type: Optional[str] = FORM_TYPE) -> CIMultiDict:
    """Content-Type (unless None) and X-Twilio-Signature (unless None)."""
    headers: CIMultiDict = CIMultiDict()
    if content_type is not None:
        headers["Content-Type"] = content_type
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return headers


async def post(client, body: bytes, headers: Mapping[str, str], path: str = PATH):
    """POST `body` to `path`, both exactly as given (no Content-Type is added when the headers have none)."""
    return await client.post(RequestURL(path, encoded=True), data=body, headers=headers,
                             skip_auto_headers=["Content-Type"])


def receipt_exists(sessions, sid: str) -> bool:
    with sessions() as session:
        return session.execute(select(InboundReceipt.id).where(
            InboundReceipt.channel_message_id == sid.strip())).first() is not None


@settings(max_examples=120)
@given(pairs=twilio_forms(), charset=st.sampled_from(["", "; charset=utf-8", "; charset=UTF-8"]))
@example(pairs=[("MessageSid", SIDS[0]), ("From", PHONES[0]), ("Body", "hello\x00there")], charset="")
@example(pairs=[("MessageSid", "SM" + "f" * 200), ("From", PHONES[0]), ("Body", "hi")], charset="")
async def test_signed_forms_are_answered_or_refused_never_500_and_stored_once(
        client, session_factory, replies_done, caplog, pairs, charset):
    caplog.clear()
    pairs = fresh(pairs)
    form = as_read(pairs)
    before = Stored.now(session_factory)
    response = await post(client, urlencode(pairs).encode("ascii"),
                          form_headers(signers.twilio_signature(TWILIO_AUTH_TOKEN, URL, form), FORM_TYPE + charset))
    await replies_done()
    after = Stored.now(session_factory)
    event(f"status {response.status}, stored {after.inbound - before.inbound}")
    assert response.status in (200, 400, 413), await response.text()
    assert fuzzing.errors_logged(caplog.records) == []
    if response.status == 200:
        assert await response.text() == EMPTY_TWIML
        assert receipt_exists(session_factory, form["MessageSid"])
        assert after.inbound - before.inbound == after.receipts - before.receipts <= 1
    else:
        assert after == before
    fuzzing.assert_consistent(session_factory)
    assert fuzzing.personal_data_logged(caplog.records, form.get("Body", ""), "447700900123", "447700900124") == []
    await fuzzing.assert_still_answering(client)


def signed_as_read(body: bytes, content_type: Optional[str]) -> Optional[str]:
    """The signature over the fields a standard form parser reads from `body` (None if it reads none)."""
    media, _, parameters = (content_type or "").partition(";")
    if media.strip().lower() != FORM_TYPE:
        return None
    charset = parameters.partition("charset=")[2].strip() or "utf-8"
    try:
        fields = dict(parse_qsl(body.rstrip().decode(charset), keep_blank_values=True, encoding=charset))
        return signers.twilio_signature(TWILIO_AUTH_TOKEN, URL, fields)
    except (ValueError, LookupError):  # not in that charset, no such charset, or not signable as UTF-8
        return None


@settings(max_examples=150)
@given(body=fuzzing.raw_bodies(), signed=st.booleans(),
       content_type=st.one_of(st.sampled_from([FORM_TYPE, FORM_TYPE + "; charset=utf-8"]), fuzzing.content_types()))
@example(body=b"Body=\xff\xfe&From=%2B447700900123", content_type=FORM_TYPE, signed=False)
@example(body=b"Body=hi", content_type=FORM_TYPE + "; charset=no-such-charset", signed=False)
@example(body=b"--x\r\nContent-Disposition: form-data\r\n\r\nhi\r\n--x--\r\n",
         content_type="multipart/form-data; boundary=x", signed=False)
@example(body=b"MessageSid=SM1&From=%2B447700900123&Body=+2AA-", content_type=FORM_TYPE + "; charset=utf-7",
         signed=True)
async def test_arbitrary_bodies_and_content_types_never_get_a_5xx(
        client, session_factory, replies_done, caplog, body, content_type, signed):
    caplog.clear()
    before = Stored.now(session_factory)
    signature = signed_as_read(body, content_type) if signed else None
    response = await post(client, body, form_headers(signature, content_type))
    await replies_done()
    event(f"{'signed' if signature else 'unsigned'}: status {response.status}")
    assert response.status < 500, await response.text()
    assert fuzzing.errors_logged(caplog.records) == []
    if signature is None:
        assert response.status in REFUSED
        assert Stored.now(session_factory) == before
    fuzzing.assert_consistent(session_factory)
    await fuzzing.assert_still_answering(client)


WELL_FORMED = [("MessageSid", "SM" + "9" * 32), ("From", "+447700900123"), ("To", "+447700900999"),
               ("Body", "what is mesotherapy"), ("NumMedia", "0")]


def bad_signatures() -> st.SearchStrategy[Optional[str]]:
    """No signature, noise, or a real signature over something else (fields, URL, token), or cut short."""
    form = as_read(WELL_FORMED)
    right = signers.twilio_signature(TWILIO_AUTH_TOKEN, URL, form)
    latin1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                     max_size=60).map(str.strip)
    return st.one_of(
        st.none(), st.just(""), latin1, st.sampled_from([right[:-1], right[1:], right.lower(), right + "=",
                                                         "sha1=" + right]),
        st.sampled_from([signers.twilio_signature("other-token", URL, form),
                         signers.twilio_signature(TWILIO_AUTH_TOKEN, URL.replace("https", "http"), form),
                         signers.twilio_signature(TWILIO_AUTH_TOKEN, URL + "?x=1", form),
                         signers.twilio_signature(TWILIO_AUTH_TOKEN, URL, {**form, "Body": "other"}),
                         signers.twilio_signature(TWILIO_AUTH_TOKEN, URL, {})]),
    ).filter(lambda signature: signature != right)


@settings(max_examples=60)
@given(signature=bad_signatures(), extra=st.lists(st.tuples(fuzzing.wire_text(8), fuzzing.wire_text(8)),
                                                  max_size=3))
async def test_without_a_valid_signature_nothing_is_stored(client, session_factory, engine, signature, extra):
    before = Stored.now(session_factory)
    calls = len(engine.calls)
    response = await post(client, urlencode(WELL_FORMED + extra).encode("ascii"), form_headers(signature))
    assert response.status == 403
    assert Stored.now(session_factory) == before and len(engine.calls) == calls
    await fuzzing.assert_still_answering(client)


@settings(max_examples=25)
@given(bodies=st.lists(st.sampled_from(["hello", "hello again", "", "STOP"]), min_size=2, max_size=6),
       sid=st.sampled_from(["SM" + "r" * 32, "SM" + "s" * 32, "SM" + "t" * 32]),
       sender=st.sampled_from(["+447700900201", "+447700900202"]))
async def test_a_redelivered_message_sid_is_stored_and_answered_once(
        client, session_factory, replies_done, engine, platform, bodies, sid, sender):
    """Twilio delivers again when it missed our answer; whatever the retry carries, it is the same message."""
    before, calls, sent = Stored.now(session_factory), len(engine.calls), len(platform.twilio)
    already = receipt_exists(session_factory, sid)
    for body in bodies:
        pairs = [("MessageSid", sid), ("From", sender), ("To", "+447700900999"), ("Body", body)]
        response = await post(client, urlencode(pairs).encode("ascii"),
                              form_headers(signers.twilio_signature(TWILIO_AUTH_TOKEN, URL, dict(pairs))))
        assert response.status == 200
    await replies_done()
    after = Stored.now(session_factory)
    assert after.inbound - before.inbound == (0 if already else 1)
    assert len(engine.calls) - calls <= (0 if already else 1)
    assert len(platform.twilio) - sent <= (0 if already else 2)  # at most the disclaimer and the answer
    fuzzing.assert_consistent(session_factory)


# What a webhook URL configured in Twilio may hold in its query string, as Twilio sends (and signs) it.
QUERY_TEXT = st.one_of(st.from_regex(r"[A-Za-z0-9._~!$'()*,;:@/?-]{0,12}", fullmatch=True),
                       st.sampled_from(["%20", "a%2Fb", "a%2fb", "%7e", "%41", "%E2%82%AC", "%C3%A9", "%25", "+"]))


@settings(max_examples=25)
@given(query=st.lists(st.tuples(QUERY_TEXT, QUERY_TEXT), min_size=1, max_size=4), n=st.integers(0, 10**6))
async def test_a_webhook_url_with_a_query_string_is_checked_against_that_url(client, session_factory, query, n):
    """The signature covers the URL Twilio called, query string included."""
    path = PATH + "?" + "&".join(f"{key}={value}" for key, value in query)
    pairs = [("MessageSid", f"SMq{n:032d}"), ("From", "+447700900301"), ("Body", "hello")]
    form = as_read(pairs)
    right = signers.twilio_signature(TWILIO_AUTH_TOKEN, "https://bot.clinic.example" + path, form)
    without_query = signers.twilio_signature(TWILIO_AUTH_TOKEN, URL, form)
    refused = await post(client, urlencode(pairs).encode("ascii"), form_headers(without_query), path=path)
    assert refused.status == 403
    accepted = await post(client, urlencode(pairs).encode("ascii"), form_headers(right), path=path)
    assert accepted.status == 200, await accepted.text()
    assert receipt_exists(session_factory, pairs[0][1])
