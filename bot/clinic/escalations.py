"""A conversation's row from Rasa's sender key ("<channel>:<id>"); its owner changes in bot.conversations.handoff."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Optional, Tuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Conversation

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
