"""Read a patient's bookings: who they are, their next and last session, how far the course is.

Every function takes an open Session (the caller owns the transaction) and, where time matters,
`now` as an aware datetime. Results are frozen view objects, safe to use after the session closes.

Numbering: a session's `number_in_course` counts the course's completed and booked sessions in
start order; cancelled and no-show sessions are not counted and have no number themselves.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, Iterable, List, Optional

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.db.models import Appointment, Patient, TreatmentCourse

COUNTED_STATUSES = ("booked", "completed")
_REFERENCE_SHAPE = re.compile(r"^([A-Z]{1,6})[-_./]?(\d{1,12})$")


@dataclass(frozen=True)
class PatientView:
    """What the assistant may know about a patient once they are identified."""

    id: int
    clinic_ref: str
    first_name: str
    full_name: str
    phone_e164: Optional[str]
    preferred_channel: str


@dataclass(frozen=True)
class SessionView:
    """One appointment as the patient would describe it."""

    appointment_id: int
    starts_at: datetime
    duration_min: int
    status: str
    practitioner: Optional[str]
    treatment: str
    number_in_course: Optional[int]
    planned_sessions: int
    confirmed_at: Optional[datetime] = None  # when the patient confirmed it (a reminder's "1")


@dataclass(frozen=True)
class CourseProgress:
    """How far a patient is through their course."""

    treatment: str
    completed: int
    planned: int
    remaining: int
    next_session: Optional[SessionView]


def normalise_reference(text: str) -> str:
    """Canonical clinic reference: "mc 4827", "MC4827", "mc-4827" all become "MC-4827".

    Clinic references have the shape PREFIX-NUMBER (letters, a hyphen, digits); anything in that
    shape, with or without spaces, hyphen, dot, slash or underscore between the parts, is
    rewritten to it. Other text is only stripped of spaces and upper-cased.
    """
    compact = re.sub(r"\s+", "", text or "").upper()
    match = _REFERENCE_SHAPE.match(compact)
    if match:
        return f"{match.group(1)}-{match.group(2)}"
    return compact


def normalise_phone(raw: str, default_region: str) -> Optional[str]:
    """E.164 form of a phone number ("whatsapp:" prefix allowed), or None if it cannot be one.

    The test is phonenumbers' full-length "possible number" check, not the range check: it
    catches typos of the wrong length but accepts brand-new ranges and Ofcom's drama numbers
    (07700 900xxx) that the library's metadata calls invalid.
    """
    text = (raw or "").strip()
    if ":" in text:
        scheme, _, rest = text.partition(":")
        if scheme.strip().lower() in ("whatsapp", "sms", "tel"):
            text = rest.strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def source_key_for(clinic_ref: str, starts_at: datetime) -> str:
    """The import identity of an appointment: "MC-4827|2026-11-20T10:00:00+00:00"."""
    return f"{clinic_ref}|{starts_at.astimezone(timezone.utc).isoformat()}"


def booking_source_key_for(clinic_ref: str, booking_id: str) -> str:
    """The import identity of an appointment the clinic's system numbers: "MC-4827|B-10233"."""
    return f"{clinic_ref}|{booking_id}"


def patient_view(patient: Patient) -> PatientView:
    """A frozen view of a Patient row."""
    parts = patient.full_name.split()
    return PatientView(
        id=patient.id,
        clinic_ref=patient.clinic_ref,
        first_name=parts[0] if parts else "",
        full_name=patient.full_name,
        phone_e164=patient.phone_e164,
        preferred_channel=patient.preferred_channel,
    )


def find_patient_by_phone(session: Session, phone_e164: str) -> Optional[PatientView]:
    """The patient with this E.164 phone number, if any."""
    if not phone_e164:
        return None
    patient = session.execute(select(Patient).where(Patient.phone_e164 == phone_e164)).scalar_one_or_none()
    return patient_view(patient) if patient else None


def find_patient_by_ref(session: Session, ref: str) -> Optional[PatientView]:
    """The patient with this clinic reference (normalised first, so "mc 4827" works), if any."""
    canonical = normalise_reference(ref)
    if not canonical:
        return None
    patient = session.execute(select(Patient).where(Patient.clinic_ref == canonical)).scalar_one_or_none()
    return patient_view(patient) if patient else None


def get_patient(session: Session, patient_id: int) -> Optional[PatientView]:
    """The patient with this id, if any."""
    patient = session.get(Patient, patient_id)
    return patient_view(patient) if patient else None


