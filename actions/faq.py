"""FAQ helpers that need more than a fixed response: the clinic's own prices, and "did you mean...?"."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Text

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import services
from bot.teaching.notice import NOT_UNDERSTOOD_NOTICE

TOPICS_FILE = Path(__file__).resolve().parent.parent / "knowledge" / "topics.yml"
MAX_SUGGESTIONS = 3
SECOND_MISS_RESPONSE = "utter_fallback_offer_staff"
MIN_SUGGESTION_CONFIDENCE = 0.05
PRICE_LABELS = {
    "consultation": "Consultation", "single_session": "Single session", "course_of_6": "Course of 6 sessions",
    "course_of_10": "Course of 10 sessions", "maintenance_session": "Maintenance session",
}
CURRENCY_SIGNS = {"GBP": "£", "EUR": "€", "USD": "$"}


@lru_cache(maxsize=1)
def topic_catalogue() -> Dict[Text, Dict[Text, Any]]:
    """Topic -> title and canonical question, from the source map (read once)."""
    return yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8"))["topics"]


def format_price(amount: float, currency: Text) -> Text:
    """£1,140 or £49.50."""
    sign = CURRENCY_SIGNS.get(currency, currency + " ")
    return f"{sign}{amount:,.0f}" if float(amount).is_integer() else f"{sign}{amount:,.2f}"


def price_list_text() -> Text:
    """The clinic's price list as one message, with the seeds' ranges only as context."""
    clinic = services().settings.clinic
    lines = [f"{PRICE_LABELS.get(key, key.replace('_', ' ').capitalize())}: {format_price(value, clinic.currency)}"
             for key, value in clinic.prices.items()]
    return (f"Prices at {clinic.name}:\n" + "\n".join(lines) +
            "\nCourses cost less per session than single sessions. How many sessions you need is set at your "
            "consultation. Elsewhere, prices vary a lot with the practitioner, location and number of sessions.")


class ActionAnswerCost(Action):
    """The clinic's own price list (from clinic.yml), not the articles' figures."""

    def name(self) -> Text:
        return "action_answer_cost"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        dispatcher.utter_message(text=price_list_text())
        return []


def suggested_topics(parse_data: Dict[Text, Any]) -> List[Text]:
    """The response selector's best FAQ topics for a message the NLU was unsure about."""
    selector = (parse_data.get("response_selector") or {}).get("faq") or {}
    catalogue = topic_catalogue()
    topics = []
    for candidate in selector.get("ranking") or []:
        topic = str(candidate.get("intent_response_key", "")).split("/", 1)[-1]
        if topic in catalogue and topic not in topics and candidate.get("confidence", 0) >= MIN_SUGGESTION_CONFIDENCE:
            topics.append(topic)
        if len(topics) == MAX_SUGGESTIONS:
            break
    return topics


def previous_bot_action(tracker: Tracker) -> Text:
    """The last action the bot ran before the current user message (action_listen skipped)."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                continue
            seen_user = True
        elif seen_user and event.get("event") == "action" and event.get("name") != "action_listen":
            return event.get("name") or ""
    return ""


class ActionSuggestTopics(Action):
    """Two-stage fallback: first "did you mean...?" with the best topics, then a second miss offers staff.

    Both tell the router, by NOT_UNDERSTOOD_NOTICE (never shown), that the message was not understood:
    it is counted in the analytics' fallback rate and queued for teaching.
    """

    def name(self) -> Text:
        return "action_suggest_topics"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        dispatcher.utter_message(json_message=NOT_UNDERSTOOD_NOTICE)  # the router counts it and queues it for teaching
        if previous_bot_action(tracker) == self.name():
            # A response of its own, so a rule can hand over when the patient answers a typed "yes".
            return [FollowupAction(SECOND_MISS_RESPONSE)]
        catalogue = topic_catalogue()
        buttons = [{"title": catalogue[t]["title"], "payload": catalogue[t]["question"]}
                   for t in suggested_topics(tracker.latest_message)]
        buttons.append({"title": "Something else", "payload": "/deny"})
        dispatcher.utter_message(text="Sorry, I'm not sure I understood. Did you mean one of these?", buttons=buttons)
        return []
