"""The Twilio and WhatsApp Cloud API webhooks of the application, with stub platform APIs."""
from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Dict

import pytest
from sqlalchemy import func, select

from bot.db.models import ConsentRecord, InboundReceipt, Message
from tests.support import signers
from tests.support.database import unreachable_database
from tests.support.platforms import TWILIO_AUTH_TOKEN, WHATSAPP_APP_SECRET, graph_base

PATIENT = "+447700900123"
PUBLIC = "https://bot.clinic.example"


@pytest.fixture
async def client(aiohttp_client, make_app, settings, platform):
    app = make_app(settings, twilio=dataclasses.replace(settings.twilio, api_base=platform.base),
                   whatsapp=dataclasses.replace(settings.whatsapp, api_base=graph_base(platform.base),
                                                phone_number_id="1234567890", access_token="graph-token"))
    return await aiohttp_client(app)


def sms_form(body: str, sid: str = "SM" + "a" * 32, sender: str = PATIENT) -> Dict[str, str]:
    return {"MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": sender, "To": "+447700900999",
            "Body": body, "NumMedia": "0"}


def twilio_headers(form: Dict[str, str], path: str = "/webhooks/twilio") -> Dict[str, str]:
    return signers.twilio_headers(TWILIO_AUTH_TOKEN, PUBLIC + path, form)


async def post_twilio(client, form, headers=None):
    return await client.post("/webhooks/twilio", data=form, headers=twilio_headers(form) if headers is None else headers)


def stored_count(session_factory, model) -> int:
    with session_factory() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


async def test_signed_sms_gets_empty_twiml_at_once_and_the_reply_through_the_api(client, platform, engine):
    response = await post_twilio(client, sms_form("what is mesotherapy"))
    assert response.status == 200
    assert response.content_type == "application/xml"
    assert await response.text() == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    sent = await platform.wait_for("twilio", 1)
    assert sent[0]["To"] == PATIENT and sent[0]["From"] == "+447700900999"
    assert "automated assistant" in sent[0]["Body"] and "bot heard: what is mesotherapy" in sent[0]["Body"]
    assert engine.calls[0][0] == f"sms:{PATIENT}"


@pytest.mark.parametrize("headers", [{}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}])
async def test_unsigned_or_wrongly_signed_twilio_webhook_is_refused_and_not_processed(
        client, platform, engine, session_factory, headers):
    response = await post_twilio(client, sms_form("hello"), headers=headers)
    assert response.status == 403
    await asyncio.sleep(0.1)
    assert engine.calls == [] and platform.twilio == []
    assert stored_count(session_factory, Message) == 0


async def test_signature_over_other_fields_is_refused(client, engine):
    form = sms_form("hello")
    headers = twilio_headers(form)
    response = await post_twilio(client, {**form, "Body": "something else"}, headers=headers)
    assert response.status == 403 and engine.calls == []


async def test_same_twilio_message_delivered_20_times_gets_one_reply(client, platform, engine, session_factory):
    form = sms_form("hello", sid="SM" + "b" * 32)
    statuses = [(await post_twilio(client, form)).status for _ in range(20)]
    assert statuses == [200] * 20
    await platform.wait_for("twilio", 1)
    await asyncio.sleep(0.2)
    assert len(platform.twilio) == 1 and len(engine.calls) == 1
    assert stored_count(session_factory, InboundReceipt) == 1


async def test_malformed_twilio_webhook_gets_400_with_the_reason(client):
    form = {"Body": "hi", "From": PATIENT}
    response = await post_twilio(client, form)
    assert response.status == 400 and "MessageSid" in await response.text()


async def test_database_down_makes_twilio_deliver_again_and_the_retry_is_processed_once(
        client, router, platform, engine):
    form = sms_form("hello", sid="SM" + "c" * 32)
    working = router.sessions
    router.sessions = unreachable_database()
    response = await post_twilio(client, form)
    assert response.status == 503 and response.headers["Retry-After"] == "30"
    router.sessions = working
    assert (await post_twilio(client, form)).status == 200
    assert (await post_twilio(client, form)).status == 200
    await platform.wait_for("twilio", 1)
    await asyncio.sleep(0.2)
    assert len(platform.twilio) == 1 and len(engine.calls) == 1


@pytest.mark.parametrize("body, content_type, status", [
    (b"Body=hi&From=%2B447700900123", "multipart/form-data; boundary=x", 415),
    (b"Body=hi&From=%2B447700900123", "application/json", 415),
    (b"Body=hi&From=%2B447700900123", "application/x-www-form-urlencoded; charset=no-such-charset", 415),
    (b"Body=hi&From=%2B447700900123", "application/x-www-form-urlencoded; charset=utf-7", 415),
    (b"Body=\xff&From=%2B447700900123", "application/x-www-form-urlencoded", 400),
])
async def test_twilio_webhook_that_is_not_a_utf8_form_is_refused_without_a_500(
        client, session_factory, body, content_type, status):
    """Found by tests/fuzz: these were 500s (the form parser's UnicodeDecodeError, LookupError, AssertionError)."""
    response = await client.post("/webhooks/twilio", data=body, headers={"Content-Type": content_type})
    assert response.status == status and stored_count(session_factory, Message) == 0


