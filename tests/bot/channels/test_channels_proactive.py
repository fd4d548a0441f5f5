"""Writing first (care messages): `send_proactive` on Twilio and the Cloud API, against the platform stubs."""
from __future__ import annotations

import json

import aiohttp
import pytest

from bot.channels import twilio, whatsapp
from bot.channels.messages import ChannelSendError
from bot.channels.proactive import SentMessage, WhatsAppTemplate
from bot.channels.twilio import TwilioConfig, TwilioDeliverer
from bot.channels.whatsapp import CloudApiDeliverer, WhatsAppConfig
from bot.conversations.store import ConversationRef
from tests.support.platforms import TWILIO_AUTH_TOKEN, WHATSAPP_APP_SECRET, PlatformStub, graph_base

PATIENT = "+447700900123"
CLINIC_NUMBER = "+447700900999"
ACCOUNT_SID = "AC" + "0" * 32
PUBLIC = "https://bot.clinic.example"
REMINDER = "Reminder: your session is tomorrow at 10:00.\n1 confirm, 2 reschedule, 3 cancel"
TEMPLATE = WhatsAppTemplate(twilio_content_sid="HX" + "1" * 32, meta_name="session_reminder",
                            meta_language="en_GB", variables=("Alex", "Friday 20 November, 10:00"))


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def twilio_config(platform: PlatformStub, **changes) -> TwilioConfig:
    fields = dict(account_sid=ACCOUNT_SID, auth_token=TWILIO_AUTH_TOKEN, api_base=platform.base,
                  public_base_url=PUBLIC, from_sms="+447700900990", from_whatsapp="+447700900998")
    fields.update(changes)
    return TwilioConfig(**fields)


def meta_config(platform: PlatformStub) -> WhatsAppConfig:
    return WhatsAppConfig("verify-me", WHATSAPP_APP_SECRET, graph_base(platform.base), "1234567890", "graph-token")


def ref(channel: str = "sms", provider: str = "twilio", clinic_address=None) -> ConversationRef:
    return ConversationRef(7, channel, PATIENT, "bot", 1, provider=provider, clinic_address=clinic_address)


async def test_sms_goes_as_plain_text_with_the_status_callback(platform, http):
    deliverer = TwilioDeliverer(http, twilio_config(platform), twilio.SMS)
    sent = await deliverer.send_proactive(ref(), REMINDER, None)
    assert sent == SentMessage("twilio", "SM" + "1".zfill(32))
    assert platform.twilio == [{"To": PATIENT, "From": "+447700900990", "Body": REMINDER,
                                "StatusCallback": f"{PUBLIC}/webhooks/twilio/status"}]


async def test_sms_ignores_a_whatsapp_template(platform, http):
    deliverer = TwilioDeliverer(http, twilio_config(platform), twilio.SMS)
    await deliverer.send_proactive(ref(), REMINDER, TEMPLATE)
    (form,) = platform.twilio
    assert form["Body"] == REMINDER and "ContentSid" not in form


async def test_sms_sender_follows_the_reply_rules(platform, http):
    """No configured number: the clinic number the patient wrote to; neither: the Messaging Service."""
    from_clinic = TwilioDeliverer(http, twilio_config(platform, from_sms=""), twilio.SMS)
    await from_clinic.send_proactive(ref(clinic_address=CLINIC_NUMBER), REMINDER, None)
    service = TwilioDeliverer(http, twilio_config(platform, from_sms="", messaging_service_sid="MG" + "2" * 32),
                              twilio.SMS)
    await service.send_proactive(ref(), REMINDER, None)
    assert platform.twilio[0]["From"] == CLINIC_NUMBER
    assert platform.twilio[1]["MessagingServiceSid"] == "MG" + "2" * 32 and "From" not in platform.twilio[1]


async def test_without_public_base_url_no_status_callback_is_asked_for(platform, http):
    deliverer = TwilioDeliverer(http, twilio_config(platform, public_base_url=""), twilio.SMS)
    await deliverer.send_proactive(ref(), REMINDER, None)
    assert "StatusCallback" not in platform.twilio[0]


async def test_whatsapp_template_through_twilio_is_content_sid_and_numbered_variables(platform, http):
    deliverer = TwilioDeliverer(http, twilio_config(platform), whatsapp.WHATSAPP)
    sent = await deliverer.send_proactive(ref("whatsapp"), REMINDER, TEMPLATE, kind="reminder")
    assert sent.provider == "twilio" and sent.provider_message_id.startswith("SM")
    (form,) = platform.twilio
    assert form == {"To": f"whatsapp:{PATIENT}", "From": "whatsapp:+447700900998",
                    "ContentSid": "HX" + "1" * 32,
                    "ContentVariables": '{"1":"Alex","2":"Friday 20 November, 10:00"}',
                    "StatusCallback": f"{PUBLIC}/webhooks/twilio/status"}
    assert json.loads(form["ContentVariables"]) == {"1": "Alex", "2": "Friday 20 November, 10:00"}


async def test_whatsapp_template_without_variables_has_no_content_variables(platform, http):
    deliverer = TwilioDeliverer(http, twilio_config(platform), whatsapp.WHATSAPP)
    await deliverer.send_proactive(ref("whatsapp"), REMINDER, WhatsAppTemplate(twilio_content_sid="HX" + "3" * 32))
    assert "ContentVariables" not in platform.twilio[0] and "Body" not in platform.twilio[0]


async def test_whatsapp_through_twilio_without_a_template_is_the_plain_body(platform, http):
    deliverer = TwilioDeliverer(http, twilio_config(platform), whatsapp.WHATSAPP)
    await deliverer.send_proactive(ref("whatsapp"), REMINDER, None)
    (form,) = platform.twilio
    assert form["Body"] == REMINDER and "ContentSid" not in form and form["To"] == f"whatsapp:{PATIENT}"


