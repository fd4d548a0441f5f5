"""Replies in context: what a patient's short answer to a reminder means, and doing it.

A reminder (a care message of kind "reminder") offers three options: 1 Confirm, 2 Change the time,
3 Cancel the session. While it is in context, "1", "yes" or "confirm" confirms that booking; "2" or
"can we move it" and "3" or "cancel it" become the staff requests of bot/clinic/requests.py for THAT booking. Anything
else is not an answer to the reminder (None): the router asks Rasa as usual.

A reminder is in context for a phone conversation when all of these hold:
- it is the newest care message stored in this conversation (sent, delivered or read);
- it went to the patient whose phone number this conversation is (the channel vouches for it);
- it was sent within the last REMINDER_CONTEXT_HOURS, and its session is still booked and ahead;
- nothing offered other buttons since (then a number answers that newer question, not the reminder).

Plain functions over a session (the caller owns the transaction); no Rasa, no aiohttp.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Dict, Optional, Sequence, Tuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.channels.messages import Button, OutboundMessage, choose_button
from bot.clinic import audit
from bot.clinic.escalations import get_or_create_conversation
from bot.clinic.hours import reply_expectation
from bot.clinic.requests import change_request_passed_on, create_change_request
from bot.clinic.timefmt import describe_when
from bot.db.models import Appointment, CareMessage, Message, Patient, StaffRequest, TreatmentCourse
from bot.settings import ClinicProfile

logger = logging.getLogger(__name__)

CONFIRM_PAYLOAD = "/confirm_session"
RESCHEDULE_PAYLOAD = "/request_reschedule"  # the domain's intents for a change request
CANCEL_PAYLOAD = "/request_cancel"
# What a reminder offers; the sender stores them with the reminder's message (its numbered options).
# Never a bare "Cancel": on SMS and WhatsApp the whole message "cancel" is a carrier STOP keyword
# (bot.channels.keywords), and a pressed WhatsApp button arrives as its title.
REMINDER_BUTTONS = (
    Button("Confirm", CONFIRM_PAYLOAD),
    Button("Change the time", RESCHEDULE_PAYLOAD),
    Button("Cancel the session", CANCEL_PAYLOAD),
)
REMINDER_CONTEXT_HOURS = 48
DELIVERED_STATUSES = ("sent", "delivered", "read")
LATER_MESSAGES_LOOKED_AT = 50

CONFIRM, RESCHEDULE, CANCEL = "confirm", "reschedule", "cancel"
CHOICE_OF_PAYLOAD = {CONFIRM_PAYLOAD: CONFIRM, RESCHEDULE_PAYLOAD: RESCHEDULE, CANCEL_PAYLOAD: CANCEL}
# Whole replies only (after lower-casing and dropping commas and end punctuation): a longer
# message says more than the choice, and Rasa reads it.
PHRASES: Dict[str, str] = {
    **dict.fromkeys(("yes", "yes please", "confirm", "confirmed", "i confirm", "yes confirm", "yes confirmed",
                     "ok see you then", "okay see you then", "see you then", "yes see you then"), CONFIRM),
    **dict.fromkeys(("can we move it", "can i move it", "reschedule", "i need to reschedule", "can we reschedule",
                     "can i reschedule", "change the time", "move it", "please move it"), RESCHEDULE),
    # A bare "cancel" never gets here: it is STOP (bot.channels.keywords) and stops the messages.
    **dict.fromkeys(("cancel it", "cancel please", "please cancel", "please cancel it", "i need to cancel",
                     "cancel my session", "cancel the session", "cancel my appointment"), CANCEL),
}


@dataclass(frozen=True)
class ReminderInContext:
    """The reminder a patient's reply may answer, and its booking."""

    care_message_id: int
    appointment_id: int
    patient_id: int
    starts_at: datetime
    confirmed_at: Optional[datetime]
    buttons: Tuple[Button, ...]


def _normalised(text: str) -> str:
    """Lower-cased and single-spaced, without commas or end punctuation ("OK, see you then!")."""
    words = text.replace(",", " ").replace("\u2019", "'").casefold().split()
    return " ".join(words).strip(".!?\u2026 ")


