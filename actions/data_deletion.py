"""A patient's request to erase their data: identity first, then a request for staff (never done by the bot).

The clinic team confirms with the patient and erases their conversations with the assistant; booking
records stay, because the clinic has to keep them.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import services, user_turns_outside_forms, utc_now, verified_patient_id
from actions.verification import VerificationValidation, locked_message
from bot.clinic.hours import reply_expectation
from bot.clinic.requests import request_data_deletion

DATA_DELETION_FORM = "data_deletion_form"
DELETION_INTENT = "request_data_deletion"
MAX_ASKED_CHARS = 500
WHAT_HAPPENS = ("They will confirm it with you and then erase your conversations with this assistant. "
                "Your booking records stay, because the clinic must keep them.")


def deletion_asked_in_words(tracker: Tracker) -> Text:
    """What the patient wrote when they asked (for staff), from the last such message outside a form."""
    for message in reversed(user_turns_outside_forms(tracker)):
        if (message.get("intent") or {}).get("name") == DELETION_INTENT:
            text = " ".join(str(message.get("text") or "").split())
            return "" if text.startswith("/") else text[:MAX_ASKED_CHARS]
    return ""


class DataDeletionValidation(VerificationValidation):
    """The identity questions of the erasure form: the same checks, attempts and lock as verification_form."""

    def name(self) -> Text:
        return "validate_data_deletion_form"


class ActionRequestDataDeletion(Action):
    """Record a "delete_data" request for the verified patient, once, and say what happens next."""

    def name(self) -> Text:
        return "action_request_data_deletion"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        patient_id = verified_patient_id(tracker)
        if patient_id is None:
            if tracker.get_slot("verification_locked"):
                locked_message(dispatcher)
                return []
            # Not verified and not locked (only when reached outside the form): ask who they are first.
            # The identity slots are cleared so that the form asks again instead of ending at once.
            dispatcher.utter_message(text="Before I pass on a request to delete your data, I need to confirm "
                                     "who you are.")
            return [SlotSet("verified", False), SlotSet("booking_reference", None),
                    SlotSet("date_of_birth", None), FollowupAction(DATA_DELETION_FORM)]
        now, clinic = utc_now(), services().settings.clinic
        with services().session_factory.begin() as session:
            _, created = request_data_deletion(
                session, patient_id=patient_id, sender_key=tracker.sender_id,
                wishes=deletion_asked_in_words(tracker), now=now)
        if created:
            text = (f"I've passed your request to delete your data to the clinic team. {WHAT_HAPPENS} "
                    "They will reply here or contact you using the details on your booking record. "
                    f"{reply_expectation(clinic, now)}")
        else:
            text = (f"You've already asked us to delete your data, and the clinic team has your request. "
                    f"{WHAT_HAPPENS} {reply_expectation(clinic, now)}")
        if clinic.privacy_notice_url:
            text += f" How we handle your data: {clinic.privacy_notice_url}"
        dispatcher.utter_message(text=text)
        return []
