"""Time for tests: the moment scaffolding starts from, and a clock the test moves by hand."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

# Friday 20 November 2026, 10:00 UTC (and in London, in winter): when rows are made and clocks start.
START = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


class Clock:
    """A clock the test moves by hand (console sessions, lockouts, audit times); call it for the time."""

    def __init__(self, now: datetime = START) -> None:
        """Start at `now`."""
        self.now = now

    def __call__(self) -> datetime:
        """The current time."""
        return self.now

    def advance(self, **kwargs) -> None:
        """Move on by a `timedelta(**kwargs)`."""
        self.now += timedelta(**kwargs)
