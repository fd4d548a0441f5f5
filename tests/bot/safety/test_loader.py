"""How the application gets its screen: the pipeline `make spacy` built, or the same one built in memory."""
import dataclasses
from pathlib import Path

from bot.nlp.build_pipeline import build_pipeline
from bot.safety import RedFlagScreen
from bot.safety.loader import load_default_screen, pipeline_path
from bot.settings import Settings


def test_loads_the_built_pipeline_from_the_model_path(tmp_path: Path):
    settings = dataclasses.replace(Settings(), model_path=tmp_path)
    pipeline_path(settings).parent.mkdir(parents=True)
    build_pipeline().to_disk(pipeline_path(settings))
    screen = load_default_screen(settings)
    assert isinstance(screen, RedFlagScreen)
    assert screen.check("my lips are swelling").kind == "emergency"


def test_builds_the_pipeline_when_it_is_missing_rather_than_running_without_a_screen(tmp_path: Path):
    settings = dataclasses.replace(Settings(), model_path=tmp_path / "nothing-here")
    screen = load_default_screen(settings)
    assert screen.check("bleeding won't stop").kind == "urgent"


def test_the_default_path_is_the_one_rasa_uses():
    assert pipeline_path(Settings()).parts[-3:] == ("models", "spacy", "clinic_en")
