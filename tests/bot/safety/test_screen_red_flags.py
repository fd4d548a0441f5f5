"""Red flags as patients report them: emergency (call the emergency number now) and urgent (contact
the clinic now), with typos, text-speak, third person and mixed into other talk."""
import pytest

from tests.bot.safety.examples import EMERGENCY, URGENT


@pytest.mark.parametrize("message, categories", EMERGENCY, ids=[m for m, _ in EMERGENCY])
def test_emergency(screen, message, categories):
    result = screen.check(message)
    assert result.kind == "emergency", (message, result)
    assert set(categories) <= set(result.categories), (message, result)
    assert result.is_red_flag


@pytest.mark.parametrize("message, categories", URGENT, ids=[m for m, _ in URGENT])
def test_urgent(screen, message, categories):
    result = screen.check(message)
    assert result.kind == "urgent", (message, result)
    assert set(categories) <= set(result.categories), (message, result)
    assert result.is_red_flag


def test_the_most_severe_finding_wins_and_every_category_is_listed(screen):
    result = screen.check("I've had a fever since last night and now my lips are swelling")
    assert result.kind == "emergency"
    assert result.categories == ("allergy", "infection")  # in the fixed category order


def test_several_urgent_categories(screen):
    result = screen.check("there's pus coming out and the pain is unbearable")
    assert result.kind == "urgent"
    assert result.categories == ("infection", "severe_pain")


def test_red_flag_in_a_later_sentence_of_a_long_message(screen):
    chatter = "I wanted to say thank you to the team, the session went well and everyone was lovely. " * 20
    assert screen.check(chatter + "But tonight my throat feels tight.").kind == "emergency"


def test_red_flag_at_the_end_of_a_very_long_message(screen):
    chatter = "blah " * 4000  # 20,000 characters: screened in pieces
    assert screen.check(chatter + " my tongue is swelling").kind == "emergency"


@pytest.mark.parametrize("message", [
    "the bleeding has stopped but now I can't breathe",
    "no pain, no fever, but I feel faint",
    "the redness has gone down. my eye is swollen though",
])
def test_an_earlier_all_clear_does_not_hide_a_later_red_flag(screen, message):
    assert screen.check(message).kind == "emergency"
