"""Verification form validation, prices, "did you mean", handoff and change requests."""
from dataclasses import replace

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from actions.common import ClinicServices, services, use_services
from actions.faq import ActionAnswerCost, ActionSuggestTopics
from actions.handoff import ActionHandoff, ActionSubmitChangeRequest
from actions.personal import ActionAnswerPersonal
from actions.verification import ChangeRequestValidation, VerificationValidation
from bot.clinic.verification import reference_hash, reference_lock_key
from bot.conversations.handoff import HandoffRequest, escalate
from bot.db.models import AuditLog, Base, Conversation, Escalation, StaffRequest, VerificationAttempt
from bot.teaching.notice import NOT_UNDERSTOOD_NOTICE
from tests.actions.conftest import NOW, VERIFIED_ALEX, make_tracker, user_message
from tests.actions.test_personal import run, texts

VERIFICATION_SLOTS = ["booking_reference", "date_of_birth"]


def check(reference, dob, sender="web:s1"):
    """Run the date-of-birth validation as the form does, after the reference was given."""
    tracker = make_tracker(user_message(dob, "inform"), {"booking_reference": reference}, sender_id=sender,
                           active_loop={"name": "verification_form"})
    dispatcher = CollectingDispatcher()
    result = VerificationValidation().validate_date_of_birth(dob, dispatcher, tracker, {})
    return result, texts(dispatcher)


def test_right_reference_and_date_of_birth_verify_the_patient(clinic):
    result, said = check("mc 4827", "12 April 1988")
    assert result["verified"] is True and result["verified_patient_id"] == "1"
    assert result["patient_first_name"] == "Alex"
    assert result["date_of_birth"] == "checked", "the date of birth is not kept in the tracker"
    assert said == ""


def test_a_successful_verification_tells_the_router_so_in_a_custom_message(clinic):
    from bot.clinic.verification import VERIFIED_NOTICE

    tracker = make_tracker(user_message("12 April 1988", "inform"), {"booking_reference": "MC-4827"},
                           active_loop={"name": "verification_form"})
    dispatcher = CollectingDispatcher()
    VerificationValidation().validate_date_of_birth("12 April 1988", dispatcher, tracker, {})
    assert [m.get("custom") for m in dispatcher.messages] == [VERIFIED_NOTICE]
    wrong = CollectingDispatcher()
    VerificationValidation().validate_date_of_birth("13 April 1988", wrong, tracker, {})
    assert all(not m.get("custom") for m in wrong.messages)


def mismatch(reference, left):
    return (f"Sorry, that date of birth doesn't match the booking reference {reference} ({left} of 5 "
            "tries left). If the reference was wrong, you can type the right one instead.")


def attempts():
    with services().session_factory.begin() as session:
        return session.execute(select(func.count(VerificationAttempt.id))).scalar_one()


def test_wrong_date_of_birth_keeps_the_reference_and_asks_only_for_the_date_again(clinic):
    result, said = check("MC-4827", "13/04/1988")
    assert result == {"booking_reference": "MC-4827", "date_of_birth": None}
    assert said == mismatch("MC-4827", 4)


def test_unknown_reference_gets_the_same_answer_as_a_wrong_date(clinic):
    """No enumeration: the same slots and the same words (only the echoed reference differs)."""
    result_unknown, said_unknown = check("MC-9999", "12/04/1988", sender="web:s2")
    result_wrong, said_wrong = check("MC-4827", "13/04/1988", sender="web:s3")
    assert said_unknown == mismatch("MC-9999", 4) and said_wrong == mismatch("MC-4827", 4)
    assert said_unknown.replace("MC-9999", "MC-4827") == said_wrong
    assert result_unknown == {"booking_reference": "MC-9999", "date_of_birth": None}
    assert result_wrong == {"booking_reference": "MC-4827", "date_of_birth": None}


def test_the_kept_reference_is_shown_normalised_and_the_tries_count_down(clinic):
    said = [check("mc 4827", dob)[1] for dob in ("13/04/1988", "14 April 1988", "12/04/1989")]
    assert said == [mismatch("MC-4827", 4), mismatch("MC-4827", 3), mismatch("MC-4827", 2)]


def test_the_right_date_after_a_wrong_one_verifies_with_the_kept_reference(clinic):
    result, _ = check("MC-4827", "13/04/1988")
    result, said = check(result["booking_reference"], "12/04/1988")
    assert result["verified"] is True and result["verified_patient_id"] == "1" and said == ""


