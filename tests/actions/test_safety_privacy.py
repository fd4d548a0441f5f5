"""Issue 6: a request to delete one's data (identity first, one open request for staff), and the honest
answer to a personal medical question (the clinician decides; staff on offer)."""
from pathlib import Path

import yaml
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from actions.data_deletion import ActionRequestDataDeletion, DataDeletionValidation
from bot.clinic.requests import mark_request_done
from bot.db.models import AuditLog, Conversation, StaffRequest
from tests.actions.conftest import NOW
from tests.support.trackers import VERIFIED_ALEX, make_tracker, run, texts, user_message

ROOT = Path(__file__).resolve().parents[2]
SENDER = "web:privacy-session"


def after_the_form(asked="delete my data", slots=None, sender_id=SENDER):
    """The tracker when the erasure form has just finished: the request, then the identity answers."""
    question = user_message(asked, "request_data_deletion")
    events = [
        {"event": "user", "text": asked, "parse_data": question},
        {"event": "action", "name": "data_deletion_form"},
        {"event": "active_loop", "name": "data_deletion_form"},
        {"event": "user", "text": "MC-4827", "parse_data": user_message("MC-4827", "inform")},
        {"event": "action", "name": "data_deletion_form"},
    ]
    slots = VERIFIED_ALEX if slots is None else slots
    tracker = make_tracker(user_message("12/04/1988", "inform"), slots, events=events, sender_id=sender_id)
    tracker.events += [{"event": "action", "name": "data_deletion_form"},
                       {"event": "active_loop", "name": None}]
    return tracker


def delete_requests(session_factory):
    """(kind, patient, the conversation's sender key, status, session, wishes) of each request."""
    with session_factory.begin() as session:
        senders = {cid: f"{channel}:{external}" for cid, channel, external in session.execute(
            select(Conversation.id, Conversation.channel, Conversation.external_id))}
        return [(r.kind, r.patient_id, senders.get(r.conversation_id), r.status, r.appointment_id, r.wishes)
                for r in session.execute(select(StaffRequest).order_by(StaffRequest.id)).scalars()]


async def test_verified_patient_gets_one_delete_data_request_for_staff(clinic):
    dispatcher, events = await run(ActionRequestDataDeletion(), after_the_form())
    assert delete_requests(clinic) == [("delete_data", 1, SENDER, "open", None, "delete my data")]
    said = texts(dispatcher)
    assert said.startswith("I've passed your request to delete your data to the clinic team.")
    assert "They will confirm it with you and then erase your conversations with this assistant." in said
    assert "Your booking records stay, because the clinic must keep them." in said
    assert "They will reply here or contact you using the details on your booking record." in said
    assert "The clinic is open now" in said  # Saturday 12:00, open 10:00-14:00
    assert said.endswith("How we handle your data: https://clinic.example/privacy")
    assert events == []
    with clinic.begin() as session:
        query = select(AuditLog).where(AuditLog.action == "staff_request_created")
        entry = session.execute(query).scalar_one()
        assert (entry.actor_type, entry.actor_id, entry.detail["kind"]) == ("patient", "1", "delete_data")


async def test_asking_twice_keeps_one_open_request(clinic):
    await run(ActionRequestDataDeletion(), after_the_form())
    dispatcher, _ = await run(ActionRequestDataDeletion(), after_the_form("erase my information"))
    assert texts(dispatcher).startswith(
        "You've already asked us to delete your data, and the clinic team has your request.")
    assert "erase your conversations with this assistant" in texts(dispatcher)
    assert delete_requests(clinic) == [("delete_data", 1, SENDER, "open", None, "delete my data")]


async def test_asking_again_from_another_conversation_keeps_one_open_request(clinic):
    await run(ActionRequestDataDeletion(), after_the_form(sender_id="web:first"))
    await run(ActionRequestDataDeletion(), after_the_form(sender_id="sms:+447700900123"))
    assert [row[2] for row in delete_requests(clinic)] == ["web:first"]
    with clinic.begin() as session:  # the erasure takes the patient's conversations: both are theirs
        linked = session.execute(select(Conversation.channel, Conversation.external_id)
                                 .where(Conversation.patient_id == 1)).all()
        assert sorted(linked) == [("sms", "+447700900123"), ("web", "first")]


