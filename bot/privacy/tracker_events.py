"""Rasa's tracker events (the SQLTrackerStore's `events` table, beside the clinic tables).

The table is Rasa's, created by the tracker store when Rasa first runs: it may not exist yet, and
it is not part of the clinic's Alembic schema. Only the columns used here are declared.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable, Iterator, List, Sequence

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, delete, func, inspect, select
from sqlalchemy.orm import Session

EVENTS_TABLE = "events"
CHUNK = 500  # ids or sender keys per statement (well under every database's parameter limit)

events = Table(
    EVENTS_TABLE,
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False),
    Column("timestamp", Float),
)


def chunks(values: Iterable, size: int = CHUNK) -> Iterator[List]:
    """`values` in lists of at most `size`."""
    batch: List = []
    for value in values:
        batch.append(value)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def has_events_table(session: Session) -> bool:
    """True if Rasa's tracker store has created its table in this database."""
    return inspect(session.connection()).has_table(EVENTS_TABLE)


def count_events_of(session: Session, sender_keys: Sequence[str]) -> int:
    """How many tracker events these senders ("<channel>:<external id>") have."""
    total = 0
    for batch in chunks(sorted(set(sender_keys))):
        total += session.execute(select(func.count()).select_from(events)
                                 .where(events.c.sender_id.in_(batch))).scalar_one()
    return total


def delete_events_of(session: Session, sender_keys: Sequence[str]) -> int:
    """Delete every tracker event of these senders; the number deleted."""
    total = 0
    for batch in chunks(sorted(set(sender_keys))):
        total += session.execute(delete(events).where(events.c.sender_id.in_(batch))).rowcount or 0
    return total


def delete_events_before(session: Session, cutoff: datetime, keep_senders: Sequence[str] = ()) -> int:
    """Delete tracker events stamped before `cutoff`, except those of `keep_senders`; the number deleted."""
    query = delete(events).where(events.c.timestamp < cutoff.timestamp())
    if keep_senders:
        query = query.where(events.c.sender_id.not_in(sorted(set(keep_senders))))
    return session.execute(query).rowcount or 0
