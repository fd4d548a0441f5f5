"""describe_when / describe_moment: local calendar days, 24-hour clock, midnight and DST."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from clinic_testing import LONDON, frozen_now, london, utc

from bot.clinic.timefmt import describe_moment, describe_when

# Wednesday 18 November 2026, 12:00 in London (GMT, so UTC too).
NOW = "2026-11-18 12:00:00"


@pytest.mark.parametrize(
    "moment, expected",
    [
        (london(2026, 11, 18, 14, 0), "today at 14:00"),
        (london(2026, 11, 18, 9, 5), "today at 09:05"),
        (london(2026, 11, 19, 10, 0), "tomorrow at 10:00"),
        (london(2026, 11, 17, 10, 0), "yesterday at 10:00"),
        (london(2026, 11, 20, 14, 0), "on Friday at 14:00"),
        (london(2026, 11, 24, 14, 0), "on Tuesday at 14:00"),
        (london(2026, 11, 25, 14, 0), "on Wednesday 25 November at 14:00"),
        (london(2026, 11, 16, 10, 0), "on Monday at 10:00"),
        (london(2026, 11, 12, 10, 0), "on Thursday at 10:00"),
        (london(2026, 11, 11, 10, 0), "on Wednesday 11 November at 10:00"),
        (london(2026, 12, 5, 14, 0), "on Saturday 5 December at 14:00"),
        (london(2027, 1, 5, 14, 0), "on Tuesday 5 January 2027 at 14:00"),
        (london(2025, 11, 17, 10, 0), "on Monday 17 November 2025 at 10:00"),
    ],
)
def test_describe_when_relative_days(moment: datetime, expected: str) -> None:
    assert describe_when(moment, frozen_now(NOW), LONDON) == expected


def test_describe_when_converts_other_zones_to_clinic_time() -> None:
    new_york_morning = datetime(2026, 11, 18, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    assert describe_when(new_york_morning, frozen_now(NOW), LONDON) == "today at 14:00"


@pytest.mark.parametrize(
    "now, moment, expected",
    [
        # 23:30 tonight vs 00:30: the local date decides.
        ("2026-11-18 23:30:00", london(2026, 11, 19, 0, 30), "tomorrow at 00:30"),
        ("2026-11-19 00:30:00", london(2026, 11, 18, 23, 30), "yesterday at 23:30"),
        # Summer (BST): both are 1 July in UTC but different local dates.
        ("2026-07-01 22:30:00", utc(2026, 7, 1, 23, 30), "tomorrow at 00:30"),
        ("2026-07-01 23:15:00", utc(2026, 7, 1, 22, 30), "yesterday at 23:30"),
    ],
)
def test_describe_when_midnight_uses_local_dates(now: str, moment: datetime, expected: str) -> None:
    assert describe_when(moment, frozen_now(now), LONDON) == expected


@pytest.mark.parametrize(
    "now, moment, expected",
    [
        # Spring forward: 2026-03-29 01:00 UTC, 01:00 GMT becomes 02:00 BST.
        ("2026-03-28 12:00:00", utc(2026, 3, 29, 13, 0), "tomorrow at 14:00"),
        ("2026-03-29 00:30:00", utc(2026, 3, 29, 1, 0), "today at 02:00"),
        ("2026-03-29 00:59:00", utc(2026, 3, 28, 23, 59), "yesterday at 23:59"),
        ("2026-03-27 09:00:00", london(2026, 4, 2, 14, 0), "on Thursday at 14:00"),
        # Fall back: 2026-10-25 01:00 UTC, 02:00 BST becomes 01:00 GMT; 01:30 happens twice.
        ("2026-10-25 00:10:00", utc(2026, 10, 25, 0, 30), "today at 01:30"),
        ("2026-10-25 00:10:00", utc(2026, 10, 25, 1, 30), "today at 01:30"),
        # 23:30 BST on Saturday to 23:30 GMT on Sunday is 25 hours but one local day.
        ("2026-10-24 22:30:00", utc(2026, 10, 25, 23, 30), "tomorrow at 23:30"),
        ("2026-10-24 23:30:00", utc(2026, 10, 25, 23, 30), "today at 23:30"),
        ("2026-10-23 12:00:00", london(2026, 10, 26, 10, 0), "on Monday at 10:00"),
    ],
)
def test_describe_when_across_dst(now: str, moment: datetime, expected: str) -> None:
    assert describe_when(moment, frozen_now(now), LONDON) == expected


@pytest.mark.parametrize(
    "moment, expected",
    [
        (london(2026, 11, 18, 14, 0), "14:00 today"),
        (london(2026, 11, 19, 10, 0), "10:00 tomorrow"),
        (london(2026, 11, 20, 14, 0), "14:00 on Friday"),
        (london(2026, 12, 5, 14, 0), "14:00 on Saturday 5 December"),
    ],
)
def test_describe_moment_puts_the_time_first(moment: datetime, expected: str) -> None:
    assert describe_moment(moment, frozen_now(NOW), LONDON) == expected


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        describe_when(datetime(2026, 11, 18, 14, 0), frozen_now(NOW), LONDON)
    with pytest.raises(ValueError):
        describe_when(london(2026, 11, 18, 14, 0), datetime(2026, 11, 18, 12, 0), LONDON)
