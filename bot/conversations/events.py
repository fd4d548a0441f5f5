"""Live events for the staff console and the web widget: "something changed in conversation N".

In one process an `InboxEvents` hub fans events out to every subscriber (the console's live
inbox). Events carry ids and kinds only, never message text: subscribers read what they need
from the database, so nothing personal travels through the hub.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Optional, Set

from bot.db.models import utcnow

logger = logging.getLogger(__name__)
QUEUE_LIMIT = 1000

EVENT_KINDS = (
    "message_in",        # a patient wrote in a conversation
    "message_out",       # the bot or staff answered
    "escalated",         # the conversation was handed to staff
    "assigned",          # a staff member took the conversation
    "handed_back",       # staff gave the conversation back to the bot
    "request_done",      # staff marked a request done
    "changed",           # the database changed behind the hub's back (another process or replica);
                         # the console's poller publishes it, subscribers re-read what they show
)


@dataclass(frozen=True)
class InboxEvent:
    """One change: its kind, the conversation (or request) it concerns, and when."""

    kind: str
    conversation_id: Optional[int] = None
    request_id: Optional[int] = None
    urgent: bool = False
    at: str = field(default_factory=lambda: utcnow().isoformat())

    def __post_init__(self) -> None:
        """Refuse a kind that subscribers would not know."""
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown inbox event kind {self.kind!r}; one of {EVENT_KINDS}")

    def as_dict(self) -> Dict[str, Any]:
        """The event as JSON-ready data."""
        return asdict(self)


class InboxEvents:
    """Publish/subscribe hub; a subscriber that stops reading loses its oldest events, not the hub."""

    def __init__(self) -> None:
        """No subscribers yet."""
        self._queues: Set[asyncio.Queue] = set()

    def subscribe(self) -> asyncio.Queue:
        """A queue that receives every event published from now on; `unsubscribe` it when done."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        """Stop delivering to `queue`."""
        self._queues.discard(queue)

    def publish(self, event: InboxEvent) -> None:
        """Deliver `event` to every subscriber without waiting."""
        for queue in list(self._queues):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)
        logger.debug("event %s on conversation %s", event.kind, event.conversation_id)
