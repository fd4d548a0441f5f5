"""Who may change a conversation's owner, and how: the one place that does it.

A conversation is owned by the bot or by staff. It goes to staff by `escalate` (a patient asked for
a person, a second missed fallback, a red flag, an engine failure; a custom action or the router
asks) or by `assign` (a staff member takes it, opening an escalation if none is open); it goes back
to the bot by `hand_back`, which resolves the escalation. Each function writes the rows and their
audit entry in the caller's transaction and returns what changed; the caller publishes the inbox
event after the commit (`bot.conversations.router`, which also tells the patient).

The custom-action server never writes these tables: its handoff action sends a `HandoffRequest`
inside the bot's reply (a custom message, `{"handoff": {...}}`), and the router, reading the
engine's turn, calls `escalate` with it.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, List, Mapping, Optional, Tuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.clinic import audit
from bot.clinic.escalations import get_or_create_conversation
from bot.conversations.store import open_escalation_of
from bot.db.models import (
    ESCALATION_PRIORITIES,
    ESCALATION_REASONS,
    Conversation,
    Escalation,
    EscalationCategory,
)
from bot.safety.vocabulary import CATEGORIES

logger = logging.getLogger(__name__)
TAKE_OVER_SUMMARY = "Taken over by staff from the conversation list."
HANDOFF_FIELD = "handoff"


@dataclass(frozen=True)
class HandoffRequest:
    """A custom action asks that staff take the conversation; the router carries it out."""

    reason: str
    summary: str
    priority: str = "normal"
    patient_id: Optional[int] = None
    categories: Tuple[str, ...] = ()  # a red flag's categories (bot.safety), stored for analytics

    def __post_init__(self) -> None:
        """Refuse a reason, priority or red-flag category the escalation tables would not hold."""
        if self.reason not in ESCALATION_REASONS:
            raise ValueError(f"unknown escalation reason {self.reason!r}")
        if self.priority not in ESCALATION_PRIORITIES:
            raise ValueError(f"unknown escalation priority {self.priority!r}")
        unknown = [category for category in self.categories if category not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown red-flag categories {unknown}")

    def as_custom_message(self) -> dict:
        """The custom message (Rasa's `json_message`) that carries the request in the bot's reply."""
        return {HANDOFF_FIELD: asdict(self)}

    @classmethod
    def from_custom_message(cls, custom: Any) -> Optional["HandoffRequest"]:
        """The request inside a custom message; None if it holds none (ValueError if malformed)."""
        if not isinstance(custom, Mapping) or not isinstance(custom.get(HANDOFF_FIELD), Mapping):
            return None
        fields = custom[HANDOFF_FIELD]
        patient_id = fields.get("patient_id")
        return cls(reason=str(fields.get("reason", "")), summary=str(fields.get("summary", "")),
                   priority=str(fields.get("priority", "normal")),
                   patient_id=int(patient_id) if patient_id is not None else None)


@dataclass(frozen=True)
class UrgentLimit:
    """At most `per_window` urgent escalations from one keyed client address within `window`."""

    client_key: str
    per_window: int
    window: timedelta


def escalate(session: Session, *, sender_key: str, request: HandoffRequest, now: datetime,
             urgent_limit: Optional[UrgentLimit] = None) -> Escalation:
    """Give the conversation to staff and queue it in the inbox; reuses an escalation still open.

    An urgent escalation upgrades an open normal one (its reason and summary too). Beyond
    `urgent_limit`, a new urgent escalation from the same client address is merged into that
    address's newest open urgent one (`merge_into`) and the conversation stays with the bot.
    """
    reason, summary, priority = request.reason, request.summary, request.priority
    conversation = get_or_create_conversation(session, sender_key, now, request.patient_id)
    escalation = open_escalation_of(session, conversation.id)
    if escalation is None and priority == "urgent" and urgent_limit is not None:
        target = flooded_escalation(session, conversation.id, urgent_limit, now)
        if target is not None:
            return merge_into(session, target, conversation.id, request, now)
    conversation.owner = "staff"
    if escalation is None:
        escalation = Escalation(conversation_id=conversation.id, reason=reason, summary=summary,
                                priority=priority, status="waiting", created_at=now)
        session.add(escalation)
    elif priority == "urgent" and escalation.priority != "urgent":
        escalation.priority, escalation.reason, escalation.summary = "urgent", reason, summary
    session.flush()
    record_categories(session, escalation, request.categories)
    audit.record(session, actor_type="bot", actor_id=None, action="escalation_opened",
                 subject_type="conversation", subject_id=conversation.id,
                 detail={"reason": reason, "priority": priority}, now=now)
    logger.info("conversation %s escalated (%s, %s)", conversation.id, reason, priority)
    return escalation


def flooded_escalation(session: Session, conversation_id: int, limit: UrgentLimit,
                       now: datetime) -> Optional[Escalation]:
    """The open urgent escalation to merge a new one into, when the client address has reached its
    limit; None while it has not (or when none of its urgent cases is still open)."""
    from_address = select(Conversation.id).where(Conversation.client_key == limit.client_key)
    recent = session.execute(select(func.count(Escalation.id)).where(
        Escalation.priority == "urgent", Escalation.created_at > now - limit.window,
        Escalation.conversation_id.in_(from_address))).scalar_one()
    if recent < limit.per_window:
        return None
    return session.execute(
        select(Escalation).where(
            Escalation.priority == "urgent", Escalation.status != "resolved",
            Escalation.merged_into_id.is_(None), Escalation.conversation_id != conversation_id,
            Escalation.conversation_id.in_(from_address))
        .order_by(Escalation.created_at.desc(), Escalation.id.desc()).limit(1)
    ).scalar_one_or_none()


def merge_into(session: Session, target: Escalation, conversation_id: int, request: HandoffRequest,
               now: datetime) -> Escalation:
    """Record an urgent report as merged into `target` (resolved at once, pointing there; the
    target counts it), leaving the conversation with the bot; audited."""
    merged = Escalation(conversation_id=conversation_id, reason=request.reason, summary=request.summary,
                        priority="urgent", status="resolved", created_at=now, resolved_at=now,
                        merged_into_id=target.id)
    session.add(merged)
    target.merged_reports = (target.merged_reports or 0) + 1
    session.flush()
    record_categories(session, merged, request.categories)
    audit.record(session, actor_type="bot", actor_id=None, action="escalation_merged",
                 subject_type="conversation", subject_id=conversation_id,
                 detail={"reason": request.reason, "into_conversation": target.conversation_id}, now=now)
    logger.warning("conversation %s: urgent report merged into conversation %s (address over its limit)",
                   conversation_id, target.conversation_id)
    return merged


def record_categories(session: Session, escalation: Escalation, categories: Iterable[str]) -> None:
    """Store the red-flag categories of a report on its escalation (those it does not hold yet)."""
    held = set(session.execute(select(EscalationCategory.category).where(
        EscalationCategory.escalation_id == escalation.id)).scalars())
    for category in dict.fromkeys(categories):
        if category not in held:
            session.add(EscalationCategory(escalation_id=escalation.id, category=category))
    session.flush()


def assign(session: Session, conversation: Conversation, staff_user_id: int, now: datetime) -> bool:
    """A staff member takes the conversation; True when that is news to the patient.

    Opens an escalation (audited as opened by that staff member) when none is open.
    """
    was_staff = conversation.owner == "staff"
    escalation = open_escalation_of(session, conversation.id)
    if escalation is None:
        escalation = Escalation(conversation_id=conversation.id, reason="asked_for_person",
                                summary=TAKE_OVER_SUMMARY, priority="normal", status="waiting", created_at=now)
        session.add(escalation)
        session.flush()
        audit.record(session, actor_type="staff", actor_id=staff_user_id, action="escalation_opened",
                     subject_type="conversation", subject_id=conversation.id,
                     detail={"reason": escalation.reason, "priority": escalation.priority,
                             "by": "staff_take_over"}, now=now)
    changed = escalation.assigned_to != staff_user_id
    escalation.assigned_to, escalation.status = staff_user_id, "assigned"
    conversation.owner = "staff"
    session.flush()
    audit.record(session, actor_type="staff", actor_id=staff_user_id, action="assign",
                 subject_type="conversation", subject_id=conversation.id, now=now)
    return changed or not was_staff


def hand_back(session: Session, conversation: Conversation, staff_user_id: int, now: datetime) -> bool:
    """Resolve the open escalation and give the conversation to the bot; True if staff owned it."""
    escalation = open_escalation_of(session, conversation.id)
    if escalation is not None:
        escalation.status, escalation.resolved_at = "resolved", now
        escalation.assigned_to = escalation.assigned_to or staff_user_id
    was_staff = conversation.owner == "staff"
    conversation.owner = "bot"
    audit.record(session, actor_type="staff", actor_id=staff_user_id, action="hand_back",
                 subject_type="conversation", subject_id=conversation.id, now=now)
    return was_staff


def resolve_quietly(session: Session, escalation_ids: Iterable[int], staff_user_id: int,
                    now: datetime) -> List[int]:
    """Resolve these open escalations (spam, say) and give their conversations to the bot without a
    word to the patient; each one audited as a hand-back. The conversations resolved, in id order."""
    ids = sorted(set(escalation_ids))
    if not ids:
        return []
    escalations = session.execute(
        select(Escalation).where(Escalation.id.in_(ids), Escalation.status.in_(("waiting", "assigned")))
        .order_by(Escalation.id)).scalars().all()
    resolved = []
    for escalation in escalations:
        conversation = session.get(Conversation, escalation.conversation_id)
        escalation.status, escalation.resolved_at = "resolved", now
        escalation.assigned_to = escalation.assigned_to or staff_user_id
        if conversation is not None:
            conversation.owner = "bot"
        audit.record(session, actor_type="staff", actor_id=staff_user_id, action="hand_back",
                     subject_type="conversation", subject_id=escalation.conversation_id,
                     detail={"escalation_id": escalation.id, "bulk": True, "patient_told": False}, now=now)
        resolved.append(escalation.conversation_id)
    return resolved
