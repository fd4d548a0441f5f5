"""Fixtures every test can use. The shared scaffolding lives in tests/support/ (see its modules):

- tests/support/database.py: `db_url`, `session_factory` (a copy of a SQLite file migrated once per
  run), `postgres_url`, `any_db_url` / `any_session_factory` (each test once per backend).
- tests/support/settings.py: `settings` over the test's database.
- tests/support/rows.py: `rows`, builders that put rows into the test's database.
- tests/support/platforms.py: `platform`, the Twilio and Graph API stand-in on a local port.

And here: `trained_model`, the model `make train` built.
"""
from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.support.database", "tests.support.settings", "tests.support.rows", "tests.support.platforms"]

TRAINED_MODEL = Path(__file__).resolve().parents[1] / "models" / "clinic.tar.gz"


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The model `make train` built; its absence is a failure, never a skip."""
    if not TRAINED_MODEL.exists():
        pytest.fail(f"{TRAINED_MODEL} is missing: run `make train` (make test does it first)")
    return TRAINED_MODEL
