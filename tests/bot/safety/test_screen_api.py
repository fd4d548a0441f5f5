"""The screen's API as the conversation router uses it: results, odd input, concurrency."""
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import spacy

from bot.safety import NO_FLAG, RedFlagScreen, ScreenResult
from bot.safety.screen import Finding
from tests.bot.safety.examples import AFTER_EFFECT, EMERGENCY, URGENT
from tests.bot.safety.examples import NO_FLAG as NO_FLAG_MESSAGES


def test_screen_result():
    assert ScreenResult("emergency", ("allergy",)).is_red_flag
    assert ScreenResult("urgent", ("bleeding",)).is_red_flag
    assert not ScreenResult("after_effect", ("after_effect",)).is_red_flag
    assert not NO_FLAG.is_red_flag and NO_FLAG == ScreenResult(None, ())
    with pytest.raises(ValueError):
        ScreenResult("panic", ())
    with pytest.raises(ValueError):
        ScreenResult("urgent", ("gangrene",))


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "?", "!!!", "🙂", "12345", "ok", "x" * 300])
def test_odd_input_is_no_red_flag(screen, text):
    assert screen.check(text) == NO_FLAG


def test_none_is_treated_as_empty(screen):
    assert screen.check(None) == NO_FLAG  # type: ignore[arg-type]


def test_findings_name_rules_and_token_offsets_never_text(screen):
    findings = screen.findings("my lips are swelling")
    assert findings and all(isinstance(f, Finding) for f in findings)
    assert {"face_swelling"} <= {f.rule for f in findings}
    assert all(isinstance(f.start, int) and isinstance(f.end, int) for f in findings)


def test_results_do_not_depend_on_previous_messages(screen):
    first = screen.check("my lips are swelling")
    assert screen.check("no fever") == NO_FLAG
    assert screen.check("my lips are swelling") == first


def test_concurrent_checks_give_the_same_results(screen):
    messages = ([m for m, _ in EMERGENCY] + [m for m, _ in URGENT] + AFTER_EFFECT + NO_FLAG_MESSAGES) * 3
    expected = [screen.check(m) for m in messages]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(screen.check, messages))
    assert got == expected


def test_a_clinic_can_use_its_own_vocabulary_file(nlp, tmp_path: Path):
    source = Path(screen_module_path()).with_name("redflags.yml").read_text(encoding="utf-8")
    custom = tmp_path / "redflags.yml"
    custom.write_text(source.replace("    terms: [fever, feverish,", "    terms: [pyrexia, fever, feverish,"),
                      encoding="utf-8")
    assert RedFlagScreen.load(nlp).check("I have pyrexia").kind is None
    assert RedFlagScreen.load(nlp, vocabulary_path=custom).check("I have pyrexia").kind == "urgent"


def test_works_without_a_lemmatizer(tmp_path: Path):
    """A bare pipeline (no lookup tables) still screens, matching on lower-case words."""
    screen = RedFlagScreen.load(spacy.blank("en"))
    assert screen.check("my lips are swelling").kind == "emergency"
    assert screen.check("no fever").kind is None


def screen_module_path() -> str:
    import bot.safety.screen as module

    return module.__file__