@pytest.mark.parametrize("typed", ["MC-7315", "mc 7315", "mc7315", "my ref is MC-7315",
                                   "sorry, it's mc-7315"])
def test_a_reference_typed_at_the_date_question_replaces_the_kept_one(clinic, typed):
    result, said = check("MC-4827", typed)
    assert result == {"booking_reference": "MC-7315", "date_of_birth": None}
    assert said == "OK, I'll check booking reference MC-7315 instead."
    assert attempts() == 0, "a new reference is not a try"


def test_a_new_reference_is_answered_alike_whether_or_not_it_exists(clinic):
    _, said_known = check("MC-4827", "MC-7315")
    _, said_unknown = check("MC-4827", "MC-9999")
    assert said_unknown.replace("MC-9999", "MC-7315") == said_known


def test_after_a_new_reference_its_own_date_of_birth_verifies(clinic):
    result, _ = check("MC-4827", "12/04/1979")
    assert result["booking_reference"] == "MC-4827"
    result, _ = check("MC-4827", "MC-7315")
    result, said = check(result["booking_reference"], "2 November 1979")
    assert result["verified"] is True and result["verified_patient_id"] == "2"
    assert result["patient_first_name"] == "Sam" and said == ""


@pytest.mark.parametrize("dob", ["my dob is 12 April 1988", "born 12.04.1988", "its 12/4/1988",
                                 "April 12th 1988", "12th of April 1988", "Apr. 12, 1988", "1988-04-12",
                                 "12/4/88"])
def test_dates_of_birth_in_everyday_words_verify(clinic, dob):
    result, said = check("MC-4827", dob)
    assert result["verified"] is True and said == ""


@pytest.mark.parametrize("typed", ["the twelfth of never", "march 12", "born 1988", "hello?"])
def test_neither_a_date_nor_a_reference_keeps_the_unreadable_date_reply(clinic, typed):
    result, said = check("MC-4827", typed)
    assert result == {"date_of_birth": None}
    assert said == "Sorry, I couldn't read that date."
    assert attempts() == 0


def test_changing_reference_does_not_reset_the_five_tries(clinic):
    for dob in ("01/01/1990", "02/01/1990", "03/01/1990"):
        result, _ = check("MC-4827", dob)
    result, _ = check("MC-4827", "MC-7315")
    result, said = check(result["booking_reference"], "01/01/1990")
    assert said == mismatch("MC-7315", 1)
    result, said = check("MC-7315", "02/01/1990")
    assert result["verification_locked"] is True and result["verified"] is False and said == ""
    result, _ = check("MC-7315", "2/11/1979")
    assert result.get("verified") is not True and result["verification_locked"] is True


async def test_the_form_run_keeps_the_reference_after_a_wrong_date(clinic):
    """The whole validation action, as Rasa calls it: slot events back, one message."""
    tracker = make_tracker(user_message("13/04/1988", "inform"),
                           {"booking_reference": "MC-4827", "requested_slot": "date_of_birth"},
                           events=[{"event": "user", "text": "MC-4827"},
                                   {"event": "slot", "name": "booking_reference", "value": "MC-4827"},
                                   {"event": "action", "name": "validate_verification_form"}],
                           active_loop={"name": "verification_form"})
    tracker.events.append({"event": "slot", "name": "date_of_birth", "value": "13/04/1988"})
    domain = {"forms": {"verification_form": {"required_slots": VERIFICATION_SLOTS}}}
    dispatcher = CollectingDispatcher()
    events = await VerificationValidation().run(dispatcher, tracker, domain)
    assert {e["name"]: e["value"] for e in events if e["event"] == "slot"} == {
        "booking_reference": "MC-4827", "date_of_birth": None}
    assert [m["text"] for m in dispatcher.messages] == [mismatch("MC-4827", 4)]


def test_unreadable_date_is_not_counted_as_an_attempt(clinic):
    result, said = check("MC-4827", "the twelfth of never")
    assert result == {"date_of_birth": None}
    assert said == "Sorry, I couldn't read that date."
    with clinic.begin() as session:
        assert session.execute(select(func.count(VerificationAttempt.id))).scalar_one() == 0


def test_five_failures_stop_verification_even_with_the_right_details_after(clinic):
    for _ in range(5):
        result, _ = check("MC-4827", "01/01/1990")
    assert result["verification_locked"] is True and result["verified"] is False
    result, _ = check("MC-4827", "12/04/1988")
    assert result.get("verified") is not True and result["verification_locked"] is True


