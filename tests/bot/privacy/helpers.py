"""Rows for the privacy tests: patients with bookings, conversations with everything in them, and
Rasa tracker events (the `events` table made by Rasa's own tracker store)."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from typing import Dict, Iterable, List, Optional

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from bot.clinic.escalations import get_or_create_conversation
from bot.db.models import (
    Appointment,
    Conversation,
    Escalation,
    Message,
    Patient,
    StaffNote,
    StaffRequest,
    TreatmentCourse,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
OLD = NOW - timedelta(days=400)      # before the 365-day cutoff
RECENT = NOW - timedelta(days=30)    # after it

TEXT = "my number is +447700900123, I'm Alex Morgan born 12/04/1988, ref MC-4827 and my lips are swelling"
MESSAGES = (
    ("web", "session-abc", "hello"),
    ("web", "session-abc", TEXT),
    ("sms", "+447700900123", "call me on 07700 900123 please, Alex Morgan, 12 April 1988, MC-4827"),
    ("whatsapp", "+447700900123", "it's Alex Morgan (dob 1988-04-12), my lips are swelling after the session"),
    ("sms", "+447700900123", "STOP"),
)
# Words that must never reach a log at INFO: the patient's text, name, reference and birth date.
FORBIDDEN_WORDS = ("Alex", "Morgan", "MC-4827", "1988", "12/04", "April", "lips", "swelling", "number is",
                   "call me", "session-abc")
PHONE_DIGITS = "7700900123"  # the phone in any format: +44 7700 900123, 07700-900-123, 447700900123


def leaks(text: str) -> list:
    """The personal data found in `text` (empty when there is none)."""
    found = [word for word in FORBIDDEN_WORDS if word.lower() in text.lower()]
    for line in text.splitlines():
        if PHONE_DIGITS in re.sub(r"\D", "", line):
            found.append(f"phone in: {line}")
    return found


def create_events_table(database_url: str) -> None:
    """Rasa's `events` table, made as Rasa makes it (the clinic's tracker store over the URL)."""
    from bot.engine.stores import ClinicTrackerStore

    store = ClinicTrackerStore(database_url=database_url)
    store.engine.dispose()


def add_events(engine: Engine, sender_id: str, *moments: datetime, text_: str = "hello") -> None:
    """Tracker events of one sender, like those the SQLTrackerStore writes."""
    with engine.begin() as connection:
        for moment in moments:
            connection.execute(text(
                "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) "
                "VALUES (:sender, 'user', :ts, 'greet', NULL, :data)"),
                {"sender": sender_id, "ts": moment.timestamp(),
                 "data": json.dumps({"event": "user", "text": text_, "timestamp": moment.timestamp()})})


def event_senders(engine: Engine) -> Dict[str, int]:
    """Sender id -> number of tracker events."""
    with engine.connect() as connection:
        return dict(connection.execute(text("SELECT sender_id, COUNT(*) FROM events GROUP BY sender_id")).all())


def count(session, model) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def patient_with_booking(session, ref: str = "MC-4827", name: str = "Alex Morgan",
                         phone: Optional[str] = "+447700900123") -> int:
    """A patient with one course and two sessions (one long ago); the patient's id."""
    patient = Patient(clinic_ref=ref, full_name=name, phone_e164=phone, date_of_birth=date(1988, 4, 12),
                      created_at=OLD, updated_at=OLD)
    session.add(patient)
    session.flush()
    course = TreatmentCourse(patient_id=patient.id, treatment="Hair mesotherapy", planned_sessions=6)
    session.add(course)
    session.flush()
    for number, moment in enumerate((OLD - timedelta(days=30), NOW + timedelta(days=7))):
        session.add(Appointment(course_id=course.id, starts_at=moment, duration_min=45,
                                status="completed" if moment < NOW else "booked",
                                source_key=f"{ref}-{number}", updated_at=OLD))
    session.flush()
    return patient.id


def conversation(session, channel: str, external_id: str, *, at: datetime, messages: Iterable[datetime] = (),
                 patient_id: Optional[int] = None, escalation: Optional[str] = None,
                 note: bool = False) -> int:
    """A conversation created at `at`, with patient messages at `messages` (and a bot reply to each)."""
    moments: List[datetime] = sorted(messages)
    row = Conversation(channel=channel, external_id=external_id, patient_id=patient_id, created_at=at,
                       owner="staff" if escalation in ("waiting", "assigned") else "bot",
                       last_patient_message_at=moments[-1] if moments else None)
    session.add(row)
    session.flush()
    for moment in moments:
        session.add(Message(conversation_id=row.id, direction="in", author="patient",
                            text="my lips are swelling", created_at=moment))
        session.add(Message(conversation_id=row.id, direction="out", author="bot", text="Please call 999.",
                            created_at=moment))
    if escalation is not None:
        last = moments[-1] if moments else at
        session.add(Escalation(conversation_id=row.id, reason="red_flag", summary="Possible allergic reaction",
                               priority="urgent", status=escalation, created_at=last,
                               resolved_at=last if escalation == "resolved" else None))
    if note:
        session.add(StaffNote(conversation_id=row.id, text="Called the patient back.",
                              created_at=moments[-1] if moments else at))
    session.flush()
    return row.id


def staff_request(session, sender_key: str, *, kind: str = "reschedule", status: str = "open",
                  at: datetime = RECENT, patient_id: Optional[int] = None, wishes: str = "Friday please") -> int:
    conversation_id = get_or_create_conversation(session, sender_key, at).id
    request = StaffRequest(kind=kind, patient_id=patient_id, conversation_id=conversation_id, wishes=wishes,
                           status=status, created_at=at, done_at=at if status == "done" else None)
    session.add(request)
    session.flush()
    return request.id
