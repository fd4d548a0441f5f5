"""Replies in context with the trained model and the real action server: after an aftercare check-in
on SMS, the demo patient's question is answered for their own session, identified by their verified
phone number alone; a reminder's "yes please" confirms without Rasa, and Rasa answers what follows."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.care.replies import REMINDER_BUTTONS
from bot.channels.messages import InboundMessage, OutboundMessage
from bot.conversations import store
from bot.db.models import Appointment, CareMessage, Patient, TreatmentCourse
from bot.settings import Settings
from tests.support import processes
from tests.support.database import demo_clinic_database
from tests.support.ports import free_port

pytestmark = pytest.mark.model

PHONE = "+447700900123"  # Alex Morgan, MC-4827: sessions yesterday at 10:00 and in 3 days at 14:00
KEY = "k" * 32


@pytest.fixture
def clinic_db(tmp_path, migrated_sqlite_template) -> str:
    return demo_clinic_database(migrated_sqlite_template, tmp_path / "clinic.db")


@pytest.fixture
def action_server(clinic_db, tmp_path):
    port = free_port()
    process = processes.action_server(clinic_db, port, tmp_path / "action-server.log", IDENTITY_SIGNING_KEY=KEY)
    with processes.stopping(process):
        try:
            process.wait_until_answering(processes.health_url(port), 90)
        except RuntimeError as error:
            pytest.fail(str(error))
        yield processes.action_url(port)


def sessions_of_alex(session):
    return session.execute(
        select(Appointment).join(TreatmentCourse).join(Patient).where(Patient.phone_e164 == PHONE)
        .order_by(Appointment.starts_at)).scalars().all()


def write_care(factory, kind, appointment_id, patient_id, buttons=()):
    """The care message as the sender leaves it: a copy in the SMS conversation, the row sent."""
    now = datetime.now(timezone.utc)
    with factory.begin() as session:
        conversation = store.conversation_for(session, "sms", PHONE, now)
        [copy] = store.record_outbound(session, conversation.id, [OutboundMessage(f"{kind} text", buttons)], now)
        session.add(CareMessage(appointment_id=appointment_id, patient_id=patient_id, kind=kind, due_at=now,
                                status="delivered", channel="sms", sent_at=now, message_id=copy.id))


async def test_after_the_check_in_and_the_reminder_the_phone_identifies_the_patient(
        trained_model, clinic_db, action_server):
    from bot.channels.twilio import SMS
    from bot.conversations.router import ConversationRouter
    from bot.db.session import create_db_engine, make_session_factory
    from bot.engine.agent import RasaEngine
    from tests.support.deliverers import RecordingDeliverer

    settings = dataclasses.replace(Settings.from_env({"DATABASE_URL": clinic_db}), action_endpoint_url=action_server,
                                   model_path=trained_model, identity_signing_key=KEY)
    engine = RasaEngine(settings, action_timeout_seconds=30)
    await engine.load()
    db = create_db_engine(clinic_db)
    factory = make_session_factory(db)
    router = ConversationRouter(settings, factory, engine)
    router.register(RecordingDeliverer(SMS))
    try:
        with factory() as session:
            alex = sessions_of_alex(session)
            yesterday = next(a for a in alex if a.status == "completed" and a.starts_at > router.clock() - timedelta(days=2))
            upcoming = next(a for a in alex if a.status == "booked")
            patient_id = yesterday.course.patient_id
        write_care(factory, "aftercare_checkin", yesterday.id, patient_id)

        async def say(text, number):
            outcome = await router.receive(InboundMessage(
                channel="sms", sender=PHONE, text=text, channel_message_id=f"SMmodel{number}", has_media=False,
                received_at=datetime.now(timezone.utc)))
            return outcome.handled_by, "\n".join(reply.text for reply in outcome.replies)

        handled_by, reply = await say("when can I wash my hair", 1)
        assert handled_by == "bot"
        assert "Your session was yesterday at 10:00, so please wait until 10:00 tomorrow" in reply, reply
        assert "booking reference" not in reply

        write_care(factory, "reminder", upcoming.id, patient_id, REMINDER_BUTTONS)
        handled_by, reply = await say("yes please", 2)
        assert handled_by == "care" and "is confirmed" in reply and "14:00" in reply, reply
        with factory() as session:
            assert session.get(Appointment, upcoming.id).confirmed_at is not None
        handled_by, reply = await say("when is my next appointment", 3)
        assert handled_by == "bot" and reply.startswith("Your next session is") and "14:00" in reply, reply
    finally:
        db.dispose()
