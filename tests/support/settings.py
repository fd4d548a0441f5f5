"""Settings for tests: the defaults of an empty environment, on the test's own database.

- `settings_for(database_url, **changes)`: `Settings.from_env` with only DATABASE_URL, then `changes`
  (any field of the frozen dataclass).
- `settings` fixture: `settings_for(db_url)`; a folder that needs more (platform credentials, a
  session secret) overrides it by asking for this one and replacing fields.
"""
from __future__ import annotations

import dataclasses

import pytest

from bot.settings import Settings


def settings_for(database_url: str, **changes) -> Settings:
    """The settings an empty environment gives, on `database_url`, with `changes` applied."""
    return dataclasses.replace(Settings.from_env({"DATABASE_URL": database_url}), **changes)


@pytest.fixture
def settings(db_url: str) -> Settings:
    """The default settings on this test's SQLite database."""
    return settings_for(db_url)
