"""Fixtures for the red-flag screen: the project's spaCy pipeline, built once per test session into a
temporary folder and loaded from disk the way the application loads it, and a clinic profile."""
from __future__ import annotations

import pytest
import spacy

from bot.nlp.build_pipeline import build_pipeline
from bot.safety import RedFlagScreen
from bot.settings import ClinicProfile
from tests.support.settings import make_clinic


@pytest.fixture(scope="session")
def nlp(tmp_path_factory):
    """The clinic pipeline (blank English, lookup lemmatizer, lexicon), saved and loaded again."""
    path = tmp_path_factory.mktemp("spacy") / "clinic_en"
    build_pipeline().to_disk(path)
    return spacy.load(path)


@pytest.fixture(scope="session")
def screen(nlp) -> RedFlagScreen:
    return RedFlagScreen.load(nlp)


@pytest.fixture
def clinic() -> ClinicProfile:
    return make_clinic()