async def test_whatsapp_json_nested_too_deep_gets_400(client):
    """Found by tests/fuzz: json.loads raised RecursionError, a 500."""
    body = b"[" * 100_000 + b"]" * 100_000
    response = await client.post("/webhooks/whatsapp", data=body, headers=meta_headers(body))
    assert response.status == 400


async def test_sms_buttons_become_numbered_options_and_a_number_picks_one(client, platform, engine):
    await post_twilio(client, sms_form("options", sid="SM" + "d" * 32))
    (offer,) = await platform.wait_for("twilio", 1)
    assert "Reply with a number:\n1. Pain\n2. Cost" in offer["Body"]
    await post_twilio(client, sms_form("2", sid="SM" + "e" * 32))
    await platform.wait_for("twilio", 2)
    assert engine.calls[-1][1] == "/ask_cost"


async def test_media_only_sms_gets_a_polite_reply(client, platform):
    form = {**sms_form("", sid="MM" + "f" * 32), "NumMedia": "1", "MediaUrl0": "https://api.twilio.com/m.jpg"}
    await post_twilio(client, form)
    (reply,) = await platform.wait_for("twilio", 1)
    assert "can only read text" in reply["Body"]


async def test_sms_stop_is_recorded_and_nothing_is_sent_afterwards(client, platform, session_factory, engine):
    await post_twilio(client, sms_form("STOP", sid="SM" + "1" * 32))
    await post_twilio(client, sms_form("what is mesotherapy", sid="SM" + "2" * 32))
    await asyncio.sleep(0.3)
    assert platform.twilio == [] and engine.calls == []
    with session_factory() as session:
        assert session.execute(select(ConsentRecord.opted_out)).scalar_one() is True


async def test_help_says_who_we_are(client, platform):
    await post_twilio(client, sms_form("HELP", sid="SM" + "3" * 32))
    (reply,) = await platform.wait_for("twilio", 1)
    assert "Northfield Hair Clinic" in reply["Body"] and "STOP" in reply["Body"]


# ---- Meta WhatsApp Cloud API ---------------------------------------------------------------

def whatsapp_body(text: str = "hello", message_id: str = "wamid.in1", interactive: dict = None,
                  sender: str = PATIENT.lstrip("+")) -> bytes:
    message = {"from": sender, "id": message_id, "timestamp": "1795000000", "type": "text",
               "text": {"body": text}}
    if interactive is not None:
        message = {**message, "type": "interactive", "interactive": interactive}
        message.pop("text")
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1234567890"},
             "contacts": [{"wa_id": sender, "profile": {"name": "Alex"}}], "messages": [message]}
    return json.dumps({"object": "whatsapp_business_account",
                       "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}).encode()


def meta_headers(body: bytes, secret: str = WHATSAPP_APP_SECRET) -> Dict[str, str]:
    return signers.meta_headers(secret, body)


async def test_whatsapp_verification_handshake(client):
    ok = await client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "verify-me",
                                                        "hub.challenge": "1158201444"})
    assert ok.status == 200 and await ok.text() == "1158201444"
    wrong = await client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "nope",
                                                           "hub.challenge": "1"})
    assert wrong.status == 403


async def test_signed_whatsapp_message_is_answered_through_the_graph_api(client, platform, engine):
    body = whatsapp_body("what is mesotherapy")
    response = await client.post("/webhooks/whatsapp", data=body, headers=meta_headers(body))
    assert response.status == 200
    sent = await platform.wait_for("graph", 2)
    assert sent[1]["to"] == PATIENT.lstrip("+") and sent[1]["text"]["body"] == "bot heard: what is mesotherapy"
    assert engine.calls[0][0] == f"whatsapp:{PATIENT}"


async def test_with_both_platforms_whatsapp_is_answered_through_the_one_it_came_in_on(client, platform, engine):
    """Twilio and the Cloud API are both configured here: a WhatsApp message on the Twilio webhook
    is answered through Twilio (from the number it was sent to), never through the Graph API."""
    form = {**sms_form("what is mesotherapy", sid="SM" + "w" * 32, sender=f"whatsapp:{PATIENT}"),
            "To": "whatsapp:+447700900998"}
    assert (await post_twilio(client, form)).status == 200
    sent = await platform.wait_for("twilio", 1)
    assert (sent[0]["To"], sent[0]["From"]) == (f"whatsapp:{PATIENT}", "whatsapp:+447700900998")
    assert platform.graph == []
    body = whatsapp_body("and does it hurt", "wamid.both")  # later through Meta: answered through Meta
    assert (await client.post("/webhooks/whatsapp", data=body, headers=meta_headers(body))).status == 200
    graph = await platform.wait_for("graph", 1)
    assert graph[-1]["text"]["body"] == "bot heard: and does it hurt" and len(platform.twilio) == 1


