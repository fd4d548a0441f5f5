"""Retention: what is older than RETENTION_DAYS is deleted (`python -m bot purge`, and periodically
by the server, see schedule.py).

What is old, with `cutoff = now - RETENTION_DAYS`:

- A conversation is old when its last activity is before the cutoff: its newest message, the
  patient's last message, or (no message at all) when it was created. An old conversation is
  deleted with everything in it: messages (and their copies in the teaching queue, bot/teaching),
  staff notes, escalations, and its Rasa tracker events (sender id "<channel>:<external id>").
- Except: a conversation with an unresolved escalation (waiting or assigned), or with an open
  staff request, is kept whole, however old: a patient still waiting for a person, or a request
  staff have not dealt with, must not vanish from the inbox. It is purged once resolved/done and
  old.
- In the conversations that stay (a phone number's conversation can last for years), the
  messages and staff notes written before the cutoff, and escalations resolved before it, are
  deleted too, except in the kept-whole conversations above.
- Rasa tracker events stamped before the cutoff are deleted, whoever they belong to (except the
  kept-whole conversations'); `events` may not exist yet (Rasa has not run): nothing to do.
- Webhook receipts received, identity-check attempts made, and staff requests done before the
  cutoff (their `wishes` quote the patient).

Never deleted: patients, courses and bookings (the clinic's records), consent (STOP) records (an
opt-out must be honoured for good), staff accounts, and the audit log (ids and counts only).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Dict, List, Set, Tuple

from sqlalchemy import and_, delete, func, or_, select, true, update
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql import ColumnElement

from bot.clinic import audit
from bot.db.models import (
    Conversation,
    Escalation,
    InboundReceipt,
    Message,
    StaffNote,
    StaffRequest,
    VerificationAttempt,
)
from bot.privacy.tracker_events import chunks, delete_events_before, delete_events_of, has_events_table
from bot.teaching import queue as teaching

logger = logging.getLogger(__name__)

# The order rows are deleted in, and the keys of PurgeReport.counts.
PURGED_TABLES = ("messages", "staff_notes", "escalations", "conversations", "events", "staff_requests",
                 "verification_attempts", "inbound_receipts")
OPEN_ESCALATION_STATUSES = ("waiting", "assigned")


@dataclass(frozen=True)
class PurgeReport:
    """What one purge deleted: rows per table; old conversations kept because they are still open."""

    cutoff: datetime
    counts: Dict[str, int] = field(default_factory=dict)
    kept_open: int = 0
    events_table: bool = True

    @property
    def total(self) -> int:
        """Rows deleted, all tables together."""
        return sum(self.counts.values())

    def describe(self) -> str:
        """Counts only, for the log: "messages=3 staff_notes=0 ..."."""
        parts = [f"{table}={count}" for table, count in self.counts.items()]
        return " ".join(parts + [f"kept_open={self.kept_open}"])


def cutoff_for(now: datetime, retention_days: int) -> datetime:
    """The moment before which data is old."""
    if retention_days <= 0:
        raise ValueError("retention_days must be greater than zero")
    return now - timedelta(days=retention_days)


def _protected(session: Session) -> Tuple[Set[int], Set[str]]:
    """Conversations kept whole: ids and sender keys of those with an open escalation or open request."""
    ids = set(session.execute(
        select(Escalation.conversation_id).where(Escalation.status.in_(OPEN_ESCALATION_STATUSES))).scalars())
    ids.update(i for i in session.execute(
        select(StaffRequest.conversation_id).where(StaffRequest.status == "open")).scalars() if i is not None)
    keys: Set[str] = set()
    for batch in chunks(sorted(ids)):
        keys.update(f"{channel}:{external}" for channel, external in session.execute(
            select(Conversation.channel, Conversation.external_id).where(Conversation.id.in_(batch))))
    return ids, keys


def _old_conversations(session: Session, cutoff: datetime) -> List[Tuple[int, str]]:
    """(id, sender key) of every conversation whose last activity is before `cutoff`."""
    newest = (select(Message.conversation_id, func.max(Message.created_at).label("newest"))
              .group_by(Message.conversation_id).subquery())
    rows = session.execute(
        select(Conversation.id, Conversation.channel, Conversation.external_id)
        .outerjoin(newest, newest.c.conversation_id == Conversation.id)
        .where(Conversation.created_at < cutoff,
               or_(Conversation.last_patient_message_at.is_(None),
                   Conversation.last_patient_message_at < cutoff),
               or_(newest.c.newest.is_(None), newest.c.newest < cutoff))
        .order_by(Conversation.id)
    )
    return [(conversation_id, f"{channel}:{external}") for conversation_id, channel, external in rows]


def delete_conversations(session: Session, conversation_ids: List[int]) -> Dict[str, int]:
    """Delete these conversations and their messages, notes and escalations; rows per table.

    The children are deleted explicitly (not left to ON DELETE CASCADE) so they are counted, and
    so a connection without SQLite's foreign-key pragma deletes them too.
    """
    counts = {"messages": 0, "staff_notes": 0, "escalations": 0, "conversations": 0}
    for batch in chunks(conversation_ids):
        teaching.forget_messages(session, select(Message.id).where(Message.conversation_id.in_(batch)))
        for table, model in (("messages", Message), ("staff_notes", StaffNote), ("escalations", Escalation)):
            counts[table] += session.execute(
                delete(model).where(model.conversation_id.in_(batch)).execution_options(
                    synchronize_session=False)).rowcount or 0
        # What ON DELETE does where the pragma is off: attempts go, requests lose the link.
        session.execute(delete(VerificationAttempt).where(VerificationAttempt.conversation_id.in_(batch))
                        .execution_options(synchronize_session=False))
        session.execute(update(StaffRequest).where(StaffRequest.conversation_id.in_(batch))
                        .values(conversation_id=None).execution_options(synchronize_session=False))
        counts["conversations"] += session.execute(
            delete(Conversation).where(Conversation.id.in_(batch)).execution_options(
                synchronize_session=False)).rowcount or 0
    return counts


def _not_in(column: InstrumentedAttribute, ids: Set[int]) -> ColumnElement:
    """`column NOT IN ids`, or no condition when there are none."""
    return column.not_in(sorted(ids)) if ids else true()


def purge_expired(session: Session, *, now: datetime, retention_days: int,
                  record_audit: bool = True) -> PurgeReport:
    """Delete everything older than `retention_days` (see the module's docstring); the caller commits."""
    cutoff = cutoff_for(now, retention_days)
    protected_ids, protected_keys = _protected(session)
    old = _old_conversations(session, cutoff)
    doomed = [(cid, key) for cid, key in old if cid not in protected_ids and key not in protected_keys]
    counts = dict.fromkeys(PURGED_TABLES, 0)
    quiet = dict(synchronize_session=False)
    # Old identity checks first, so those of the conversations deleted next are counted too.
    counts["verification_attempts"] += session.execute(delete(VerificationAttempt).where(
        VerificationAttempt.attempted_at < cutoff).execution_options(**quiet)).rowcount or 0
    for table, count in delete_conversations(session, [cid for cid, _ in doomed]).items():
        counts[table] += count
    # Old rows in the conversations that stay (not in those kept whole).
    old_messages = (Message.created_at < cutoff, _not_in(Message.conversation_id, protected_ids))
    teaching.forget_messages(session, select(Message.id).where(*old_messages))
    counts["messages"] += session.execute(delete(Message).where(*old_messages).execution_options(
        **quiet)).rowcount or 0
    counts["staff_notes"] += session.execute(delete(StaffNote).where(
        StaffNote.created_at < cutoff, _not_in(StaffNote.conversation_id, protected_ids)
    ).execution_options(**quiet)).rowcount or 0
    counts["escalations"] += session.execute(delete(Escalation).where(
        Escalation.status == "resolved",
        or_(Escalation.resolved_at < cutoff,
            and_(Escalation.resolved_at.is_(None), Escalation.created_at < cutoff)),
        _not_in(Escalation.conversation_id, protected_ids),
    ).execution_options(**quiet)).rowcount or 0
    events_table = has_events_table(session)
    if events_table:
        counts["events"] += delete_events_of(session, [key for _, key in doomed])
        counts["events"] += delete_events_before(session, cutoff, keep_senders=sorted(protected_keys))
    counts["staff_requests"] += session.execute(delete(StaffRequest).where(
        StaffRequest.status == "done",
        or_(StaffRequest.done_at < cutoff,
            and_(StaffRequest.done_at.is_(None), StaffRequest.created_at < cutoff)),
    ).execution_options(**quiet)).rowcount or 0
    counts["inbound_receipts"] += session.execute(delete(InboundReceipt).where(
        InboundReceipt.received_at < cutoff).execution_options(**quiet)).rowcount or 0
    report = PurgeReport(cutoff=cutoff, counts=counts, kept_open=len(old) - len(doomed),
                         events_table=events_table)
    if record_audit and report.total:
        audit.record(session, actor_type="system", actor_id=None, action="retention_purge",
                     detail={"retention_days": retention_days, **counts, "kept_open": report.kept_open},
                     now=now)
    return report
