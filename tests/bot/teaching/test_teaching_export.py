"""The teaching queue's domain functions and `python -m bot export-nlu`: exact content, personal
details scrubbed, and a file Rasa reads as NLU training data for intents the domain answers."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot.__main__ import main
from bot.db.models import AuditLog, TrainingExample
from bot.settings import PROJECT_ROOT
from bot.teaching import queue as teaching
from bot.teaching.export import ExportPathRefused, check_export_path, nlu_yaml
from bot.teaching.scrub import scrub
from bot.teaching.topics import faq_topics
from tests.support.clock import START


@pytest.mark.parametrize("text, scrubbed", [
    ("call me on 07700 900123 or +44 7700 900124", "call me on [phone] or [phone]"),
    ("email a.b+meso@example.co.uk please", "email [email] please"),
    ("my dob is 12/04/1988", "my dob is [date]"),
    ("born 9 March 1987, ref MC-4827", "born [date], ref [reference]"),
    ("booking mc4827 on April 12, 1988", "booking [reference] on [date]"),
    ("does it hurt after 3 sessions in 2 weeks? B12 too", "does it hurt after 3 sessions in 2 weeks? B12 too"),
])
def test_personal_details_become_placeholders(text, scrubbed):
    assert scrub(text) == scrubbed


def queued(session, rows, text, staff, *, at=START):
    """A patient message, flagged by `staff`; the example's id."""
    conversation = rows.conversation(session=session)
    message_id = rows.message(conversation, text, at=at, session=session)
    teaching.flag_message(session, message_id, staff, at)
    return session.execute(select(TrainingExample.id).where(TrainingExample.message_id == message_id)).scalar_one()


def seed_labels(any_session_factory, rows, staff):
    """Five labelled examples (one a repeat), one new-topic-needed, one dismissed, one open."""
    with any_session_factory.begin() as session:
        labels = [
            ("does the jab sting much", "faq/pain", ""),
            ("how long till I can wash my hair, call 07700 900123", "faq/after_session", ""),
            ("Does the jab   sting much", "faq/pain", ""),  # the same words again: exported once
            ("is meso ok with my mail bob@example.com", "faq/what_is", ""),
            ("can I get it on the NHS, DOB 01/02/1990", teaching.NEW_TOPIC, "NHS funding question"),
        ]
        for minutes, (text, choice, note) in enumerate(labels):
            example = queued(session, rows, text, staff)
            teaching.label(session, example, staff, choice, note, START + timedelta(minutes=minutes))
        teaching.dismiss(session, queued(session, rows, "lol ok", staff), staff, START)
        queued(session, rows, "still waiting for a label", staff)


def test_export_groups_labels_by_topic_scrubs_them_and_lists_new_topics(any_session_factory, rows, staff_id):
    seed_labels(any_session_factory, rows, staff_id)
    with any_session_factory() as session:
        text = nlu_yaml(teaching.labelled_examples(session), START)
    body = text.split('version: "3.1"', 1)[1]
    assert body == """

nlu:
# What mesotherapy is
- intent: faq/what_is
  examples: |
    - is meso ok with my mail [email]
# Does it hurt?
- intent: faq/pain
  examples: |
    - does the jab sting much
# After a session
- intent: faq/after_session
  examples: |
    - how long till I can wash my hair, call [phone]

# New topic needed (no FAQ answer fits yet; a clinician decides whether to write one):
#   - can I get it on the NHS, DOB [date]  (note: NHS funding question)
"""
    header = text.split('version: "3.1"', 1)[0]
    assert "moves the right ones into" in header and "data/nlu/" in header and "NOT training data yet" in header
    assert all(line.startswith("#") or not line for line in header.splitlines())


def test_the_export_is_nlu_data_rasa_reads_for_intents_the_domain_answers(any_session_factory, rows, staff_id,
                                                                          tmp_path):
    from rasa.shared.core.domain import Domain
    from rasa.shared.nlu.training_data.loading import load_data

    seed_labels(any_session_factory, rows, staff_id)
    with any_session_factory.begin() as session:
        tricky = queued(session, rows, "what is [this](thing) {odd}\tstuff", staff_id)
        teaching.label(session, tricky, staff_id, "faq/what_is", "", START + timedelta(hours=1))
    path = tmp_path / "nlu_from_staff.yml"
    with any_session_factory() as session:
        path.write_text(nlu_yaml(teaching.labelled_examples(session), START), encoding="utf-8")
    data = load_data(str(path))
    by_intent = {}
    for message in data.intent_examples:
        by_intent.setdefault(message.get("intent_response_key") or message.get("intent"), []).append(
            message.get("text"))
    assert by_intent == {
        "faq/what_is": ["is meso ok with my mail [email]", "what is [this] (thing) {odd} stuff"],
        "faq/pain": ["does the jab sting much"],
        "faq/after_session": ["how long till I can wash my hair, call [phone]"],
    }
    assert data.entity_examples == []  # nothing the patient typed is read as an entity annotation
    domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
    assert {f"utter_{intent}" for intent in by_intent} <= set(domain.responses)


