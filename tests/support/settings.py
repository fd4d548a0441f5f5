"""Settings for tests: the defaults of an empty environment, on the test's own database.

- `settings_for(database_url, **changes)`: `Settings.from_env` with only DATABASE_URL, then `changes`
  (any field of the frozen dataclass).
- `settings` fixture: `settings_for(db_url)`; a folder that needs more (platform credentials, a
  session secret) overrides it by asking for this one and replacing fields.
- `make_clinic(**overrides)`: a clinic profile with fixed test values, without reading clinic.yml.
"""
from __future__ import annotations

import dataclasses
from datetime import time
from zoneinfo import ZoneInfo

import pytest

from bot.settings import ClinicProfile, OpeningHours, Settings


def settings_for(database_url: str, **changes) -> Settings:
    """The settings an empty environment gives, on `database_url`, with `changes` applied."""
    return dataclasses.replace(Settings.from_env({"DATABASE_URL": database_url}), **changes)


@pytest.fixture
def settings(db_url: str) -> Settings:
    """The default settings on this test's SQLite database."""
    return settings_for(db_url)


def make_clinic(**overrides) -> ClinicProfile:
    """A clinic profile with test values; keyword arguments replace fields."""
    fields = dict(
        name="Northfield Hair Clinic",
        timezone=ZoneInfo("Europe/London"),
        phone="+44 20 7946 0321",
        emergency_number="999",
        privacy_notice_url="https://clinic.example/privacy",
        currency="GBP",
        opening_hours=OpeningHours(days={0: (time(9), time(18))}),
        prices={},
        aftercare_hours={"washing": 48, "exercise": 48, "sun": 48, "styling": 72},
        preparation_hours={"blood_thinning": 48},
    )
    fields.update(overrides)
    return ClinicProfile(**fields)