async def test_whatsapp_template_on_meta_is_the_template_json(platform, http):
    deliverer = CloudApiDeliverer(http, meta_config(platform))
    sent = await deliverer.send_proactive(ref("whatsapp", "meta"), REMINDER, TEMPLATE, kind="reminder")
    assert sent == SentMessage("meta", "wamid.out1")
    assert platform.graph == [{
        "messaging_product": "whatsapp", "to": PATIENT.lstrip("+"), "type": "template",
        "template": {"name": "session_reminder", "language": {"code": "en_GB"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Alex"},
                                            {"type": "text", "text": "Friday 20 November, 10:00"}]}]},
    }]


async def test_meta_template_without_variables_has_no_components(platform, http):
    deliverer = CloudApiDeliverer(http, meta_config(platform))
    await deliverer.send_proactive(ref("whatsapp", "meta"), REMINDER,
                                   WhatsAppTemplate(meta_name="aftercare_checkin", meta_language="en"))
    assert platform.graph[0]["template"] == {"name": "aftercare_checkin", "language": {"code": "en"}}


async def test_meta_without_a_template_is_a_text_message(platform, http):
    deliverer = CloudApiDeliverer(http, meta_config(platform))
    await deliverer.send_proactive(ref("whatsapp", "meta"), REMINDER, None)
    (body,) = platform.graph
    assert body["type"] == "text" and body["text"]["body"] == REMINDER and body["to"] == PATIENT.lstrip("+")


@pytest.mark.parametrize("make", [
    lambda http, platform: TwilioDeliverer(http, twilio_config(platform), whatsapp.WHATSAPP),
    lambda http, platform: CloudApiDeliverer(http, meta_config(platform)),
], ids=["twilio", "meta"])
async def test_a_template_not_configured_for_the_platform_is_refused_without_calling_it(platform, http, make):
    other_platform_only = WhatsAppTemplate(twilio_content_sid=None, meta_name=None, variables=("Alex",))
    with pytest.raises(ChannelSendError) as refused:
        await make(http, platform).send_proactive(ref("whatsapp"), REMINDER, other_platform_only, kind="reminder")
    assert refused.value.reason == "no approved template configured for reminder"
    assert platform.twilio == [] and platform.graph == []


async def test_twilio_needs_its_content_sid_even_when_meta_has_a_name(platform, http):
    deliverer = TwilioDeliverer(http, twilio_config(platform), whatsapp.WHATSAPP)
    with pytest.raises(ChannelSendError, match="no approved template configured for maintenance"):
        await deliverer.send_proactive(ref("whatsapp"), REMINDER, WhatsAppTemplate(meta_name="rebook"),
                                       kind="maintenance")
    assert platform.twilio == []


async def test_refusals_carry_the_providers_error_code(platform, http):
    platform.refuse(400, 63016)
    with pytest.raises(ChannelSendError) as on_twilio:
        await TwilioDeliverer(http, twilio_config(platform), whatsapp.WHATSAPP).send_proactive(
            ref("whatsapp"), REMINDER, TEMPLATE)
    platform.refuse(400, 131047)
    with pytest.raises(ChannelSendError) as on_meta:
        await CloudApiDeliverer(http, meta_config(platform)).send_proactive(ref("whatsapp", "meta"), REMINDER, None)
    assert (on_twilio.value.status, on_twilio.value.code) == (400, 63016)
    assert (on_meta.value.status, on_meta.value.code) == (400, 131047)
    assert REMINDER not in str(on_twilio.value) and REMINDER not in str(on_meta.value)


async def test_texts_the_platform_would_refuse_are_refused_before_sending(platform, http):
    sms = TwilioDeliverer(http, twilio_config(platform), twilio.SMS)
    meta = CloudApiDeliverer(http, meta_config(platform))
    with pytest.raises(ChannelSendError, match="longer than 1600"):
        await sms.send_proactive(ref(), "x" * 1601, None)
    with pytest.raises(ChannelSendError, match="empty"):
        await meta.send_proactive(ref("whatsapp", "meta"), "  ", None)
    with pytest.raises(ChannelSendError, match="longer than 4096"):
        await meta.send_proactive(ref("whatsapp", "meta"), "x" * 4097, None)
    assert platform.twilio == [] and platform.graph == []


def test_twilio_status_callback_is_read() -> None:
    status = twilio.parse_status({"MessageSid": "SM1", "MessageStatus": "Undelivered", "ErrorCode": "30008"})
    assert (status.provider, status.provider_message_id, status.status, status.error_code) == \
        ("twilio", "SM1", "undelivered", "30008")
    assert twilio.parse_status({"MessageSid": "SM1", "MessageStatus": "delivered", "ErrorCode": ""}).error_code is None


def test_meta_statuses_are_read_with_their_error_code_and_time() -> None:
    body = {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
        "statuses": [
            {"id": "wamid.a", "status": "failed", "timestamp": "1763632800", "recipient_id": "447700900123",
             "errors": [{"code": 131026, "title": "Message undeliverable"}]},
            {"id": "wamid.b", "status": "read", "timestamp": "1763632900"},
            {"status": "delivered"},
        ]}}]}]}
    failed, read = whatsapp.parse_statuses(body)
    assert (failed.provider_message_id, failed.status, failed.error_code) == ("wamid.a", "failed", "131026")
    assert failed.at.timestamp() == 1763632800 and failed.provider == "meta"
    assert (read.provider_message_id, read.status, read.error_code) == ("wamid.b", "read", None)
