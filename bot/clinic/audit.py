"""The audit log: who did what to which record, with ids and counts only, never personal data."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Mapping, Optional

from sqlalchemy.orm import Session

from bot.db.models import ACTOR_TYPES, AuditLog, utcnow

logger = logging.getLogger(__name__)


def record(
    session: Session,
    *,
    actor_type: str,
    actor_id: Optional[Any],
    action: str,
    subject_type: Optional[str] = None,
    subject_id: Optional[Any] = None,
    detail: Optional[Mapping[str, Any]] = None,
    now: Optional[datetime] = None,
) -> AuditLog:
    """Add one audit row to the session's transaction (it is written when the caller commits)."""
    if actor_type not in ACTOR_TYPES:
        raise ValueError(f"actor_type must be one of {ACTOR_TYPES}, not {actor_type!r}")
    entry = AuditLog(
        at=now or utcnow(),
        actor_type=actor_type,
        actor_id=None if actor_id is None else str(actor_id),
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        detail=dict(detail) if detail else None,
    )
    session.add(entry)
    logger.debug("audit %s by %s on %s", action, actor_type, subject_type)
    return entry
