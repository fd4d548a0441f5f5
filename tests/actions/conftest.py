"""Actions run against a real, migrated SQLite database holding the demo clinic, at a frozen time."""
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

import pytest
from freezegun import freeze_time
from rasa_sdk import Tracker

from actions.common import ClinicServices, use_services
from bot.clinic.demo import seed_demo_clinic
from bot.settings import Settings

# Saturday 21 November 2026, 12:00 in London (UTC in winter). The demo patient's last session was
# yesterday at 10:00 and the next is on Tuesday 24 November at 14:00.
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def settings(db_url) -> Settings:
    return Settings.from_env({"DATABASE_URL": db_url})


@pytest.fixture
def clinic(settings, session_factory):
    """The demo clinic seeded at NOW, the actions pointed at it, and the clock frozen at NOW."""
    seed_demo_clinic(session_factory, NOW, settings.clinic.timezone)
    use_services(ClinicServices(settings, session_factory))
    with freeze_time(NOW):
        yield session_factory
    use_services(None)


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


VERIFIED_ALEX = {"verified": True, "verified_patient_id": "1", "patient_first_name": "Alex"}
