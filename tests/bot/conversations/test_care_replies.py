"""Replies in context: a patient's answer to a reminder, through the router (scripted engine, real
migrated SQLite database). The care messages are written here as the sender leaves them."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.care.replies import REMINDER_BUTTONS, choice_of
from bot.channels.messages import Button, InboundMessage, OutboundMessage
from bot.channels.twilio import SMS
from bot.channels.whatsapp import WHATSAPP
from bot.clinic.identity import verified_channel_phone
from bot.conversations import store
from bot.conversations.router import ConversationRouter
from bot.db.models import Appointment, AuditLog, Conversation, Escalation, StaffRequest
from bot.settings import Settings
from bot.web.webchat import WEB
from tests.bot.fakes import KeywordScreen, RecordingDeliverer, ScriptedEngine
from tests.support.clock import START

PHONE = "+447700900123"
OTHER_PHONE = "+447700900456"
NOW = START  # Friday 20 November 2026, 10:00 in London
SESSION_AT = NOW + timedelta(days=1, hours=4)  # tomorrow at 14:00
REMINDER_TEXT = "Reminder: your session is tomorrow at 14:00."
CONFIRMED = ("Thank you, your session tomorrow at 14:00 is confirmed. We look forward to seeing you. "
             "If anything changes, reply 2 to move it or 3 to cancel it.")
ALREADY = "Your session tomorrow at 14:00 is already confirmed, thank you."
PASSED_ON_MOVE = ("Thanks, I've passed your request to move your session to the clinic team. Your booking stays "
                  "as it is until they confirm the change with you. ")
PASSED_ON_CANCEL = ("Thanks, I've passed your cancellation to the clinic team. Your booking stays as it is until "
                    "they confirm the change with you. ")


@pytest.fixture
def settings(db_url) -> Settings:
    return dataclasses.replace(Settings.from_env({"DATABASE_URL": db_url}), identity_signing_key="k" * 32)


@pytest.fixture
def engine(session_factory) -> ScriptedEngine:
    return ScriptedEngine(session_factory)


@pytest.fixture
def deliverers():
    return {kind.name: RecordingDeliverer(kind) for kind in (WEB, SMS, WHATSAPP)}


@pytest.fixture
def router(settings, session_factory, engine, deliverers) -> ConversationRouter:
    router = ConversationRouter(settings, session_factory, engine, screen=KeywordScreen(), clock=lambda: NOW)
    for deliverer in deliverers.values():
        router.register(deliverer)
    return router


@dataclasses.dataclass
class Booking:
    patient_id: int
    appointment_id: int
    conversation_id: int


@pytest.fixture
def booking(rows) -> Booking:
    """Alex Morgan (PHONE) with a session tomorrow at 14:00 and an SMS conversation of their phone."""
    patient_id = rows.patient()
    course_id = rows.course(patient_id)
    rows.appointment(course_id, NOW - timedelta(days=7), status="completed")
    appointment_id = rows.appointment(course_id, SESSION_AT)
    conversation_id = rows.conversation("sms", PHONE, owner="bot")
    return Booking(patient_id, appointment_id, conversation_id)


def send_care(session_factory, rows, booking: Booking, kind="reminder", *, at=NOW - timedelta(hours=2),
              status="sent", buttons=REMINDER_BUTTONS, appointment_id=None, patient_id=None,
              conversation_id=None) -> int:
    """A care message as the sender leaves it: its copy stored in the phone conversation, the row sent."""
    with session_factory.begin() as session:
        [copy] = store.record_outbound(session, conversation_id or booking.conversation_id,
                                       [OutboundMessage(REMINDER_TEXT if kind == "reminder" else f"{kind} text",
                                                        buttons)], at)
        return rows.care_message(appointment_id or booking.appointment_id, patient_id or booking.patient_id, kind,
                                 status=status, due_at=at, message_id=copy.id, session=session)


def sms(text, number=1, sender=PHONE, payload=None, channel="sms"):
    return InboundMessage(channel=channel, sender=sender, text=text, channel_message_id=f"SM{number}-{text}",
                          has_media=False, received_at=NOW, reply_to_payload=payload)


def appointment(session_factory, appointment_id) -> Appointment:
    with session_factory() as session:
        return session.get(Appointment, appointment_id)


def requests(session_factory):
    with session_factory() as session:
        return [(r.kind, r.appointment_id, r.patient_id, r.wishes) for r in
                session.execute(select(StaffRequest).order_by(StaffRequest.id)).scalars()]


def audit_rows(session_factory, action):
    with session_factory() as session:
        return session.execute(select(AuditLog).where(AuditLog.action == action)).scalars().all()


async def test_1_confirms_that_booking_once_and_a_second_1_says_it_already_is(router, engine, deliverers,
                                                                               session_factory, rows, booking):
    care_id = send_care(session_factory, rows, booking)
    outcome = await router.receive(sms("1"))
    assert outcome.handled_by == "care" and [r.text for r in outcome.replies] == [CONFIRMED]
    assert deliverers["sms"].texts() == [CONFIRMED] and engine.calls == []
    assert appointment(session_factory, booking.appointment_id).confirmed_at == NOW
    [confirmed] = audit_rows(session_factory, "session_confirmed")
    assert (confirmed.actor_type, confirmed.actor_id, confirmed.subject_type, confirmed.subject_id) == (
        "patient", str(booking.patient_id), "appointment", str(booking.appointment_id))
    assert confirmed.detail == {"care_message_id": care_id, "conversation_id": booking.conversation_id}
    with session_factory() as session:  # identified by the phone the reminder went to: staff see who it is
        assert session.get(Conversation, booking.conversation_id).patient_id == booking.patient_id

    again = await router.receive(sms("1", number=2))
    assert again.handled_by == "care" and again.replies[0].text.startswith(ALREADY)
    assert len(audit_rows(session_factory, "session_confirmed")) == 1 and engine.calls == []


@pytest.mark.parametrize("reply", ["yes", "Yes please", "CONFIRM", "confirmed.", "OK, see you then!", "1.",
                                   "option 1", "Confirm"])
async def test_the_few_words_that_confirm(router, session_factory, rows, booking, reply):
    send_care(session_factory, rows, booking)
    outcome = await router.receive(sms(reply))
    assert [r.text for r in outcome.replies] == [CONFIRMED]
    assert appointment(session_factory, booking.appointment_id).confirmed_at == NOW


async def test_a_pressed_whatsapp_button_confirms(router, session_factory, rows, booking):
    conversation_id = rows.conversation("whatsapp", PHONE, owner="bot")
    send_care(session_factory, rows, booking, conversation_id=conversation_id)
    outcome = await router.receive(sms("Confirm", channel="whatsapp", payload="/confirm_session"))
    assert outcome.handled_by == "care" and outcome.replies[0].text == CONFIRMED


@pytest.mark.parametrize("reply", ["2", "can we move it?", "Reschedule", "change the time"])
async def test_2_asks_staff_to_move_that_session_once(router, engine, session_factory, rows, booking, reply):
    # An earlier booked session exists: the request is about the reminder's session, not the next one.
    with session_factory() as session:
        course_id = session.get(Appointment, booking.appointment_id).course_id
    rows.appointment(course_id, NOW + timedelta(hours=3))
    send_care(session_factory, rows, booking)
    outcome = await router.receive(sms(reply))
    assert outcome.handled_by == "care" and outcome.replies[0].text.startswith(PASSED_ON_MOVE)
    assert requests(session_factory) == [("reschedule", booking.appointment_id, booking.patient_id,
                                          f"Replied to the reminder: {reply}")]
    [created] = audit_rows(session_factory, "staff_request_created")
    assert created.detail == {"kind": "reschedule", "appointment_id": booking.appointment_id}
    again = await router.receive(sms("2", number=2))
    assert again.replies[0].text.startswith("I've already passed your request to move your session")
    assert len(requests(session_factory)) == 1 and engine.calls == []
    assert appointment(session_factory, booking.appointment_id).confirmed_at is None


@pytest.mark.parametrize("reply", ["3", "cancel it", "Please cancel it.", "Cancel the session"])
async def test_3_asks_staff_to_cancel_that_session(router, session_factory, rows, booking, reply):
    send_care(session_factory, rows, booking)
    outcome = await router.receive(sms(reply))
    assert outcome.replies[0].text.startswith(PASSED_ON_CANCEL)
    assert [r[:3] for r in requests(session_factory)] == [("cancel", booking.appointment_id, booking.patient_id)]
    with session_factory() as session:  # the booking itself is left to staff
        assert session.get(Appointment, booking.appointment_id).status == "booked"


async def test_a_bare_cancel_is_stop_and_stops_the_messages_not_the_booking(router, session_factory, rows,
                                                                            booking):
    send_care(session_factory, rows, booking)
    outcome = await router.receive(sms("Cancel"))
    assert outcome.handled_by == "consent" and requests(session_factory) == []
    with session_factory() as session:
        assert store.is_opted_out(session, PHONE, "sms")


async def test_a_pressed_cancel_button_answers_the_reminder_and_is_no_stop(router, session_factory, rows, booking):
    """A WhatsApp template's quick reply titled "Cancel" arrives as the text "Cancel" with its payload."""
    conversation_id = rows.conversation("whatsapp", PHONE, owner="bot")
    send_care(session_factory, rows, booking, conversation_id=conversation_id,
              buttons=(Button("Confirm", "/confirm_session"), Button("Cancel", "/request_cancel")))
    outcome = await router.receive(sms("Cancel", channel="whatsapp", payload="/request_cancel"))
    assert outcome.handled_by == "care" and outcome.replies[0].text.startswith(PASSED_ON_CANCEL)
    with session_factory() as session:
        assert not store.is_opted_out(session, PHONE, "whatsapp")
    stop = await router.receive(sms("Cancel", number=2, channel="whatsapp"))  # typed, it is STOP
    assert stop.handled_by == "consent"


