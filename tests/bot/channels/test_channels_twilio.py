"""Twilio adapter: webhook signatures, parsing, SMS rendering and sending to a local stub."""
from __future__ import annotations

import asyncio
import base64
import logging
from datetime import datetime, timezone

import aiohttp
import pytest
from aiohttp import web
from multidict import MultiDict

from bot.channels import twilio as twilio_channel
from bot.channels.messages import Button, ChannelSendError, MalformedWebhook, OutboundMessage
from bot.channels.twilio import (
    EMPTY_TWIML,
    SMS_BODY_LIMIT,
    TwilioConfig,
    is_valid_signature,
    parse_inbound,
    render_sms,
    send_twilio,
)
from bot.settings import Settings
from tests.support import signers

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-123"
PUBLIC_BASE = "https://clinic.example.com"
PATIENT = "+447700900123"
CLINIC_SMS = "+447700900999"
CLINIC_WHATSAPP = "whatsapp:+14155238886"
WEBHOOK_PATH = "/webhooks/twilio?clinic=northfield"

# The fields Twilio posts for an inbound SMS (docs: "Twilio's request to your incoming message Webhook URL").
SMS_FORM = {
    "ToCountry": "GB",
    "ToState": "",
    "SmsMessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
    "NumMedia": "0",
    "ToCity": "",
    "FromZip": "",
    "SmsSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
    "FromState": "",
    "SmsStatus": "received",
    "FromCity": "",
    "Body": "  When is my next session?  ",
    "FromCountry": "GB",
    "To": CLINIC_SMS,
    "ToZip": "",
    "NumSegments": "1",
    "ReferralNumMedia": "0",
    "MessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
    "AccountSid": ACCOUNT_SID,
    "From": PATIENT,
    "ApiVersion": "2010-04-01",
}

# A WhatsApp photo with a caption, sent to a Twilio WhatsApp sender.
WHATSAPP_FORM = {
    "SmsMessageSid": "MM7d1c32e5d0b5fd4b5b6e2f8e8b7a3c21",
    "NumMedia": "1",
    "ProfileName": "Sam",
    "MessageType": "image",
    "SmsSid": "MM7d1c32e5d0b5fd4b5b6e2f8e8b7a3c21",
    "WaId": "447700900123",
    "SmsStatus": "received",
    "Body": "Is this redness normal?",
    "To": CLINIC_WHATSAPP,
    "MediaContentType0": "image/jpeg",
    "MediaUrl0": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM7d/Media/ME1",
    "NumSegments": "1",
    "ReferralNumMedia": "0",
    "MessageSid": "MM7d1c32e5d0b5fd4b5b6e2f8e8b7a3c21",
    "AccountSid": ACCOUNT_SID,
    "From": "whatsapp:+447700900123",
    "ApiVersion": "2010-04-01",
}


def make_config(api_base: str = "https://api.twilio.com") -> TwilioConfig:
    """A Twilio configuration for tests."""
    return TwilioConfig(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_base=api_base,
        public_base_url=PUBLIC_BASE,
        from_sms=CLINIC_SMS,
        from_whatsapp=CLINIC_WHATSAPP,
    )


def twilio_signature(url: str, form) -> str:
    """The X-Twilio-Signature Twilio would send."""
    return signers.twilio_signature(AUTH_TOKEN, url, form)


# --- configuration -------------------------------------------------------------------------------


def test_config_comes_from_settings_environment() -> None:
    settings = Settings.from_env(
        {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "PUBLIC_BASE_URL": PUBLIC_BASE,
            "TWILIO_SMS_FROM": CLINIC_SMS,
            "TWILIO_WHATSAPP_FROM": CLINIC_WHATSAPP,
        }
    )
    assert settings.twilio == make_config()
    assert AUTH_TOKEN not in repr(settings) and AUTH_TOKEN not in repr(make_config())


def test_api_base_defaults_to_twilio() -> None:
    assert Settings.from_env({}).twilio.api_base == "https://api.twilio.com"
    local = "http://127.0.0.1:9"
    assert Settings.from_env({"TWILIO_API_BASE": local}).twilio.api_base == local


# --- signatures ----------------------------------------------------------------------------------


def test_signature_over_public_url_with_query_string_is_valid() -> None:
    signature = twilio_signature(PUBLIC_BASE + WEBHOOK_PATH, SMS_FORM)
    assert is_valid_signature(make_config(), WEBHOOK_PATH, SMS_FORM, signature)


