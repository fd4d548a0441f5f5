"""The typo layer: common misspellings, letters held down, and one-slip typos of symptom words."""
import pytest

from bot.safety.spelling import within_one_edit


@pytest.mark.parametrize("a, b, expected", [
    ("swolen", "swollen", True),      # letter left out
    ("feaver", "fever", True),        # extra letter
    ("bleading", "bleeding", True),   # wrong letter
    ("breathign", "breathing", True),  # neighbours swapped
    ("fever", "fever", True),
    ("tounge", "tongue", False),      # a letter moved two places: two edits
    ("fever", "liver", False),
    ("pus", "pussy", False),
])
def test_within_one_edit(a, b, expected):
    assert within_one_edit(a, b) is expected
    assert within_one_edit(b, a) is expected


@pytest.mark.parametrize("typed, corrected", [
    ("swolen", "swollen"),
    ("sweling", "swelling"),
    ("breating", "breathing"),
    ("brething", "breathing"),
    ("tounge", "tongue"),
    ("puss", "pus"),
    ("bleding", "bleeding"),
    ("feaver", "fever"),
    ("infectd", "infected"),
    ("alergic", "allergic"),
    ("unconcious", "unconscious"),
    ("swollennnn", "swollen"),
    ("bleeeeding", "bleeding"),
])
def test_misspellings_are_corrected(screen, typed, corrected):
    assert screen._speller.correct(typed) == corrected


@pytest.mark.parametrize("word", ["never", "fiver", "liver", "breath", "breathe", "sever", "even", "faith",
                                  "hives", "lives", "tongs", "swell", "reddit", "alex"])
def test_real_words_and_names_are_left_alone(screen, word):
    assert screen._speller.correct(word) == word


@pytest.mark.parametrize("message, kind", [
    ("my lips r swolen", "emergency"),
    ("cant breath", "emergency"),
    ("cant breathe properly", "emergency"),
    ("breating is really hard", "emergency"),
    ("tounge feels sweling", "emergency"),
    ("I feel feint", "emergency"),
    ("feverish", "urgent"),
    ("theres puss coming out", "urgent"),
    ("bleding wont stop", "urgent"),
    ("im bleeeeding alot", "urgent"),
    ("got a feaver", "urgent"),
    ("think its infectd", "urgent"),
    ("LIPS SWOLEN!!!", "emergency"),
    ("scalp a bit swolen", "after_effect"),
])
def test_typed_as_patients_type(screen, message, kind):
    assert screen.check(message).kind == kind, message
