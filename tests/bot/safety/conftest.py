"""Fixtures for the red-flag screen: the project's spaCy pipeline, built once per test session into a
temporary folder and loaded from disk the way the application loads it, and a clinic profile."""
from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

import pytest
import spacy

from bot.nlp.build_pipeline import build_pipeline
from bot.safety import RedFlagScreen
from bot.settings import ClinicProfile, OpeningHours


@pytest.fixture(scope="session")
def nlp(tmp_path_factory):
    """The clinic pipeline (blank English, lookup lemmatizer, lexicon), saved and loaded again."""
    path = tmp_path_factory.mktemp("spacy") / "clinic_en"
    build_pipeline().to_disk(path)
    return spacy.load(path)


@pytest.fixture(scope="session")
def screen(nlp) -> RedFlagScreen:
    return RedFlagScreen.load(nlp)


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
        aftercare_hours={"washing": 48},
        preparation_hours={},
    )
    fields.update(overrides)
    return ClinicProfile(**fields)


@pytest.fixture
def clinic() -> ClinicProfile:
    return make_clinic()
