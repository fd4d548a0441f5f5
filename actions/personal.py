"""Answers about the patient's own sessions: next, last, course progress, aftercare and preparation timing.

Unverified patients get the general answer and an offer to verify; no booking detail before it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.common import (
    first_entity_value,
    pending_personal_question,
    services,
    utc_now,
    verified_patient_id,
)
from actions.verification import locked_message
from bot.clinic import aftercare, bookings
from bot.clinic.timefmt import describe_when
from bot.nlp.lexicon import canonical_name

# Intent -> aftercare topics (bot.clinic.aftercare) and the general answer's response.
AFTERCARE_BY_INTENT = {
    "ask_wash_hair": (("washing",), "utter_general_washing"),
    "ask_exercise_sun": (("exercise", "sun"), "utter_general_exercise_sun"),
    "ask_dye_styling": (("styling",), "utter_general_styling"),
}
SUN_WORDS = ("sun", "sunbathe", "sunbathing", "beach", "tan", "tanning", "sunbed", "holiday")
EXERCISE_WORDS = ("gym", "run", "running", "swim", "swimming", "exercise", "workout", "sport", "sauna")


def aftercare_topics(intent: Text, text: Text) -> List[Text]:
    """Which timings to give: for exercise-or-sun questions, the one the patient mentioned (or both)."""
    topics = list(AFTERCARE_BY_INTENT[intent][0])
    if intent == "ask_exercise_sun":
        words = set(text.lower().replace("?", " ").split())
        asked = [t for t, vocab in (("exercise", EXERCISE_WORDS), ("sun", SUN_WORDS)) if words & set(vocab)]
        topics = asked or topics
    return topics


def substance_asked(message: Dict[Text, Any]) -> Optional[Text]:
    """The medicine or drink the patient asked about, as its canonical name (as typed if unknown)."""
    found = first_entity_value(message, "medicine")
    if found is None:
        return None
    return canonical_name("medicine", found) or found


def answer_aftercare(dispatcher: CollectingDispatcher, patient_id: int, message: Dict[Text, Any]) -> None:
    """Personal aftercare timing from the last completed session, or the general answer if there is none."""
    intent = message["intent"]["name"]
    settings, now = services().settings, utc_now()
    with services().session_factory.begin() as session:
        last = bookings.last_completed_session(session, patient_id, now)
    if last is None:
        dispatcher.utter_message(text="I can't find a completed session on your record yet, so here is the general advice.")
        dispatcher.utter_message(response=AFTERCARE_BY_INTENT[intent][1])
        return
    texts = [aftercare.aftercare_answer(t, last, now, settings.clinic) for t in aftercare_topics(intent, message.get("text") or "")]
    if len(texts) > 1:  # one clinician line is enough
        texts = [t.replace("\n" + aftercare.CLINICIAN_LINE, "") for t in texts[:-1]] + texts[-1:]
    dispatcher.utter_message(text="\n".join(texts))


def answer_preparation(dispatcher: CollectingDispatcher, patient_id: int, message: Dict[Text, Any]) -> None:
    """What to avoid before the next booked session, and from when."""
    settings, now = services().settings, utc_now()
    with services().session_factory.begin() as session:
        upcoming = bookings.next_booked_session(session, patient_id, now)
    if upcoming is None:
        dispatcher.utter_message(text="You have no upcoming session booked, so here is the general advice.")
        dispatcher.utter_message(response="utter_faq/before_session")
        return
    dispatcher.utter_message(text=aftercare.preparation_answer(substance_asked(message), upcoming, now, settings.clinic))


def session_phrase(view: bookings.SessionView, now: datetime) -> Text:
    """"on Friday at 14:00 (45 minutes, with Dr Shah)" for a session."""
    when = describe_when(view.starts_at, now, services().settings.clinic.timezone)
    extra = f"{view.duration_min} minutes" + (f", with {view.practitioner}" if view.practitioner else "")
    return f"{when} ({extra})"


def next_session_text(session: Session, patient_id: int, now: datetime) -> Text:
    """"Your next session is …", or how to book one."""
    upcoming = bookings.next_booked_session(session, patient_id, now)
    if upcoming is None:
        return (f"You have no upcoming session booked. To book one, call the clinic on "
                f"{services().settings.clinic.phone} or ask to talk to a person.")
    return f"Your next session is {session_phrase(upcoming, now)}."


def last_session_text(session: Session, patient_id: int, now: datetime) -> Text:
    """"Your last session was …", or that there is none yet."""
    last = bookings.last_completed_session(session, patient_id, now)
    return f"Your last session was {session_phrase(last, now)}." if last else \
        "I can't find a completed session on your record yet."


def course_progress_text(session: Session, patient_id: int, now: datetime) -> Text:
    """"You've completed 3 of 8 sessions …, so 5 are left." with the next session."""
    progress = bookings.course_progress(session, patient_id, now)
    if progress is None:
        return "I can't find a treatment course on your record. The clinic team can check it for you."
    text = (f"You've completed {progress.completed} of {progress.planned} sessions in your "
            f"{progress.treatment.lower()} course, so {progress.remaining} "
            f"{'is' if progress.remaining == 1 else 'are'} left.")
    if progress.next_session:
        text += f" Your next one is {session_phrase(progress.next_session, now)}."
    return text


BOOKING_ANSWERS = {"ask_next_appointment": next_session_text, "ask_last_session": last_session_text,
                   "ask_course_progress": course_progress_text}


def answer_booking_question(dispatcher: CollectingDispatcher, patient_id: int, intent: Text) -> None:
    """Next appointment, last session or course progress for a verified patient (one query each)."""
    with services().session_factory.begin() as session:
        dispatcher.utter_message(text=BOOKING_ANSWERS[intent](session, patient_id, utc_now()))


def answer_personal(dispatcher: CollectingDispatcher, patient_id: int, message: Dict[Text, Any]) -> None:
    """Route a personal question (already verified) to its answer."""
    intent = message["intent"]["name"]
    if intent in AFTERCARE_BY_INTENT:
        answer_aftercare(dispatcher, patient_id, message)
    elif intent == "ask_medicine_before":
        answer_preparation(dispatcher, patient_id, message)
    else:
        answer_booking_question(dispatcher, patient_id, intent)


def general_preparation(dispatcher: CollectingDispatcher, message: Dict[Text, Any]) -> None:
    """The general preparation answer, naming what the patient asked about when we know it."""
    substance = substance_asked(message)
    kind = aftercare.classify_substance(substance)
    hours = services().settings.clinic.preparation_hours.get("blood_thinning", 48)
    if kind == "prescribed":
        dispatcher.utter_message(text=f"Please do not stop {substance} on your own. Tell your doctor and the "
                                 "clinic before your session; they will decide together what is safe.")
    elif kind == "unknown":
        dispatcher.utter_message(text=f"I can't advise on {substance}. Please ask your clinician before your session.")
    elif kind == "avoid":
        dispatcher.utter_message(text=f"Please avoid {substance} for {hours} hours before your session: it can "
                                 "thin the blood and raise the risk of bruising and bleeding. If a doctor "
                                 "prescribed it for you, ask your doctor before stopping.")
    else:
        dispatcher.utter_message(response="utter_faq/before_session")


class ActionPersonalAftercare(Action):
    """Washing, exercise, sun, dye and styling after a session."""

    def name(self) -> Text:
        return "action_personal_aftercare"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        patient_id = verified_patient_id(tracker)
        in_play = [SlotSet("topic_in_play", "after_session")]  # for a follow-up ("why?")
        if patient_id is not None:
            answer_aftercare(dispatcher, patient_id, tracker.latest_message)
            return in_play
        dispatcher.utter_message(response=AFTERCARE_BY_INTENT[tracker.latest_message["intent"]["name"]][1])
        if not tracker.get_slot("verification_locked"):
            dispatcher.utter_message(response="utter_offer_verification")
        return in_play


class ActionPersonalPreparation(Action):
    """Alcohol and medicines before the next session."""

    def name(self) -> Text:
        return "action_personal_preparation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        patient_id = verified_patient_id(tracker)
        in_play = [SlotSet("topic_in_play", "before_session")]  # for a follow-up ("why?")
        if patient_id is not None:
            answer_preparation(dispatcher, patient_id, tracker.latest_message)
            return in_play
        general_preparation(dispatcher, tracker.latest_message)
        if not tracker.get_slot("verification_locked"):
            dispatcher.utter_message(response="utter_offer_verification")
        return in_play


class ActionAnswerPersonal(Action):
    """After the verification form: answer the question that led to it, or confirm verification."""

    def name(self) -> Text:
        return "action_answer_personal"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        patient_id = verified_patient_id(tracker)
        if patient_id is None:
            locked_message(dispatcher)
            return []
        question = pending_personal_question(tracker)
        if question is None:
            name = tracker.get_slot("patient_first_name") or "there"
            dispatcher.utter_message(text=f"Thanks, {name}, you're verified. You can ask about your next "
                                     "session, your course, or when you can wash your hair or exercise.")
        else:
            answer_personal(dispatcher, patient_id, question)
        return [SlotSet("requested_slot", None)]
