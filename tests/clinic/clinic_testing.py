"""Helpers for the clinic domain tests (imported by the test modules and conftest.py)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from freezegun import freeze_time

DATA = Path(__file__).parent / "data"
LONDON = ZoneInfo("Europe/London")


def frozen_now(moment: str) -> datetime:
    """`datetime.now(timezone.utc)` read under freezegun at `moment` (UTC)."""
    with freeze_time(moment):
        now = datetime.now(timezone.utc)
    return datetime(now.year, now.month, now.day, now.hour, now.minute, now.second, tzinfo=timezone.utc)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=timezone.utc)


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A London wall-clock time as an aware datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)