async def test_a_new_request_once_staff_have_done_the_last_one(clinic):
    await run(ActionRequestDataDeletion(), after_the_form())
    with clinic.begin() as session:
        first = session.execute(select(StaffRequest)).scalar_one()
        mark_request_done(session, first.id, None, NOW)
    dispatcher, _ = await run(ActionRequestDataDeletion(), after_the_form())
    assert texts(dispatcher).startswith("I've passed your request to delete your data")
    assert [row[3] for row in delete_requests(clinic)] == ["done", "open"]


async def test_unverified_patient_records_nothing_and_is_asked_who_they_are(clinic):
    tracker = make_tracker(user_message("delete my data", "request_data_deletion"), sender_id=SENDER)
    dispatcher, events = await run(ActionRequestDataDeletion(), tracker)
    assert delete_requests(clinic) == []
    assert texts(dispatcher) == ("Before I pass on a request to delete your data, "
                                 "I need to confirm who you are.")
    assert events[-1] == {"event": "followup", "timestamp": None, "name": "data_deletion_form"}
    cleared = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert cleared == {"verified": False, "booking_reference": None, "date_of_birth": None}


async def test_a_typed_verified_slot_without_a_patient_records_nothing(clinic):
    dispatcher, events = await run(ActionRequestDataDeletion(), after_the_form(slots={"verified": True}))
    assert delete_requests(clinic) == []
    assert events[0] == {"event": "slot", "timestamp": None, "name": "verified", "value": False}
    assert events[-1]["event"] == "followup", "the form asks again instead of ending at once"


async def test_locked_verification_records_nothing_and_offers_a_person(clinic):
    slots = {"verified": False, "verification_locked": True, "booking_reference": "locked",
             "date_of_birth": "locked"}
    dispatcher, events = await run(ActionRequestDataDeletion(), after_the_form(slots=slots))
    assert delete_requests(clinic) == []
    assert texts(dispatcher).startswith("I couldn't confirm your details")
    assert dispatcher.messages[0]["buttons"] == [{"title": "Talk to a person", "payload": "/request_human"}]
    assert events == []


async def test_the_erasure_form_asks_for_identity_unless_verified(clinic):
    slots = ["booking_reference", "date_of_birth"]
    form = DataDeletionValidation()
    assert form.form_name() == "data_deletion_form"
    unverified = make_tracker(user_message("delete my data", "request_data_deletion"))
    assert await form.required_slots(slots, CollectingDispatcher(), unverified, {}) == slots
    verified = make_tracker(user_message("delete my data", "request_data_deletion"), VERIFIED_ALEX)
    assert await form.required_slots(slots, CollectingDispatcher(), verified, {}) == []


def test_the_erasure_form_checks_identity_like_verification(clinic):
    tracker = make_tracker(user_message("12/04/1988", "inform"), {"booking_reference": "MC-4827"},
                           sender_id=SENDER, active_loop={"name": "data_deletion_form"})
    result = DataDeletionValidation().validate_date_of_birth(
        "12/04/1988", CollectingDispatcher(), tracker, {})
    assert (result["verified"], result["verified_patient_id"]) == (True, "1")
    with clinic.begin() as session:
        assert session.execute(select(func.count(StaffRequest.id))).scalar_one() == 0


def test_medical_answer_defers_to_the_clinician_and_offers_staff_through_the_handoff_rule():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    [answer] = domain["responses"]["utter_medical_advice"]
    for words in ("can't advise", "clinician or doctor", "consultation", "before your next session"):
        assert words in answer["text"]
    assert [b["payload"] for b in answer["buttons"]] == ["/request_human", "/deny"]
    rules = [rule for path in (ROOT / "data" / "rules").glob("*.yml")
             for rule in yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]]
    routes = {tuple(step.get("intent") or step.get("action") for step in rule["steps"])
              for rule in rules if "condition" not in rule}
    assert ("request_human", "action_handoff") in routes
    assert ("ask_medical_advice", "utter_medical_advice") in routes
    assert ("utter_medical_advice", "affirm", "action_handoff") in routes
