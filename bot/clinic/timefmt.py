"""Say when something happens, the way a receptionist would, in the clinic's local time.

Days are compared by LOCAL calendar date (23:30 tonight vs 00:30 the next day is "tomorrow"),
so the wording stays right across midnight and daylight-saving changes. 24-hour clock.

`describe_when` puts the day first ("tomorrow at 10:00"); it is for the event itself:

    same local date            today at 14:00
    next / previous date       tomorrow at 10:00 / yesterday at 10:00
    2..6 days either way       on Friday at 14:00
    anything else              on Friday 5 December at 14:00 (plus the year if not this year)

Past days 2..6 back are "on Friday", not "last Friday": in British English "last Friday" is often
read as the Friday of the previous week, and the sentence around it ("your session was ...")
already says it is in the past.

`describe_moment` puts the time first ("10:00 tomorrow", "14:00 on Friday"); it is for the
edge of a window: "please wait until 10:00 tomorrow", "avoid ibuprofen from 14:00 on Wednesday".
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
NAMED_DAY_RANGE = 6


def _require_aware(value: datetime, name: str) -> None:
    """Naive datetimes have no zone to convert from; refuse them."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def clock(moment: datetime, tz: ZoneInfo) -> str:
    """The local time of day on the 24-hour clock, e.g. "09:05"."""
    _require_aware(moment, "moment")
    return moment.astimezone(tz).strftime("%H:%M")


def day_phrase(moment: datetime, now: datetime, tz: ZoneInfo) -> str:
    """The local day of `moment` seen from `now`: "today", "tomorrow", "on Friday", "on Friday 5 December"."""
    _require_aware(moment, "moment")
    _require_aware(now, "now")
    local = moment.astimezone(tz)
    today = now.astimezone(tz).date()
    days = (local.date() - today).days
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    if days == -1:
        return "yesterday"
    weekday = WEEKDAY_NAMES[local.weekday()]
    if -NAMED_DAY_RANGE <= days <= NAMED_DAY_RANGE:
        return f"on {weekday}"
    phrase = f"on {weekday} {local.day} {MONTH_NAMES[local.month - 1]}"
    if local.year != today.year:
        phrase += f" {local.year}"
    return phrase


def describe_when(moment: datetime, now: datetime, tz: ZoneInfo) -> str:
    """Day first: "today at 14:00", "yesterday at 10:00", "on Friday 5 December at 14:00"."""
    return f"{day_phrase(moment, now, tz)} at {clock(moment, tz)}"


def describe_moment(moment: datetime, now: datetime, tz: ZoneInfo) -> str:
    """Time first, for the edge of a window: "10:00 tomorrow", "14:00 on Friday"."""
    return f"{clock(moment, tz)} {day_phrase(moment, now, tz)}"