def test_signature_accepts_multidict_form_and_trailing_slash_in_base_url() -> None:
    form = MultiDict(SMS_FORM)
    signature = twilio_signature(PUBLIC_BASE + WEBHOOK_PATH, SMS_FORM)
    config = TwilioConfig(ACCOUNT_SID, AUTH_TOKEN, public_base_url=PUBLIC_BASE + "/")
    assert is_valid_signature(config, WEBHOOK_PATH, form, signature)


@pytest.mark.parametrize(
    "change",
    ["tampered body", "other path", "dropped query", "other token", "garbage", "missing", "empty"],
)
def test_invalid_or_missing_signature_is_rejected(change: str) -> None:
    form, path = dict(SMS_FORM), WEBHOOK_PATH
    signature = twilio_signature(PUBLIC_BASE + WEBHOOK_PATH, SMS_FORM)
    if change == "tampered body":
        form["Body"] = "STOP"
    elif change == "other path":
        path = "/webhooks/other?clinic=northfield"
    elif change == "dropped query":
        path = "/webhooks/twilio"
    elif change == "other token":
        signature = signers.twilio_signature("someone-else", PUBLIC_BASE + WEBHOOK_PATH, SMS_FORM)
    elif change == "garbage":
        signature = base64.b64encode(b"not a signature").decode()
    elif change == "missing":
        signature = None
    else:
        signature = ""
    assert not is_valid_signature(make_config(), path, form, signature)


def test_signature_cannot_be_checked_without_public_base_url() -> None:
    signature = twilio_signature(PUBLIC_BASE + WEBHOOK_PATH, SMS_FORM)
    config = TwilioConfig(ACCOUNT_SID, AUTH_TOKEN, public_base_url="")
    assert not is_valid_signature(config, WEBHOOK_PATH, SMS_FORM, signature)


async def test_signature_checks_a_real_aiohttp_request(aiohttp_client) -> None:
    """The request's path_qs and post() are what the webhook handler will hand in."""
    config = make_config()

    async def webhook(request: web.Request) -> web.Response:
        form = await request.post()
        if not is_valid_signature(config, request.path_qs, form, request.headers.get("X-Twilio-Signature")):
            raise web.HTTPForbidden()
        parse_inbound(form)
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    app = web.Application()
    app.router.add_post("/webhooks/twilio", webhook)
    client = await aiohttp_client(app)
    good = twilio_signature(PUBLIC_BASE + WEBHOOK_PATH, SMS_FORM)
    response = await client.post(WEBHOOK_PATH, data=SMS_FORM, headers={"X-Twilio-Signature": good})
    assert response.status == 200
    assert await response.text() == EMPTY_TWIML
    forged_form = {**SMS_FORM, "Body": "hi"}
    forged = await client.post(WEBHOOK_PATH, data=forged_form, headers={"X-Twilio-Signature": good})
    assert forged.status == 403


# --- parsing -------------------------------------------------------------------------------------


def test_parse_sms() -> None:
    at = datetime(2026, 11, 18, 12, 0, tzinfo=timezone.utc)
    message = parse_inbound(SMS_FORM, received_at=at)
    assert message.channel == "sms"
    assert message.sender == PATIENT
    assert message.text == "When is my next session?"
    assert message.channel_message_id == "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    assert message.has_media is False
    assert message.received_at == at
    assert message.reply_to_payload is None


def test_parse_whatsapp_with_media_and_caption() -> None:
    message = parse_inbound(WHATSAPP_FORM)
    assert message.channel == "whatsapp"
    assert message.sender == PATIENT
    assert message.text == "Is this redness normal?"
    assert message.has_media is True
    assert message.received_at.tzinfo is not None


def test_parse_media_without_body_has_no_text() -> None:
    message = parse_inbound({**WHATSAPP_FORM, "Body": ""})
    assert message.text is None and message.has_media


def test_parse_whatsapp_quick_reply_button() -> None:
    form = {**WHATSAPP_FORM, "NumMedia": "0", "MessageType": "button", "Body": "Yes", "ButtonText": "Yes",
            "ButtonPayload": "/affirm"}
    message = parse_inbound(form)
    assert (message.text, message.reply_to_payload, message.has_media) == ("Yes", "/affirm", False)


