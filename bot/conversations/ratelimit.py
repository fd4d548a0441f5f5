"""A per-sender rate limit: at most N messages in a sliding window of W seconds."""
from __future__ import annotations

import enum
import time
from collections import deque
from typing import Callable, Deque, Dict, Set

MAX_TRACKED_SENDERS = 100_000


class Verdict(enum.Enum):
    """What to do with one message."""

    ALLOW = "allow"
    REFUSE_AND_TELL = "refuse_and_tell"  # the first refused message of a burst: say why, once
    REFUSE = "refuse"


class SlidingWindowLimiter:
    """Counts each sender's recent messages in memory (per process)."""

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        """Allow `limit` messages per `window_seconds` for each sender."""
        self.limit = limit
        self.window_seconds = window_seconds
        self.clock = clock
        self._hits: Dict[str, Deque[float]] = {}
        self._told: Set[str] = set()

    def check(self, sender_key: str) -> Verdict:
        """Count one message from the sender and say whether it may be processed."""
        now = self.clock()
        hits = self._hits.setdefault(sender_key, deque())
        while hits and now - hits[0] >= self.window_seconds:
            hits.popleft()
        if len(hits) >= self.limit:
            if sender_key in self._told:
                return Verdict.REFUSE
            self._told.add(sender_key)
            return Verdict.REFUSE_AND_TELL
        self._told.discard(sender_key)
        hits.append(now)
        if len(self._hits) > MAX_TRACKED_SENDERS:
            self._forget_idle(now)
        return Verdict.ALLOW

    def _forget_idle(self, now: float) -> None:
        """Drop senders with nothing in their window."""
        for key in [k for k, v in self._hits.items() if not v or now - v[-1] >= self.window_seconds]:
            del self._hits[key]
            self._told.discard(key)