async def test_with_both_platforms_staff_replies_go_through_the_platform_each_conversation_came_in_on(
        client, platform, engine, session_factory, staff_id):
    """Two WhatsApp patients, one on Twilio's webhook and one on Meta's: a staff member answers both,
    and each reply leaves through its own conversation's platform."""
    from bot.appkeys import ROUTER
    from bot.db.models import Conversation

    other = "+447700900456"
    form = {**sms_form("hello", sid="SM" + "t" * 32, sender=f"whatsapp:{PATIENT}"), "To": "whatsapp:+447700900998"}
    assert (await post_twilio(client, form)).status == 200
    body = whatsapp_body("hello", "wamid.meta-patient", sender=other.lstrip("+"))
    assert (await client.post("/webhooks/whatsapp", data=body, headers=meta_headers(body))).status == 200
    await platform.wait_for("twilio", 1)
    await platform.wait_for("graph", 1)
    with session_factory() as session:
        ids = dict(session.execute(select(Conversation.external_id, Conversation.id)).all())
    router = client.app[ROUTER]
    await router.staff_reply(ids[PATIENT], staff_id, "Jo from the clinic here (Twilio).")
    await router.staff_reply(ids[other], staff_id, "Jo from the clinic here (Meta).")
    twilio_sent = await platform.wait_for("twilio", 2)
    graph_sent = await platform.wait_for("graph", 2)
    assert twilio_sent[-1]["Body"] == "Jo from the clinic here (Twilio)." and twilio_sent[-1]["To"] == f"whatsapp:{PATIENT}"
    assert graph_sent[-1]["text"]["body"] == "Jo from the clinic here (Meta)." and graph_sent[-1]["to"] == other.lstrip("+")
    assert {m["To"] for m in twilio_sent} == {f"whatsapp:{PATIENT}"}  # nothing for the Meta patient through Twilio
    assert {m["to"] for m in graph_sent} == {other.lstrip("+")}  # and nothing for the Twilio patient through Meta


async def test_sms_reply_comes_from_the_number_the_patient_wrote_to_when_none_is_configured(
        make_app, settings, platform, aiohttp_client, engine):
    unset = dataclasses.replace(settings.twilio, api_base=platform.base, from_sms="")
    client = await aiohttp_client(make_app(settings, twilio=unset))
    assert (await post_twilio(client, sms_form("hello", sid="SM" + "n" * 32))).status == 200
    sent = await platform.wait_for("twilio", 1)
    assert sent[0]["From"] == "+447700900999" and "bot heard: hello" in sent[0]["Body"]


async def test_whatsapp_choices_are_interactive_buttons_and_the_reply_id_is_the_payload(client, platform, engine):
    body = whatsapp_body("options", "wamid.a")
    await client.post("/webhooks/whatsapp", data=body, headers=meta_headers(body))
    sent = await platform.wait_for("graph", 2)
    assert sent[1]["type"] == "interactive"
    assert [b["reply"]["id"] for b in sent[1]["interactive"]["action"]["buttons"]] == ["/faq_pain", "/ask_cost"]
    body = whatsapp_body(message_id="wamid.b", interactive={
        "type": "button_reply", "button_reply": {"id": "/faq_pain", "title": "Pain"}})
    await client.post("/webhooks/whatsapp", data=body, headers=meta_headers(body))
    await platform.wait_for("graph", 3)
    assert engine.calls[-1][1] == "/faq_pain"


@pytest.mark.parametrize("headers", [{}, {"X-Hub-Signature-256": "sha256=" + "0" * 64}])
async def test_whatsapp_webhook_without_a_valid_signature_is_refused(client, engine, headers):
    body = whatsapp_body()
    response = await client.post("/webhooks/whatsapp", data=body,
                                 headers={"Content-Type": "application/json", **headers})
    assert response.status == 403 and engine.calls == []


async def test_whatsapp_status_of_a_reply_is_acknowledged_and_changes_nothing(client, platform, engine):
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1234567890"},
             "statuses": [{"id": "wamid.out1", "status": "delivered", "recipient_id": PATIENT.lstrip("+")}]}
    body = json.dumps({"object": "whatsapp_business_account",
                       "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}).encode()
    response = await client.post("/webhooks/whatsapp", data=body, headers=meta_headers(body))
    assert response.status == 200 and (await response.json()) == {"received": 0, "statuses": 1}
    await asyncio.sleep(0.1)
    assert engine.calls == [] and platform.graph == []


@pytest.mark.parametrize("body", [b"{not json", b'{"object": "page", "entry": []}'])
async def test_malformed_whatsapp_webhook_gets_400(client, body):
    response = await client.post("/webhooks/whatsapp", data=body, headers=meta_headers(body))
    assert response.status == 400 and "malformed" in await response.text()


async def test_whatsapp_redelivery_is_answered_once(client, platform, engine):
    body = whatsapp_body("hello", "wamid.same")
    for _ in range(20):
        assert (await client.post("/webhooks/whatsapp", data=body, headers=meta_headers(body))).status == 200
    await platform.wait_for("graph", 2)
    await asyncio.sleep(0.2)
    assert len(engine.calls) == 1 and len(platform.graph) == 2  # the disclaimer and the answer


async def test_oversized_request_body_is_refused_before_processing(client, engine):
    form = sms_form("x" * 300_000)
    response = await post_twilio(client, form)
    assert response.status == 413 and engine.calls == []
