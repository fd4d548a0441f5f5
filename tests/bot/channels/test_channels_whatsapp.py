"""WhatsApp Cloud API adapter: handshake, signatures, webhook parsing, rendering and sending."""
from __future__ import annotations

import copy
import json
import logging
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from aiohttp import web

from bot.channels.messages import Button, ChannelSendError, MalformedWebhook, OutboundMessage, choose_button
from bot.channels.whatsapp import (
    WHATSAPP,
    WhatsAppConfig,
    is_valid_signature,
    parse_webhook,
    render_whatsapp,
    send_whatsapp,
    verify_subscription,
)
from bot.settings import Settings
from tests.support import signers

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
ACCESS_TOKEN = "EAAtest-access-token"
PHONE_NUMBER_ID = "106540352242922"
PATIENT_DIGITS = "447700900123"
PATIENT = "+447700900123"
WAMID = "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUM0E0QTY1OTlBRUUwMzgxMDE0NEYA"


def make_config(api_base: str = "https://graph.facebook.com/v19.0") -> WhatsAppConfig:
    """A WhatsApp configuration for tests."""
    return WhatsAppConfig(VERIFY_TOKEN, APP_SECRET, api_base, PHONE_NUMBER_ID, ACCESS_TOKEN)


def webhook(value: dict) -> dict:
    """A messages webhook body around one change value (the shape in Meta's webhook docs)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def message_value(*messages: dict) -> dict:
    """The value of a change carrying inbound messages from the test patient."""
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "447700900999", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Sam Patient"}, "wa_id": PATIENT_DIGITS}],
        "messages": list(messages),
    }


TEXT = {
    "from": PATIENT_DIGITS,
    "id": WAMID,
    "timestamp": "1795003200",
    "type": "text",
    "text": {"body": "  Can I wash my hair after the session?  "},
}
BUTTON_REPLY = {
    "context": {"from": "447700900999", "id": "wamid.HBgMNDQ3NzAwOTAwOTk5FQIAERgSQTk3QjM4"},
    "from": PATIENT_DIGITS,
    "id": "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgWM0VCMEQ0",
    "timestamp": "1795003260",
    "type": "interactive",
    "interactive": {"type": "button_reply", "button_reply": {"id": "/affirm", "title": "Yes"}},
}
IMAGE = {
    "from": PATIENT_DIGITS,
    "id": "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgWM0VCMEQ1",
    "timestamp": "1795003320",
    "type": "image",
    "image": {
        "caption": "Is this redness normal?",
        "mime_type": "image/jpeg",
        "sha256": "IUmB1Wq5Uj0ufL3pU2y8k0d1+a5ZK/qfXKQk1ZzL2c4=",
        "id": "1003383421387256",
    },
}
AUDIO = {
    "from": PATIENT_DIGITS,
    "id": "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgWM0VCMEQ2",
    "timestamp": "1795003380",
    "type": "audio",
    "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "abc=", "id": "1003383421387257",
              "voice": True},
}
STATUS = {
    "messaging_product": "whatsapp",
    "metadata": {"display_phone_number": "447700900999", "phone_number_id": PHONE_NUMBER_ID},
    "statuses": [
        {
            "id": WAMID,
            "status": "delivered",
            "timestamp": "1795003400",
            "recipient_id": PATIENT_DIGITS,
            "conversation": {"id": "ba6b3a0c2a7f1d4e5f6a7b8c9d0e1f2a", "origin": {"type": "service"}},
            "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
        }
    ],
}


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    """The X-Hub-Signature-256 header Meta would send."""
    return signers.meta_signature(secret, body)


# --- configuration and handshake -----------------------------------------------------------------


def test_config_comes_from_settings_environment() -> None:
    settings = Settings.from_env(
        {
            "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        }
    )
    assert settings.whatsapp == make_config()
    for secret in (APP_SECRET, VERIFY_TOKEN, ACCESS_TOKEN):
        assert secret not in repr(settings) and secret not in repr(make_config())


def test_subscription_with_our_token_echoes_the_challenge() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    assert verify_subscription(make_config(), query) == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1158201444"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
        {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
        {"hub.mode": "subscribe", "hub.verify_token": "vérifié", "hub.challenge": "1"},
        {},
    ],
)
def test_subscription_without_our_token_is_refused(query: dict) -> None:
    assert verify_subscription(make_config(), query) is None


def test_subscription_refused_when_no_token_configured() -> None:
    config = WhatsAppConfig("", APP_SECRET)
    query = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    assert verify_subscription(config, query) is None


# --- signatures ----------------------------------------------------------------------------------


def test_signature_of_raw_body_is_valid() -> None:
    body = json.dumps(webhook(message_value(TEXT))).encode()
    assert is_valid_signature(make_config(), body, sign(body))


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha1=abc", "sha256=" + "0" * 64, "sha256=zz-not-hex-é", "deadbeef"],
)
def test_missing_or_odd_signature_is_rejected(header) -> None:
    body = json.dumps(webhook(message_value(TEXT))).encode()
    assert not is_valid_signature(make_config(), body, header)


def test_signature_over_other_body_or_secret_is_rejected() -> None:
    body = json.dumps(webhook(message_value(TEXT))).encode()
    assert not is_valid_signature(make_config(), body + b" ", sign(body))
    assert not is_valid_signature(make_config(), body, sign(body, "another-secret"))
    assert not is_valid_signature(WhatsAppConfig(VERIFY_TOKEN, ""), body, sign(body, ""))


# --- parsing -------------------------------------------------------------------------------------


def test_parse_text_message() -> None:
    [message] = parse_webhook(webhook(message_value(TEXT)))
    assert message.channel == "whatsapp"
    assert message.sender == PATIENT
    assert message.text == "Can I wash my hair after the session?"
    assert message.channel_message_id == WAMID
    assert message.has_media is False
    assert message.reply_to_payload is None
    assert message.received_at == datetime.fromtimestamp(1795003200, tz=timezone.utc)


def test_parse_interactive_button_reply() -> None:
    [message] = parse_webhook(webhook(message_value(BUTTON_REPLY)))
    assert (message.text, message.reply_to_payload) == ("Yes", "/affirm")
    assert message.has_media is False


def test_parse_list_reply_and_template_quick_reply() -> None:
    list_reply = {**BUTTON_REPLY, "interactive": {"type": "list_reply", "list_reply": {
        "id": "/choose_slot_b", "title": "Wed 14:30", "description": "with Dr Okafor"}}}
    template_button = {key: value for key, value in BUTTON_REPLY.items() if key != "interactive"}
    template_button.update(type="button", button={"payload": "/confirm_appointment", "text": "Confirm"})
    first, second = parse_webhook(webhook(message_value(list_reply, template_button)))
    assert (first.text, first.reply_to_payload) == ("Wed 14:30", "/choose_slot_b")
    assert (second.text, second.reply_to_payload) == ("Confirm", "/confirm_appointment")


def test_parse_image_with_caption_and_voice_note() -> None:
    image, audio = parse_webhook(webhook(message_value(IMAGE, AUDIO)))
    assert (image.text, image.has_media) == ("Is this redness normal?", True)
    assert (audio.text, audio.has_media) == (None, True)


def test_parse_status_update_gives_no_messages() -> None:
    assert parse_webhook(webhook(STATUS)) == []


def test_parse_every_message_of_every_entry() -> None:
    body = webhook(message_value(TEXT))
    second_entry = copy.deepcopy(body["entry"][0])
    second_entry["changes"][0]["value"]["messages"] = [BUTTON_REPLY]
    body["entry"].append(second_entry)
    body["entry"][0]["changes"].append({"value": STATUS, "field": "messages"})
    assert [m.channel_message_id for m in parse_webhook(body)] == [WAMID, BUTTON_REPLY["id"]]


@pytest.mark.parametrize(
    "value",
    [
        message_value({"from": PATIENT_DIGITS, "id": "wamid.x", "timestamp": "1", "type": "reaction",
                       "reaction": {"message_id": WAMID, "emoji": "\U0001F44D"}}),
        message_value({"from": PATIENT_DIGITS, "id": "wamid.x", "timestamp": "1", "type": "unsupported",
                       "errors": [{"code": 131051, "title": "Message type unknown"}]}),
        message_value({"id": "wamid.x", "timestamp": "1", "type": "text", "text": {"body": "no sender"}}),
        message_value({"from": "not-a-number", "id": "wamid.x", "type": "text", "text": {"body": "hi"}}),
        message_value("not an object"),
        {"messages": "not a list"},
        "not an object",
        message_value({**TEXT, "type": ["text"]}),  # found by tests/fuzz: a list is not hashable
        message_value({**TEXT, "type": {"text": 1}}),
        message_value({**TEXT, "id": "wamid." + "x" * 200}),  # longer than the column that keeps it
        message_value({**TEXT, "id": "wamid.\x00"}),
    ],
)
def test_parse_unknown_shapes_are_ignored(value) -> None:
    assert parse_webhook(webhook(value)) == []


def test_parse_other_change_fields_and_odd_entries_are_ignored() -> None:
    body = webhook(message_value(TEXT))
    body["entry"][0]["changes"][0]["field"] = "account_update"
    body["entry"].append("junk")
    body["entry"].append({"changes": "junk"})
    assert parse_webhook(body) == []


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        None,
        {"object": "page", "entry": []},
        {"entry": []},
        {"object": "whatsapp_business_account"},
    ],
)
def test_parse_body_that_is_not_the_expected_object_is_malformed(body) -> None:
    with pytest.raises(MalformedWebhook):
        parse_webhook(body)


def test_parse_odd_timestamp_falls_back_to_now() -> None:
    before = datetime.now(timezone.utc)
    [message] = parse_webhook(webhook(message_value({**TEXT, "timestamp": "soon"})))
    assert message.received_at >= before


# --- rendering -----------------------------------------------------------------------------------

BUTTONS = (
    Button("Yes, book it", "/affirm"),
    Button("No thanks", "/deny"),
    Button("Speak to the clinic team now", "/human_handoff"),
    Button("Later", "/later"),
    Button("Cancel", "/cancel"),
)


def test_render_text_only() -> None:
    assert render_whatsapp(OutboundMessage("Your next session is on Friday at 10:00.")) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "type": "text",
        "text": {"preview_url": False, "body": "Your next session is on Friday at 10:00."},
    }


def test_render_two_buttons_as_reply_buttons() -> None:
    body = render_whatsapp(OutboundMessage("Shall I book it?", BUTTONS[:2]))
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Shall I book it?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "/affirm", "title": "Yes, book it"}},
                    {"type": "reply", "reply": {"id": "/deny", "title": "No thanks"}},
                ]
            },
        },
    }


def test_render_three_buttons_cuts_titles_to_twenty_characters() -> None:
    body = render_whatsapp(OutboundMessage("Shall I book it?", BUTTONS[:3]))
    replies = [button["reply"] for button in body["interactive"]["action"]["buttons"]]
    assert [reply["title"] for reply in replies] == ["Yes, book it", "No thanks", "Speak to the clinic"]
    assert all(len(reply["title"]) <= 20 for reply in replies)
    assert [reply["id"] for reply in replies] == ["/affirm", "/deny", "/human_handoff"]


def test_render_five_buttons_as_numbered_text() -> None:
    body = render_whatsapp(OutboundMessage("What would you like to do?", BUTTONS))
    assert body["type"] == "text"
    assert body["text"]["body"] == (
        "What would you like to do?\n\nReply with a number:\n1. Yes, book it\n2. No thanks\n"
        "3. Speak to the clinic team now\n4. Later\n5. Cancel"
    )
    assert choose_button("3", BUTTONS) == "/human_handoff"


def test_render_falls_back_to_numbered_text_when_buttons_would_break() -> None:
    clashing = (Button("Tuesday 10 March 2026 10:00", "/a"), Button("Tuesday 10 March 2026 14:00", "/b"))
    assert render_whatsapp(OutboundMessage("Which time?", clashing))["type"] == "text"
    long_payload = (Button("Yes", "/inform" + "x" * 300),)
    assert render_whatsapp(OutboundMessage("Book?", long_payload))["type"] == "text"
    long_body = OutboundMessage("word " * 300, BUTTONS[:2])
    assert render_whatsapp(long_body)["type"] == "text"


def test_render_buttons_without_text_still_has_a_body() -> None:
    body = render_whatsapp(OutboundMessage("", BUTTONS[:2]))
    assert body["interactive"]["body"]["text"]


# --- sending -------------------------------------------------------------------------------------


async def graph_stub(aiohttp_server, status: int = 200):
    """A local Graph API /{phone-number-id}/messages that records requests and answers like Meta."""
    seen = []

    async def messages(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"path": request.path, "auth": request.headers.get("Authorization"), "json": body})
        if status >= 400:
            error = {
                "message": "(#131047) Re-engagement message" if status < 500 else "(#131000) Error",
                "type": "OAuthException",
                "code": 131047 if status < 500 else 131000,
                "error_data": {"messaging_product": "whatsapp", "details": f"to {body.get('to')}"},
                "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
            }
            return web.json_response({"error": error}, status=status)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": WAMID}],
            }
        )

    app = web.Application()
    app.router.add_post("/v19.0/{phone_number_id}/messages", messages)
    server = await aiohttp_server(app)
    return server, seen


async def test_send_posts_json_with_bearer_token(aiohttp_server) -> None:
    server, seen = await graph_stub(aiohttp_server)
    config = make_config(str(server.make_url("/v19.0")))
    message = OutboundMessage("Shall I book it?", BUTTONS[:2])
    async with aiohttp.ClientSession() as session:
        message_id = await send_whatsapp(session, config, PATIENT, message)
    assert message_id == WAMID
    [request] = seen
    assert request["path"] == f"/v19.0/{PHONE_NUMBER_ID}/messages"
    assert request["auth"] == f"Bearer {ACCESS_TOKEN}"
    assert request["json"] == {**render_whatsapp(message), "to": PATIENT_DIGITS}


@pytest.mark.parametrize("status, code", [(400, 131047), (500, 131000)])
async def test_send_refused_raises_channel_send_error(aiohttp_server, caplog, status: int, code: int) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.channels")
    server, _ = await graph_stub(aiohttp_server, status=status)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ChannelSendError) as raised:
            config = make_config(str(server.make_url("/v19.0")))
            await send_whatsapp(session, config, PATIENT, OutboundMessage("Private"))
    assert (raised.value.status, raised.value.code) == (status, code)
    logged = " ".join(record.getMessage() for record in caplog.records) + str(raised.value)
    assert PATIENT_DIGITS not in logged and "Private" not in logged


async def test_send_without_credentials_is_refused_before_any_request() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ChannelSendError, match="not configured"):
            config = WhatsAppConfig(VERIFY_TOKEN, APP_SECRET)
            await send_whatsapp(session, config, PATIENT, OutboundMessage("Hi"))


# --- customer care window ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ago, expected",
    [
        (timedelta(minutes=5), True),
        (timedelta(hours=23, minutes=59), True),
        (timedelta(hours=24), False),
        (timedelta(days=3), False),
        (timedelta(seconds=-30), True),  # the patient's clock (Meta's timestamp) a little ahead
    ],
)
def test_customer_care_window(ago: timedelta, expected: bool) -> None:
    now = datetime(2026, 11, 18, 12, 0, tzinfo=timezone.utc)
    assert WHATSAPP.within_reply_window(now - ago, now) is expected


def test_no_patient_message_means_no_window() -> None:
    assert WHATSAPP.within_reply_window(None, datetime.now(timezone.utc)) is False
