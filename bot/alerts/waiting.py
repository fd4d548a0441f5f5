"""The urgent cases nobody has taken yet: what every signed-in console counts in its title and
announces when one is new (ids only: the alert names no patient)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Escalation

WAITING_LIMIT = 100


@dataclass(frozen=True)
class UrgentWaiting:
    """One urgent escalation still waiting: its id and its conversation's."""

    escalation_id: int
    conversation_id: int


def urgent_waiting(session: Session, limit: int = WAITING_LIMIT) -> List[UrgentWaiting]:
    """The urgent escalations still waiting for someone to take them, longest waiting first."""
    rows = session.execute(
        select(Escalation.id, Escalation.conversation_id)
        .where(Escalation.priority == "urgent", Escalation.status == "waiting")
        .order_by(Escalation.created_at, Escalation.id)
        .limit(limit)
    ).all()
    return [UrgentWaiting(escalation_id=e, conversation_id=c) for e, c in rows]
