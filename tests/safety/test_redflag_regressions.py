"""The red-flag screen against `tests/safety/data/redflag_regressions.yml`: messages it once got wrong.

Not blind (written with the fixes), so kept apart from the held-out set in `redflag_messages.yml`.
Gates: every red flag is caught, and no benign message is screened as a red flag.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import pytest
import yaml

from bot.safety import RedFlagScreen
from bot.safety.loader import load_default_screen
from bot.settings import Settings

REGRESSIONS = Path(__file__).resolve().parent / "data" / "redflag_regressions.yml"
RED_FLAG_KINDS = ("emergency", "urgent")


@pytest.fixture(scope="module")
def screen() -> RedFlagScreen:
    """The screen exactly as the application builds it."""
    return load_default_screen(Settings.from_env())


def _load() -> Dict[str, List[Dict[str, str]]]:
    data = yaml.safe_load(REGRESSIONS.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and {"red_flags", "benign"} <= set(data), "unexpected layout"
    return data


SET = _load()


def test_the_layout_matches_the_blind_set():
    assert SET["red_flags"] and SET["benign"]
    assert all(item.get("text") for item in SET["red_flags"] + SET["benign"])
    assert {item["severity"] for item in SET["red_flags"]} <= set(RED_FLAG_KINDS)
    assert all(item.get("category") for item in SET["red_flags"])
    assert all(item.get("kind") for item in SET["benign"])


@pytest.mark.parametrize("item", SET["red_flags"], ids=[i["text"] for i in SET["red_flags"]])
def test_red_flag_is_caught(screen, item):
    result = screen.check(item["text"])
    assert result.is_red_flag, (item["text"], result)
    assert item["category"] in result.categories, (item["text"], result)


@pytest.mark.parametrize("item", SET["benign"], ids=[i["text"] for i in SET["benign"]])
def test_benign_message_is_not_a_red_flag(screen, item):
    result = screen.check(item["text"])
    assert not result.is_red_flag, (item["text"], result)
