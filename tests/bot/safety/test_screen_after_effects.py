"""Expected after-effects get the calm reply; general questions that report nothing are left to the bot."""
import pytest

from tests.bot.safety.examples import AFTER_EFFECT, NO_FLAG, NOT_RED_FLAG


@pytest.mark.parametrize("message", AFTER_EFFECT)
def test_expected_after_effects(screen, message):
    result = screen.check(message)
    assert result.kind == "after_effect", (message, result)
    assert result.categories == ("after_effect",)
    assert not result.is_red_flag


@pytest.mark.parametrize("message", NO_FLAG)
def test_questions_and_other_talk_are_not_flagged(screen, message):
    assert screen.check(message).kind is None, message


@pytest.mark.parametrize("message", NOT_RED_FLAG)
def test_ambiguous_but_not_red_flags(screen, message):
    assert screen.check(message).kind in (None, "after_effect"), message


@pytest.mark.parametrize("message", [
    "my scalp is still red after a week",
    "the redness is getting worse",
    "the bruise is spreading",
    "headache for 6 days now",
    "the itching is getting worse and worse",
])
def test_after_effects_that_worsen_or_last_are_urgent(screen, message):
    assert screen.check(message).kind == "urgent", message


@pytest.mark.parametrize("message", [
    "is it normal to have trouble breathing after the session?",
    "what do I do if my lips are swelling",
    "should I be worried that my face is swelling?",
])
def test_emergency_symptoms_in_a_question_still_flag(screen, message):
    """When in doubt, recall: a question that may be describing an emergency is treated as one."""
    assert screen.check(message).kind == "emergency", message
