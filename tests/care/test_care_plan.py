"""Planning the care outbox: who gets rows, when they are due, and how they follow the bookings."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.care.plan import plan_care
from bot.db.models import Appointment, CareMessage, Patient
from tests.support.care import consenting_patient, session_at
from tests.support.clock import START

LONDON = ZoneInfo("Europe/London")
MONDAY_14 = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)


def plan(factory, profile, now=START):
    with factory.begin() as session:
        return plan_care(session, profile, now)


def outbox(factory):
    """{kind: (local due time "Sat 21 08:00", status, detail)} of every row."""
    with factory.begin() as session:
        rows = session.execute(select(CareMessage).order_by(CareMessage.id)).scalars().all()
        return {(row.appointment_id, row.kind): (row.due_at.astimezone(LONDON).strftime("%a %d %H:%M"), row.status,
                                                 row.detail) for row in rows}


def test_a_booked_session_gets_its_three_messages_due_as_the_schedule_says(session_factory, profile):
    _, course = consenting_patient(session_factory)
    monday = session_at(session_factory, course, MONDAY_14)
    report = plan(session_factory, profile)
    assert report.created == 3
    assert outbox(session_factory) == {
        # 12 h before the 48-hour preparation window: Saturday 02:00, quiet: moved to 08:00.
        (monday, "preparation"): ("Sat 21 08:00", "scheduled", None),
        (monday, "reminder"): ("Sun 22 14:00", "scheduled", None),
        (monday, "aftercare_checkin"): ("Tue 24 09:00", "scheduled", None),
    }


@pytest.mark.parametrize("consent, phone", [(None, "+447700900123"), (False, "+447700900123"), (True, None)])
def test_no_consent_or_no_phone_plans_nothing(session_factory, profile, consent, phone):
    _, course = consenting_patient(session_factory, consent=consent, phone=phone)
    session_at(session_factory, course, MONDAY_14)
    assert plan(session_factory, profile).created == 0
    assert outbox(session_factory) == {}


def test_planning_again_adds_nothing(any_session_factory, profile):
    _, course = consenting_patient(any_session_factory)
    session_at(any_session_factory, course, MONDAY_14)
    plan(any_session_factory, profile)
    first = outbox(any_session_factory)
    again = plan(any_session_factory, profile, START + timedelta(hours=1))
    assert (again.created, again.moved, again.cancelled, again.unchanged) == (0, 0, 0, 3)
    assert outbox(any_session_factory) == first


def test_a_moved_session_moves_its_scheduled_messages(any_session_factory, profile):
    _, course = consenting_patient(any_session_factory)
    monday = session_at(any_session_factory, course, MONDAY_14)
    plan(any_session_factory, profile)
    with any_session_factory.begin() as session:
        session.execute(update(Appointment).where(Appointment.id == monday)
                        .values(starts_at=MONDAY_14 + timedelta(days=2, hours=-4)))  # Wednesday 10:00
    report = plan(any_session_factory, profile)
    assert report.moved == 3
    assert outbox(any_session_factory) == {
        (monday, "preparation"): ("Mon 23 08:00", "scheduled", None),  # Sunday 22:00 is quiet
        (monday, "reminder"): ("Tue 24 10:00", "scheduled", None),
        (monday, "aftercare_checkin"): ("Thu 26 09:00", "scheduled", None),
    }


@pytest.mark.parametrize("status, detail", [("cancelled", "session cancelled"), ("no_show", "session no-show")])
def test_a_cancelled_session_cancels_its_messages(any_session_factory, profile, status, detail):
    _, course = consenting_patient(any_session_factory)
    monday = session_at(any_session_factory, course, MONDAY_14)
    plan(any_session_factory, profile)
    with any_session_factory.begin() as session:
        session.execute(update(Appointment).where(Appointment.id == monday).values(status=status))
    assert plan(any_session_factory, profile).cancelled == 3
    assert {value[1:] for value in outbox(any_session_factory).values()} == {("cancelled", detail)}


def test_a_deleted_session_takes_its_messages_with_it(session_factory, profile):
    _, course = consenting_patient(session_factory)
    monday = session_at(session_factory, course, MONDAY_14)
    plan(session_factory, profile)
    with session_factory.begin() as session:
        session.delete(session.get(Appointment, monday))
    assert outbox(session_factory) == {}


def test_withdrawn_consent_cancels_what_was_scheduled(session_factory, profile):
    patient, course = consenting_patient(session_factory)
    session_at(session_factory, course, MONDAY_14)
    plan(session_factory, profile)
    with session_factory.begin() as session:
        session.execute(update(Patient).where(Patient.id == patient).values(care_consent=False))
    assert plan(session_factory, profile).cancelled == 3
    assert {value[1:] for value in outbox(session_factory).values()} == {("cancelled", "consent withdrawn")}


def test_quiet_hours_move_a_message_to_the_morning_or_skip_it_when_too_late(session_factory, profile):
    care = profile.care
    kinds = {**care.kinds, "reminder": dataclasses.replace(care["reminder"], hours_before=12)}
    evening_profile = dataclasses.replace(profile, care=dataclasses.replace(care, kinds=kinds))
    _, course = consenting_patient(session_factory)
    early = session_at(session_factory, course, datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc))
    late = session_at(session_factory, course, datetime(2026, 11, 26, 19, 0, tzinfo=timezone.utc))
    plan(session_factory, evening_profile)
    rows = outbox(session_factory)
    # 12 h before 09:30 is 21:30 the evening before; the morning (08:00) is after "2 h before": skipped.
    assert rows[(early, "reminder")] == ("Mon 23 21:30", "skipped", "quiet hours")
    # 12 h before 19:00 is 07:00 the same day: it waits until 08:00.
    assert rows[(late, "reminder")] == ("Thu 26 08:00", "scheduled", None)


def test_a_booking_made_too_late_for_a_message_records_it_skipped(session_factory, profile):
    _, course = consenting_patient(session_factory)
    soon = session_at(session_factory, course, START + timedelta(hours=5))
    plan(session_factory, profile)
    rows = outbox(session_factory)
    assert rows[(soon, "preparation")][1:] == ("skipped", "too late")
    assert rows[(soon, "reminder")] == ("Thu 19 15:00", "scheduled", None)  # overdue, still in time: goes now


def test_maintenance_only_after_the_last_session_of_the_course(any_session_factory, profile):
    _, course = consenting_patient(any_session_factory, planned=3)
    session_at(any_session_factory, course, START - timedelta(days=7), "completed")
    second = session_at(any_session_factory, course, MONDAY_14)
    plan(any_session_factory, profile)
    assert not [key for key in outbox(any_session_factory) if key[1] == "maintenance"]
    third = session_at(any_session_factory, course, MONDAY_14 + timedelta(days=7))
    plan(any_session_factory, profile)
    assert outbox(any_session_factory)[(third, "maintenance")] == ("Mon 28 10:00", "scheduled", None)
    # The course goes on: a fourth session is booked; the maintenance message moves to after it.
    fourth = session_at(any_session_factory, course, MONDAY_14 + timedelta(days=14))
    report = plan(any_session_factory, profile)
    rows = outbox(any_session_factory)
    assert rows[(third, "maintenance")][1:] == ("cancelled", "course continues")
    assert rows[(fourth, "maintenance")][1] == "scheduled"
    assert report.cancelled == 1
    assert (second, "maintenance") not in rows
