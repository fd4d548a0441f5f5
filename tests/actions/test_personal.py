"""Personal answers: what a verified patient is told, and that an unverified one learns nothing booked."""
from rasa_sdk.executor import CollectingDispatcher

from actions.personal import ActionAnswerPersonal, ActionPersonalAftercare, ActionPersonalPreparation
from tests.support.trackers import VERIFIED_ALEX, make_tracker, run, texts, user_message

BOOKING_DETAILS = ("yesterday", "10:00", "14:00", "Tuesday", "Dr Priya Shah", "of 8")


def responses(dispatcher: CollectingDispatcher):
    return [m.get("response") for m in dispatcher.messages if m.get("response")]


async def test_verified_patient_is_told_when_to_wash_from_their_own_session(clinic):
    tracker = make_tracker(user_message("can i wash my hair yet", "ask_wash_hair"), VERIFIED_ALEX)
    dispatcher, events = await run(ActionPersonalAftercare(), tracker)
    assert texts(dispatcher).startswith(
        "Your session was yesterday at 10:00, so please wait until 10:00 tomorrow before washing your hair.")
    assert "If your clinician gave you different advice, follow theirs." in texts(dispatcher)
    assert events == [{"event": "slot", "timestamp": None, "name": "topic_in_play", "value": "after_session"}]


async def test_unverified_patient_gets_the_general_answer_and_an_offer_but_no_booking_detail(clinic):
    tracker = make_tracker(user_message("can i wash my hair yet", "ask_wash_hair"))
    dispatcher, _ = await run(ActionPersonalAftercare(), tracker)
    assert responses(dispatcher) == ["utter_general_washing", "utter_offer_verification"]
    assert not any(detail in texts(dispatcher) for detail in BOOKING_DETAILS)


async def test_a_typed_verified_slot_without_patient_id_discloses_nothing(clinic):
    tracker = make_tracker(user_message("can i wash my hair", "ask_wash_hair"), {"verified": True})
    dispatcher, _ = await run(ActionPersonalAftercare(), tracker)
    assert responses(dispatcher)[0] == "utter_general_washing"


async def test_gym_question_answers_exercise_only(clinic):
    tracker = make_tracker(user_message("when can i go back to the gym", "ask_exercise_sun"), VERIFIED_ALEX)
    dispatcher, _ = await run(ActionPersonalAftercare(), tracker)
    assert "before strenuous exercise" in texts(dispatcher)
    assert "direct sun" not in texts(dispatcher)
    assert texts(dispatcher).count("If your clinician gave you different advice") == 1


async def test_exercise_and_sun_both_answered_when_neither_is_named(clinic):
    tracker = make_tracker(user_message("what about working out or being outside", "ask_exercise_sun"), VERIFIED_ALEX)
    dispatcher, _ = await run(ActionPersonalAftercare(), tracker)
    assert "before strenuous exercise" in texts(dispatcher) and "direct sun" in texts(dispatcher)
    assert texts(dispatcher).count("If your clinician gave you different advice") == 1


async def test_preparation_names_the_medicine_spacy_found_and_the_time_to_stop(clinic):
    message = user_message("can i take nurofen before my session", "ask_medicine_before",
                           [{"entity": "medicine", "value": "nurofen", "start": 11, "end": 18}])
    dispatcher, _ = await run(ActionPersonalPreparation(), make_tracker(message, VERIFIED_ALEX))
    text = texts(dispatcher)
    assert text.startswith("Your session is on Tuesday at 14:00, so please avoid ibuprofen from 14:00 tomorrow.")


async def test_prescribed_blood_thinner_is_never_stopped_even_unverified(clinic):
    message = user_message("im on warfarin do i stop it", "ask_medicine_before",
                           [{"entity": "medicine", "value": "warfarin", "start": 6, "end": 14}])
    dispatcher, _ = await run(ActionPersonalPreparation(), make_tracker(message))
    assert texts(dispatcher).startswith("Please do not stop warfarin on your own.")
    assert responses(dispatcher) == ["utter_offer_verification"]


