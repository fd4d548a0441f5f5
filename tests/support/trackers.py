"""rasa_sdk trackers and dispatchers for the custom actions' tests, built inline as rasa_sdk's own
tests build them: `make_tracker(user_message(...), slots)`, then `run(action, tracker)`."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

# The slots of the demo patient (Alex Morgan, id 1) once verified.
VERIFIED_ALEX = {"verified": True, "verified_patient_id": "1", "patient_first_name": "Alex"}


def user_message(text: str, intent: str, entities: Optional[List[Dict[str, Any]]] = None,
                 **extra: Any) -> Dict[str, Any]:
    """A parsed user message as the tracker holds it."""
    return {"text": text, "intent": {"name": intent, "confidence": 0.95}, "entities": entities or [], **extra}


def make_tracker(latest: Dict[str, Any], slots: Optional[Dict[str, Any]] = None,
                 events: Optional[List[Dict[str, Any]]] = None, sender_id: str = "web:test-session",
                 active_loop: Optional[Dict[str, Any]] = None) -> Tracker:
    """A rasa_sdk Tracker whose latest message is `latest`, with its user event appended to `events`."""
    events = list(events or []) + [{"event": "user", "text": latest["text"], "parse_data": latest}]
    return Tracker(sender_id, slots or {}, latest, events, False, None, active_loop or {}, "action_listen")


async def run(action, tracker: Tracker) -> Tuple[CollectingDispatcher, List[Dict[str, Any]]]:
    """Run `action` on `tracker` with an empty domain; (its dispatcher, the events it returned)."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher, events


def texts(dispatcher: CollectingDispatcher) -> str:
    """Everything the action said, one message a line."""
    return "\n".join(m.get("text") or "" for m in dispatcher.messages)