@pytest.mark.parametrize("missing, field_name", [("From", "From"), ("MessageSid", "MessageSid")])
def test_parse_without_required_field_is_malformed(missing: str, field_name: str) -> None:
    form = {key: value for key, value in SMS_FORM.items() if key != missing}
    with pytest.raises(MalformedWebhook, match=field_name):
        parse_inbound(form)


@pytest.mark.parametrize("sid", ["SM" + "a" * 200, "SM\x00abc", "SM\nabc"])
def test_parse_message_sid_no_column_can_keep_is_malformed(sid: str) -> None:
    """Found by tests/fuzz: PostgreSQL refuses it, so the webhook would answer 503 for ever."""
    with pytest.raises(MalformedWebhook, match="MessageSid"):
        parse_inbound({**SMS_FORM, "MessageSid": sid})


def test_parse_from_that_is_not_a_phone_number_is_malformed() -> None:
    with pytest.raises(MalformedWebhook, match="E.164"):
        parse_inbound({**SMS_FORM, "From": "whatsapp:clinic"})


def test_parse_odd_num_media_counts_as_none() -> None:
    assert parse_inbound({**SMS_FORM, "NumMedia": "lots"}).has_media is False


# --- rendering -----------------------------------------------------------------------------------


def test_render_sms_shows_buttons_as_numbered_options() -> None:
    buttons = (Button("Yes", "/affirm"), Button("No", "/deny"))
    message = OutboundMessage("Shall I book Tuesday at 10:00?", buttons)
    assert render_sms([message]) == ["Shall I book Tuesday at 10:00?\n\nReply with a number:\n1. Yes\n2. No"]


def test_render_sms_joins_consecutive_short_messages() -> None:
    parts = render_sms([OutboundMessage("Thanks, Sam."), OutboundMessage("Your next session is on Friday.")])
    assert parts == ["Thanks, Sam.\n\nYour next session is on Friday."]


def test_render_sms_splits_long_text_at_word_boundaries() -> None:
    words = ("scalp", "mesotherapy", "session", "aftercare", "redness", "minoxidil", "biotin", "appointment")
    text = ""
    index = 0
    while len(text) < 4000:
        text += words[index % len(words)] + ("." if index % 9 == 8 else "") + " "
        index += 1
    text = text[:4000].rsplit(" ", 1)[0]
    buttons = (Button("Book", "/book"), Button("Ask the team", "/human_handoff"))
    parts = render_sms([OutboundMessage(text, buttons)])
    assert len(parts) >= 3
    assert all(0 < len(part) <= SMS_BODY_LIMIT for part in parts)
    vocabulary = set(words) | {"Reply", "with", "a", "number:", "1.", "Book", "2.", "Ask", "the", "team"}
    for part in parts:
        assert all(token.rstrip(".") in vocabulary or token in vocabulary for token in part.split())
    assert parts[-1].endswith("Reply with a number:\n1. Book\n2. Ask the team")
    assert " ".join(" ".join(parts).split()).startswith(" ".join(text.split()))


def test_render_sms_nothing_to_send() -> None:
    assert render_sms([]) == []
    assert render_sms([OutboundMessage("   ")]) == []


# --- sending -------------------------------------------------------------------------------------


async def twilio_stub(aiohttp_server, status: int = 201, delay: float = 0.0):
    """A local Twilio Messages API that records each request and answers like Twilio."""
    seen = []

    async def create_message(request: web.Request) -> web.Response:
        form = await request.post()
        seen.append({"path": request.path, "auth": request.headers.get("Authorization"), "form": dict(form)})
        if delay:
            await asyncio.sleep(delay)
        if status >= 400:
            return web.json_response(
                {
                    "code": 20500 if status >= 500 else 21211,
                    "message": f"The 'To' number {form.get('To')} is not valid.",
                    "more_info": "https://www.twilio.com/docs/errors/21211",
                    "status": status,
                },
                status=status,
            )
        sid = "SM" + "a" * 32
        return web.json_response(
            {
                "account_sid": request.match_info["sid"],
                "api_version": "2010-04-01",
                "body": form.get("Body"),
                "direction": "outbound-api",
                "error_code": None,
                "from": form.get("From"),
                "num_segments": "1",
                "sid": sid,
                "status": "queued",
                "to": form.get("To"),
                "uri": f"/2010-04-01/Accounts/{request.match_info['sid']}/Messages/{sid}.json",
            },
            status=201,
        )

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", create_message)
    server = await aiohttp_server(app)
    return server, seen


def expected_basic_auth() -> str:
    """The Authorization header for the test account."""
    return "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()


