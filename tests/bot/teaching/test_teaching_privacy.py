"""A patient's words in the teaching queue go when their message goes: erasure and retention."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.db.models import StaffRequest, TrainingExample
from bot.privacy.erasure import erase_conversations
from bot.privacy.retention import purge_expired
from bot.teaching import queue as teaching
from tests.support.clock import START


def queued_texts(session_factory):
    with session_factory() as session:
        return sorted(session.execute(select(TrainingExample.text)).scalars())


def flag(session, rows, conversation_id, text, staff_id, *, at=START, label=None):
    message_id = rows.message(conversation_id, text, at=at, session=session)
    teaching.flag_message(session, message_id, staff_id, at)
    if label:
        example = session.execute(select(TrainingExample.id).where(
            TrainingExample.message_id == message_id)).scalar_one()
        teaching.label(session, example, staff_id, label, "", at)


def test_erasing_a_patients_conversations_takes_their_teaching_copies(any_session_factory, rows, staff_id):
    admin = rows.staff_user("admin@clinic.example", role="admin")
    with any_session_factory.begin() as session:
        request_id = rows.request("web:alex-session", kind="delete_data", session=session)
        theirs = session.get(StaffRequest, request_id).conversation_id
        flag(session, rows, theirs, "does it hurt, I'm on 07700 900123", staff_id, label="faq/pain")
        flag(session, rows, theirs, "hmm", staff_id)
        flag(session, rows, rows.conversation(session=session), "someone else's question", staff_id)
    with any_session_factory.begin() as session:
        erase_conversations(session, request_id, staff_user_id=admin, now=START)
    assert queued_texts(any_session_factory) == ["someone else's question"]


def test_retention_takes_the_copies_of_the_messages_it_deletes(any_session_factory, rows, staff_id):
    recent = START + timedelta(days=399)
    with any_session_factory.begin() as session:
        old_conversation = rows.conversation(session=session)
        flag(session, rows, old_conversation, "old and forgotten", staff_id, label="faq/pain")
        lasting = rows.conversation(session=session)
        flag(session, rows, lasting, "old words in a lasting chat", staff_id)
        flag(session, rows, lasting, "recent words", staff_id, at=recent)
    with any_session_factory.begin() as session:
        report = purge_expired(session, now=START + timedelta(days=400), retention_days=365)
    assert report.counts["conversations"] == 1 and report.counts["messages"] == 2
    assert queued_texts(any_session_factory) == ["recent words"]
