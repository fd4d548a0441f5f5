"""What every action shares: the clinic services (settings + database), the clock, who the patient is."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from sqlalchemy.orm import sessionmaker

from bot.db.session import create_db_engine, make_session_factory
from bot.settings import Settings

# Intents whose answer depends on the patient's own bookings.
PERSONAL_INTENTS = {
    "ask_next_appointment", "ask_last_session", "ask_course_progress",
    "ask_wash_hair", "ask_exercise_sun", "ask_dye_styling", "ask_medicine_before",
}
HANDOFF_BUTTON = {"title": "Talk to a person", "payload": "/request_human"}


@dataclass(frozen=True)
class ClinicServices:
    """Settings and a session factory, created once per action-server process on first use."""

    settings: Settings
    session_factory: sessionmaker


_services: Optional[ClinicServices] = None


def services() -> ClinicServices:
    """The process's clinic services, built from the environment the first time they are needed."""
    global _services
    if _services is None:
        settings = Settings.from_env()
        _services = ClinicServices(settings, make_session_factory(create_db_engine(settings.database_url)))
    return _services


def use_services(value: Optional[ClinicServices]) -> None:
    """Replace the process's services (tests point actions at their own database)."""
    global _services
    _services = value


def utc_now() -> datetime:
    """The current time, timezone-aware (frozen in tests)."""
    return datetime.now(timezone.utc)


def verified_patient_id(tracker: Tracker) -> Optional[int]:
    """The patient this conversation has proved to be, or None; only ever set by our own actions."""
    if tracker.get_slot("verified") is not True:
        return None
    raw = tracker.get_slot("verified_patient_id")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def first_entity_value(message: Dict[Text, Any], entity: Text) -> Optional[Text]:
    """The first value of `entity` found by the spaCy pipeline in one parsed user message."""
    for found in message.get("entities") or []:
        if found.get("entity") == entity and found.get("value"):
            return str(found["value"])
    return None


def user_turns_outside_forms(tracker: Tracker) -> List[Dict[Text, Any]]:
    """User messages sent while no form was active (the questions, not the answers to a form)."""
    turns: List[Dict[Text, Any]] = []
    active_loop: Optional[Text] = None
    for event in tracker.events:
        kind = event.get("event")
        if kind == "active_loop":
            active_loop = event.get("name")
        elif kind == "session_started":
            turns, active_loop = [], None
        elif kind == "user" and active_loop is None:
            turns.append(event.get("parse_data") or {})
    return turns


def pending_personal_question(tracker: Tracker) -> Optional[Dict[Text, Any]]:
    """The personal question that led to verification: the question itself, or the one just before
    "check my booking" when the patient accepted the offer to verify."""
    turns = user_turns_outside_forms(tracker)
    for index in range(len(turns) - 1, -1, -1):
        intent = (turns[index].get("intent") or {}).get("name")
        if intent in PERSONAL_INTENTS:
            return turns[index]
        if intent in ("verify_identity", "request_reschedule", "request_cancel") and index == len(turns) - 1:
            continue
        return None
    return None