async def test_send_sms_posts_form_with_basic_auth(aiohttp_server) -> None:
    server, seen = await twilio_stub(aiohttp_server)
    config = make_config(str(server.make_url("")))
    async with aiohttp.ClientSession() as session:
        sid = await send_twilio(session, config, "sms", PATIENT, "Your next session is on Friday.")
    assert sid == "SM" + "a" * 32
    assert seen == [
        {
            "path": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
            "auth": expected_basic_auth(),
            "form": {"To": PATIENT, "From": CLINIC_SMS, "Body": "Your next session is on Friday."},
        }
    ]


async def test_send_whatsapp_through_twilio_prefixes_both_numbers(aiohttp_server) -> None:
    server, seen = await twilio_stub(aiohttp_server)
    api_base = str(server.make_url(""))
    config = TwilioConfig(ACCOUNT_SID, AUTH_TOKEN, api_base, PUBLIC_BASE, CLINIC_SMS, "+14155238886")
    async with aiohttp.ClientSession() as session:
        await send_twilio(session, config, "whatsapp", PATIENT, "Hello")
    assert seen[0]["form"] == {"To": "whatsapp:" + PATIENT, "From": "whatsapp:+14155238886", "Body": "Hello"}


@pytest.mark.parametrize("status", [400, 500])
async def test_send_refused_raises_channel_send_error_without_text(aiohttp_server, status: int) -> None:
    server, _ = await twilio_stub(aiohttp_server, status=status)
    config = make_config(str(server.make_url("")))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ChannelSendError) as raised:
            await send_twilio(session, config, "sms", PATIENT, "Private text")
    assert raised.value.status == status
    assert raised.value.code == (20500 if status == 500 else 21211)
    assert "Private text" not in str(raised.value) and PATIENT not in str(raised.value)


async def test_send_timeout_raises_channel_send_error(aiohttp_server, monkeypatch) -> None:
    assert twilio_channel.SEND_TIMEOUT.total == 10
    monkeypatch.setattr(twilio_channel, "SEND_TIMEOUT", aiohttp.ClientTimeout(total=0.2))
    server, _ = await twilio_stub(aiohttp_server, delay=2)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ChannelSendError) as raised:
            await send_twilio(session, make_config(str(server.make_url(""))), "sms", PATIENT, "Hi")
    assert raised.value.status is None


async def test_send_without_sending_number_is_refused_before_any_request() -> None:
    config = TwilioConfig(ACCOUNT_SID, AUTH_TOKEN, "http://127.0.0.1:9", PUBLIC_BASE, "", "")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ChannelSendError, match="not configured"):
            await send_twilio(session, config, "sms", PATIENT, "Hi")


async def test_without_a_configured_number_the_reply_comes_from_the_number_the_patient_wrote_to(
        aiohttp_server) -> None:
    server, seen = await twilio_stub(aiohttp_server)
    api_base = str(server.make_url("")).rstrip("/")
    inbound = parse_inbound({**SMS_FORM, "To": CLINIC_SMS})
    assert (inbound.provider, inbound.clinic_address) == ("twilio", CLINIC_SMS)
    config = TwilioConfig(ACCOUNT_SID, AUTH_TOKEN, api_base, PUBLIC_BASE, "", "")
    async with aiohttp.ClientSession() as session:
        await send_twilio(session, config, "sms", PATIENT, "Hi", reply_from=inbound.clinic_address)
        await send_twilio(session, config, "whatsapp", PATIENT, "Hi", reply_from=CLINIC_WHATSAPP)
        service = TwilioConfig(ACCOUNT_SID, AUTH_TOKEN, api_base, PUBLIC_BASE, "", "", "MG" + "0" * 32)
        await send_twilio(session, service, "sms", PATIENT, "Hi")
    forms = [request["form"] for request in seen]
    assert (forms[0]["From"], forms[1]["From"]) == (CLINIC_SMS, "whatsapp:+14155238886")
    assert "From" not in forms[2] and forms[2]["MessagingServiceSid"] == "MG" + "0" * 32


async def test_nothing_personal_is_logged(aiohttp_server, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.channels")
    server, _ = await twilio_stub(aiohttp_server, status=400)
    parse_inbound(SMS_FORM)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ChannelSendError):
            await send_twilio(session, make_config(str(server.make_url(""))), "sms", PATIENT, "Private text")
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert caplog.records
    assert "447700900123" not in logged and "Private text" not in logged and "next session" not in logged
