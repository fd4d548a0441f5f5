"""Session start: a new conversation session starts unverified, unless the channel vouches for the phone.

It also sets the hours the general answers state ("{wash_hours} hours" in domain.yml) from the clinic
profile, so they always agree with the personal answers and the care messages.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import services
from bot.clinic.aftercare import general_answer_hours
from bot.clinic.bookings import find_patient_by_phone
from bot.clinic.identity import verified_channel_phone


class ActionSessionStart(Action):
    """Start the session with the profile's hours; a sender whose signed phone matches a patient is verified."""

    def name(self) -> Text:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        events: List[Dict[Text, Any]] = [SessionStarted()]
        hours = general_answer_hours(services().settings.clinic)
        events += [SlotSet(name, value) for name, value in hours.items()]
        metadata = tracker.get_slot("session_started_metadata")
        phone = verified_channel_phone(services().settings.identity_signing_key, tracker.sender_id, metadata)
        if phone:
            with services().session_factory.begin() as session:
                patient = find_patient_by_phone(session, phone)
            if patient is not None:
                events += [SlotSet("verified", True), SlotSet("verified_patient_id", str(patient.id)),
                           SlotSet("patient_first_name", patient.first_name)]
        events.append(ActionExecuted("action_listen"))
        return events
