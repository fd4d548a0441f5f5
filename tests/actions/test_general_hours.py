"""One source for the hours: the general answers state the clinic profile's hours, as the personal ones do.

The general answers in domain.yml say "{wash_hours} hours"; action_session_start sets those slots from the
profile, and Rasa fills them when it renders the response (rasa.core.nlg, also for utter_faq/... answers
picked by the ResponseSelector). Rendered here with Rasa's own generator, without a trained model.
"""
import dataclasses
import re
from pathlib import Path

import pytest
from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import ClinicServices, services, use_services
from actions.personal import ActionPersonalAftercare
from actions.session import ActionSessionStart
from bot.clinic.aftercare import GENERAL_ANSWER_HOURS
from tests.support.trackers import VERIFIED_ALEX, make_tracker, run, texts, user_message

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = Domain.load(str(ROOT / "domain.yml"))
PLACEHOLDER = re.compile(r"{(\w+_hours)}")


def responses_stating_hours():
    """Names of the responses whose text has an hours placeholder."""
    return sorted(name for name, variations in DOMAIN.responses.items()
                  if any(PLACEHOLDER.search(variation.get("text", "")) for variation in variations))


async def session_slots():
    """The slots action_session_start sets for an anonymous web chat."""
    tracker = Tracker("web-1", {}, {}, [], False, None, {}, "action_listen")
    events = await ActionSessionStart().run(CollectingDispatcher(), tracker, {})
    return {event["name"]: event["value"] for event in events if event["event"] == "slot"}


def render(name: str, slots) -> str:
    """The text Rasa sends for response `name` with these slot values."""
    generated = TemplatedNaturalLanguageGenerator(DOMAIN.responses).generate_from_slots(name, slots, "sms")
    assert generated is not None, name
    return generated["text"]


@pytest.fixture
def washing_24(clinic):
    """The clinic's profile says 24 hours before washing (everything else as clinic.yml)."""
    current = services()
    profile = current.settings.clinic
    changed = dataclasses.replace(profile, aftercare_hours={**profile.aftercare_hours, "washing": 24})
    use_services(ClinicServices(dataclasses.replace(current.settings, clinic=changed), current.session_factory))
    return clinic


def test_every_placeholder_is_a_slot_the_session_start_sets():
    used = {match for variations in DOMAIN.responses.values() for variation in variations
            for match in PLACEHOLDER.findall(variation.get("text", ""))}
    assert used == set(GENERAL_ANSWER_HOURS)
    assert set(GENERAL_ANSWER_HOURS) <= {slot.name for slot in DOMAIN.slots}
    assert {"utter_general_washing", "utter_faq/after_session", "utter_faq/before_session",
            "utter_faq/downtime"} <= set(responses_stating_hours())


async def test_the_profile_hours_are_set_at_session_start(clinic):
    slots = await session_slots()
    assert {name: slots[name] for name in GENERAL_ANSWER_HOURS} == {
        "wash_hours": "48", "exercise_hours": "48", "sun_hours": "48", "styling_hours": "72",
        "blood_thinning_hours": "48",
    }


async def test_changing_washing_to_24_changes_the_general_and_the_personal_answer(washing_24):
    slots = await session_slots()
    general = render("utter_general_washing", slots)
    assert "don't wash your hair for 24 hours" in general and "48" not in general
    faq = render("utter_faq/after_session", slots)
    assert "Don't wash your hair for 24 hours." in faq and "direct sun for 48 hours" in faq
    assert render("utter_followup_after_why", slots).startswith("Waiting 24 hours before washing")

    # The patient's own answer: yesterday 10:00 + 24 hours has passed (with 48 they would still wait).
    tracker = make_tracker(user_message("can i wash my hair yet", "ask_wash_hair"), VERIFIED_ALEX)
    dispatcher, _ = await run(ActionPersonalAftercare(), tracker)
    assert texts(dispatcher).startswith(
        "Your last session was yesterday at 10:00, more than 24 hours ago, so you can wash your hair again")


@pytest.mark.parametrize("name", responses_stating_hours())
async def test_no_answer_is_left_with_a_placeholder(clinic, name):
    text = render(name, await session_slots())
    assert "{" not in text and "None" not in text
    assert re.search(r"\b(48|72) hours\b", text)
