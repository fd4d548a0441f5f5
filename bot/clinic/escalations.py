"""Handing a conversation to clinic staff: the conversation row, its owner, and the escalation."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Optional, Tuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clinic import audit
from bot.db.models import Conversation, Escalation

logger = logging.getLogger(__name__)
CHANNEL_PREFIXES = ("web", "sms", "whatsapp")


def split_sender_key(sender_key: str) -> Tuple[str, str]:
    """A Rasa sender id is "<channel>:<external id>"; anything else is a web conversation."""
    channel, sep, external = sender_key.partition(":")
    if sep and channel in CHANNEL_PREFIXES and external:
        return channel, external
    return "web", sender_key


def get_or_create_conversation(session: Session, sender_key: str, now: datetime,
                               patient_id: Optional[int] = None) -> Conversation:
    """The stored conversation for this sender, created on first use."""
    channel, external_id = split_sender_key(sender_key)
    conversation = session.execute(
        select(Conversation).where(Conversation.channel == channel, Conversation.external_id == external_id)
    ).scalar_one_or_none()
    if conversation is None:
        conversation = Conversation(channel=channel, external_id=external_id, owner="bot", created_at=now)
        session.add(conversation)
    if patient_id is not None and conversation.patient_id is None:
        conversation.patient_id = patient_id
    session.flush()
    return conversation


def open_escalation(session: Session, *, sender_key: str, reason: str, summary: str, priority: str,
                    now: datetime, patient_id: Optional[int] = None) -> Escalation:
    """Give the conversation to staff and queue it in the inbox; reuses an escalation still open."""
    conversation = get_or_create_conversation(session, sender_key, now, patient_id)
    conversation.owner = "staff"
    escalation = session.execute(
        select(Escalation).where(Escalation.conversation_id == conversation.id, Escalation.status != "resolved")
    ).scalars().first()
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
