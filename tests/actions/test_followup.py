"""Short follow-ups are answered about the topic of the previous answer, never by keywords."""
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.followup import ActionAnswerFollowup, followup_table, topic_in_play


def tracker_after(answer_action, followup_intent, text="why?", slot_events=()):
    """A conversation: a question, the bot's answer (utter_action metadata), then the follow-up."""
    events = [
        {"event": "user", "text": "a question", "parse_data": {"intent": {"name": "faq"}}},
        {"event": "bot", "text": "the answer", "metadata": {"utter_action": answer_action}} if answer_action else
        {"event": "action", "name": "action_listen"},
        *slot_events,
        {"event": "user", "text": text, "parse_data": {"intent": {"name": followup_intent}}},
    ]
    latest = {"text": text, "intent": {"name": followup_intent, "confidence": 0.9}, "entities": []}
    return Tracker("web:test", {}, latest, events, False, None, None, "action_listen")


async def answer(tracker):
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerFollowup().run(dispatcher, tracker, {})
    return [m.get("response") for m in dispatcher.messages], events


async def test_how_long_after_side_effects_is_about_side_effects():
    responses, events = await answer(tracker_after("utter_faq/side_effects", "followup_duration", "how long do they last?"))
    assert responses == ["utter_followup_side_effects_duration"]
    assert events == [{"event": "slot", "timestamp": None, "name": "topic_in_play", "value": "side_effects"}]


async def test_the_same_words_follow_the_topic_not_the_keywords():
    after_before, _ = await answer(tracker_after("utter_faq/before_session", "followup_why"))
    after_after, _ = await answer(tracker_after("utter_faq/after_session", "followup_why"))
    assert after_before == ["utter_followup_before_why"] and after_after == ["utter_followup_after_why"]


async def test_what_about_after_a_preparation_answer_gives_the_aftercare_answer():
    responses, events = await answer(tracker_after("utter_faq/before_session", "followup_after", "what about after?"))
    assert responses == ["utter_faq/after_session"]
    assert events[0]["value"] == "after_session"


async def test_topic_set_by_a_personal_answer_counts():
    slot = [{"event": "slot", "name": "topic_in_play", "value": "after_session"}]
    responses, _ = await answer(tracker_after(None, "followup_why", slot_events=slot))
    assert responses == ["utter_followup_after_why"]


async def test_unknown_pair_asks_for_the_whole_question_and_without_a_topic_too():
    responses, _ = await answer(tracker_after("utter_faq/history", "followup_normal", "is that normal?"))
    assert responses == ["utter_followup_unclear"]
    responses, _ = await answer(tracker_after(None, "followup_why"))
    assert responses == ["utter_followup_no_topic"]


def test_an_old_answer_is_not_the_topic_in_play():
    events = [{"event": "bot", "metadata": {"utter_action": "utter_faq/pain"}}] + \
        [{"event": "user", "text": f"q{i}"} for i in range(4)]
    assert topic_in_play(Tracker("s", {}, {}, events, False, None, None, "action_listen")) is None


def test_every_listed_answer_exists_in_the_domain():
    from pathlib import Path

    import yaml

    domain = yaml.safe_load((Path(__file__).resolve().parents[2] / "domain.yml").read_text(encoding="utf-8"))
    for topic, aspects in followup_table().items():
        assert f"utter_faq/{topic}" in domain["responses"], topic
        for entry in aspects.values():
            name = entry.get("response") or f"utter_faq/{entry['topic']}"
            assert name in domain["responses"], (topic, name)
