"""Care messages in tests and the bench: a deliverer that records what it is asked to write first,
and patients with care consent and a course of sessions.

- `RecordingProactiveDeliverer`: a `ProactiveDeliverer` (bot/care/sender.py) that records each send
  and answers with a made-up provider message id; `fail_with` makes it raise instead.
- `consenting_patient(factory, ...)`: a patient (the demo patient Alex Morgan by default) who agreed
  to care messages, with one course; its ids.
- `the_demo_clinic(factory, now, profile)`: the demo patients of bot/clinic/demo.py, with consent.
"""
from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import List, Optional, Tuple

from sqlalchemy import update

from bot.channels.proactive import SentMessage, WhatsAppTemplate
from bot.conversations.store import ConversationRef
from bot.db.models import Appointment, Patient, TreatmentCourse


@dataclass(frozen=True)
class ProactiveSend:
    """One message handed to the deliverer."""

    channel: str
    external_id: str
    text: str
    template: Optional[WhatsAppTemplate]


@dataclass
class RecordingProactiveDeliverer:
    """Records every proactive send (thread-safe: concurrent senders share one); ids "SM1", "SM2"..."""

    provider: str = "twilio"
    fail_with: Optional[BaseException] = None
    sends: List[ProactiveSend] = field(default_factory=list)
    _ids: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def send_proactive(self, ref: ConversationRef, text: str,
                             template: Optional[WhatsAppTemplate]) -> SentMessage:
        """Record the send and accept it (or raise `fail_with`)."""
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            self.sends.append(ProactiveSend(ref.channel, ref.external_id, text, template))
            number = next(self._ids)
        return SentMessage(self.provider, f"SM{number}")

    def texts(self) -> List[str]:
        """Every text sent, in order."""
        return [send.text for send in self.sends]


def consenting_patient(factory, *, ref: str = "MC-4827", name: str = "Alex Morgan",
                       phone: Optional[str] = "+447700900123", consent: Optional[bool] = True,
                       channel: str = "sms", planned: int = 8, session=None) -> Tuple[int, int]:
    """A patient with care consent (`consent`) and one course; (patient id, course id)."""
    def build(active) -> Tuple[int, int]:
        patient = Patient(clinic_ref=ref, full_name=name, phone_e164=phone, date_of_birth=date(1988, 4, 12),
                          preferred_channel=channel, care_consent=consent,
                          care_consent_source="booking import" if consent is not None else None)
        course = TreatmentCourse(patient=patient, treatment="Hair mesotherapy", planned_sessions=planned)
        active.add_all([patient, course])
        active.flush()
        return patient.id, course.id

    if session is not None:
        return build(session)
    with factory.begin() as own:
        return build(own)


def session_at(factory, course_id: int, starts_at: datetime, status: str = "booked", *, session=None) -> int:
    """A 45-minute session of the course with Dr Priya Shah; its id."""
    row = Appointment(course_id=course_id, starts_at=starts_at, duration_min=45, status=status,
                      practitioner="Dr Priya Shah", source_key=f"care|{course_id}|{starts_at.isoformat()}")
    if session is not None:
        session.add(row)
        session.flush()
        return row.id
    with factory.begin() as own:
        own.add(row)
        own.flush()
        return row.id


def the_demo_clinic(factory, now: datetime, profile) -> None:
    """The demo patients of bot/clinic/demo.py (seeded at `now`), all with care consent, by SMS."""
    from bot.clinic.demo import seed_demo_clinic

    seed_demo_clinic(factory, now, profile.timezone)
    with factory.begin() as session:
        session.execute(update(Patient).values(care_consent=True, care_consent_source="demo", care_consent_at=now,
                                               preferred_channel="sms"))
