"""The blind conversations (tests/blind/conversations.yml), each a new chat through the trained model.

Every patient turn goes through the red-flag screen first, as the router does, then to Rasa with
the real action server. A conversation counts as right only if every turn got the expected answer.
Gate: at least 0.90 of the conversations. Each turn's outcome goes to results/blind_conversations.json.

The set's writer was told the demo patient's reference is MC-1001 (tests/blind/SPEC.md), the demo's
reference before it became non-sequential; for this module the demo patient has that reference again.
"""
import itertools
import json
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import update

from tests.reports import reports_dir
from tests.support.database import sessions_on

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[2]
CONVERSATIONS = ROOT / "tests" / "blind" / "conversations.yml"
REPORT = reports_dir() / "blind_conversations.json"
MIN_CONVERSATION_ACCURACY = 0.90
SPEC_REFERENCE = "MC-1001"  # the demo patient's reference in tests/blind/SPEC.md
_ids = itertools.count()

# expect -> (an action run, a response uttered or a reply's opening words) that shows it.
EXPECTED_ACTIONS = {
    "greet": {"utter_greet"}, "goodbye": {"utter_goodbye"}, "thank": {"utter_you_are_welcome"},
    "bot_challenge": {"utter_iamabot"}, "chitchat": {"utter_chitchat"}, "out_of_scope": {"utter_out_of_scope"},
    "other_treatment": {"utter_other_treatment"}, "human": {"action_handoff"}, "cost": {"action_answer_cost"},
    "aftercare": {"action_personal_aftercare"}, "preparation": {"action_personal_preparation"},
    "medical_advice": {"utter_medical_advice"}, "ask_reference": {"utter_ask_booking_reference"},
    "ask_dob": {"utter_ask_date_of_birth"}, "verification_stopped": {"utter_verification_cancelled"},
    "change_request": {"change_request_form", "action_submit_change_request"},
    "data_deletion": {"data_deletion_form", "action_request_data_deletion"},
    "did_you_mean": {"action_suggest_topics"}, "anything_else": {"utter_anything_else"},
}
EXPECTED_OPENINGS = {
    "next_appointment": ("Your next session is", "You have no upcoming session"),
    "last_session": ("Your last session was",),
    "course_progress": ("You've completed",),
    "wrong_details": ("Sorry, that date of birth doesn't match",),
}


def conversations():
    return yaml.safe_load(CONVERSATIONS.read_text(encoding="utf-8"))["conversations"]


@pytest.fixture(scope="module")
def screen():
    from bot.safety.loader import load_default_screen
    from bot.settings import Settings

    return load_default_screen(Settings.from_env({}))


def _rename_patient(database_url: str, old: str, new: str) -> None:
    """Give the patient with reference `old` the reference `new`."""
    from bot.db.models import Patient

    with sessions_on(database_url) as factory, factory.begin() as session:
        session.execute(update(Patient).where(Patient.clinic_ref == old).values(clinic_ref=new))


@pytest.fixture(scope="module")
def spec_demo_patient(dialogue_db):
    """The demo patient Alex under SPEC_REFERENCE while this module runs, under the demo's own after."""
    from bot.clinic.demo import demo_patients

    demo_reference = demo_patients(datetime.now(timezone.utc), ZoneInfo("UTC"))[0].clinic_ref
    _rename_patient(dialogue_db, demo_reference, SPEC_REFERENCE)
    yield
    _rename_patient(dialogue_db, SPEC_REFERENCE, demo_reference)


async def take_turn(agent, screen, sender_id, text):
    """What the assistant did with one message: the screen's verdict, or Rasa's actions and replies."""
    flagged = screen.check(text)
    if flagged.is_red_flag:
        return {"screen": "urgent", "actions": [], "responses": [], "texts": []}
    if flagged.kind == "after_effect":
        return {"screen": "after_effect", "actions": [], "responses": [], "texts": []}
    before = len((await agent.tracker_store.retrieve(sender_id) or _Empty()).events)
    await agent.handle_text(text, sender_id=sender_id)
    events = list((await agent.tracker_store.retrieve(sender_id)).events)[before:]
    user = next((e for e in events if e.type_name == "user"), None)
    return {
        "screen": None,
        "intent": user.intent.get("name") if user else None,
        "actions": [e.action_name for e in events if e.type_name == "action" and e.action_name != "action_listen"],
        "responses": [(e.metadata or {}).get("utter_action") for e in events if e.type_name == "bot"],
        "texts": [e.text or "" for e in events if e.type_name == "bot"],
    }


class _Empty:
    events = []


def answered_as_expected(expect, outcome):
    """True if the turn's outcome is the expected answer."""
    if expect == "urgent":
        return outcome["screen"] == "urgent"
    if outcome["screen"] == "after_effect":  # the screen's own "that is expected" reply
        return expect in ("followup/normal", "faq/side_effects")
    ran = set(outcome["actions"]) | {r for r in outcome["responses"] if r}
    if expect.startswith("faq/"):
        return f"utter_{expect}" in ran
    if expect.startswith("followup/"):
        return (outcome["intent"] == "followup_" + expect.split("/", 1)[1] and "action_answer_followup" in ran
                and not ran & {"utter_followup_no_topic", "utter_followup_unclear"})
    if expect in EXPECTED_OPENINGS:
        return any(t.startswith(EXPECTED_OPENINGS[expect]) for t in outcome["texts"])
    return bool(ran & EXPECTED_ACTIONS[expect])


async def test_blind_conversations(agent, screen, spec_demo_patient):
    results, right = [], 0
    for conversation in conversations():
        sender_id = f"web:blind-{next(_ids)}"
        turns = []
        for turn in conversation["turns"]:
            outcome = await take_turn(agent, screen, sender_id, turn["user"])
            turns.append({"user": turn["user"], "expect": turn["expect"],
                          "ok": answered_as_expected(turn["expect"], outcome),
                          "got": outcome["actions"] + [r for r in outcome["responses"] if r] +
                          ([outcome["screen"]] if outcome["screen"] else [])})
        ok = all(t["ok"] for t in turns)
        right += ok
        results.append({"name": conversation["name"], "ok": ok, "turns": turns})
    accuracy = right / len(results)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({"conversation_accuracy": round(accuracy, 4), "conversations": results}, indent=2))
    print(f"\nblind conversations: {right}/{len(results)} = {accuracy:.3f} -> {REPORT}")
    assert len(results) >= 30
    assert accuracy >= MIN_CONVERSATION_ACCURACY, f"{accuracy:.3f} < {MIN_CONVERSATION_ACCURACY}"
