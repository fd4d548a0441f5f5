"""What the conversation router keeps in the clinic database: messages, owners, consent, receipts.

Plain functions over a SQLAlchemy session (the caller owns the transaction), no aiohttp, no Rasa.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import List, Optional, Sequence, Tuple

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.channels.messages import Button, OutboundMessage
from bot.clinic import audit
from bot.clinic.escalations import get_or_create_conversation
from bot.db.models import (
    ConsentRecord,
    Conversation,
    Escalation,
    InboundReceipt,
    Message,
    VerificationAttempt,
)


@dataclass(frozen=True)
class ConversationRef:
    """Enough about a conversation to route a message: its id, channel, sender and owner."""

    id: int
    channel: str
    external_id: str
    owner: str
    patient_id: Optional[int]
    verified_client: Optional[str] = None  # web: the tab that proved who the patient is
    verified_at: Optional[datetime] = None  # when that tab last used it (the idle time counts from here)
    provider: Optional[str] = None  # phone channels: the platform that answers ("twilio" or "meta")
    clinic_address: Optional[str] = None  # phone channels: the clinic number the patient wrote to
    client_key: Optional[str] = None  # web: the keyed network address the chat was started from

    @property
    def sender_key(self) -> str:
        """The Rasa sender id: "<channel>:<external id>"."""
        return f"{self.channel}:{self.external_id}"

    @classmethod
    def of(cls, conversation: Conversation) -> "ConversationRef":
        """A detached snapshot of a stored conversation."""
        return cls(conversation.id, conversation.channel, conversation.external_id, conversation.owner,
                   conversation.patient_id, conversation.verified_client, conversation.verified_at,
                   conversation.provider, conversation.clinic_address, conversation.client_key)


def conversation_for(session: Session, channel: str, external_id: str, now: datetime) -> Conversation:
    """The stored conversation of this sender on this channel, created on first contact."""
    return get_or_create_conversation(session, f"{channel}:{external_id}", now)


def find_by_sender(session: Session, channel: str, external_id: str) -> Optional[Conversation]:
    """The stored conversation of this sender on this channel, or None (nothing is created)."""
    return session.execute(select(Conversation).where(
        Conversation.channel == channel, Conversation.external_id == external_id)).scalar_one_or_none()


def chats_started_from(session: Session, client_key: str, since: datetime) -> int:
    """How many conversations were started from this keyed client address since `since`."""
    return session.execute(select(func.count(Conversation.id)).where(
        Conversation.client_key == client_key, Conversation.created_at >= since)).scalar_one()


def find_conversation(session: Session, conversation_id: int) -> Optional[Conversation]:
    """The conversation with this id, or None."""
    return session.get(Conversation, conversation_id)


def set_verified_client(session: Session, conversation_id: int, client: Optional[str],
                        now: Optional[datetime]) -> None:
    """Bind the conversation's verification to `client` (a browser tab) as of `now`; None ends it."""
    conversation = session.get(Conversation, conversation_id)
    conversation.verified_client, conversation.verified_at = client, now if client else None


def end_web_chat(session: Session, conversation_id: int, now: datetime) -> None:
    """The patient ended the chat: no verification, and its session id is never accepted again."""
    conversation = session.get(Conversation, conversation_id)
    conversation.verified_client, conversation.verified_at, conversation.ended_at = None, None, now


def ever_verified(session: Session, conversation: Conversation) -> bool:
    """True if the patient of this conversation proved who they are at some point (or now)."""
    if conversation.verified_client is not None:
        return True
    return session.execute(select(VerificationAttempt.id).where(
        VerificationAttempt.conversation_id == conversation.id, VerificationAttempt.outcome == "verified")
    ).first() is not None


def history_page(session: Session, conversation_id: int, before_id: Optional[int], limit: int) -> Tuple[List[Message], bool]:
    """Up to `limit` messages before `before_id` (all when None), oldest first; and whether there are more."""
    query = select(Message).where(Message.conversation_id == conversation_id)
    if before_id is not None:
        query = query.where(Message.id < before_id)
    rows = list(session.execute(query.order_by(Message.id.desc()).limit(limit + 1)).scalars())
    return list(reversed(rows[:limit])), len(rows) > limit


def claim_receipt(session: Session, channel: str, channel_message_id: str, now: datetime) -> bool:
    """Record a webhook message id; False if it was already received (a redelivery)."""
    try:
        with session.begin_nested():
            session.add(InboundReceipt(channel=channel, channel_message_id=channel_message_id, received_at=now))
    except IntegrityError:
        return False
    return True