def test_a_text_labelled_with_two_topics_is_left_for_the_clinician(any_session_factory, rows, staff_id):
    with any_session_factory.begin() as session:
        for choice in ("faq/pain", "faq/downtime"):
            teaching.label(session, queued(session, rows, "is it bad", staff_id), staff_id, choice, "", START)
    with any_session_factory() as session:
        text = nlu_yaml(teaching.labelled_examples(session), START)
    assert "nlu: []" in text
    assert text.endswith("# Labelled with different topics by staff (left out above; a clinician decides):\n"
                         "#   - is it bad  (faq/pain, faq/downtime)\n")
    assert yaml.safe_load(text) == {"version": "3.1", "nlu": []}


def test_a_label_whose_topic_was_retired_is_listed_not_exported(any_session_factory, rows, staff_id):
    with any_session_factory.begin() as session:
        example = queued(session, rows, "what about the old topic", staff_id)
        teaching.label(session, example, staff_id, "faq/pain", "", START)
        session.get(TrainingExample, example).intent = "faq/retired_topic"  # topics.yml changed since
    with any_session_factory() as session:
        text = nlu_yaml(teaching.labelled_examples(session), START)
    assert "nlu: []" in text and text.endswith(
        "# Labelled with a topic that is no longer in knowledge/topics.yml (left out above):\n"
        "#   - what about the old topic  (faq/retired_topic)\n")


def test_every_topic_has_a_readable_title_and_an_answer():
    topics = faq_topics()
    assert len(topics) >= 20
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    for topic in topics:
        assert topic.title and topic.title != topic.key and f"utter_{topic.intent}" in domain["responses"]


@pytest.mark.parametrize("inside", ["data/nlu/staff.yml", "data/review/staff.yml", "data"])
def test_the_export_never_lands_where_rasa_trains(inside):
    with pytest.raises(ExportPathRefused):
        check_export_path(PROJECT_ROOT / inside)


def test_labelling_refuses_what_is_not_a_topic_and_a_long_note(any_session_factory, rows, staff_id):
    with any_session_factory.begin() as session:
        example = queued(session, rows, "hmm", staff_id)
        with pytest.raises(teaching.TeachingError):
            teaching.label(session, example, staff_id, "faq", "", START)
        with pytest.raises(teaching.TeachingError):
            teaching.label(session, example, staff_id, "greet", "", START)
        with pytest.raises(teaching.TeachingError):
            teaching.label(session, example, staff_id, teaching.NEW_TOPIC, "x" * 501, START)
        with pytest.raises(LookupError):
            teaching.label(session, example + 99, staff_id, "faq/pain", "", START)
        assert session.get(TrainingExample, example).status == "open"


def test_the_copy_is_truncated_and_survives_the_message(any_session_factory, rows, staff_id):
    from bot.db.models import Message

    with any_session_factory.begin() as session:
        example = queued(session, rows, "a" * 700, staff_id)
        message_id = session.get(TrainingExample, example).message_id
        session.delete(session.get(Message, message_id))
    with any_session_factory() as session:
        row = session.get(TrainingExample, example)
        assert row.text == "a" * 500 and row.message_id is None


def test_export_nlu_writes_the_file_and_audits_it(monkeypatch, any_session_factory, rows, staff_id, any_db_url,
                                                  tmp_path, capsys):
    monkeypatch.setenv("DATABASE_URL", any_db_url)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    seed_labels(any_session_factory, rows, staff_id)
    out = tmp_path / "review" / "nlu.yml"
    assert main(["export-nlu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("wrote 3 examples for 3 topics, 1 'new topic needed' and 0 conflicting")
    assert "- intent: faq/pain" in out.read_text(encoding="utf-8")
    with any_session_factory() as session:
        entry = session.execute(select(AuditLog).where(AuditLog.action == "teaching_exported")).scalar_one()
    assert entry.actor_type == "system" and entry.detail == {
        "examples": 3, "topics": 3, "new_topic_needed": 1, "conflicting": 0}


def test_export_nlu_refuses_a_path_under_data(monkeypatch, any_db_url, capsys):
    monkeypatch.setenv("DATABASE_URL", any_db_url)
    target = PROJECT_ROOT / "data" / "nlu" / "from_staff.yml"
    assert main(["export-nlu", "--out", str(target)]) == 2
    assert "not written" in capsys.readouterr().err and not target.exists()


def test_the_default_export_is_outside_data():
    from bot.teaching.export import DEFAULT_EXPORT_PATH

    assert check_export_path(DEFAULT_EXPORT_PATH) == DEFAULT_EXPORT_PATH
    assert Path(PROJECT_ROOT / "data") not in DEFAULT_EXPORT_PATH.parents