def choice_of(text: str, pressed_payload: Optional[str], buttons: Sequence[Button]) -> Optional[str]:
    """CONFIRM, RESCHEDULE or CANCEL if the reply picks one of the reminder's options, else None.

    A button the platform says was pressed, the option's number or title (bot.channels.messages),
    or one of the few PHRASES.
    """
    picked = picked_payload(text, pressed_payload, buttons)
    if picked is not None:
        return CHOICE_OF_PAYLOAD.get(picked)
    return PHRASES.get(_normalised(text or ""))


def picked_payload(text: str, pressed_payload: Optional[str], buttons: Sequence[Button]) -> Optional[str]:
    """The payload of the button the reply picks: pressed, typed as its payload, number or title."""
    payloads = {button.payload for button in buttons}
    if pressed_payload and pressed_payload in payloads:
        return pressed_payload
    stripped = (text or "").strip()
    if stripped in payloads:
        return stripped
    return choose_button(stripped, buttons)


def _stored_buttons(message: Message) -> Tuple[Button, ...]:
    """The buttons stored with the reminder's message; the standard three if none were stored."""
    stored = tuple(Button(str(b.get("title", "")), str(b.get("payload", ""))) for b in message.buttons or ()
                   if isinstance(b, dict))
    return stored or REMINDER_BUTTONS


def _newer_buttons_offered(session: Session, conversation_id: int, after_message_id: int) -> bool:
    """True if a message sent after the reminder offered buttons of its own (a newer question)."""
    later = session.execute(
        select(Message.buttons).where(Message.conversation_id == conversation_id, Message.direction == "out",
                                      Message.id > after_message_id)
        .order_by(Message.id.desc()).limit(LATER_MESSAGES_LOOKED_AT)
    ).scalars()
    return any(buttons for buttons in later)


def reminder_in_context(session: Session, conversation_id: int, phone_e164: str,
                        now: datetime) -> Optional[ReminderInContext]:
    """The reminder this phone conversation's next reply answers (see the module's rules), or None."""
    patient_id = session.execute(select(Patient.id).where(Patient.phone_e164 == phone_e164)).scalar_one_or_none()
    if patient_id is None:
        return None
    newest = session.execute(
        select(CareMessage, Message)
        .join(Message, CareMessage.message_id == Message.id)
        .where(CareMessage.patient_id == patient_id, CareMessage.status.in_(DELIVERED_STATUSES),
               Message.conversation_id == conversation_id, Message.direction == "out")
        .order_by(Message.id.desc())
        .limit(1)
    ).first()
    if newest is None:
        return None
    care, message = newest
    sent_at = care.sent_at or message.created_at
    if care.kind != "reminder" or sent_at < now - timedelta(hours=REMINDER_CONTEXT_HOURS):
        return None
    booking = session.execute(
        select(Appointment).join(TreatmentCourse, Appointment.course_id == TreatmentCourse.id)
        .where(Appointment.id == care.appointment_id, TreatmentCourse.patient_id == patient_id)
    ).scalar_one_or_none()
    if booking is None or booking.status != "booked" or booking.starts_at <= now:
        return None
    if _newer_buttons_offered(session, conversation_id, message.id):
        return None
    return ReminderInContext(care_message_id=care.id, appointment_id=booking.id, patient_id=patient_id,
                             starts_at=booking.starts_at, confirmed_at=booking.confirmed_at,
                             buttons=_stored_buttons(message))


def _locked_booking(session: Session, appointment_id: int) -> Appointment:
    """The booking, locked until the transaction ends (PostgreSQL), so two replicas handling two
    replies at once act one after the other: the second sees what the first did."""
    return session.execute(select(Appointment).where(Appointment.id == appointment_id).with_for_update()).scalar_one()


def confirm_session(session: Session, reminder: ReminderInContext, conversation_id: int,
                    now: datetime) -> bool:
    """Record that the patient confirmed the reminder's booking (audited); False if it already was."""
    booking = _locked_booking(session, reminder.appointment_id)
    if booking.confirmed_at is not None:
        return False
    booking.confirmed_at = now
    audit.record(session, actor_type="patient", actor_id=reminder.patient_id, action="session_confirmed",
                 subject_type="appointment", subject_id=booking.id,
                 detail={"care_message_id": reminder.care_message_id, "conversation_id": conversation_id},
                 now=now)
    logger.info("appointment %s confirmed by its patient (care message %s)", booking.id,
                reminder.care_message_id)
    return True


