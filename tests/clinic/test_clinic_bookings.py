"""Bookings queries on SQLite and PostgreSQL: next, last, lists and course progress."""
from __future__ import annotations

from datetime import date, timedelta, timezone

import pytest
from clinic_testing import LONDON, frozen_now, london
from sqlalchemy import delete

from bot.clinic.bookings import (
    course_progress,
    find_patient_by_phone,
    find_patient_by_ref,
    get_patient,
    last_completed_session,
    next_booked_session,
    past_sessions,
    upcoming_sessions,
)
from bot.clinic.timefmt import describe_when
from bot.db.models import Appointment

NOW = "2026-11-18 12:00:00"  # Wednesday


@pytest.fixture
def alex(any_session_factory, rows):
    """Alex's 8-session course with a no-show, a cancellation and a stale 'booked' row."""
    with any_session_factory.begin() as session:
        patient_id = rows.patient(session=session)
        course_id = rows.course(patient_id, planned=8, session=session)
        rows.appointment(course_id, london(2026, 10, 29, 10), "completed", session=session)
        rows.appointment(course_id, london(2026, 11, 4, 10), "no_show", session=session)
        rows.appointment(course_id, london(2026, 11, 5, 10), "booked", session=session)  # never updated; in the past
        rows.appointment(course_id, london(2026, 11, 17, 10), "completed", session=session)
        rows.appointment(course_id, london(2026, 11, 19, 9), "cancelled", session=session)
        rows.appointment(course_id, london(2026, 11, 21, 14), "booked", practitioner="Dr Priya Shah", session=session)
        rows.appointment(course_id, london(2026, 11, 28, 14), "booked", practitioner=None, session=session)
        return patient_id


def test_next_booked_session(any_session_factory, alex) -> None:
    now = frozen_now(NOW)
    with any_session_factory.begin() as session:
        upcoming = next_booked_session(session, alex, now)
    assert describe_when(upcoming.starts_at, now, LONDON) == "on Saturday at 14:00"
    assert upcoming.starts_at.tzinfo is not None and upcoming.starts_at.utcoffset() == timedelta(0)
    assert (upcoming.status, upcoming.practitioner, upcoming.duration_min) == ("booked", "Dr Priya Shah", 45)
    # completed 29 Oct (1), stale booked 5 Nov (2), completed 17 Nov (3), this one (4); no-show/cancelled skipped.
    assert (upcoming.treatment, upcoming.number_in_course, upcoming.planned_sessions) == ("Hair mesotherapy", 4, 8)


def test_last_completed_session(any_session_factory, alex) -> None:
    now = frozen_now(NOW)
    with any_session_factory.begin() as session:
        last = last_completed_session(session, alex, now)
    assert describe_when(last.starts_at, now, LONDON) == "yesterday at 10:00"
    assert (last.status, last.number_in_course) == ("completed", 3)


def test_a_session_starting_exactly_now_is_past(any_session_factory, alex) -> None:
    starts = london(2026, 11, 21, 14).astimezone(timezone.utc)
    with any_session_factory.begin() as session:
        assert next_booked_session(session, alex, starts).starts_at == london(2026, 11, 28, 14)
        assert next_booked_session(session, alex, starts - timedelta(seconds=1)).starts_at == starts


def test_course_progress_counts_only_completed(any_session_factory, alex) -> None:
    with any_session_factory.begin() as session:
        progress = course_progress(session, alex, frozen_now(NOW))
    assert (progress.treatment, progress.completed, progress.planned, progress.remaining) == (
        "Hair mesotherapy", 2, 8, 6,
    )
    assert progress.next_session.starts_at == london(2026, 11, 21, 14)


def test_upcoming_and_past_lists_show_every_status(any_session_factory, alex) -> None:
    now = frozen_now(NOW)
    with any_session_factory.begin() as session:
        upcoming = upcoming_sessions(session, alex, now)
        past = past_sessions(session, alex, now)
        assert len(past_sessions(session, alex, now, limit=2)) == 2
    assert [(s.status, s.number_in_course) for s in upcoming] == [("cancelled", None), ("booked", 4), ("booked", 5)]
    assert [(s.status, s.number_in_course) for s in past] == [
        ("completed", 3), ("booked", 2), ("no_show", None), ("completed", 1),
    ]


def test_most_recent_course_wins(any_session_factory, rows) -> None:
    now = frozen_now(NOW)
    with any_session_factory.begin() as session:
        patient_id = rows.patient(session=session)
        old_id = rows.course(patient_id, treatment="Hair mesotherapy", planned=4, session=session)
        for week in range(5):  # one more than planned: remaining stays at 0
            rows.appointment(old_id, london(2026, 3, 2, 10) + timedelta(weeks=week), "completed", session=session)
        new_id = rows.course(patient_id, treatment="Maintenance mesotherapy", planned=3, session=session)
        rows.appointment(new_id, london(2026, 11, 25, 10), "booked", session=session)
    with any_session_factory.begin() as session:
        progress = course_progress(session, patient_id, now)
        assert (progress.treatment, progress.completed, progress.remaining) == ("Maintenance mesotherapy", 0, 3)
        assert progress.next_session.number_in_course == 1
        assert last_completed_session(session, patient_id, now).treatment == "Hair mesotherapy"
        session.execute(delete(Appointment).where(Appointment.course_id != old_id))
        old_only = course_progress(session, patient_id, now)
    assert (old_only.treatment, old_only.completed, old_only.planned, old_only.remaining) == (
        "Hair mesotherapy", 5, 4, 0,
    )
    assert old_only.next_session is None


def test_patient_without_bookings(any_session_factory, rows) -> None:
    with any_session_factory.begin() as session:
        patient_id = rows.patient(ref="MC-7315", name="Sam Rivera", phone=None, session=session)
        assert next_booked_session(session, patient_id, frozen_now(NOW)) is None
        assert last_completed_session(session, patient_id, frozen_now(NOW)) is None
        assert course_progress(session, patient_id, frozen_now(NOW)) is None
        assert upcoming_sessions(session, patient_id, frozen_now(NOW)) == []


def test_finding_patients(any_session_factory, rows) -> None:
    with any_session_factory.begin() as session:
        patient_id = rows.patient(name="Alex  Jordan Morgan", dob=date(1988, 4, 12), session=session)
    with any_session_factory.begin() as session:
        by_ref = find_patient_by_ref(session, "mc 4827")
        assert by_ref == find_patient_by_phone(session, "+447700900123") == get_patient(session, patient_id)
        assert (by_ref.clinic_ref, by_ref.first_name, by_ref.preferred_channel) == ("MC-4827", "Alex", "web")
        assert find_patient_by_ref(session, "MC-1009") is None
        assert find_patient_by_ref(session, "") is None
        assert find_patient_by_phone(session, "+447700900999") is None
        assert get_patient(session, 999) is None
