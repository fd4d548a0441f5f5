"""Requests the assistant hands to staff: reschedule, cancel, or erase a patient's data.

The assistant never changes a booking itself; it records what the patient wants, attached to
their next booked session, and staff mark the request done from the console.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Optional, Tuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clinic import audit
from bot.clinic.bookings import next_booked_session
from bot.clinic.escalations import get_or_create_conversation
from bot.clinic.hours import reply_expectation
from bot.db.models import REQUEST_KINDS, StaffRequest
from bot.settings import ClinicProfile

logger = logging.getLogger(__name__)

MAX_WISHES_CHARS = 2000
KINDS_ABOUT_NEXT_SESSION = ("reschedule", "cancel")


def create_change_request(
    session: Session,
    *,
    kind: str,
    patient_id: Optional[int],
    sender_key: str,
    wishes: str,
    now: datetime,
    appointment_id: Optional[int] = None,
) -> StaffRequest:
    """Record a request for staff; reschedule/cancel get `appointment_id` attached, or else the
    patient's next booked session.

    `sender_key` is Rasa's "<channel>:<id>" of the conversation the request came from.
    """
    if kind not in REQUEST_KINDS:
        raise ValueError(f"kind must be one of {REQUEST_KINDS}, not {kind!r}")
    if kind not in KINDS_ABOUT_NEXT_SESSION:
        appointment_id = None
    elif appointment_id is None and patient_id is not None:
        upcoming = next_booked_session(session, patient_id, now)
        appointment_id = upcoming.appointment_id if upcoming else None
    request = StaffRequest(
        kind=kind,
        patient_id=patient_id,
        appointment_id=appointment_id,
        conversation_id=get_or_create_conversation(session, sender_key, now, patient_id).id,
        wishes=(wishes or "").strip()[:MAX_WISHES_CHARS],
        status="open",
        created_at=now,
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        actor_type="patient",
        actor_id=patient_id,
        action="staff_request_created",
        subject_type="staff_request",
        subject_id=request.id,
        detail={"kind": kind, "appointment_id": appointment_id},
        now=now,
    )
    logger.info("staff request %s created (%s)", request.id, kind)
    return request


def change_request_passed_on(profile: ClinicProfile, kind: str, now: datetime) -> str:
    """What the patient is told once a reschedule or cancellation request is recorded for staff."""
    what = "cancellation" if kind == "cancel" else "request to move your session"
    return (f"Thanks, I've passed your {what} to the clinic team. Your booking stays as it is until they "
            f"confirm the change with you. {reply_expectation(profile, now)}")


def request_data_deletion(
    session: Session,
    *,
    patient_id: int,
    sender_key: str,
    wishes: str,
    now: datetime,
) -> Tuple[StaffRequest, bool]:
    """Ask staff to erase a verified patient's conversations: (the request, whether it is new).

    A patient has at most one open erasure request: asking again, from this conversation or
    another, returns the open one instead of adding a second for staff to work through. Either way
    the asking conversation is linked to the patient (if it is not linked yet), so the erasure, which
    takes every conversation linked to the patient, covers each conversation the patient asked from.
    """
    get_or_create_conversation(session, sender_key, now, patient_id)
    existing = session.execute(
        select(StaffRequest)
        .where(StaffRequest.kind == "delete_data", StaffRequest.patient_id == patient_id,
               StaffRequest.status == "open")
        .order_by(StaffRequest.created_at, StaffRequest.id)
        .limit(1)
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    request = create_change_request(session, kind="delete_data", patient_id=patient_id,
                                    sender_key=sender_key, wishes=wishes, now=now)
    return request, True


def mark_request_done(
    session: Session, request_id: int, staff_user_id: Optional[int], now: datetime
) -> StaffRequest:
    """Close a request on behalf of a member of staff; closing it twice changes nothing."""
    request = session.get(StaffRequest, request_id)
    if request is None:
        raise LookupError(f"no staff request with id {request_id}")
    if request.status == "done":
        return request
    request.status = "done"
    request.done_at = now
    request.done_by = staff_user_id
    audit.record(
        session,
        actor_type="staff",
        actor_id=staff_user_id,
        action="staff_request_done",
        subject_type="staff_request",
        subject_id=request.id,
        detail={"kind": request.kind},
        now=now,
    )
    logger.info("staff request %s marked done", request.id)
    return request
