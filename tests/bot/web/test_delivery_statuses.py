"""Delivery statuses of care messages through the webhooks: Twilio's StatusCallback and Meta's statuses."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Dict, Optional

import pytest

from bot.db.models import CareMessage
from tests.support import signers
from tests.support.clock import START
from tests.support.database import unreachable_database
from tests.support.platforms import TWILIO_AUTH_TOKEN, WHATSAPP_APP_SECRET

PUBLIC = "https://bot.clinic.example"
STATUS_PATH = "/webhooks/twilio/status"
SID = "SM" + "5" * 32
WAMID = "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSQ0FSRQ=="


@pytest.fixture
def care(rows):
    """A reminder sent by SMS through Twilio (SID) and a check-in sent by WhatsApp through Meta (WAMID)."""
    patient = rows.patient()
    appointment = rows.appointment(rows.course(patient), START + timedelta(days=1))
    return {
        "twilio": rows.care_message(appointment, patient, "reminder", status="sent", provider="twilio",
                                    provider_message_id=SID, channel="sms"),
        "meta": rows.care_message(appointment, patient, "aftercare_checkin", status="sent", provider="meta",
                                  provider_message_id=WAMID, channel="whatsapp"),
    }


def care_row(session_factory, care_id: int) -> CareMessage:
    with session_factory() as session:
        message = session.get(CareMessage, care_id)
        session.expunge(message)
        return message


def status_form(status: str, sid: str = SID, error_code: Optional[str] = None) -> Dict[str, str]:
    """What Twilio posts to a StatusCallback."""
    form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32, "MessageStatus": status,
            "SmsStatus": status, "From": "+447700900999", "To": "+447700900123", "ApiVersion": "2010-04-01"}
    if error_code is not None:
        form["ErrorCode"] = error_code
    return form


async def post_status(client, form, headers=None):
    if headers is None:
        headers = signers.twilio_headers(TWILIO_AUTH_TOKEN, PUBLIC + STATUS_PATH, form)
    return await client.post(STATUS_PATH, data=form, headers=headers)


def meta_statuses(*statuses: dict) -> bytes:
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1234567890"},
             "statuses": list(statuses)}
    return json.dumps({"object": "whatsapp_business_account",
                       "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}).encode()


def meta_status(status: str, message_id: str = WAMID, at: int = 1795000000, code: Optional[int] = None) -> dict:
    entry = {"id": message_id, "status": status, "timestamp": str(at), "recipient_id": "447700900123"}
    if code is not None:
        entry["errors"] = [{"code": code, "title": "Message undeliverable"}]
    return entry


async def post_meta(client, body: bytes):
    return await client.post("/webhooks/whatsapp", data=body, headers=signers.meta_headers(WHATSAPP_APP_SECRET, body))


# ---- Twilio ---------------------------------------------------------------------------------

async def test_signed_twilio_statuses_move_the_message_to_delivered_then_read(client, session_factory, care):
    response = await post_status(client, status_form("delivered"))
    assert response.status == 204
    assert care_row(session_factory, care["twilio"]).status == "delivered"
    assert (await post_status(client, status_form("read"))).status == 204
    message = care_row(session_factory, care["twilio"])
    assert message.status == "read" and message.status_at is not None and message.error_code is None


async def test_twilio_failure_is_recorded_with_its_error_code(client, session_factory, care):
    assert (await post_status(client, status_form("undelivered", error_code="30008"))).status == 204
    message = care_row(session_factory, care["twilio"])
    assert (message.status, message.error_code) == ("failed", "30008")


async def test_a_backwards_twilio_status_is_ignored(client, session_factory, care):
    await post_status(client, status_form("read"))
    assert (await post_status(client, status_form("sent"))).status == 204
    assert (await post_status(client, status_form("delivered"))).status == 204
    assert care_row(session_factory, care["twilio"]).status == "read"


@pytest.mark.parametrize("headers", [{}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}])
async def test_unsigned_or_wrongly_signed_status_is_refused_and_changes_nothing(
        client, session_factory, care, headers):
    response = await post_status(client, status_form("failed", error_code="30008"), headers=headers)
    assert response.status == 403
    message = care_row(session_factory, care["twilio"])
    assert (message.status, message.error_code) == ("sent", None)


async def test_a_status_signed_for_the_message_webhook_is_refused(client, session_factory, care):
    form = status_form("delivered")
    headers = signers.twilio_headers(TWILIO_AUTH_TOKEN, PUBLIC + "/webhooks/twilio", form)
    assert (await post_status(client, form, headers=headers)).status == 403
    assert care_row(session_factory, care["twilio"]).status == "sent"


async def test_a_status_of_an_unknown_sid_is_acknowledged_and_changes_nothing(client, session_factory, care):
    response = await post_status(client, status_form("delivered", sid="SM" + "0" * 32))
    assert response.status == 204
    assert care_row(session_factory, care["twilio"]).status == "sent"


async def test_a_malformed_status_is_acknowledged_and_changes_nothing(client, session_factory, care):
    form = {"AccountSid": "AC" + "0" * 32, "MessageStatus": "delivered"}
    assert (await post_status(client, form)).status == 204
    assert care_row(session_factory, care["twilio"]).status == "sent"


async def test_database_down_answers_503_and_the_retry_is_recorded(client, router, session_factory, care):
    working = router.sessions
    router.sessions = unreachable_database()
    response = await post_status(client, status_form("delivered"))
    assert response.status == 503 and response.headers["Retry-After"] == "30"
    router.sessions = working
    assert (await post_status(client, status_form("delivered"))).status == 204
    assert care_row(session_factory, care["twilio"]).status == "delivered"


# ---- Meta -----------------------------------------------------------------------------------

async def test_meta_statuses_move_the_message_forward_and_record_a_failure(client, session_factory, care):
    response = await post_meta(client, meta_statuses(meta_status("delivered", at=1795000000)))
    assert response.status == 200 and (await response.json()) == {"received": 0, "statuses": 1}
    message = care_row(session_factory, care["meta"])
    assert message.status == "delivered" and message.status_at.timestamp() == 1795000000
    await post_meta(client, meta_statuses(meta_status("read", at=1795000060), meta_status("sent", at=1795000070)))
    assert care_row(session_factory, care["meta"]).status == "read"


async def test_meta_failure_is_recorded_with_its_error_code(client, session_factory, care):
    await post_meta(client, meta_statuses(meta_status("failed", code=131026)))
    message = care_row(session_factory, care["meta"])
    assert (message.status, message.error_code) == ("failed", "131026")


async def test_meta_statuses_of_replies_and_malformed_entries_change_nothing(client, session_factory, care):
    body = meta_statuses(meta_status("read", message_id="wamid.a-staff-reply"), {"status": "read"},
                         {"id": WAMID}, "not an object")
    response = await post_meta(client, body)
    assert response.status == 200 and (await response.json()) == {"received": 0, "statuses": 1}
    assert care_row(session_factory, care["meta"]).status == "sent"


async def test_a_wrongly_signed_meta_status_changes_nothing(client, session_factory, care):
    body = meta_statuses(meta_status("failed", code=131026))
    response = await client.post("/webhooks/whatsapp", data=body,
                                 headers=signers.meta_headers("not-the-app-secret", body))
    assert response.status == 403
    assert care_row(session_factory, care["meta"]).status == "sent"


async def test_meta_status_with_the_database_down_answers_503(client, router, session_factory, care):
    working = router.sessions
    router.sessions = unreachable_database()
    response = await post_meta(client, meta_statuses(meta_status("delivered")))
    router.sessions = working
    assert response.status == 503
    assert care_row(session_factory, care["meta"]).status == "sent"