async def test_unknown_medicine_is_referred_to_the_clinician(clinic):
    message = user_message("can i take paracetamol before", "ask_medicine_before",
                           [{"entity": "medicine", "value": "paracetamol", "start": 11, "end": 22}])
    dispatcher, _ = await run(ActionPersonalPreparation(), make_tracker(message))
    assert texts(dispatcher).startswith("I can't advise on paracetamol. Please ask your clinician")


def form_events(question):
    """The events of a question that started the verification form, and the form's answers."""
    return [
        {"event": "user", "text": question["text"], "parse_data": question},
        {"event": "action", "name": "verification_form"},
        {"event": "active_loop", "name": "verification_form"},
        {"event": "user", "text": "MC-4827", "parse_data": user_message("MC-4827", "inform")},
        {"event": "user", "text": "12/04/1988", "parse_data": user_message("12/04/1988", "inform")},
        {"event": "active_loop", "name": None},
    ]


async def test_after_verification_the_pending_question_is_answered(clinic):
    question = user_message("when is my next appointment", "ask_next_appointment")
    tracker = make_tracker(user_message("12/04/1988", "inform"), VERIFIED_ALEX, form_events(question)[:-2])
    dispatcher, _ = await run(ActionAnswerPersonal(), tracker)
    assert texts(dispatcher) == "Your next session is on Tuesday at 14:00 (45 minutes, with Dr Priya Shah)."


async def test_course_progress(clinic):
    question = user_message("how many sessions have i got left", "ask_course_progress")
    tracker = make_tracker(question, VERIFIED_ALEX)
    dispatcher, _ = await run(ActionAnswerPersonal(), tracker)
    assert texts(dispatcher).startswith(
        "You've completed 3 of 8 sessions in your hair mesotherapy course, so 5 are left. "
        "Your next one is on Tuesday at 14:00")


async def test_last_session(clinic):
    tracker = make_tracker(user_message("when was my last session", "ask_last_session"), VERIFIED_ALEX)
    dispatcher, _ = await run(ActionAnswerPersonal(), tracker)
    assert texts(dispatcher) == "Your last session was yesterday at 10:00 (45 minutes, with Dr Priya Shah)."


async def test_verify_after_an_aftercare_offer_answers_the_aftercare_question(clinic):
    wash = user_message("can i wash my hair", "ask_wash_hair")
    verify = user_message("/verify_identity", "verify_identity")
    events = [{"event": "user", "text": wash["text"], "parse_data": wash},
              {"event": "action", "name": "action_personal_aftercare"}] + form_events(verify)[:-2]
    tracker = make_tracker(user_message("12/04/1988", "inform"), VERIFIED_ALEX, events)
    dispatcher, _ = await run(ActionAnswerPersonal(), tracker)
    assert texts(dispatcher).startswith("Your session was yesterday at 10:00")


async def test_verify_on_its_own_confirms_by_first_name(clinic):
    verify = user_message("i want to log in", "verify_identity")
    tracker = make_tracker(user_message("12/04/1988", "inform"), VERIFIED_ALEX, form_events(verify)[:-2])
    dispatcher, _ = await run(ActionAnswerPersonal(), tracker)
    assert texts(dispatcher).startswith("Thanks, Alex, you're verified.")


async def test_a_patient_with_no_completed_session_gets_the_general_answer(clinic):
    sam = {"verified": True, "verified_patient_id": "2", "patient_first_name": "Sam"}
    dispatcher, _ = await run(ActionPersonalAftercare(), make_tracker(user_message("wash hair?", "ask_wash_hair"), sam))
    assert texts(dispatcher).startswith("I can't find a completed session on your record yet")
    assert responses(dispatcher) == ["utter_general_washing"]
