"""A care reminder from the outbox to the patient's "1", through the real application: planned, sent by
SMS through (stub) Twilio with a StatusCallback, its delivery recorded from a signed callback, and the
patient's reply confirming the session."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from bot.appkeys import ROUTER, SESSION_FACTORY, SETTINGS
from bot.care.plan import plan_care
from bot.care.sender import RouterDeliverers, send_due
from bot.db.models import Appointment, CareMessage, Message, Patient
from tests.bot.web.test_delivery_statuses import post_status, status_form
from tests.bot.web.test_webhooks import (  # noqa: F401  (client: its app, Twilio and Meta on the stub)
    PATIENT,
    client,
    post_twilio,
    sms_form,
)

# A Tuesday, 11:00 in London: outside quiet hours.
NOON = datetime(2026, 12, 8, 11, 0, tzinfo=timezone.utc)


async def test_a_reminder_is_sent_once_delivered_and_confirmed_by_the_patients_1(client, platform, rows):  # noqa: F811  (client)
    patient = rows.patient(phone=PATIENT)
    session_at = NOON + timedelta(hours=23)
    appointment = rows.appointment(rows.course(patient), session_at)
    app = client.app
    router, sessions, settings = app[ROUTER], app[SESSION_FACTORY], app[SETTINGS]
    now = {"at": NOON}
    router.clock = lambda: now["at"]
    with sessions.begin() as session:
        session.execute(update(Patient).values(care_consent=True, care_consent_source="consent form",
                                               care_consent_at=NOON - timedelta(days=30), preferred_channel="sms"))
        plan_care(session, settings.clinic, NOON)

    first = await send_due(sessions, RouterDeliverers(router), NOON, profile=settings.clinic)
    again = await send_due(sessions, RouterDeliverers(router), NOON + timedelta(minutes=1), profile=settings.clinic)
    assert (first.sent, again.sent) == (1, 0)
    [sms] = platform.twilio
    assert sms["To"] == PATIENT and sms["StatusCallback"] == "https://bot.clinic.example/webhooks/twilio/status"
    assert "your hair mesotherapy session is tomorrow at 10:00" in sms["Body"] and "Reply 1 to confirm" in sms["Body"]
    with sessions() as session:
        reminder = session.execute(select(CareMessage).where(CareMessage.kind == "reminder")).scalar_one()
    assert reminder.status == "sent" and reminder.provider == "twilio" and reminder.provider_message_id

    assert (await post_status(client, status_form("delivered", sid=reminder.provider_message_id))).status == 204
    with sessions() as session:
        assert session.get(CareMessage, reminder.id).status == "delivered"

    now["at"] = NOON + timedelta(minutes=20)
    assert (await post_twilio(client, sms_form("1", sid="SM" + "r" * 32))).status == 200
    answer = await platform.wait_for("twilio", 2)
    assert answer[-1]["Body"].startswith("Thank you, your session tomorrow at 10:00 is confirmed.")
    with sessions() as session:
        assert session.get(Appointment, appointment).confirmed_at == now["at"]
        stored = session.execute(select(Message.author, Message.text).order_by(Message.id)).all()
    assert [author for author, _ in stored] == ["bot", "patient", "bot"]  # the reminder, "1", the confirmation
