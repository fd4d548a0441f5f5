"""The clinician-reviewed vocabulary file: it loads, it is complete, and mistakes in it fail loudly."""
import importlib
import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from bot.safety.vocabulary import (
    CATEGORIES,
    DEFAULT_VOCABULARY,
    REQUIRED_CUE_GROUPS,
    VocabularyError,
    load_vocabulary,
    parse_vocabulary,
)


@pytest.fixture(scope="module")
def raw():
    return yaml.safe_load(DEFAULT_VOCABULARY.read_text(encoding="utf-8"))


def test_the_vocabulary_file_lives_in_the_package_and_loads():
    assert DEFAULT_VOCABULARY.parent.name == "safety" and DEFAULT_VOCABULARY.name == "redflags.yml"
    vocabulary = load_vocabulary()
    assert vocabulary.rules and vocabulary.groups
    assert set(REQUIRED_CUE_GROUPS) <= set(vocabulary.groups)


def test_every_category_has_a_rule_and_the_emergencies_are_the_agreed_ones():
    vocabulary = load_vocabulary()
    assert {c for r in vocabulary.rules for c in r.categories} == set(CATEGORIES)
    emergency = {c for r in vocabulary.rules if r.severity == "emergency" for c in r.categories}
    assert emergency == {"allergy", "breathing", "faint"}
    after_effects = {r.id for r in vocabulary.rules if r.severity == "after_effect"}
    assert {"mild_redness", "tenderness", "small_bruise", "slight_itching", "red_dots",
            "mild_headache"} <= after_effects


def test_the_brief_s_red_flags_are_in_the_vocabulary():
    terms = {t for g in load_vocabulary().groups.values() for t in (*g.terms, *g.exact)}
    for term in ["lips", "tongue", "face", "eyes", "throat", "difficulty breathing", "tight chest",
                 "hives", "faint", "fever", "chills", "pus", "discharge", "spreading", "lump", "bleeding",
                 "won't stop", "severe", "worse", "dark", "grey", "black", "purple", "blister"]:
        assert term in terms, term


@pytest.mark.parametrize("name", ["vocabulary", "spelling", "screen", "replies"])
def test_importing_a_module_reads_no_file(monkeypatch, name):
    """Run each module's top-level code again (as a throw-away copy) with file reading forbidden."""
    def no_reading(*args, **kwargs):
        raise AssertionError("read a file at import time")

    path = Path(importlib.import_module(f"bot.safety.{name}").__file__)
    monkeypatch.setattr(Path, "read_text", no_reading)
    monkeypatch.setattr(yaml, "safe_load", no_reading)
    spec = importlib.util.spec_from_file_location(f"_probe_{name}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)


def _broken(raw, change):
    data = yaml.safe_load(yaml.safe_dump(raw))
    change(data)
    return data


@pytest.mark.parametrize("change, message", [
    (lambda d: d["rules"][0].update(all=["swelling", "no_such_group"]), "unknown group"),
    (lambda d: d["rules"][0].update(severity="critical"), "severity"),
    (lambda d: d["rules"][0].update(category="gangrene"), "category"),
    (lambda d: d["rules"][0].update(any=["swelling"]), "exactly one of any/all"),
    (lambda d: d["rules"].append(dict(d["rules"][0])), "duplicate"),
    (lambda d: d["groups"].pop("report"), "report"),
    (lambda d: d["groups"]["fever"].update(terms=["fever", False]), "quote yes/no"),
    (lambda d: d["groups"]["fever"].update(kind="feeling"), "kind"),
    (lambda d: d["rules"][0].update(in_questions="maybe"), "in_questions"),
])
def test_mistakes_fail_loudly(raw, change, message):
    with pytest.raises(VocabularyError, match=message):
        parse_vocabulary(_broken(raw, change))


def test_a_missing_or_broken_file_fails_loudly(tmp_path):
    with pytest.raises(VocabularyError, match="no such"):
        load_vocabulary(tmp_path / "missing.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text("groups: [unclosed", encoding="utf-8")
    with pytest.raises(VocabularyError, match="not valid YAML"):
        load_vocabulary(broken)


def test_a_key_given_twice_fails_loudly(tmp_path):
    text = DEFAULT_VOCABULARY.read_text(encoding="utf-8")
    doubled = tmp_path / "redflags.yml"
    doubled.write_text(text.replace("\ngroups:\n", "\ngroups:\n  fever:\n    terms: [pyrexia]\n", 1),
                       encoding="utf-8")
    with pytest.raises(VocabularyError, match="'fever' is given twice"):
        load_vocabulary(doubled)


def test_the_screens_own_word_lists_come_from_the_reviewed_file(nlp, raw, tmp_path):
    """Recurrence, resolution and intensifier words live in redflags.yml, not in Python: editing
    the file changes what the screen decides."""
    from bot.safety.screen import RedFlagScreen

    assert {"resolved_before", "recurred", "intensifier"} <= set(REQUIRED_CUE_GROUPS)
    message = "my scalp was bleeding a lot but it stopped, then it started again"
    edited = dict(raw, groups={**raw["groups"], "recurred": {**raw["groups"]["recurred"], "terms": ["zzz"]}})
    path = tmp_path / "redflags.yml"
    path.write_text(yaml.safe_dump(edited), encoding="utf-8")
    assert RedFlagScreen.load(nlp).check(message).kind == "urgent"
    assert RedFlagScreen.load(nlp, path).check(message).kind is None
