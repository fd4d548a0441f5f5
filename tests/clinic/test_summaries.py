"""Readable escalation summaries: topic titles and intent descriptions, never intent names or payloads."""
from __future__ import annotations

from bot.clinic.summaries import OTHER_TOPIC, describe_intent, handoff_summary, readable_summary


def test_intents_and_payloads_read_as_words():
    assert describe_intent("faq/what_is") == "What mesotherapy is"
    assert describe_intent("/request_human") == "Asked for a person"
    assert describe_intent('/inform{"booking_reference": "MC-1"}') == "Gave details"
    assert describe_intent("ask_wash_hair") == "Washing hair after a session"
    assert describe_intent("something_new") == OTHER_TOPIC


def test_a_summary_lists_recent_distinct_topics_oldest_first():
    intents = ["greet", "ask_cost", "faq/what_is", "ask_cost", "request_human"]
    assert handoff_summary(True, intents) == ("Verified patient. Asked about: Greeting; What mesotherapy is; "
                                              "Prices; Asked for a person")
    assert handoff_summary(False, []) == "Not verified. No earlier questions."
    many = ["greet", "thank", "ask_cost", "ask_wash_hair", "ask_dye_styling", "request_cancel", "goodbye"]
    assert handoff_summary(False, many).count(";") == 4  # at most five topics


def test_old_summaries_are_translated_on_display_and_others_kept():
    assert readable_summary("not verified; recent topics: ask_wash_hair, request_human") == (
        "Not verified. Asked about: Washing hair after a session; Asked for a person")
    assert readable_summary("verified patient; recent topics: none") == "Verified patient. No earlier questions."
    assert readable_summary("Red flag (emergency): allergy, breathing") == "Red flag (emergency): allergy, breathing"
