"""Fixtures for the care tests: the clinic profile of clinic.yml (its care schedule) and a recording
deliverer. Databases and rows come from tests/support (registered in tests/conftest.py)."""
from __future__ import annotations

import pytest

from bot.settings import ClinicProfile
from tests.support.care import RecordingProactiveDeliverer


@pytest.fixture
def profile(settings) -> ClinicProfile:
    """The project's clinic profile (clinic.yml), care schedule included."""
    return settings.clinic


@pytest.fixture
def deliverer() -> RecordingProactiveDeliverer:
    """Records what the sender writes first."""
    return RecordingProactiveDeliverer()
