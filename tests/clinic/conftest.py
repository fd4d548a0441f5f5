"""Fixtures for the clinic domain tests: a fixed clinic profile and the test CSV files.

Databases, `settings` and the `rows` builders come from tests/support (registered in tests/conftest.py).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from clinic_testing import DATA

from bot.settings import ClinicProfile


@pytest.fixture(scope="session")
def clinic_profile() -> ClinicProfile:
    """A fixed profile: Europe/London, aftercare 48/48/48/72 h, preparation 48 h."""
    return ClinicProfile.load(DATA / "clinic_profile.yml", {})


@pytest.fixture
def data_dir() -> Path:
    """The folder of test CSV files."""
    return DATA
