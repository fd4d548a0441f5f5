"""Sending due care messages: once each, through the right channel, with the checks at send time."""
from __future__ import annotations

import asyncio
import dataclasses
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from bot.care.plan import plan_care
from bot.care.schedule import TemplateConfig
from bot.care.sender import send_due
from bot.channels.messages import ChannelSendError
from bot.channels.proactive import WhatsAppTemplate
from bot.conversations import store
from bot.db.models import CareMessage, Conversation, Message, Patient
from tests.support.care import RecordingProactiveDeliverer, consenting_patient, session_at
from tests.support.clock import START

MONDAY_14 = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)
REMINDER_DUE = datetime(2026, 11, 22, 14, 0, tzinfo=timezone.utc)
PHONE = "+447700900123"


def booked(factory, profile, channel="sms"):
    """Alex with a session on Monday at 14:00, planned at START; the appointment id."""
    _, course = consenting_patient(factory, channel=channel)
    appointment = session_at(factory, course, MONDAY_14)
    with factory.begin() as session:
        plan_care(session, profile, START)
    return appointment


async def send(factory, deliverer, profile, now=REMINDER_DUE, **options):
    return await send_due(factory, deliverer, now, profile=profile, **options)


def row(factory, appointment, kind):
    with factory.begin() as session:
        return session.execute(select(CareMessage).where(CareMessage.appointment_id == appointment,
                                                         CareMessage.kind == kind)).scalar_one()


def with_templates(profile):
    """The profile with an approved WhatsApp template for every kind."""
    kinds = {kind: dataclasses.replace(schedule, whatsapp=TemplateConfig(
        twilio_content_sid=f"HX{kind}", meta_name=f"care_{kind}", variables=schedule.whatsapp.variables))
        for kind, schedule in profile.care.kinds.items()}
    return dataclasses.replace(profile, care=dataclasses.replace(profile.care, kinds=kinds))


async def test_due_messages_are_sent_stored_in_the_conversation_and_marked(session_factory, profile, deliverer):
    appointment = booked(session_factory, profile)
    report = await send(session_factory, deliverer, profile)
    # The reminder; the preparation message (due on Saturday, until 20:00) is too late by now.
    assert report.describe() == "sent 1, skipped 1, failed 0"
    assert row(session_factory, appointment, "preparation").detail == "too late"
    assert [(s.channel, s.external_id, s.template) for s in deliverer.sends] == [("sms", PHONE, None)]
    assert deliverer.texts()[0].endswith("your hair mesotherapy session is tomorrow at 14:00. "
                                         "Reply 1 to confirm, 2 to change the time, 3 to cancel.")
    reminder = row(session_factory, appointment, "reminder")
    assert (reminder.status, reminder.channel, reminder.provider, reminder.provider_message_id, reminder.sent_at) == (
        "sent", "sms", "twilio", "SM1", REMINDER_DUE)
    with session_factory.begin() as session:
        copy = session.get(Message, reminder.message_id)
        conversation = session.get(Conversation, copy.conversation_id)
        assert (conversation.channel, conversation.external_id) == ("sms", PHONE)
        assert (copy.direction, copy.author, copy.text, copy.channel_message_id) == (
            "out", "bot", deliverer.texts()[0], "SM1")
        assert copy.buttons == [{"title": "Confirm", "payload": "/confirm_session"},
                                {"title": "Change the time", "payload": "/request_reschedule"},
                                {"title": "Cancel the session", "payload": "/request_cancel"}]
        assert [b.payload for b in store.offered_buttons(session, conversation.id)] == [
            "/confirm_session", "/request_reschedule", "/request_cancel"]
    assert row(session_factory, appointment, "aftercare_checkin").status == "scheduled"  # not due yet


async def test_sending_twice_in_a_row_sends_nothing_twice(session_factory, profile, deliverer):
    booked(session_factory, profile)
    assert (await send(session_factory, deliverer, profile)).sent == 1
    assert (await send(session_factory, deliverer, profile, REMINDER_DUE + timedelta(minutes=1))).sent == 0
    assert len(deliverer.sends) == 1


async def test_nothing_is_sent_in_quiet_hours(session_factory, profile, deliverer):
    booked(session_factory, profile)
    assert (await send(session_factory, deliverer, profile, datetime(2026, 11, 22, 21, 30, tzinfo=timezone.utc))).sent == 0
    assert deliverer.sends == []
    assert (await send(session_factory, deliverer, profile, datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc))).sent == 1


async def test_stop_on_the_channel_skips_the_message(session_factory, profile, deliverer):
    appointment = booked(session_factory, profile)
    with session_factory.begin() as session:
        store.set_opt_out(session, PHONE, "sms", True, START)
    report = await send(session_factory, deliverer, profile)
    assert (report.sent, report.skipped) == (0, 2)
    reminder = row(session_factory, appointment, "reminder")
    assert (reminder.status, reminder.detail, reminder.message_id) == ("skipped", "opted out", None)
    with session_factory.begin() as session:  # START resumes them: the check-in goes
        store.set_opt_out(session, PHONE, "sms", False, START)
    assert (await send(session_factory, deliverer, profile, datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc))).sent == 1


async def test_consent_withdrawn_after_planning_is_checked_at_send_time(session_factory, profile, deliverer):
    appointment = booked(session_factory, profile)
    with session_factory.begin() as session:
        session.execute(update(Patient).values(care_consent=False))
    report = await send(session_factory, deliverer, profile)
    assert (report.sent, report.skipped) == (0, 2)
    assert row(session_factory, appointment, "reminder").detail == "consent withdrawn"


