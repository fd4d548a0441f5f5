"""Short follow-ups ("why?", "how long does that last?", "what about after?") about the topic in play.

The topic is the one of the assistant's latest answer in this conversation: an `utter_faq/<topic>`
response, or the `topic_in_play` slot that this action and the aftercare actions set. What is said
about each (topic, aspect) pair is in knowledge/followups.yml; a pair not listed asks for the whole
question instead of guessing.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.faq import topic_catalogue

FOLLOWUPS_FILE = Path(__file__).resolve().parent.parent / "knowledge" / "followups.yml"
FOLLOWUP_PREFIX = "followup_"
TOPIC_SLOT = "topic_in_play"
# How many earlier patient messages a follow-up may reach back over to find its topic.
MAX_TURNS_BACK = 3


@lru_cache(maxsize=1)
def followup_table() -> Dict[Text, Dict[Text, Dict[Text, Any]]]:
    """topic -> aspect -> {response | topic}, read once."""
    return yaml.safe_load(FOLLOWUPS_FILE.read_text(encoding="utf-8"))["topics"]


def topic_of_bot_event(event: Dict[Text, Any]) -> Optional[Text]:
    """The FAQ topic of an `utter_faq/<topic>` answer, else None."""
    utter_action = str((event.get("metadata") or {}).get("utter_action") or "")
    if utter_action.startswith("utter_faq/"):
        return utter_action.split("/", 1)[1]
    return None


def topic_in_play(tracker: Tracker) -> Optional[Text]:
    """The topic of the latest answer within the last MAX_TURNS_BACK patient messages."""
    users_seen = 0
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            users_seen += 1
            if users_seen > MAX_TURNS_BACK:
                return None
        elif kind == "bot" and topic_of_bot_event(event):
            return topic_of_bot_event(event)
        elif kind == "slot" and event.get("name") == TOPIC_SLOT and event.get("value"):
            return str(event["value"])
    return None


def aspect_of(intent: Text) -> Optional[Text]:
    """`followup_why` -> `why`."""
    return intent[len(FOLLOWUP_PREFIX):] if intent.startswith(FOLLOWUP_PREFIX) else None


class ActionAnswerFollowup(Action):
    """Answer a short follow-up about the topic of the previous answer."""

    def name(self) -> Text:
        return "action_answer_followup"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        aspect = aspect_of(str((tracker.latest_message.get("intent") or {}).get("name") or ""))
        topic = topic_in_play(tracker)
        if topic is None or aspect is None:
            dispatcher.utter_message(response="utter_followup_no_topic")
            return []
        entry = followup_table().get(topic, {}).get(aspect)
        if entry is None:
            title = topic_catalogue().get(topic, {}).get("title", topic.replace("_", " "))
            dispatcher.utter_message(response="utter_followup_unclear", followup_topic_title=title.lower())
            return [SlotSet(TOPIC_SLOT, topic)]
        if "topic" in entry:
            dispatcher.utter_message(response=f"utter_faq/{entry['topic']}")
            return [SlotSet(TOPIC_SLOT, entry["topic"])]
        dispatcher.utter_message(response=entry["response"])
        return [SlotSet(TOPIC_SLOT, topic)]