async def test_the_red_flag_screen_comes_first(router, engine, session_factory, rows, booking):
    send_care(session_factory, rows, booking)
    outcome = await router.receive(sms("1 but my lips swelling"))
    assert outcome.handled_by == "screen"
    assert appointment(session_factory, booking.appointment_id).confirmed_at is None
    with session_factory() as session:
        [escalation] = session.execute(select(Escalation)).scalars().all()
    assert escalation.priority == "urgent"


async def test_anything_else_goes_to_rasa_as_today(router, engine, session_factory, rows, booking, settings):
    send_care(session_factory, rows, booking)
    for number, text in enumerate(["yes I have a question about aspirin", "ok", "4", "how long does it take"]):
        outcome = await router.receive(sms(text, number=number))
        assert outcome.handled_by == "bot" and outcome.replies[-1].text == f"bot heard: {text}"
    assert appointment(session_factory, booking.appointment_id).confirmed_at is None
    assert requests(session_factory) == []


async def test_a_question_after_the_check_in_is_asked_with_the_verified_phone(router, engine, session_factory,
                                                                               rows, booking, settings):
    with session_factory.begin() as session:  # yesterday's session, this morning's check-in
        past = session.get(Appointment, booking.appointment_id)
        past.starts_at, past.status = NOW - timedelta(hours=22), "completed"
    send_care(session_factory, rows, booking, "aftercare_checkin", at=NOW - timedelta(hours=1), buttons=())
    outcome = await router.receive(sms("when can I wash my hair"))
    assert outcome.handled_by == "bot" and outcome.replies[-1].text == "bot heard: when can I wash my hair"
    sender_key, text, metadata = engine.calls[-1]
    assert (sender_key, text) == (f"sms:{PHONE}", "when can I wash my hair")
    assert verified_channel_phone(settings.identity_signing_key, sender_key, metadata) == PHONE


