"""Demo seed: only into an empty database, sessions placed right in clinic local time."""
from __future__ import annotations

from datetime import date

from clinic_testing import LONDON, frozen_now, london
from sqlalchemy import func, select

from bot.clinic.aftercare import aftercare_answer, preparation_answer
from bot.clinic.bookings import (
    course_progress,
    find_patient_by_phone,
    find_patient_by_ref,
    last_completed_session,
    next_booked_session,
    upcoming_sessions,
)
from bot.clinic.demo import seed_demo_clinic
from bot.clinic.timefmt import describe_when
from bot.db.models import Appointment, AuditLog, Patient


def test_demo_patients_and_their_sessions(any_session_factory, clinic_profile) -> None:
    now = frozen_now("2026-11-18 12:00")  # Wednesday
    info = seed_demo_clinic(any_session_factory, now, LONDON)
    assert [p.clinic_ref for p in info.patients] == ["MC-4827", "MC-7315"]
    with any_session_factory.begin() as session:
        alex = find_patient_by_ref(session, "MC-4827")
        assert (alex.full_name, alex.phone_e164) == ("Alex Morgan", "+447700900123")
        assert session.get(Patient, alex.id).date_of_birth == date(1988, 4, 12)
        last = last_completed_session(session, alex.id, now)
        upcoming = next_booked_session(session, alex.id, now)
        later = upcoming_sessions(session, alex.id, now)
        progress = course_progress(session, alex.id, now)
        sam = find_patient_by_phone(session, "+447700900456")
        sam_next = next_booked_session(session, sam.id, now)
        sam_progress = course_progress(session, sam.id, now)
        sam_dob = session.get(Patient, sam.id).date_of_birth

    assert describe_when(last.starts_at, now, LONDON) == "yesterday at 10:00"
    assert describe_when(upcoming.starts_at, now, LONDON) == "on Saturday at 14:00"
    assert [s.starts_at for s in later] == [london(2026, 11, 21, 14), london(2026, 11, 28, 14), london(2026, 12, 5, 14)]
    assert (upcoming.duration_min, upcoming.practitioner, upcoming.number_in_course) == (45, "Dr Priya Shah", 4)
    assert (progress.treatment, progress.completed, progress.planned, progress.remaining) == (
        "Hair mesotherapy", 3, 8, 5,
    )
    assert (sam.full_name, sam.clinic_ref, sam_dob) == ("Sam Rivera", "MC-7315", date(1979, 11, 2))
    assert describe_when(sam_next.starts_at, now, LONDON) == "on Monday at 11:00"
    assert (sam_progress.completed, sam_progress.remaining, sam_progress.next_session.number_in_course) == (0, 6, 1)

    # What the demo is for: timed aftercare and preparation answers.
    assert aftercare_answer("washing", last, now, clinic_profile).startswith(
        "Your session was yesterday at 10:00, so please wait until 10:00 tomorrow before washing your hair."
    )
    assert preparation_answer("ibuprofen", upcoming, now, clinic_profile).startswith(
        "Your session is on Saturday at 14:00, so please avoid ibuprofen from 14:00 tomorrow."
    )


def test_demo_seeds_only_once(session_factory) -> None:
    now = frozen_now("2026-11-18 12:00")
    assert seed_demo_clinic(session_factory, now, LONDON) is not None
    assert seed_demo_clinic(session_factory, now, LONDON) is None
    with session_factory.begin() as session:
        assert session.execute(select(func.count(Patient.id))).scalar_one() == 2
        assert session.execute(select(func.count(Appointment.id))).scalar_one() == 7
        assert session.execute(select(AuditLog.action)).scalars().all() == ["demo_seeded"]


def test_demo_local_times_across_the_spring_clock_change(session_factory) -> None:
    now = frozen_now("2026-03-29 12:00")  # Sunday, the first day of BST
    seed_demo_clinic(session_factory, now, LONDON)
    with session_factory.begin() as session:
        alex = find_patient_by_ref(session, "MC-4827")
        last = last_completed_session(session, alex.id, now)
        upcoming = next_booked_session(session, alex.id, now)
    assert last.starts_at == london(2026, 3, 28, 10)  # 10:00 GMT
    assert upcoming.starts_at == london(2026, 4, 1, 14)  # 14:00 BST, 13:00 UTC
    assert (describe_when(last.starts_at, now, LONDON), describe_when(upcoming.starts_at, now, LONDON)) == (
        "yesterday at 10:00", "on Wednesday at 14:00",
    )


def test_demo_just_after_midnight(session_factory) -> None:
    now = frozen_now("2026-07-14 23:30")  # 00:30 BST on Wednesday 15 July
    seed_demo_clinic(session_factory, now, LONDON)
    with session_factory.begin() as session:
        alex = find_patient_by_ref(session, "MC-4827")
        last = last_completed_session(session, alex.id, now)
    assert last.starts_at == london(2026, 7, 14, 10)
    assert describe_when(last.starts_at, now, LONDON) == "yesterday at 10:00"


def test_demo_description(session_factory) -> None:
    now = frozen_now("2026-11-18 12:00")
    lines = seed_demo_clinic(session_factory, now, LONDON).describe(now, LONDON)
    assert lines[0] == (
        "MC-4827  Alex Morgan  born 1988-04-12  phone +447700900123 (prefers sms)  "
        "Hair mesotherapy, 8 sessions planned"
    )
    assert lines[-2].startswith("MC-7315  Sam Rivera  born 1979-11-02  phone +447700900456 (prefers whatsapp)")
    assert "    completed yesterday at 10:00" in lines
    assert "    booked    on Saturday at 14:00" in lines


def test_demo_patients_agreed_to_care_messages_one_by_sms_one_by_whatsapp(any_session_factory) -> None:
    now = frozen_now("2026-11-18 12:00")
    seed_demo_clinic(any_session_factory, now, LONDON)
    with any_session_factory.begin() as session:
        rows = session.execute(select(
            Patient.clinic_ref, Patient.preferred_channel, Patient.care_consent, Patient.care_consent_source,
            Patient.care_consent_at,
        ).order_by(Patient.clinic_ref)).all()
    assert [tuple(row) for row in rows] == [
        ("MC-4827", "sms", True, "demo data", now),
        ("MC-7315", "whatsapp", True, "demo data", now),
    ]