async def test_whatsapp_outside_the_window_gets_the_template(session_factory, profile, deliverer):
    templated = with_templates(profile)
    appointment = booked(session_factory, templated, channel="whatsapp")
    await send(session_factory, deliverer, templated)
    reminder = deliverer.sends[0]
    assert reminder.channel == "whatsapp"
    assert reminder.template == WhatsAppTemplate(twilio_content_sid="HXreminder", meta_name="care_reminder",
                                                 meta_language="en_GB", variables=("Alex", "tomorrow at 14:00"))
    assert row(session_factory, appointment, "reminder").channel == "whatsapp"


async def test_whatsapp_inside_the_window_gets_free_text(session_factory, profile, deliverer):
    templated = with_templates(profile)
    booked(session_factory, templated, channel="whatsapp")
    with session_factory.begin() as session:
        conversation = store.conversation_for(session, "whatsapp", PHONE, START)
        conversation.last_patient_message_at = REMINDER_DUE - timedelta(hours=3)
    await send(session_factory, deliverer, templated)
    assert [s.template for s in deliverer.sends] == [None]
    assert deliverer.sends[0].text.startswith("Hello Alex, a reminder")


async def test_whatsapp_without_a_template_outside_the_window_is_skipped(session_factory, profile, deliverer):
    appointment = booked(session_factory, profile, channel="whatsapp")
    assert (await send(session_factory, deliverer, profile)).skipped == 2
    assert row(session_factory, appointment, "reminder").detail == "no WhatsApp template"
    assert deliverer.sends == []


async def test_a_refused_send_is_failed_with_the_platform_error_code(session_factory, profile):
    appointment = booked(session_factory, profile)
    refusing = RecordingProactiveDeliverer(fail_with=ChannelSendError("sms", 400, 21610))
    assert (await send(session_factory, refusing, profile)).failed == 1
    reminder = row(session_factory, appointment, "reminder")
    assert (reminder.status, reminder.error_code, reminder.message_id) == ("failed", "21610", None)
    with session_factory.begin() as session:
        assert session.execute(select(Message)).scalars().all() == []  # the copy of what never went


async def test_a_send_without_an_answer_is_unknown_and_never_sent_again(session_factory, profile, deliverer):
    appointment = booked(session_factory, profile)
    timing_out = RecordingProactiveDeliverer(fail_with=asyncio.TimeoutError())
    assert (await send(session_factory, timing_out, profile)).unknown == 1
    assert row(session_factory, appointment, "reminder").status == "unknown"
    assert (await send(session_factory, deliverer, profile, REMINDER_DUE + timedelta(hours=1))).sent == 0


async def test_a_row_left_sending_by_a_crashed_sender_becomes_unknown_and_is_not_sent(session_factory, profile, deliverer):
    appointment = booked(session_factory, profile)
    with session_factory.begin() as session:  # a sender claimed it, then died
        session.execute(update(CareMessage).where(CareMessage.kind == "reminder").values(
            status="sending", claimed_at=REMINDER_DUE))
    report = await send(session_factory, deliverer, profile, REMINDER_DUE + timedelta(minutes=5))
    assert (report.sent, report.unknown) == (0, 0)  # the reminder is still in flight
    report = await send(session_factory, deliverer, profile, REMINDER_DUE + timedelta(minutes=11))
    assert (report.sent, report.unknown) == (0, 1)
    reminder = row(session_factory, appointment, "reminder")
    assert (reminder.status, reminder.detail) == ("unknown", "sender stopped mid-send")
    assert not any("reminder" in text for text in deliverer.texts())


async def test_a_message_past_its_latest_moment_is_skipped_too_late(session_factory, profile, deliverer):
    appointment = booked(session_factory, profile)
    report = await send(session_factory, deliverer, profile, MONDAY_14 - timedelta(hours=1))
    assert report.sent == 0 and report.skipped == 2
    assert row(session_factory, appointment, "reminder").detail == "too late"


@pytest.mark.postgres
def test_two_senders_at_once_on_postgresql_send_every_message_exactly_once(postgres_url, profile):
    from bot.db.migrate import upgrade_database
    from tests.support.database import sessions_on

    upgrade_database(postgres_url)
    with sessions_on(postgres_url) as factory:
        with factory.begin() as session:
            for number in range(250):
                _, course = consenting_patient(factory, ref=f"MC-{1000 + number}", phone=f"+4477009{number:05d}",
                                               session=session)
                session_at(factory, course, MONDAY_14 + timedelta(minutes=number), session=session)
            plan_care(session, profile, START)
        deliverer = RecordingProactiveDeliverer()
        barrier = threading.Barrier(2)
        reports = []

        def sender():
            barrier.wait()
            reports.append(asyncio.run(send_due(factory, deliverer, REMINDER_DUE + timedelta(hours=5),
                                                profile=profile)))

        threads = [threading.Thread(target=sender) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with factory.begin() as session:
            statuses = session.execute(select(CareMessage.status, CareMessage.kind)).all()
    sent_to = [(send.external_id, send.text.split(":")[0]) for send in deliverer.sends]
    assert len(deliverer.sends) == 250 and len(set(sent_to)) == 250  # every reminder, once
    assert sum(report.sent for report in reports) == 250
    assert {status for status, kind in statuses if kind == "reminder"} == {"sent"}