async def no_context_reply(router, engine, session_factory, booking, text="1", **message):
    """`text` reaches Rasa; nothing is confirmed and no request is made."""
    outcome = await router.receive(sms(text, **message))
    assert outcome.handled_by == "bot", outcome
    assert engine.calls and engine.calls[-1][0].endswith(message.get("sender", PHONE))
    assert appointment(session_factory, booking.appointment_id).confirmed_at is None
    assert requests(session_factory) == []


async def test_a_reminder_older_than_48_hours_is_out_of_context(router, engine, session_factory, rows, booking,
                                                                 settings):
    send_care(session_factory, rows, booking, at=NOW - timedelta(hours=49))
    await no_context_reply(router, engine, session_factory, booking, "yes")
    assert engine.calls[-1][1] == "yes"


async def test_confirm_on_a_reminder_out_of_context_is_answered_not_passed_to_rasa(router, engine, session_factory,
                                                                                  rows, booking, settings):
    """Its buttons are still the latest offered, so "1" would reach Rasa as "/confirm_session"."""
    send_care(session_factory, rows, booking, at=NOW - timedelta(hours=49))
    outcome = await router.receive(sms("1"))
    assert outcome.handled_by == "care" and engine.calls == []
    assert outcome.replies[0].text.startswith("Thank you. That reminder is no longer current, so I haven't "
                                              "confirmed anything from it.")
    assert settings.clinic.phone in outcome.replies[0].text
    assert appointment(session_factory, booking.appointment_id).confirmed_at is None
    await router.receive(sms("1", number=2))  # the reminder's options are no longer the latest offered
    assert engine.calls[-1][1] == "1"