async def what_the_patient_sees(reference, dob, sender):
    """One try at the date-of-birth question: the slots set, the validation's words, and, when it
    ends the check, the words of the action that follows the form."""
    result, said = check(reference, dob, sender=sender)
    after = ""
    if result.get("verification_locked"):
        tracker = make_tracker(user_message(dob, "inform"), {"booking_reference": reference, **result},
                               sender_id=sender)
        dispatcher, _ = await run(ActionAnswerPersonal(), tracker)
        after = texts(dispatcher)
    return result, said, after


async def tries_seen(reference, dob, fresh_dob):
    """Six tries in one conversation, then one in a fresh conversation, with the reference echoed
    back written as REF."""
    seen = []
    for sender, typed in [(f"web:{reference}-1", dob)] * 6 + [(f"web:{reference}-2", fresh_dob)]:
        result, said, after = await what_the_patient_sees(reference, typed, sender)
        seen.append(({k: "REF" if v == reference else v for k, v in result.items()}, said.replace(reference, "REF"),
                     after))
    return seen


async def test_a_wrong_date_an_unknown_reference_and_a_locked_one_get_the_same_replies(clinic):
    """Whether the reference is Alex's (given a wrong date of birth) or nobody's, the patient sees
    the same words try after try, the same lock after five, and the same lock from a fresh
    conversation (Alex's reference even with the right date of birth)."""
    real = await tries_seen("MC-4827", "13/04/1988", "12/04/1988")
    unknown = await tries_seen("MC-5193", "12/04/1988", "12/04/1988")
    assert real == unknown
    stopped = ("I couldn't confirm your details, so for your security I've stopped trying for now. "
               "A member of the clinic team can help you instead.")
    locked = {"booking_reference": "locked", "date_of_birth": "locked", "verification_locked": True,
              "verified": False}
    assert real == (
        [({"booking_reference": "REF", "date_of_birth": None}, mismatch("REF", left), "") for left in (4, 3, 2, 1)]
        + [(locked, "", stopped)] * 3)


async def test_a_reference_locked_from_elsewhere_is_locked_for_a_fresh_conversation(clinic):
    for n in range(5):
        check("MC-7315", "01/01/1990", sender=f"web:elsewhere-{n}")
        check("MC-5193", "01/01/1990", sender=f"web:elsewhere-{n}")
    real = await what_the_patient_sees("MC-7315", "2 November 1979", "web:fresh-1")
    unknown = await what_the_patient_sees("MC-5193", "2 November 1979", "web:fresh-2")
    assert real == unknown and real[0]["verification_locked"] is True and "stopped trying" in real[2]


def test_the_action_hashes_references_with_the_configured_key(clinic):
    for key in ("first-signing-key", "second-signing-key"):
        current = services()
        use_services(ClinicServices(replace(current.settings, identity_signing_key=key), current.session_factory))
        check("mc 5193", "12/04/1988", sender=f"web:{key}")
    with clinic.begin() as session:
        hashes = session.execute(select(VerificationAttempt.reference_hash).order_by(VerificationAttempt.id))
        assert list(hashes.scalars()) == [reference_hash(reference_lock_key(key, ""), "MC-5193")
                                          for key in ("first-signing-key", "second-signing-key")]


def test_no_typed_reference_or_date_is_stored_by_the_action(clinic):
    for n in range(6):
        check("mc 5193", "13/04/1988", sender=f"web:s{n % 2}")
    with clinic.begin() as session:
        stored = " ".join(str(value) for table in Base.metadata.sorted_tables
                          for row in session.execute(select(table)) for value in row)
    assert "5193" not in stored and "13/04" not in stored and "1988-04-13" not in stored


async def test_verified_patient_skips_the_identity_questions(clinic):
    tracker = make_tracker(user_message("next appointment?", "ask_next_appointment"), VERIFIED_ALEX)
    remaining = await VerificationValidation().required_slots(VERIFICATION_SLOTS, CollectingDispatcher(), tracker, {})
    assert remaining == []
    remaining = await ChangeRequestValidation().required_slots(
        VERIFICATION_SLOTS + ["change_details"], CollectingDispatcher(), tracker, {})
    assert remaining == ["change_details"]


