"""Hand the conversation to clinic staff, and record a patient's request to change a booking."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import services, utc_now, verified_patient_id
from actions.faq import ActionSuggestTopics, previous_bot_action
from actions.verification import locked_message
from bot.clinic.hours import reply_expectation
from bot.clinic.requests import change_request_passed_on, create_change_request
from bot.clinic.summaries import handoff_summary as readable_handoff_summary
from bot.conversations.handoff import HandoffRequest

# Why the conversation reached staff, from what the bot was doing when it happened.
REASON_BY_LAST_INTENT = {"request_human": "asked_for_person", "nlu_fallback": "fallback"}


# A request for a person while a booking change is under way (the form, or the patient's wishes
# just recorded) is about that change.
BOOKING_CHANGE_INTENTS = ("request_reschedule", "request_cancel")
BOOKING_CHANGE_FORM = "change_request_form"


def is_about_a_booking_change(tracker: Tracker) -> bool:
    """True while the change-request form runs, or when the patient's last intent before was a change."""
    if (tracker.active_loop or {}).get("name") == BOOKING_CHANGE_FORM or tracker.get_slot("change_kind"):
        return True
    intents = [(e.get("parse_data") or {}).get("intent", {}).get("name") for e in tracker.events
               if e.get("event") == "user"]
    earlier = [i for i in intents[:-1] if i]
    return bool(earlier) and earlier[-1] in BOOKING_CHANGE_INTENTS


def handoff_reason(tracker: Tracker) -> Text:
    """Why the conversation reaches staff, from what was happening when the patient asked.

    "fallback" after the bot's "did you mean" offers; "verification_locked" once identity checks
    stopped for this conversation (staff then know to confirm identity another way);
    "booking_change" during a reschedule or cancellation; otherwise by the latest intent.
    """
    if previous_bot_action(tracker) == ActionSuggestTopics().name():
        return "fallback"
    if tracker.get_slot("verification_locked") is True:
        return "verification_locked"
    if is_about_a_booking_change(tracker):
        return "booking_change"
    intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
    return REASON_BY_LAST_INTENT.get(intent, "asked_for_person")


def asked_intent(parse_data: Dict[Text, Any]) -> Optional[Text]:
    """The intent of one patient message; for an FAQ question its topic ("faq/what_is")."""
    name = (parse_data.get("intent") or {}).get("name")
    if name == "faq":
        selected = ((parse_data.get("response_selector") or {}).get("faq") or {}).get("response") or {}
        return selected.get("intent_response_key") or name
    return name


def handoff_summary(tracker: Tracker) -> Text:
    """A short, non-clinical summary for the inbox: the topics the patient asked about, by their titles."""
    intents = [asked_intent(e.get("parse_data") or {}) for e in tracker.events if e.get("event") == "user"]
    return readable_handoff_summary(verified_patient_id(tracker) is not None, intents)


class ActionHandoff(Action):
    """Ask for staff and tell the patient when to expect a reply; the bot then stays silent.

    The request travels in the reply as a custom message: the router opens the escalation
    (bot.conversations.handoff), so this process never writes conversation tables.
    """

    def name(self) -> Text:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        now, clinic = utc_now(), services().settings.clinic
        request = HandoffRequest(reason=handoff_reason(tracker), summary=handoff_summary(tracker),
                                 patient_id=verified_patient_id(tracker))
        dispatcher.utter_message(
            text="I've asked a member of the clinic team to join this conversation; they will reply here. "
            f"{reply_expectation(clinic, now)} If it's urgent, call {clinic.phone}."
        )
        dispatcher.utter_message(json_message=request.as_custom_message())
        return []


class ActionSubmitChangeRequest(Action):
    """Record a reschedule or cancellation request for staff; the booking itself is not changed."""

    def name(self) -> Text:
        return "action_submit_change_request"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        patient_id = verified_patient_id(tracker)
        if patient_id is None:
            locked_message(dispatcher)
            return [SlotSet("change_details", None)]
        kind = tracker.get_slot("change_kind") or "reschedule"
        now, clinic = utc_now(), services().settings.clinic
        with services().session_factory.begin() as session:
            create_change_request(session, kind=kind, patient_id=patient_id, sender_key=tracker.sender_id,
                                  wishes=tracker.get_slot("change_details") or "", now=now)
        dispatcher.utter_message(text=change_request_passed_on(clinic, kind, now))
        return [SlotSet("change_details", None), SlotSet("change_kind", None)]