async def test_change_the_time_on_a_reminder_out_of_context_is_rasas_change_request(router, engine,
                                                                                    session_factory, rows, booking):
    send_care(session_factory, rows, booking, at=NOW - timedelta(hours=49))
    outcome = await router.receive(sms("2"))
    assert outcome.handled_by == "bot" and engine.calls[-1][1] == "/request_reschedule"
    assert requests(session_factory) == []


@pytest.mark.parametrize("status", ["scheduled", "sending", "failed", "unknown", "cancelled"])
async def test_a_reminder_not_known_to_have_gone_is_out_of_context(router, engine, session_factory, rows,
                                                                    booking, status):
    send_care(session_factory, rows, booking, status=status)
    await no_context_reply(router, engine, session_factory, booking, "yes please")


@pytest.mark.parametrize("change", ["cancelled", "moved_to_the_past"])
async def test_a_session_no_longer_booked_ahead_is_out_of_context(router, engine, session_factory, rows,
                                                                   booking, change):
    send_care(session_factory, rows, booking)
    with session_factory.begin() as session:
        row = session.get(Appointment, booking.appointment_id)
        if change == "cancelled":
            row.status = "cancelled"
        else:
            row.starts_at = NOW - timedelta(minutes=5)
    await no_context_reply(router, engine, session_factory, booking, "yes")


async def test_a_later_care_message_ends_the_reminders_context(router, engine, session_factory, rows, booking):
    send_care(session_factory, rows, booking, at=NOW - timedelta(hours=3))
    with session_factory() as session:
        course_id = session.get(Appointment, booking.appointment_id).course_id
    other = rows.appointment(course_id, NOW - timedelta(hours=20), status="completed")
    send_care(session_factory, rows, booking, "aftercare_checkin", at=NOW - timedelta(hours=1), buttons=(),
              appointment_id=other)
    await no_context_reply(router, engine, session_factory, booking, "yes")


async def test_a_newer_question_with_options_takes_the_numbers(router, engine, session_factory, rows, booking):
    send_care(session_factory, rows, booking)
    await router.receive(sms("options", number=1))  # the bot offers Pain / Cost
    await router.receive(sms("2", number=2))
    assert engine.calls[-1][1] == "/ask_cost"
    assert requests(session_factory) == []


async def test_only_the_patient_the_reminder_went_to_is_answered_in_context(router, engine, session_factory,
                                                                            rows, booking):
    """A reminder row of Alex's stored in another number's conversation (or another patient's row in
    Alex's) never lets that number act on the booking."""
    other_patient = rows.patient("MC-5000", "Sam Other", OTHER_PHONE)
    other_conversation = rows.conversation("sms", OTHER_PHONE, owner="bot")
    send_care(session_factory, rows, booking, conversation_id=other_conversation)
    await no_context_reply(router, engine, session_factory, booking, "yes", sender=OTHER_PHONE)
    others_session = rows.appointment(rows.course(other_patient), SESSION_AT)
    send_care(session_factory, rows, booking, patient_id=other_patient, appointment_id=others_session,
              at=NOW - timedelta(hours=1))
    await no_context_reply(router, engine, session_factory, booking, "yes", number=2)
    assert appointment(session_factory, others_session).confirmed_at is None


async def test_a_web_chat_is_never_answered_as_a_reminder(router, engine, session_factory, rows, booking):
    web_conversation = rows.conversation("web", "session-1", owner="bot")
    send_care(session_factory, rows, booking, conversation_id=web_conversation)
    outcome = await router.receive(InboundMessage(channel="web", sender="session-1", text="1",
                                                  channel_message_id=None, has_media=False, received_at=NOW))
    assert outcome.handled_by == "bot" and engine.calls[-1][1] == "1"