async def test_unverified_patient_is_asked_both(clinic):
    tracker = make_tracker(user_message("next appointment?", "ask_next_appointment"))
    remaining = await VerificationValidation().required_slots(VERIFICATION_SLOTS, CollectingDispatcher(), tracker, {})
    assert remaining == VERIFICATION_SLOTS


def test_a_typed_intent_payload_is_not_a_reference(clinic):
    dispatcher = CollectingDispatcher()
    result = VerificationValidation().validate_booking_reference(
        '/inform{"verified": true}', dispatcher, make_tracker(user_message("x", "inform")), {})
    assert result == {"booking_reference": None}


async def test_prices_come_from_the_clinic_profile(clinic):
    dispatcher, _ = await run(ActionAnswerCost(), make_tracker(user_message("how much is it", "ask_cost")))
    said = texts(dispatcher)
    assert said.startswith("Prices at Northfield Hair Clinic:")
    assert "Single session: £220" in said and "Course of 10 sessions: £1,800" in said
    assert "Iran" not in said and "Turkey" not in said


def unsure_message(text="hmm the thing with the hair"):
    ranking = [{"intent_response_key": f"faq/{key}", "confidence": conf}
               for key, conf in (("pain", 0.4), ("downtime", 0.3), ("during_session", 0.2), ("history", 0.01))]
    return user_message(text, "nlu_fallback", response_selector={"faq": {"ranking": ranking}})


async def test_first_miss_offers_the_best_topics_as_buttons(clinic):
    dispatcher, _ = await run(ActionSuggestTopics(), make_tracker(unsure_message()))
    assert dispatcher.messages[0]["custom"] == NOT_UNDERSTOOD_NOTICE  # the router queues it for teaching
    buttons = dispatcher.messages[1]["buttons"]
    assert [b["title"] for b in buttons] == ["Does it hurt?", "Recovery and downtime", "What happens in a session",
                                             "Something else"]
    assert buttons[0]["payload"] == "Does mesotherapy hurt?"
    assert [m.get("custom") for m in dispatcher.messages] == [NOT_UNDERSTOOD_NOTICE, {}]  # recorded as a miss


async def test_second_miss_in_a_row_offers_staff(clinic):
    first = unsure_message("blah")
    events = [{"event": "user", "text": "blah", "parse_data": first},
              {"event": "action", "name": "action_suggest_topics"},
              {"event": "action", "name": "action_listen"}]
    dispatcher, events = await run(ActionSuggestTopics(), make_tracker(unsure_message("still blah"), events=events))
    assert [m.get("custom") for m in dispatcher.messages] == [NOT_UNDERSTOOD_NOTICE]  # nothing shown
    assert events == [{"event": "followup", "timestamp": None, "name": "utter_fallback_offer_staff"}]


def handoff_requests(dispatcher):
    """The handoff requests among the action's messages (custom messages the router reads)."""
    found = (HandoffRequest.from_custom_message(m.get("custom")) for m in dispatcher.messages)
    return [request for request in found if request is not None]


async def hand_off(tracker):
    """Run the handoff action, then carry out its request as the router does after the turn."""
    dispatcher, events = await run(ActionHandoff(), tracker)
    [request] = handoff_requests(dispatcher)
    with services().session_factory.begin() as session:
        escalate(session, sender_key=tracker.sender_id, request=request, now=NOW)
    return dispatcher, events


async def test_the_handoff_action_asks_for_staff_in_its_reply_and_writes_nothing_itself(clinic):
    tracker = make_tracker(user_message("let me talk to a human", "request_human"),
                           dict(VERIFIED_ALEX), sender_id="sms:+447700900123")
    dispatcher, events = await run(ActionHandoff(), tracker)
    assert events == []
    assert handoff_requests(dispatcher) == [HandoffRequest(
        reason="asked_for_person", summary="Verified patient. Asked about: Asked for a person", patient_id=1)]
    with clinic.begin() as session:
        assert session.execute(select(func.count(Conversation.id))).scalar_one() == 0
        assert session.execute(select(func.count(Escalation.id))).scalar_one() == 0


