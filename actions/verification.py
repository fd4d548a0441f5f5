"""Identity before disclosure: booking reference plus date of birth, checked against the clinic's records.

The `verified` slot is set here and nowhere else: never from NLU entities or a typed payload.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import HANDOFF_BUTTON, services, utc_now
from bot.clinic.bookings import get_patient, normalise_reference
from bot.clinic.verification import (
    MAX_FAILED_ATTEMPTS,
    VERIFIED_NOTICE,
    parse_date_of_birth,
    reference_in,
    reference_lock_key,
    verify_by_reference,
)

LOCKED_VALUE = "locked"
MAX_REFERENCE_CHARS = 40


def locked_events() -> List[Dict[Text, Any]]:
    """Fill the form's slots so it ends, and remember that verification is closed for this session."""
    return [SlotSet("booking_reference", LOCKED_VALUE), SlotSet("date_of_birth", LOCKED_VALUE),
            SlotSet("verification_locked", True), SlotSet("verified", False)]


def locked_message(dispatcher: CollectingDispatcher) -> None:
    """Tell the patient verification has stopped and offer a person."""
    dispatcher.utter_message(
        text="I couldn't confirm your details, so for your security I've stopped trying for now. "
        "A member of the clinic team can help you instead.",
        buttons=[HANDOFF_BUTTON],
    )


def mismatch_message(reference: Text, attempts_left: int) -> Text:
    """The reply to a wrong date of birth, word for word the same whether or not the reference exists.

    The form asks for the date of birth again right after it, so this line does not ask too.
    """
    which = f"the booking reference {reference}" if reference else "that booking reference"
    return (f"Sorry, that date of birth doesn't match {which} ({attempts_left} of {MAX_FAILED_ATTEMPTS} "
            "tries left). If the reference was wrong, you can type the right one instead.")


class VerificationValidation(FormValidationAction):
    """Shared validation of booking reference and date of birth for every form that needs identity."""

    def name(self) -> Text:
        return "validate_verification_form"

    async def required_slots(
        self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Text]:
        """Skip the identity questions once the patient is verified or verification is locked."""
        if tracker.get_slot("verified") is True or tracker.get_slot("verification_locked") is True:
            return [slot for slot in domain_slots if slot not in ("booking_reference", "date_of_birth")]
        return domain_slots

    def validate_booking_reference(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """Accept anything shaped like a reference; the check against the records waits for the DOB."""
        text = str(value or "").strip()
        if not text or len(text) > MAX_REFERENCE_CHARS or text.startswith("/"):
            dispatcher.utter_message(text="That doesn't look like a booking reference. It looks like MC-1234.")
            return {"booking_reference": None}
        return {"booking_reference": normalise_reference(text)}

    def validate_date_of_birth(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """Check reference and date of birth together; at most 5 failures, then stop.

        After a mismatch the reference is kept and only the date of birth is asked again; a booking
        reference typed here instead replaces the kept one (and the date of birth is asked for it).
        Whether the reference exists is never revealed: the mismatch and the locked replies are the
        same either way.
        """
        now = utc_now()
        text = str(value or "")
        if parse_date_of_birth(text, now.date()) is None:
            new_reference = reference_in(text)
            if new_reference is not None:
                dispatcher.utter_message(text=f"OK, I'll check booking reference {new_reference} instead.")
                return {"booking_reference": new_reference, "date_of_birth": None}
            dispatcher.utter_message(text="Sorry, I couldn't read that date.")
            return {"date_of_birth": None}
        reference = normalise_reference(tracker.get_slot("booking_reference") or "")
        clinic = services()
        key = reference_lock_key(clinic.settings.identity_signing_key, clinic.settings.session_secret)
        with clinic.session_factory.begin() as session:
            result = verify_by_reference(session, tracker.sender_id, reference, text, now, key)
            patient = get_patient(session, result.patient_id) if result.patient_id else None
        if patient is not None:
            dispatcher.utter_message(json_message=VERIFIED_NOTICE)  # the router binds it to this tab
            return {"date_of_birth": "checked", "verified": True, "verified_patient_id": str(patient.id),
                    "patient_first_name": patient.first_name, "verification_locked": False}
        if result.outcome == "locked" or result.attempts_left <= 0:
            return {event["name"]: event["value"] for event in locked_events()}
        dispatcher.utter_message(text=mismatch_message(reference, result.attempts_left))
        return {"booking_reference": reference or None, "date_of_birth": None}


class ChangeRequestValidation(VerificationValidation):
    """The reschedule/cancel form: identity first (unless already verified), then the patient's wishes."""

    def name(self) -> Text:
        return "validate_change_request_form"

    def validate_change_details(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """Keep the patient's words (up to 1,000 characters) for the staff."""
        text = " ".join(str(value or "").split())[:1000]
        return {"change_details": text or None}