def record_inbound(session: Session, conversation: Conversation, text: str, now: datetime,
                   channel_message_id: Optional[str] = None) -> Message:
    """Store what the patient wrote (all of it) and when."""
    message = Message(conversation_id=conversation.id, direction="in", author="patient", text=text,
                      channel_message_id=channel_message_id, created_at=now)
    conversation.last_patient_message_at = now
    session.add(message)
    session.flush()
    return message


def mark_fallback(session: Session, message_id: int) -> None:
    """Record that the assistant did not understand this patient message (for analytics)."""
    session.execute(update(Message).where(Message.id == message_id).values(fallback=True))


def record_outbound(session: Session, conversation_id: int, replies: Sequence[OutboundMessage], now: datetime,
                    author: str = "bot", staff_user_id: Optional[int] = None) -> List[Message]:
    """Store what was sent to the patient, with the buttons it offered."""
    rows = [
        Message(conversation_id=conversation_id, direction="out", author=author, staff_user_id=staff_user_id,
                text=reply.text, created_at=now,
                buttons=[{"title": b.title, "payload": b.payload} for b in reply.buttons] or None)
        for reply in replies
    ]
    session.add_all(rows)
    session.flush()
    return rows


def earlier_button_titled(session: Session, conversation_id: int, payload: str, lookback: int = 200
                          ) -> Optional[str]:
    """The title of a button the bot offered earlier with this payload (a stale click), or None."""
    rows = session.execute(
        select(Message.buttons).where(Message.conversation_id == conversation_id, Message.direction == "out",
                                      Message.buttons.isnot(None))
        .order_by(Message.id.desc()).limit(lookback)
    ).scalars()
    for buttons in rows:
        for button in buttons or ():
            if str(button.get("payload", "")) == payload and button.get("title"):
                return str(button["title"])
    return None


def has_outbound(session: Session, conversation_id: int) -> bool:
    """True if anything was sent in this conversation (the web chat's first screen counts)."""
    return session.execute(select(Message.id).where(
        Message.conversation_id == conversation_id, Message.direction == "out").limit(1)).first() is not None


def offered_buttons(session: Session, conversation_id: int) -> Tuple[Button, ...]:
    """The buttons of the bot's latest turn (its messages since the patient's previous message)."""
    recent = session.execute(
        select(Message).where(Message.conversation_id == conversation_id)
        .order_by(Message.id.desc()).limit(20)
    ).scalars()
    buttons: List[Button] = []
    seen_outbound = False
    for message in recent:
        if message.direction == "in":
            if seen_outbound:
                break
            continue  # the patient message being answered now
        seen_outbound = True
        if message.author == "bot" and message.buttons:
            buttons[:0] = [Button(str(b.get("title", "")), str(b.get("payload", ""))) for b in message.buttons]
    return tuple(buttons)


def is_opted_out(session: Session, phone_e164: str, channel: str) -> bool:
    """True if this number sent STOP on this channel and has not sent START since."""
    record = session.execute(
        select(ConsentRecord).where(ConsentRecord.phone_e164 == phone_e164, ConsentRecord.channel == channel)
    ).scalar_one_or_none()
    return bool(record and record.opted_out)


def set_opt_out(session: Session, phone_e164: str, channel: str, opted_out: bool, now: datetime) -> None:
    """Record STOP (opted_out=True) or START for this number on this channel, with an audit row."""
    record = session.execute(
        select(ConsentRecord).where(ConsentRecord.phone_e164 == phone_e164, ConsentRecord.channel == channel)
    ).scalar_one_or_none()
    if record is None:
        record = ConsentRecord(phone_e164=phone_e164, channel=channel)
        session.add(record)
    record.opted_out, record.changed_at = opted_out, now
    session.flush()
    audit.record(session, actor_type="patient", actor_id=None, action="opted_out" if opted_out else "opted_in",
                 subject_type="consent", subject_id=record.id, detail={"channel": channel}, now=now)


def conversation_of_escalation(session: Session, escalation_id: Optional[int]) -> Optional[int]:
    """The conversation id of an escalation (None for no escalation, or one that is gone)."""
    if escalation_id is None:
        return None
    escalation = session.get(Escalation, escalation_id)
    return escalation.conversation_id if escalation is not None else None


def open_escalation_of(session: Session, conversation_id: int) -> Optional[Escalation]:
    """The conversation's escalation that is not resolved yet, if any."""
    return session.execute(
        select(Escalation).where(Escalation.conversation_id == conversation_id, Escalation.status != "resolved")
        .order_by(Escalation.id.desc())
    ).scalars().first()
