"""The general rules behind the second round of phrasings (the examples themselves are in examples.py):
double negatives with "stop", temperatures by number, words hyphenated together, symptoms that
settled in a later clause, and a denied symptom taken up again with its verb left out."""
import pytest

from bot.safety.vocabulary import load_vocabulary


@pytest.mark.parametrize("reading", ["36", "36.4", "36.8c", "37", "37.0", "37.2", "37.4", "98.6F", "98.6",
                                     "99.1"])
def test_a_normal_temperature_reading_is_not_a_fever(screen, reading):
    assert screen.check(f"my temperature is {reading}").kind is None
    assert screen.check(f"temp {reading} this morning").kind is None


@pytest.mark.parametrize("reading", ["38", "38.0", "38.5c", "39.2", "40", "100.4F", "101"])
def test_a_temperature_of_38_or_more_is_a_fever(screen, reading):
    result = screen.check(f"my temperature is {reading}")
    assert result.kind == "urgent" and "infection" in result.categories, reading


def test_a_normal_reading_does_not_hide_a_fever_later_in_the_sentence(screen):
    assert screen.check("temp was 36.9 last night, now it's 38.4").kind == "urgent"
    assert screen.check("temperature is normal but I have chills").kind == "urgent"


@pytest.mark.parametrize("message, kind", [
    ("I can't stop shivering", "urgent"),               # the shivering goes on
    ("I can't stop scratching, it's so itchy", "after_effect"),
    ("can't get it to stop bleeding", "urgent"),
    ("I couldn't stop laughing at the receptionist", None),
    ("I haven't stopped my blood thinners", None),
])
def test_a_negated_stop_is_not_a_denial_of_the_symptom(screen, message, kind):
    assert screen.check(message).kind == kind, message


def test_a_hyphen_inside_a_word_does_not_split_the_clause_but_a_dash_does(screen):
    assert screen.check("my skin has gone greyish-blue").kind == "urgent"
    assert screen.check("no fever - lips are swelling though").kind == "emergency"


@pytest.mark.parametrize("message", [
    "I felt dizzy but it's fine now",
    "bled a bit at home. It stopped after ten minutes",
])
def test_a_symptom_that_settled_in_the_next_clause_is_not_a_red_flag(screen, message):
    assert not screen.check(message).is_red_flag, message


@pytest.mark.parametrize("message", [
    "I felt dizzy but it hasn't gone",                        # negated settling
    "felt dizzy earlier but the bleeding has stopped",        # the settling is about something else
    "bleeding a lot but it stopped and now it's started again",  # and it came back
])
def test_settling_that_is_denied_or_about_something_else_keeps_the_red_flag(screen, message):
    assert screen.check(message).is_red_flag, message


def test_a_settled_emergency_symptom_still_needs_the_clinic_today(screen):
    result = screen.check("I passed out after the session but I'm ok now")
    assert result.kind == "urgent" and result.categories == ("faint",)


@pytest.mark.parametrize("message", [
    "I haven't fainted but I think I'm going to",
    "not passed out yet but I'm gonna",
])
def test_a_denied_symptom_taken_up_again_without_its_verb_is_not_denied(screen, message):
    assert screen.check(message).kind == "emergency", message


@pytest.mark.parametrize("message", [
    "I haven't fainted, I'm going to lie down for a bit",
    "no fever but I'm going to check again later",
])
def test_going_to_with_a_verb_does_not_undo_a_denial(screen, message):
    assert not screen.check(message).is_red_flag, message


def test_the_new_negation_settings_are_in_the_vocabulary():
    negation = load_vocabulary().negation
    assert "stop" in negation.stop_verbs
    assert {"felt", "been", "had"} <= negation.list_fillers