def test_choice_of_reads_only_whole_answers():
    buttons = REMINDER_BUTTONS
    assert [choice_of(t, None, buttons) for t in ("1", "2", "3", "4", "yes", "no", "yes but later")] == [
        "confirm", "reschedule", "cancel", None, "confirm", None, None]
    assert choice_of("anything", "/request_cancel", buttons) == "cancel"
    assert choice_of("anything", "/restart", buttons) is None
    reordered = (Button("Cancel", "/request_cancel"), Button("Confirm", "/confirm_session"))
    assert choice_of("1", None, reordered) == "cancel"  # numbers follow the stored reminder's options


def test_reminder_stored_without_buttons_offers_the_standard_three(session_factory, rows, booking):
    from bot.care.replies import reminder_in_context

    send_care(session_factory, rows, booking, buttons=())
    with session_factory() as session:
        found = reminder_in_context(session, booking.conversation_id, PHONE, NOW)
    assert found is not None and found.buttons == REMINDER_BUTTONS
    assert (found.appointment_id, found.patient_id, found.starts_at) == (booking.appointment_id,
                                                                        booking.patient_id, SESSION_AT)


def reply_on(factory, text, now=NOW):
    from bot.care.replies import answer_reply
    from tests.support.settings import make_clinic

    with factory.begin() as session:
        conversation = store.find_by_sender(session, "sms", PHONE)
        answer = answer_reply(session, conversation_id=conversation.id, channel="sms", phone_e164=PHONE, text=text,
                              pressed_payload=None, offered=(), profile=make_clinic(), now=now)
        return answer.text if answer else None


def test_answers_on_each_backend(any_session_factory, rows):
    patient_id = rows.patient()
    appointment_id = rows.appointment(rows.course(patient_id), SESSION_AT)
    booking = Booking(patient_id, appointment_id, rows.conversation("sms", PHONE, owner="bot"))
    send_care(any_session_factory, rows, booking)
    assert reply_on(any_session_factory, "what time is it") is None
    assert reply_on(any_session_factory, "1") == CONFIRMED
    assert reply_on(any_session_factory, "yes").startswith(ALREADY)
    assert reply_on(any_session_factory, "2").startswith(PASSED_ON_MOVE)
    assert reply_on(any_session_factory, "3").startswith(PASSED_ON_CANCEL)
    assert [r[:2] for r in requests(any_session_factory)] == [("reschedule", appointment_id),
                                                              ("cancel", appointment_id)]
    assert reply_on(any_session_factory, "1", now=SESSION_AT) is None  # the session has begun


@pytest.mark.postgres
def test_two_confirmations_at_once_confirm_once(postgres_url):
    """Two replicas handle "1" and "yes" at the same moment: one confirms, the other says it already is."""
    import threading

    from bot.care.replies import confirm_session, reminder_in_context
    from bot.db.migrate import upgrade_database
    from bot.db.session import create_db_engine, make_session_factory
    from tests.support.rows import Rows

    upgrade_database(postgres_url)
    engine = create_db_engine(postgres_url)
    try:
        factory = make_session_factory(engine)
        rows = Rows(factory)
        patient_id = rows.patient()
        booking = Booking(patient_id, rows.appointment(rows.course(patient_id), SESSION_AT),
                          rows.conversation("sms", PHONE, owner="bot"))
        send_care(factory, rows, booking)
        first_holds_the_row, results = threading.Event(), {}

        def confirm(name, hold):
            with factory.begin() as session:
                reminder = reminder_in_context(session, booking.conversation_id, PHONE, NOW)
                results[name] = confirm_session(session, reminder, booking.conversation_id, NOW)
                if hold:
                    first_holds_the_row.set()
                    threading.Event().wait(0.5)  # the other replica waits on the row lock meanwhile

        first = threading.Thread(target=confirm, args=("first", True))
        first.start()
        first_holds_the_row.wait(10)
        second = threading.Thread(target=confirm, args=("second", False))
        second.start()
        first.join(10)
        second.join(10)
        assert results == {"first": True, "second": False}
        assert len(audit_rows(factory, "session_confirmed")) == 1
    finally:
        engine.dispose()
