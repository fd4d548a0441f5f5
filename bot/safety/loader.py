"""The application's red-flag screen: the project's spaCy pipeline, loaded once at start-up.

The pipeline is the one `make spacy` builds for Rasa (`<MODEL_PATH>/spacy/clinic_en`, the path in
`config.yml`); the screen only uses its tokenizer and lookup lemmatizer, so the EntityRuler is left
out. If the built pipeline is missing, the same pipeline is built in memory from the lexicon (a few
seconds) rather than running without a screen: the screen is never silently switched off.
"""
from __future__ import annotations

import logging
from pathlib import Path

from bot.safety.screen import DEFAULT_VOCABULARY, RedFlagScreen
from bot.settings import Settings

logger = logging.getLogger(__name__)

PIPELINE_DIR = Path("spacy") / "clinic_en"


def pipeline_path(settings: Settings) -> Path:
    """Where `make spacy` puts the project's pipeline (models/spacy/clinic_en by default)."""
    return Path(settings.model_path) / PIPELINE_DIR


def load_default_screen(settings: Settings, vocabulary_path: Path = DEFAULT_VOCABULARY) -> RedFlagScreen:
    """The screen over the project's pipeline; raises if no screen can be built (never returns None)."""
    import spacy

    path = pipeline_path(settings)
    if (path / "meta.json").exists():
        nlp = spacy.load(path, exclude=["entity_ruler"])
    else:
        from bot.nlp.build_pipeline import build_pipeline

        logger.warning("red-flag screen: no spaCy pipeline at %s (run `make spacy`); building it in memory",
                       path)
        nlp = build_pipeline()
    return RedFlagScreen.load(nlp, vocabulary_path)
