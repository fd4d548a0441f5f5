"""Demo patients, so the assistant can be tried straight away (`python -m bot seed-demo`).

Sessions are placed relative to `now` in the clinic's local time, so the demo always has a
session "yesterday at 10:00" (aftercare questions) and one "in 3 days at 14:00" (preparation).
The phone numbers are from Ofcom's range reserved for drama (07700 900xxx); nobody owns them.
Both demo patients agreed to care messages (source "demo data"); Alex prefers SMS, Sam WhatsApp,
so each proactive channel has someone to write to. Seeding happens only into a database with no
patients at all.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import List, Optional, Tuple
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from bot.clinic import audit
from bot.clinic.bookings import source_key_for
from bot.clinic.timefmt import describe_when
from bot.db.models import Appointment, Patient, TreatmentCourse

logger = logging.getLogger(__name__)

TREATMENT = "Hair mesotherapy"
CONSENT_SOURCE = "demo data"
PRACTITIONER = "Dr Priya Shah"
DURATION_MIN = 45


@dataclass(frozen=True)
class DemoSession:
    """One seeded session."""

    starts_at: datetime
    status: str
    practitioner: str


@dataclass(frozen=True)
class DemoPatient:
    """One seeded patient and their course."""

    clinic_ref: str
    full_name: str
    phone_e164: str
    date_of_birth: date
    treatment: str
    planned_sessions: int
    sessions: Tuple[DemoSession, ...]
    preferred_channel: str


@dataclass(frozen=True)
class DemoInfo:
    """What `seed_demo_clinic` created."""

    patients: Tuple[DemoPatient, ...]

    def describe(self, now: datetime, tz: ZoneInfo) -> List[str]:
        """Human-readable lines for the terminal or the README (demo data only)."""
        lines = []
        for patient in self.patients:
            lines.append(
                f"{patient.clinic_ref}  {patient.full_name}  born {patient.date_of_birth.isoformat()}  "
                f"phone {patient.phone_e164} (prefers {patient.preferred_channel})  "
                f"{patient.treatment}, {patient.planned_sessions} sessions planned"
            )
            for item in patient.sessions:
                lines.append(f"    {item.status:<9} {describe_when(item.starts_at, now, tz)}")
        return lines


def _local(day: date, hour: int, minute: int, tz: ZoneInfo) -> datetime:
    """`day` at hour:minute clinic time, as aware UTC."""
    return datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(timezone.utc)


def demo_patients(now: datetime, tz: ZoneInfo) -> Tuple[DemoPatient, ...]:
    """The demo patients with sessions placed around `now` (clinic local dates)."""
    today = now.astimezone(tz).date()

    def at(days: int, hour: int, status: str) -> DemoSession:
        return DemoSession(_local(today + timedelta(days=days), hour, 0, tz), status, PRACTITIONER)

    alex = DemoPatient(
        clinic_ref="MC-4827",
        full_name="Alex Morgan",
        phone_e164="+447700900123",
        date_of_birth=date(1988, 4, 12),
        treatment=TREATMENT,
        planned_sessions=8,
        sessions=(
            at(-15, 10, "completed"), at(-8, 10, "completed"), at(-1, 10, "completed"),
            at(3, 14, "booked"), at(10, 14, "booked"), at(17, 14, "booked"),
        ),
        preferred_channel="sms",
    )
    sam = DemoPatient(
        clinic_ref="MC-7315",
        full_name="Sam Rivera",
        phone_e164="+447700900456",
        date_of_birth=date(1979, 11, 2),
        treatment=TREATMENT,
        planned_sessions=6,
        sessions=(at(5, 11, "booked"),),
        preferred_channel="whatsapp",
    )
    return (alex, sam)


def seed_demo_clinic(session_factory: sessionmaker, now: datetime, tz: ZoneInfo) -> Optional[DemoInfo]:
    """Add the demo patients if the database has no patients; None if it already had some."""
    with session_factory.begin() as session:
        if session.execute(select(func.count(Patient.id))).scalar_one():
            logger.info("demo data not seeded: the database already has patients")
            return None
        patients = demo_patients(now, tz)
        for demo in patients:
            patient = Patient(
                clinic_ref=demo.clinic_ref, full_name=demo.full_name, phone_e164=demo.phone_e164,
                date_of_birth=demo.date_of_birth, preferred_channel=demo.preferred_channel,
                care_consent=True, care_consent_source=CONSENT_SOURCE, care_consent_at=now,
                created_at=now, updated_at=now,
            )
            course = TreatmentCourse(patient=patient, treatment=demo.treatment,
                                     planned_sessions=demo.planned_sessions)
            for item in demo.sessions:
                course.appointments.append(Appointment(
                    starts_at=item.starts_at, duration_min=DURATION_MIN, status=item.status,
                    practitioner=item.practitioner,
                    source_key=source_key_for(demo.clinic_ref, item.starts_at),
                    updated_at=now,
                ))
            session.add(patient)
        session.flush()
        audit.record(session, actor_type="system", actor_id=None, action="demo_seeded",
                     detail={"patients": len(patients)}, now=now)
    logger.info("demo data seeded: %d patients", len(patients))
    return DemoInfo(patients=patients)
