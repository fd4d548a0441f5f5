"""Staff requests (reschedule, cancel, erase data) and the audit log."""
from __future__ import annotations

from datetime import timedelta

import pytest
from clinic_testing import frozen_now, london
from sqlalchemy import select

from bot.clinic import audit
from bot.clinic.requests import create_change_request, mark_request_done
from bot.db.models import AuditLog, Conversation, StaffRequest, StaffUser
from tests.support.clock import START


def open_requests(session):
    """Requests still waiting for staff, oldest first."""
    return list(session.execute(select(StaffRequest).where(StaffRequest.status == "open")
                                .order_by(StaffRequest.created_at, StaffRequest.id)).scalars())

NOW = "2026-11-18 12:00:00"


@pytest.fixture
def alex(session_factory, rows):
    """Alex with a completed session, a cancelled one and two booked ones; (patient id, next booked id)."""
    with session_factory.begin() as session:
        patient_id = rows.patient(session=session)
        course_id = rows.course(patient_id, session=session)
        rows.appointment(course_id, london(2026, 11, 17, 10), "completed", session=session)
        rows.appointment(course_id, london(2026, 11, 19, 10), "cancelled", session=session)
        upcoming_id = rows.appointment(course_id, london(2026, 11, 21, 14), "booked", session=session)
        rows.appointment(course_id, london(2026, 11, 28, 14), "booked", session=session)
        return patient_id, upcoming_id


def test_reschedule_request_is_attached_to_the_next_session(session_factory, alex) -> None:
    patient_id, next_id = alex
    now = frozen_now(NOW)
    with session_factory.begin() as session:
        request = create_change_request(session, kind="reschedule", patient_id=patient_id, sender_key="web-1",
                                        wishes="  Any weekday morning next week  ", now=now)
        request_id = request.id
    with session_factory.begin() as session:
        [waiting] = open_requests(session)
        assert (waiting.id, waiting.kind, waiting.status, waiting.appointment_id) == (request_id, "reschedule", "open", next_id)
        conversation = session.get(Conversation, waiting.conversation_id)
        assert (waiting.wishes, waiting.created_at) == ("Any weekday morning next week", now)
        assert (conversation.channel, conversation.external_id, conversation.patient_id) == ("web", "web-1", patient_id)
        entry = session.execute(select(AuditLog)).scalar_one()
        assert (entry.actor_type, entry.action, entry.subject_type, entry.subject_id) == (
            "patient", "staff_request_created", "staff_request", str(request_id),
        )
        assert entry.detail == {"kind": "reschedule", "appointment_id": next_id}


def test_delete_data_request_has_no_appointment(session_factory, alex) -> None:
    patient_id, _ = alex
    with session_factory.begin() as session:
        request = create_change_request(session, kind="delete_data", patient_id=patient_id, sender_key="web-1",
                                        wishes="", now=frozen_now(NOW))
        assert request.appointment_id is None


def test_cancel_without_a_booked_session(session_factory, rows) -> None:
    with session_factory.begin() as session:
        patient_id = rows.patient(session=session)
        request = create_change_request(session, kind="cancel", patient_id=patient_id, sender_key="sms-1",
                                        wishes="cancel everything", now=frozen_now(NOW))
        assert (request.kind, request.appointment_id) == ("cancel", None)


def test_unknown_kind_is_refused(session_factory) -> None:
    with session_factory.begin() as session, pytest.raises(ValueError):
        create_change_request(session, kind="upgrade", patient_id=None, sender_key="web-1", wishes="",
                              now=frozen_now(NOW))


def test_marking_done(session_factory, alex) -> None:
    patient_id, _ = alex
    now = frozen_now(NOW)
    later = frozen_now("2026-11-18 15:30:00")
    with session_factory.begin() as session:
        staff = StaffUser(email="reception@clinic.example", password_hash="x", role="staff")
        session.add(staff)
        request = create_change_request(session, kind="cancel", patient_id=patient_id, sender_key="web-1",
                                        wishes="", now=now)
        session.flush()
        staff_id, request_id = staff.id, request.id
    with session_factory.begin() as session:
        done = mark_request_done(session, request_id, staff_id, later)
        assert (done.status, done.done_at, done.done_by) == ("done", later, staff_id)
        assert open_requests(session) == []
        assert mark_request_done(session, request_id, staff_id, frozen_now("2026-11-19 09:00")).done_at == later
        actions = session.execute(select(AuditLog.action, AuditLog.actor_type, AuditLog.actor_id)
                                  .order_by(AuditLog.id)).all()
        assert actions == [("staff_request_created", "patient", str(patient_id)),
                           ("staff_request_done", "staff", str(staff_id))]
        with pytest.raises(LookupError):
            mark_request_done(session, 999, staff_id, later)


def test_audit_record(session_factory) -> None:
    now = frozen_now(NOW)
    with session_factory.begin() as session:
        audit.record(session, actor_type="system", actor_id=None, action="purge_run", detail={"deleted": 3}, now=now)
        with pytest.raises(ValueError):
            audit.record(session, actor_type="robot", actor_id=None, action="x")
    with session_factory.begin() as session:
        entry = session.execute(select(AuditLog)).scalar_one()
        assert (entry.at, entry.actor_type, entry.actor_id, entry.action, entry.detail) == (
            now, "system", None, "purge_run", {"deleted": 3},
        )


def test_a_change_request_can_name_its_session(session_factory, rows):
    """A reply to a reminder is about that reminder's session, not necessarily the next one."""
    patient_id = rows.patient()
    course_id = rows.course(patient_id)
    rows.appointment(course_id, START + timedelta(days=1))
    later = rows.appointment(course_id, START + timedelta(days=8))
    with session_factory.begin() as session:
        named = create_change_request(session, kind="cancel", patient_id=patient_id, sender_key="sms:+447700900123",
                                      wishes="", now=START, appointment_id=later)
        erase = create_change_request(session, kind="delete_data", patient_id=patient_id,
                                      sender_key="sms:+447700900123", wishes="", now=START, appointment_id=later)
        assert (named.appointment_id, erase.appointment_id) == (later, None)
