"""Readable escalation summaries: what the patient asked about, in words staff read, never intent
names or button payloads.

FAQ questions are named by their topic titles from knowledge/topics.yml (the titles the "did you
mean" buttons show); the other intents by a short description. Summaries stored before this
existed ("verified patient; recent topics: ask_wash_hair, request_human") are translated on
display with `readable_summary`.
"""
from __future__ import annotations

import re
from typing import Iterable, List, Optional

from bot.teaching.topics import FAQ_PREFIX, topic_of

INTENT_DESCRIPTIONS = {
    "faq": "A question about the treatment",
    "greet": "Greeting",
    "goodbye": "Goodbye",
    "thank": "Thanks",
    "bot_challenge": "Asked whether this is a bot",
    "affirm": "Yes",
    "deny": "No",
    "out_of_scope": "Something the assistant does not cover",
    "nlu_fallback": "Something the assistant did not understand",
    "request_human": "Asked for a person",
    "ask_cost": "Prices",
    "ask_wash_hair": "Washing hair after a session",
    "ask_exercise_sun": "Exercise and sun after a session",
    "ask_dye_styling": "Hair dye and styling after a session",
    "ask_medicine_before": "Medicines before a session",
    "ask_next_appointment": "Their next appointment",
    "ask_last_session": "Their last session",
    "ask_course_progress": "Their course progress",
    "request_reschedule": "Reschedule a session",
    "request_cancel": "Cancel a session",
    "verify_identity": "Identity check",
    "inform": "Gave details",
    "ask_medical_advice": "Medical advice",
    "request_data_deletion": "Delete their data",
    "chitchat": "Small talk",
    "ask_other_treatment": "Other treatments",
    "followup_after": "Follow-up: what happens after",
    "followup_before": "Follow-up: what to do before",
    "followup_duration": "Follow-up: how long it lasts",
    "followup_why": "Follow-up: why",
    "followup_normal": "Follow-up: is this normal",
}
OTHER_TOPIC = "Another question"
MAX_TOPICS = 5
OLD_SUMMARY = re.compile(r"^(verified patient|not verified); recent topics: (.*)$", re.DOTALL)


def describe_intent(intent: Optional[str]) -> str:
    """A readable name for an intent or a button payload ("/request_human", "faq/what_is")."""
    name = (intent or "").strip().lstrip("/")
    name = name.split("{", 1)[0].strip()  # a payload's entities ("/inform{...}") are never shown
    topic = topic_of(name if name.startswith(FAQ_PREFIX) else FAQ_PREFIX + name) if name else None
    if topic is not None and name != "faq":
        return topic.title
    return INTENT_DESCRIPTIONS.get(name, OTHER_TOPIC)


def describe_topics(intents: Iterable[Optional[str]], limit: int = MAX_TOPICS) -> List[str]:
    """Readable names of the most recent distinct topics (oldest first, at most `limit`)."""
    names = [describe_intent(i) for i in intents if i]
    recent: List[str] = []
    for name in reversed(names):
        if name not in recent:
            recent.append(name)
        if len(recent) == limit:
            break
    return list(reversed(recent))


def handoff_summary(verified: bool, intents: Iterable[Optional[str]]) -> str:
    """Like "Verified patient. Asked about: How many sessions; Asked for a person"."""
    who = "Verified patient" if verified else "Not verified"
    topics = describe_topics(intents)
    return f"{who}. Asked about: {'; '.join(topics)}" if topics else f"{who}. No earlier questions."


def readable_summary(summary: str) -> str:
    """A stored summary as staff should read it: old intent-name summaries translated, others as they are."""
    found = OLD_SUMMARY.match((summary or "").strip())
    if found is None:
        return summary or ""
    names = [part.strip() for part in found.group(2).split(",")]
    intents = [] if names == ["none"] else names
    return handoff_summary(found.group(1) == "verified patient", intents)