def _numbers_in_courses(session: Session, course_ids: Iterable[int]) -> Dict[int, int]:
    """Appointment id -> its number within its course (completed and booked, in start order)."""
    ids = sorted(set(course_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Appointment.id, Appointment.course_id)
        .where(Appointment.course_id.in_(ids), Appointment.status.in_(COUNTED_STATUSES))
        .order_by(Appointment.course_id, Appointment.starts_at, Appointment.id)
    ).all()
    numbers: Dict[int, int] = {}
    counters: Dict[int, int] = {}
    for appointment_id, course_id in rows:
        counters[course_id] = counters.get(course_id, 0) + 1
        numbers[appointment_id] = counters[course_id]
    return numbers


def _session_views(session: Session, rows: List[tuple]) -> List[SessionView]:
    """Views for (Appointment, TreatmentCourse) rows, numbered within their courses."""
    numbers = _numbers_in_courses(session, (course.id for _, course in rows))
    return [
        SessionView(
            appointment_id=appointment.id,
            starts_at=appointment.starts_at,
            duration_min=appointment.duration_min,
            status=appointment.status,
            practitioner=appointment.practitioner,
            treatment=course.treatment,
            number_in_course=numbers.get(appointment.id),
            planned_sessions=course.planned_sessions,
            confirmed_at=appointment.confirmed_at,
        )
        for appointment, course in rows
    ]


def _patient_appointments(patient_id: int) -> Select:
    """A select of (Appointment, TreatmentCourse) for one patient."""
    return (
        select(Appointment, TreatmentCourse)
        .join(TreatmentCourse, Appointment.course_id == TreatmentCourse.id)
        .where(TreatmentCourse.patient_id == patient_id)
    )


def next_booked_session(session: Session, patient_id: int, now: datetime) -> Optional[SessionView]:
    """The earliest booked session that starts after `now`."""
    query = (
        _patient_appointments(patient_id)
        .where(Appointment.status == "booked", Appointment.starts_at > now)
        .order_by(Appointment.starts_at, Appointment.id)
        .limit(1)
    )
    views = _session_views(session, session.execute(query).all())
    return views[0] if views else None


def last_completed_session(session: Session, patient_id: int, now: datetime) -> Optional[SessionView]:
    """The latest completed session that started at or before `now`."""
    query = (
        _patient_appointments(patient_id)
        .where(Appointment.status == "completed", Appointment.starts_at <= now)
        .order_by(Appointment.starts_at.desc(), Appointment.id.desc())
        .limit(1)
    )
    views = _session_views(session, session.execute(query).all())
    return views[0] if views else None


def upcoming_sessions(
    session: Session, patient_id: int, now: datetime, limit: Optional[int] = None
) -> List[SessionView]:
    """Sessions starting after `now`, soonest first, whatever their status (for staff)."""
    query = (
        _patient_appointments(patient_id)
        .where(Appointment.starts_at > now)
        .order_by(Appointment.starts_at, Appointment.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return _session_views(session, session.execute(query).all())


def past_sessions(
    session: Session, patient_id: int, now: datetime, limit: Optional[int] = None
) -> List[SessionView]:
    """Sessions that started at or before `now`, latest first, whatever their status (for staff)."""
    query = (
        _patient_appointments(patient_id)
        .where(Appointment.starts_at <= now)
        .order_by(Appointment.starts_at.desc(), Appointment.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return _session_views(session, session.execute(query).all())


def _current_course(session: Session, patient_id: int) -> Optional[TreatmentCourse]:
    """The most recent course: the one with the latest appointment, else the newest one."""
    latest = func.max(Appointment.starts_at)
    query = (
        select(TreatmentCourse)
        .outerjoin(Appointment, Appointment.course_id == TreatmentCourse.id)
        .where(TreatmentCourse.patient_id == patient_id)
        .group_by(TreatmentCourse.id)
        .order_by(latest.is_(None), latest.desc(), TreatmentCourse.id.desc())
        .limit(1)
    )
    return session.execute(query).scalars().first()


def course_progress(session: Session, patient_id: int, now: datetime) -> Optional[CourseProgress]:
    """Completed, planned and remaining sessions of the patient's most recent course, and the next one."""
    course = _current_course(session, patient_id)
    if course is None:
        return None
    completed = session.execute(
        select(func.count(Appointment.id)).where(
            Appointment.course_id == course.id, Appointment.status == "completed"
        )
    ).scalar_one()
    next_query = (
        select(Appointment, TreatmentCourse)
        .join(TreatmentCourse, Appointment.course_id == TreatmentCourse.id)
        .where(
            Appointment.course_id == course.id,
            Appointment.status == "booked",
            Appointment.starts_at > now,
        )
        .order_by(Appointment.starts_at, Appointment.id)
        .limit(1)
    )
    views = _session_views(session, session.execute(next_query).all())
    return CourseProgress(
        treatment=course.treatment,
        completed=completed,
        planned=course.planned_sessions,
        remaining=max(course.planned_sessions - completed, 0),
        next_session=views[0] if views else None,
    )
