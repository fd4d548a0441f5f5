"""Opening hours: is the clinic open now, and when does it next open (clinic local time)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from bot.clinic.timefmt import describe_when
from bot.settings import ClinicProfile


def is_open(profile: ClinicProfile, now: datetime) -> bool:
    """True while the clinic is open by its profile's opening hours."""
    local = now.astimezone(profile.timezone)
    hours = profile.opening_hours.days.get(local.weekday())
    return hours is not None and hours[0] <= local.time().replace(tzinfo=None) < hours[1]


def next_opening(profile: ClinicProfile, now: datetime) -> Optional[datetime]:
    """The next moment the clinic opens after `now` (within a week), or None if it never opens."""
    local = now.astimezone(profile.timezone)
    for days_ahead in range(0, 8):
        day = (local + timedelta(days=days_ahead)).date()
        hours = profile.opening_hours.days.get(day.weekday())
        if not hours:
            continue
        opens = datetime.combine(day, hours[0], tzinfo=profile.timezone)
        if opens > now:
            return opens
    return None


def reply_expectation(profile: ClinicProfile, now: datetime) -> str:
    """One sentence telling the patient when staff will answer, given the opening hours."""
    if is_open(profile, now):
        return f"The clinic is open now; the team usually replies within {profile.typical_reply_minutes} minutes."
    opens = next_opening(profile, now)
    if opens is None:
        return f"The clinic is closed at the moment; you can also call us on {profile.phone}."
    return (f"The clinic is closed at the moment, so the team will reply after we open "
            f"{describe_when(opens, now, profile.timezone)}; you can also call us on {profile.phone} then.")