async def test_handoff_opens_an_escalation_and_gives_the_conversation_to_staff(clinic):
    tracker = make_tracker(user_message("let me talk to a human", "request_human"), sender_id="sms:+447700900123")
    dispatcher, _ = await hand_off(tracker)
    assert texts(dispatcher).startswith("I've asked a member of the clinic team to join this conversation")
    assert "The clinic is open now" in texts(dispatcher)  # Saturday 12:00, open 10:00-14:00
    with clinic.begin() as session:
        conversation = session.execute(select(Conversation)).scalar_one()
        escalation = session.execute(select(Escalation)).scalar_one()
        assert (conversation.channel, conversation.external_id, conversation.owner) == ("sms", "+447700900123", "staff")
        assert (escalation.reason, escalation.status, escalation.priority) == ("asked_for_person", "waiting", "normal")
        assert session.execute(select(AuditLog).where(AuditLog.action == "escalation_opened")).scalar_one()


async def test_asking_twice_keeps_one_open_escalation(clinic):
    tracker = make_tracker(user_message("human please", "request_human"))
    await hand_off(tracker)
    await hand_off(tracker)
    with clinic.begin() as session:
        assert session.execute(select(func.count(Escalation.id))).scalar_one() == 1


async def test_change_request_is_recorded_for_staff_and_the_booking_is_untouched(clinic):
    slots = dict(VERIFIED_ALEX, change_kind="reschedule", change_details="any weekday morning next week")
    dispatcher, events = await run(ActionSubmitChangeRequest(), make_tracker(user_message("mornings", "inform"), slots))
    assert texts(dispatcher).startswith("Thanks, I've passed your request to move your session to the clinic team.")
    with clinic.begin() as session:
        request = session.execute(select(StaffRequest)).scalar_one()
        assert (request.kind, request.patient_id, request.wishes, request.status) == (
            "reschedule", 1, "any weekday morning next week", "open")
        assert request.appointment_id is not None


async def test_change_request_without_verification_records_nothing(clinic):
    slots = {"change_kind": "cancel", "change_details": "cancel it", "verification_locked": True}
    dispatcher, _ = await run(ActionSubmitChangeRequest(), make_tracker(user_message("x", "inform"), slots))
    assert texts(dispatcher).startswith("I couldn't confirm your details")
    with clinic.begin() as session:
        assert session.execute(select(func.count(StaffRequest.id))).scalar_one() == 0


async def test_handoff_after_the_second_miss_is_recorded_as_a_fallback(clinic):
    events = [{"event": "user", "text": "blah", "parse_data": unsure_message("blah")},
              {"event": "action", "name": "action_suggest_topics"},
              {"event": "action", "name": "action_listen"}]
    tracker = make_tracker(user_message("/request_human", "request_human"), events=events)
    await hand_off(tracker)
    with clinic.begin() as session:
        assert session.execute(select(Escalation.reason)).scalar_one() == "fallback"


@pytest.mark.parametrize("slots, active_loop, earlier_intent, reason", [
    ({"verification_locked": True}, None, None, "verification_locked"),
    ({}, {"name": "change_request_form"}, None, "booking_change"),
    ({"change_kind": "cancel"}, None, None, "booking_change"),
    ({}, None, "request_reschedule", "booking_change"),
    ({}, None, "faq", "asked_for_person"),
])
async def test_the_escalation_reason_says_what_the_patient_was_doing(clinic, slots, active_loop, earlier_intent,
                                                                     reason):
    events = []
    if earlier_intent:
        events = [{"event": "user", "text": "earlier", "parse_data": user_message("earlier", earlier_intent)}]
    tracker = make_tracker(user_message("can I talk to someone", "request_human"), slots, events=events,
                           active_loop=active_loop)
    await hand_off(tracker)
    with clinic.begin() as session:
        assert session.execute(select(Escalation.reason)).scalar_one() == reason


async def test_the_handoff_summary_names_topics_by_their_titles_never_intents_or_payloads(clinic):
    faq = {"faq": {"response": {"intent_response_key": "faq/sessions_needed"}}}
    earlier = [{"event": "user", "text": "how many sessions?",
                "parse_data": user_message("how many sessions?", "faq", response_selector=faq)},
               {"event": "user", "text": "can I wash?", "parse_data": user_message("can I wash?", "ask_wash_hair")}]
    tracker = make_tracker(user_message("/request_human", "request_human"), events=earlier,
                           sender_id="sms:+447700900123")
    dispatcher, _ = await run(ActionHandoff(), tracker)
    [request] = handoff_requests(dispatcher)
    assert request.summary == ("Not verified. Asked about: How many sessions; Washing hair after a session; "
                               "Asked for a person")
    assert "request_human" not in request.summary and "ask_" not in request.summary and "faq" not in request.summary