def _open_request(session: Session, kind: str, appointment_id: int) -> Optional[int]:
    """The id of an open staff request of this kind about this booking, if any."""
    return session.execute(
        select(StaffRequest.id).where(StaffRequest.kind == kind, StaffRequest.appointment_id == appointment_id,
                                      StaffRequest.status == "open").limit(1)
    ).scalar()


def _when(reminder: ReminderInContext, profile: ClinicProfile, now: datetime) -> str:
    """The session's day and time as the patient reads it ("tomorrow at 10:00")."""
    return describe_when(reminder.starts_at, now, profile.timezone)


def _confirmed_reply(session: Session, reminder: ReminderInContext, conversation_id: int,
                     profile: ClinicProfile, now: datetime) -> OutboundMessage:
    """Confirm the booking and say so; a second confirmation says it already is."""
    when = _when(reminder, profile, now)
    if confirm_session(session, reminder, conversation_id, now):
        return OutboundMessage(f"Thank you, your session {when} is confirmed. We look forward to seeing you. "
                               "If anything changes, reply 2 to move it or 3 to cancel it.")
    return OutboundMessage(f"Your session {when} is already confirmed, thank you. "
                           "If you need to, reply 2 to move it or 3 to cancel it.")


def _change_reply(session: Session, reminder: ReminderInContext, kind: str, sender_key: str, text: str,
                  profile: ClinicProfile, now: datetime) -> OutboundMessage:
    """The staff request to move or cancel the reminder's booking, once, and what the patient is told."""
    _locked_booking(session, reminder.appointment_id)
    if _open_request(session, kind, reminder.appointment_id) is not None:
        what = "cancellation" if kind == "cancel" else "request to move your session"
        return OutboundMessage(f"I've already passed your {what} to the clinic team; they will confirm the change "
                               f"with you. {reply_expectation(profile, now)}")
    create_change_request(session, kind=kind, patient_id=reminder.patient_id, sender_key=sender_key,
                          wishes=f"Replied to the reminder: {text.strip()}", now=now,
                          appointment_id=reminder.appointment_id)
    return OutboundMessage(change_request_passed_on(profile, kind, now))


def no_longer_current(profile: ClinicProfile) -> OutboundMessage:
    """The answer to "Confirm" pressed on a reminder that is out of context (Rasa has no such intent)."""
    return OutboundMessage("Thank you. That reminder is no longer current, so I haven't confirmed anything from it. "
                           "To check your next session, ask me \"when is my next session?\", or call us on "
                           f"{profile.phone}.")


def answer_reply(session: Session, *, conversation_id: int, channel: str, phone_e164: str, text: str,
                 pressed_payload: Optional[str], offered: Sequence[Button], profile: ClinicProfile,
                 now: datetime) -> Optional[OutboundMessage]:
    """The reply to a phone patient's answer to a reminder in context, having done what it asks; None
    when the message is not such an answer (Rasa answers it).

    `offered` are the buttons of the bot's latest turn: when they are an old reminder's, its "Confirm"
    (pressed, or its number) is answered here, as Rasa has no such intent; its other options are
    Rasa's own change requests.
    """
    if (choice_of(text, pressed_payload, REMINDER_BUTTONS) is None
            and picked_payload(text, pressed_payload, offered) != CONFIRM_PAYLOAD):
        # Not an answer to any reminder (the sender stores REMINDER_BUTTONS with each): most messages
        # stop here, before any query.
        return None
    reminder = reminder_in_context(session, conversation_id, phone_e164, now)
    if reminder is None:
        stale = picked_payload(text, pressed_payload, offered) == CONFIRM_PAYLOAD
        return no_longer_current(profile) if stale else None
    choice = choice_of(text, pressed_payload, reminder.buttons)
    if choice is None:
        return None
    sender_key = f"{channel}:{phone_e164}"
    get_or_create_conversation(session, sender_key, now, reminder.patient_id)  # identified by the phone
    if choice == CONFIRM:
        return _confirmed_reply(session, reminder, conversation_id, profile, now)
    return _change_reply(session, reminder, choice, sender_key, text, profile, now)
