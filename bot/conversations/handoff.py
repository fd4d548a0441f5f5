"""Who may change a conversation's owner, and how: the one place that does it.

A conversation is owned by the bot or by staff. It goes to staff by `escalate` (a patient asked for
a person, a second missed fallback, a red flag, an engine failure; a custom action or the router
asks) or by `assign` (a staff member takes it, opening an escalation if none is open); it goes back
to the bot by `hand_back`, which resolves the escalation. Each function writes the rows and their
audit entry in the caller's transaction and returns what changed; the caller publishes the inbox
event after the commit (`bot.conversations.router`, which also tells the patient).

The custom-action server runs `escalate` in its own process (actions/handoff.py); the router
notices the new owner when the turn ends and publishes the event then.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Optional

from sqlalchemy.orm import Session

from bot.clinic import audit
from bot.clinic.escalations import get_or_create_conversation
from bot.conversations.store import open_escalation_of
from bot.db.models import Conversation, Escalation

logger = logging.getLogger(__name__)
TAKE_OVER_SUMMARY = "Taken over by staff from the conversation list."


def escalate(session: Session, *, sender_key: str, reason: str, summary: str, priority: str,
             now: datetime, patient_id: Optional[int] = None) -> Escalation:
    """Give the conversation to staff and queue it in the inbox; reuses an escalation still open.

    An urgent escalation upgrades an open normal one (its reason and summary too).
    """
    conversation = get_or_create_conversation(session, sender_key, now, patient_id)
    conversation.owner = "staff"
    escalation = open_escalation_of(session, conversation.id)
    if escalation is None:
        escalation = Escalation(conversation_id=conversation.id, reason=reason, summary=summary,
                                priority=priority, status="waiting", created_at=now)
        session.add(escalation)
    elif priority == "urgent" and escalation.priority != "urgent":
        escalation.priority, escalation.reason, escalation.summary = "urgent", reason, summary
    session.flush()
    audit.record(session, actor_type="bot", actor_id=None, action="escalation_opened",
                 subject_type="conversation", subject_id=conversation.id,
                 detail={"reason": reason, "priority": priority}, now=now)
    logger.info("conversation %s escalated (%s, %s)", conversation.id, reason, priority)
    return escalation


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
