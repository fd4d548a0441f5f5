"""Rows put straight into a test database: one builder per table the tests need, each returning the
new row's id (a foreign key is an integer id everywhere, so the next builder takes that id).

Without `session=`, a row is written in a transaction of its own; with it, the row joins the
caller's transaction (flushed, so its id is known). The `rows` fixture builds on the test's
database: `any_session_factory`'s in a test over each backend, `session_factory`'s otherwise.
"""
from __future__ import annotations

import contextlib
import itertools
from datetime import date, datetime
from typing import Iterator, Optional

import pytest

from bot.clinic.escalations import get_or_create_conversation
from bot.db.models import (
    Appointment,
    CareMessage,
    Conversation,
    Escalation,
    Message,
    Patient,
    StaffRequest,
    StaffUser,
    TreatmentCourse,
)
from tests.support.clock import START


class Rows:
    """Builders of patients, courses, appointments, conversations, messages, escalations, requests,
    care messages and staff accounts; the defaults are the demo patient Alex Morgan (MC-4827) and START."""

    def __init__(self, session_factory) -> None:
        """Write through `session_factory` (when no session is handed in)."""
        self.factory = session_factory
        self.numbers = itertools.count(1)

    @contextlib.contextmanager
    def _session(self, session) -> Iterator:
        """`session` itself, or a transaction of our own on the factory."""
        if session is not None:
            yield session
            return
        with self.factory.begin() as own:
            yield own

    def _add(self, row, session) -> int:
        """Add `row` (in `session`, or in a transaction of its own); its id."""
        with self._session(session) as active:
            active.add(row)
            active.flush()
            return row.id

    def patient(self, ref: str = "MC-4827", name: str = "Alex Morgan", phone: Optional[str] = "+447700900123",
                dob: date = date(1988, 4, 12), *, session=None) -> int:
        """A patient."""
        return self._add(Patient(clinic_ref=ref, full_name=name, phone_e164=phone, date_of_birth=dob), session)

    def course(self, patient_id: int, treatment: str = "Hair mesotherapy", planned: int = 8, *,
               session=None) -> int:
        """A treatment course of the patient."""
        return self._add(TreatmentCourse(patient_id=patient_id, treatment=treatment, planned_sessions=planned),
                         session)

    def appointment(self, course_id: int, starts_at: datetime, status: str = "booked", duration: int = 45,
                    practitioner: Optional[str] = "Dr Priya Shah", *, session=None) -> int:
        """A session of the course."""
        return self._add(Appointment(
            course_id=course_id, starts_at=starts_at, duration_min=duration, status=status,
            practitioner=practitioner, source_key=f"test|{course_id}|{starts_at.isoformat()}",
        ), session)

    def conversation(self, channel: str = "web", external_id: Optional[str] = None, *, owner: str = "staff",
                     patient_id: Optional[int] = None, last_patient_message_at: Optional[datetime] = None,
                     at: datetime = START, session=None) -> int:
        """A conversation (a made-up external id unless given), owned by staff unless said otherwise."""
        return self._add(Conversation(
            channel=channel, external_id=external_id or f"ext-{channel}-{next(self.numbers)}", owner=owner,
            patient_id=patient_id, created_at=at, last_patient_message_at=last_patient_message_at,
        ), session)

    def message(self, conversation_id: int, text: str, author: str = "patient", at: datetime = START, *,
                session=None) -> int:
        """A message in the conversation: in from the patient, out from anyone else."""
        return self._add(Message(conversation_id=conversation_id, direction="in" if author == "patient" else "out",
                                 author=author, text=text, created_at=at), session)

    def escalation(self, conversation_id: int, *, reason: str = "asked_for_person", priority: str = "normal",
                   status: str = "waiting", at: datetime = START, assigned_to: Optional[int] = None,
                   summary: str = "Asked to speak to someone.", session=None) -> int:
        """An escalation of the conversation (resolved at `at` when its status is "resolved")."""
        return self._add(Escalation(
            conversation_id=conversation_id, reason=reason, summary=summary, priority=priority, status=status,
            created_at=at, assigned_to=assigned_to, resolved_at=at if status == "resolved" else None,
        ), session)

    def request(self, sender_key: str, kind: str = "reschedule", wishes: str = "Friday afternoon please",
                patient_id: Optional[int] = None, appointment_id: Optional[int] = None, *, session=None) -> int:
        """An open staff request from the sender's conversation (made if it does not exist yet)."""
        with self._session(session) as active:
            conversation_id = get_or_create_conversation(active, sender_key, START).id
            return self._add(StaffRequest(
                kind=kind, patient_id=patient_id, appointment_id=appointment_id, conversation_id=conversation_id,
                wishes=wishes, status="open", created_at=START,
            ), active)

    def care_message(self, appointment_id: int, patient_id: int, kind: str = "reminder", *,
                     status: str = "sent", due_at: datetime = START, sent_at: Optional[datetime] = None,
                     message_id: Optional[int] = None, channel: Optional[str] = "sms",
                     provider: Optional[str] = None, provider_message_id: Optional[str] = None,
                     detail: Optional[str] = None, error_code: Optional[str] = None,
                     status_at: Optional[datetime] = None, session=None) -> int:
        """A care message about the appointment (sent at `due_at` unless said otherwise, when its
        status says it went), pointing at its stored copy `message_id` if given; its provider is the
        channel's usual one unless given."""
        went = status in ("sent", "delivered", "read", "unknown")
        return self._add(CareMessage(
            appointment_id=appointment_id, patient_id=patient_id, kind=kind, due_at=due_at, status=status,
            sent_at=sent_at or (due_at if went else None), message_id=message_id, channel=channel,
            provider=provider or ("twilio" if channel == "sms" else "meta" if channel == "whatsapp" else None),
            provider_message_id=provider_message_id,
            detail=detail, error_code=error_code, status_at=status_at, created_at=START,
        ), session)

    def staff_user(self, email: str = "jo@clinic.example", role: str = "staff", *, session=None) -> int:
        """A staff account that cannot log in (its password hash is not a real one)."""
        return self._add(StaffUser(email=email, password_hash="not-a-hash", role=role), session)


@pytest.fixture
def rows(request) -> Rows:
    """Row builders on this test's database (the backend under test, in a test over each backend)."""
    name = "any_session_factory" if "any_session_factory" in request.fixturenames else "session_factory"
    return Rows(request.getfixturevalue(name))


@pytest.fixture
def staff_id(rows: Rows) -> int:
    """A staff member's id (the account cannot log in)."""
    return rows.staff_user()
