"""Delivery statuses of care messages, as Twilio's StatusCallback and Meta's `statuses` report them.

A status only moves forward: sent < delivered < read. A failure (Twilio's "failed" or
"undelivered", Meta's "failed") is recorded with the provider's error code while the message is
not yet known to be delivered, and is final. Platforms may report out of order (a late "sent"
after "read"); such reports change nothing. Statuses the outbox does not track (Twilio's
"queued", "accepted", "sending", ...) change nothing either.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Dict, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import CareMessage

logger = logging.getLogger(__name__)

# The platform's status word -> ours.
PROVIDER_STATUSES: Dict[str, str] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "failed",
}
# How far a message has got; a status moves a row only to a higher rank. "sending" and "unknown"
# rows (the sender had not marked them yet, or did not learn the outcome) may move anywhere.
PROGRESS: Dict[str, int] = {"sending": 0, "unknown": 0, "sent": 1, "delivered": 2, "read": 3}
FAILURE_RANK = 2  # a failure counts only below this rank (a delivered message did not fail)


def _next_status(current: str, reported: str) -> Optional[str]:
    """The row's new status after a report, or None when the report changes nothing."""
    if current not in PROGRESS:  # failed, or never sent (scheduled, skipped, cancelled)
        return None
    if reported == "failed":
        return "failed" if PROGRESS[current] < FAILURE_RANK else None
    return reported if PROGRESS[reported] > PROGRESS[current] else None


def record_delivery_status(session: Session, provider: str, provider_message_id: str, status: str,
                           error_code: Optional[str], at: datetime) -> bool:
    """Move the care message the platform knows as `provider_message_id` forward to `status`.

    True when a care message has that id (whether or not the report changed it); False when none
    has: statuses of staff and bot replies are ignored quietly."""
    message = session.execute(select(CareMessage).where(
        CareMessage.provider == provider, CareMessage.provider_message_id == provider_message_id,
    ).with_for_update()).scalars().first()
    if message is None:
        return False
    reported = PROVIDER_STATUSES.get((status or "").strip().lower())
    new_status = _next_status(message.status, reported) if reported else None
    if new_status is None:
        logger.debug("care message %s: %s status %r after %s changes nothing",
                     message.id, provider, status, message.status)
        return True
    message.status, message.status_at = new_status, at
    if new_status == "failed":
        message.error_code = (error_code or "")[:32] or None
        message.detail = f"{provider} reported {status.strip().lower()}"[:120]
    logger.info("care message %s: %s -> %s", message.id, provider, new_status)
    return True
