"""Negation is scoped: a cue a few words before a symptom in the same clause negates it ("no fever",
"I don't have any trouble breathing"), but not a symptom after "but", a comma or a new subject."""
import pytest

NEGATED = [
    "no fever",
    "not swollen",
    "I don't have any trouble breathing",
    "without any pus",
    "no bleeding now",
    "my lips aren't swollen",
    "I didn't faint",
    "I'm not dizzy at all",
    "no rash or hives",
    "no fever, chills or pus",
    "no redness or swelling in my lips",
    "I don't have swollen lips or a fever",
    "I haven't had a temperature",
    "I do not have difficulty breathing",
    "There is no sign of infection",
    "Not feeling faint anymore",
    "none of the injection points are oozing",
    "I can't see any swelling",
    "never had a fever",
    "the bleeding has stopped",
    "the swelling has gone down now",
    "it's not getting worse",
    "its not infected",
    "I dont have a temperature",
    "no problems breathing",
    "throat is fine, no tightness",
    "no face swelling",
    "no swelling of the lips or tongue",
]

NOT_NEGATED = [
    ("no, my lips are swelling", "emergency"),
    ("No my lips are swelling", "emergency"),
    ("nope lips are puffy", "emergency"),
    ("no lips are puffy", "emergency"),
    ("no face is swelling up", "emergency"),
    ("no idea why but my face is swelling", "emergency"),
    ("no idea why my face is swelling", "emergency"),
    ("not sure if it's normal but my face is swelling", "emergency"),
    ("no fever and my lips are swelling", "emergency"),
    ("no fever but I can't breathe properly", "emergency"),
    ("I'm not having any breathing problems but my lips are a bit swollen", "emergency"),
    ("I can't breathe", "emergency"),
    ("it won't stop bleeding", "urgent"),
    ("the bleeding hasn't stopped", "urgent"),
    ("the swelling hasn't gone down after a week", "urgent"),
    ("not swollen and bleeding a lot", "urgent"),
    ("no pain but there's yellow discharge", "urgent"),
    ("I don't know if it's infected, there's pus", "urgent"),
    ("paracetamol isn't helping, the pain is awful", "urgent"),
]


@pytest.mark.parametrize("message", NEGATED)
def test_negated_symptoms_are_not_red_flags(screen, message):
    assert not screen.check(message).is_red_flag, message


@pytest.mark.parametrize("message, kind", NOT_NEGATED, ids=[m for m, _ in NOT_NEGATED])
def test_negation_does_not_reach_past_its_clause(screen, message, kind):
    assert screen.check(message).kind == kind, message


def test_negating_one_symptom_leaves_the_expected_after_effect(screen):
    assert screen.check("no fever, no pus, just a bit sore").kind == "after_effect"
    assert screen.check("no swelling, just some redness").kind == "after_effect"
