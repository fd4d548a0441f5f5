"""The whole patient for the console: who they are, and every message of every conversation they
had on any channel, in one timeline (keyset paging on the message id, like a transcript).

Only conversations in which the patient proved who they are carry their id (conversations.patient_id,
indexed), so the timeline holds nothing said before or without verification on another number.
Plain queries over a session the caller owns; no aiohttp.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import List, Optional, Sequence, Tuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clinic.inbox import (
    TRANSCRIPT_PAGE_CHARS,
    TRANSCRIPT_PAGE_MESSAGES,
    MessageItem,
    _fitting,
    _message_items,
)
from bot.db.models import Conversation, Message, Patient

MAX_CONVERSATIONS = 500


@dataclass(frozen=True)
class Identity:
    """The patient record's identity fields (the phone and date of birth are masked by the console)."""

    id: int
    clinic_ref: str
    full_name: str
    phone_e164: Optional[str]
    date_of_birth: date
    email: Optional[str]
    preferred_channel: str


@dataclass(frozen=True)
class TimelineItem:
    """One message of the timeline, with the conversation and channel it belongs to."""

    message: MessageItem
    conversation_id: int
    channel: str


@dataclass(frozen=True)
class TimelinePage:
    """Consecutive timeline messages, oldest first, and whether older or newer ones exist."""

    items: Tuple[TimelineItem, ...]
    earlier: bool
    later: bool
    later_before: Optional[int]  # the page of later messages is the one before this id (None: the newest)
    conversations: int           # how many conversations the patient has

    @property
    def first_id(self) -> Optional[int]:
        """The id of the oldest message on the page (None if it is empty)."""
        return self.items[0].message.id if self.items else None


def identity(session: Session, patient_id: int) -> Optional[Identity]:
    """The patient's identity, or None if there is no such patient."""
    row = session.get(Patient, patient_id)
    if row is None:
        return None
    return Identity(id=row.id, clinic_ref=row.clinic_ref, full_name=row.full_name, phone_e164=row.phone_e164,
                    date_of_birth=row.date_of_birth, email=row.email, preferred_channel=row.preferred_channel)


def _channels(session: Session, patient_id: int) -> dict:
    """{conversation id: channel} of the patient's conversations."""
    return dict(session.execute(
        select(Conversation.id, Conversation.channel).where(Conversation.patient_id == patient_id)
        .order_by(Conversation.id).limit(MAX_CONVERSATIONS)).all())


def _items(session: Session, rows: Sequence[Message], channels: dict) -> Tuple[TimelineItem, ...]:
    """Timeline items of message rows."""
    return tuple(TimelineItem(message=item, conversation_id=row.conversation_id, channel=channels[row.conversation_id])
                 for row, item in zip(rows, _message_items(session, rows)))


def timeline_page(session: Session, patient_id: int, before_id: Optional[int] = None,
                  limit: int = TRANSCRIPT_PAGE_MESSAGES, max_chars: int = TRANSCRIPT_PAGE_CHARS) -> TimelinePage:
    """The page of the patient's messages (all conversations) just before message `before_id`
    (the newest page when None), oldest first."""
    channels = _channels(session, patient_id)
    ids = list(channels)
    query = select(Message).where(Message.conversation_id.in_(ids))
    if before_id is not None:
        query = query.where(Message.id < before_id)
    rows: List[Message] = list(session.execute(query.order_by(Message.id.desc()).limit(limit + 1)).scalars()) \
        if ids else []
    count = _fitting(rows, limit, max_chars)
    later_rows: List[Message] = []
    if before_id is not None and ids:
        later_rows = list(session.execute(
            select(Message).where(Message.conversation_id.in_(ids), Message.id >= before_id)
            .order_by(Message.id).limit(limit + 1)).scalars())
    later_count = _fitting(later_rows, limit, max_chars)
    return TimelinePage(
        items=_items(session, list(reversed(rows[:count])), channels),
        earlier=len(rows) > count,
        later=bool(later_rows),
        later_before=later_rows[later_count].id if later_count < len(later_rows) else None,
        conversations=len(ids),
    )
