"""Erasing a patient's conversations when they ask ("delete my data"), once staff confirm.

The assistant records the patient's wish as a staff request of kind `delete_data` (from a
verified conversation). An administrator then confirms it in the console, which calls
`erase_conversations()`; in one transaction that:

- deletes every conversation linked to the request's patient, and the request's own conversation
  (its `conversation_id` is the Rasa sender id, "<channel>:<external id>"), with their messages
  (and the messages' copies in the teaching queue, bot/teaching), staff notes and escalations;
- deletes those conversations' Rasa tracker events (the `events` table, if Rasa has created it);
- deletes the patient's identity-check attempts (and those made in those conversations);
- blanks the `wishes` (the patient's words) of this request and of the patient's requests that
  are already done (open ones keep them: staff still have to act on them);
- marks the request done and records `data_erased` in the audit log, with ids and counts only.

Bookings, the patient record, consent (STOP) records and the audit log stay: they are the
clinic's records, not the conversation. Only administrators may erase (ERASURE_ROLES): the action
cannot be undone, so it sits with the people who answer for the clinic's data.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Dict, List, Optional, Sequence, Tuple

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from bot.clinic import audit
from bot.clinic.requests import mark_request_done
from bot.db.models import (
    Conversation,
    Escalation,
    Message,
    StaffNote,
    StaffRequest,
    StaffUser,
    VerificationAttempt,
)
from bot.privacy.retention import OPEN_ESCALATION_STATUSES, delete_conversations
from bot.privacy.tracker_events import chunks, count_events_of, delete_events_of, has_events_table

logger = logging.getLogger(__name__)

ERASURE_ROLES = ("admin",)
ERASED_KINDS = ("delete_data",)
# The keys of ErasurePlan.counts, in the order they are shown.
ERASURE_COUNTS = ("conversations", "messages", "staff_notes", "escalations", "events",
                  "verification_attempts", "staff_requests_cleared")


class ErasureError(Exception):
    """This request cannot be erased (wrong kind, already done); the message says why, for staff."""


@dataclass(frozen=True)
class ErasurePlan:
    """What an erasure covers (before it runs), or what it removed (after)."""

    request_id: int
    patient_id: Optional[int]
    conversation_ids: Tuple[int, ...]
    sender_keys: Tuple[str, ...]
    counts: Dict[str, int] = field(default_factory=dict)
    open_escalations: int = 0


def _request(session: Session, request_id: int, lock: bool = False) -> StaffRequest:
    """The open delete-data request; LookupError if there is none, ErasureError if it is not erasable."""
    request = session.get(StaffRequest, request_id, with_for_update=lock or None)
    if request is None:
        raise LookupError(f"no staff request with id {request_id}")
    if request.kind not in ERASED_KINDS:
        raise ErasureError("only a 'delete my data' request erases conversations")
    if request.status != "open":
        raise ErasureError("this request is already done")
    return request


def _conversations(session: Session, request: StaffRequest) -> List[Tuple[int, str]]:
    """(id, sender key) of the patient's conversations and of the request's own conversation."""
    condition = Conversation.id == request.conversation_id
    if request.patient_id is not None:
        condition = or_(condition, Conversation.patient_id == request.patient_id)
    rows = session.execute(select(Conversation.id, Conversation.channel, Conversation.external_id)
                           .where(condition).order_by(Conversation.id))
    return [(conversation_id, f"{ch}:{ext}") for conversation_id, ch, ext in rows]


def _attempts_condition(patient_id: Optional[int], conversation_ids: Sequence[int]) -> ColumnElement:
    """Identity-check attempts of the patient, or made in these conversations."""
    condition = VerificationAttempt.conversation_id.in_(list(conversation_ids))
    if patient_id is not None:
        condition = or_(condition, VerificationAttempt.patient_id == patient_id)
    return condition


def _requests_to_clear(request: StaffRequest, conversation_ids: Sequence[int]) -> ColumnElement:
    """This request, and the done requests of the patient or of these conversations."""
    mine = StaffRequest.conversation_id.in_(list(conversation_ids))
    if request.patient_id is not None:
        mine = or_(mine, StaffRequest.patient_id == request.patient_id)
    return or_(StaffRequest.id == request.id, and_(StaffRequest.status == "done", mine))


def _count(session: Session, model: type, condition: ColumnElement) -> int:
    """Rows of `model` matching `condition`."""
    return session.execute(select(func.count()).select_from(model).where(condition)).scalar_one()


def plan_erasure(session: Session, request_id: int) -> ErasurePlan:
    """What erasing this request would delete (nothing is changed): for the confirmation page."""
    request = _request(session, request_id)
    found = _conversations(session, request)
    ids = [conversation_id for conversation_id, _ in found]
    keys = sorted({key for _, key in found})
    counts = dict.fromkeys(ERASURE_COUNTS, 0)
    counts["conversations"] = len(ids)
    open_escalations = 0
    for batch in chunks(ids):
        counts["messages"] += _count(session, Message, Message.conversation_id.in_(batch))
        counts["staff_notes"] += _count(session, StaffNote, StaffNote.conversation_id.in_(batch))
        counts["escalations"] += _count(session, Escalation, Escalation.conversation_id.in_(batch))
        open_escalations += _count(session, Escalation, and_(
            Escalation.conversation_id.in_(batch), Escalation.status.in_(OPEN_ESCALATION_STATUSES)))
    if has_events_table(session):
        counts["events"] = count_events_of(session, keys)
    counts["verification_attempts"] = _count(session, VerificationAttempt,
                                             _attempts_condition(request.patient_id, ids))
    counts["staff_requests_cleared"] = _count(session, StaffRequest, _requests_to_clear(request, ids))
    return ErasurePlan(request_id=request.id, patient_id=request.patient_id, conversation_ids=tuple(ids),
                       sender_keys=tuple(keys), counts=counts, open_escalations=open_escalations)


def erase_conversations(session: Session, request_id: int, *, staff_user_id: int,
                        now: datetime) -> ErasurePlan:
    """Erase what the request covers (see the module's docstring), mark it done, audit it; the caller commits.

    PermissionError unless the staff member is an administrator; LookupError for no such request;
    ErasureError if it is not an open delete-data request.
    """
    staff = session.get(StaffUser, staff_user_id)
    if staff is None or staff.role not in ERASURE_ROLES:
        raise PermissionError("only an administrator can erase a patient's conversations")
    request = _request(session, request_id, lock=True)
    found = _conversations(session, request)
    ids = [conversation_id for conversation_id, _ in found]
    keys = sorted({key for _, key in found})
    counts = dict.fromkeys(ERASURE_COUNTS, 0)
    # Attempts and requests first: deleting a conversation cascades to its attempts and unlinks its
    # requests, so afterwards neither could be counted or found by conversation.
    counts["verification_attempts"] = session.execute(
        VerificationAttempt.__table__.delete().where(_attempts_condition(request.patient_id, ids))
    ).rowcount or 0
    counts["staff_requests_cleared"] = session.execute(
        update(StaffRequest).where(_requests_to_clear(request, ids)).values(wishes="")
        .execution_options(synchronize_session=False)
    ).rowcount or 0
    counts.update(delete_conversations(session, ids))
    if has_events_table(session):
        counts["events"] = delete_events_of(session, keys)
    session.expire(request, ["wishes", "conversation_id"])
    mark_request_done(session, request.id, staff_user_id, now)
    audit.record(session, actor_type="staff", actor_id=staff_user_id, action="data_erased",
                 subject_type="patient" if request.patient_id is not None else "staff_request",
                 subject_id=request.patient_id if request.patient_id is not None else request.id,
                 detail={"request_id": request.id, "conversation_ids": ids, **counts}, now=now)
    logger.info("staff request %s: erased %d conversations (%d messages, %d tracker events)",
                request.id, counts["conversations"], counts["messages"], counts["events"])
    return ErasurePlan(request_id=request.id, patient_id=request.patient_id, conversation_ids=tuple(ids),
                       sender_keys=tuple(keys), counts=counts)
