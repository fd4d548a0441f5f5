"""The teaching queue: one writer for every change to `training_examples`, each audited when staff act.

- `queue_fallback`: the router, after a turn in which the assistant did not understand the message;
- `flag_message`: a staff member's "Flag for teaching" on a patient message (once per message);
- `label` / `dismiss`: a staff member picks the FAQ topic, "new topic needed" (with a note), or
  dismisses the example;
- `queue_page`: a page of the queue for the console (the caller audits the view);
- `forget_messages`: the copies of messages that are being deleted (erasure, retention) go with them.

Plain SQLAlchemy over the caller's session and transaction; no aiohttp, no Rasa.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import List, Optional, Tuple

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.clinic import audit
from bot.db.models import TRAINING_STATUSES, Message, StaffUser, TrainingExample
from bot.teaching.topics import topic_of

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 500
MAX_NOTE_CHARS = 500
NEW_TOPIC = "new_topic"  # the choice "new topic needed": labelled, with no intent


class TeachingError(Exception):
    """A labelling request that cannot be done; the message says why (shown to staff)."""


@dataclass(frozen=True)
class ExampleItem:
    """One row of the queue, safe to use after the session closes."""

    id: int
    message_id: Optional[int]
    conversation_id: Optional[int]
    text: str
    source: str
    status: str
    intent: Optional[str]
    note: Optional[str]
    labelled_by_email: Optional[str]
    labelled_at: Optional[datetime]
    created_at: datetime


def example_text(text: str) -> str:
    """The copy kept of a message: at most MAX_TEXT_CHARS characters."""
    return (text or "").strip()[:MAX_TEXT_CHARS]


def _existing(session: Session, message_id: int) -> Optional[TrainingExample]:
    """The example already made of this message, if any."""
    return session.execute(
        select(TrainingExample).where(TrainingExample.message_id == message_id)).scalar_one_or_none()


def _add(session: Session, message: Message, source: str, now: datetime) -> Tuple[TrainingExample, bool]:
    """The message's example, and whether it was created now (the unique key settles a race)."""
    found = _existing(session, message.id)
    if found is not None:
        return found, False
    example = TrainingExample(message_id=message.id, text=example_text(message.text), source=source,
                              status="open", created_at=now)
    try:
        with session.begin_nested():
            session.add(example)
    except IntegrityError:  # queued at the same moment by another request
        found = _existing(session, message.id)
        if found is None:
            raise
        return found, False
    return example, True


def _patient_message(session: Session, message_id: int) -> Message:
    """The patient's message, or TeachingError."""
    message = session.get(Message, message_id)
    if message is None or message.direction != "in" or message.author != "patient":
        raise TeachingError("there is no such patient message")
    return message


def queue_fallback(session: Session, message_id: int, now: datetime) -> bool:
    """Queue a message the assistant did not understand; True if it was not queued already."""
    _, created = _add(session, _patient_message(session, message_id), "fallback", now)
    if created:
        logger.info("message %s queued for teaching (fallback)", message_id)
    return created


def flag_message(session: Session, message_id: int, staff_user_id: int, now: datetime) -> Tuple[bool, int]:
    """A staff member flags a patient message for teaching (audited): whether it was not queued
    already, and the message's conversation. TeachingError if it is not a patient's message."""
    message = _patient_message(session, message_id)
    example, created = _add(session, message, "flagged", now)
    session.flush()
    audit.record(session, actor_type="staff", actor_id=staff_user_id, action="teaching_flagged",
                 subject_type="training_example", subject_id=example.id,
                 detail={"message_id": message_id, "conversation_id": message.conversation_id,
                         "already_queued": not created}, now=now)
    return created, message.conversation_id


def _open_example(session: Session, example_id: int) -> TrainingExample:
    """The example, or LookupError."""
    example = session.get(TrainingExample, example_id)
    if example is None:
        raise LookupError(f"training example {example_id} does not exist")
    return example


def label(session: Session, example_id: int, staff_user_id: int, choice: str, note: str,
          now: datetime) -> TrainingExample:
    """Label an example with an FAQ intent ("faq/<topic>") or NEW_TOPIC (with an optional note); audited.

    Relabelling is allowed (a second look may correct the first); LookupError if there is no such
    example, TeachingError for a choice that is not a topic.
    """
    example = _open_example(session, example_id)
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise TeachingError(f"the note is longer than {MAX_NOTE_CHARS} characters")
    if choice == NEW_TOPIC:
        intent = None
    elif topic_of(choice) is not None:
        intent = choice
    else:
        raise TeachingError("choose one of the topics, or 'new topic needed'")
    example.status, example.intent, example.note = "labelled", intent, note or None
    example.labelled_by, example.labelled_at = staff_user_id, now
    audit.record(session, actor_type="staff", actor_id=staff_user_id, action="teaching_labelled",
                 subject_type="training_example", subject_id=example.id,
                 detail={"intent": intent or NEW_TOPIC, "note": bool(note)}, now=now)
    return example


def dismiss(session: Session, example_id: int, staff_user_id: int, now: datetime) -> TrainingExample:
    """Dismiss an example (nothing to teach); audited. LookupError if there is no such example."""
    example = _open_example(session, example_id)
    example.status, example.intent, example.note = "dismissed", None, None
    example.labelled_by, example.labelled_at = staff_user_id, now
    audit.record(session, actor_type="staff", actor_id=staff_user_id, action="teaching_dismissed",
                 subject_type="training_example", subject_id=example.id, now=now)
    return example


def queue_page(session: Session, status: str = "open", page: int = 1,
               per_page: int = 25) -> Tuple[List[ExampleItem], int]:
    """One page of the examples in `status` (oldest first while open, newest labelled first otherwise),
    and how many there are in all."""
    if status not in TRAINING_STATUSES:
        raise TeachingError(f"status must be one of {TRAINING_STATUSES}")
    page = max(page, 1)
    where = TrainingExample.status == status
    total = session.execute(select(func.count()).select_from(TrainingExample).where(where)).scalar_one()
    order = (TrainingExample.created_at.asc(), TrainingExample.id.asc()) if status == "open" else (
        TrainingExample.labelled_at.desc(), TrainingExample.id.desc())
    rows = session.execute(
        select(TrainingExample, Message.conversation_id, StaffUser.email)
        .outerjoin(Message, Message.id == TrainingExample.message_id)
        .outerjoin(StaffUser, StaffUser.id == TrainingExample.labelled_by)
        .where(where).order_by(*order).limit(per_page).offset((page - 1) * per_page)).all()
    return [ExampleItem(id=row.id, message_id=row.message_id, conversation_id=conversation_id, text=row.text,
                        source=row.source, status=row.status, intent=row.intent, note=row.note,
                        labelled_by_email=email, labelled_at=row.labelled_at, created_at=row.created_at)
            for row, conversation_id, email in rows], int(total)


def labelled_examples(session: Session) -> List[ExampleItem]:
    """Every labelled example (topic or new topic needed), oldest label first: what export-nlu writes."""
    rows = session.execute(
        select(TrainingExample).where(TrainingExample.status == "labelled")
        .order_by(TrainingExample.labelled_at.asc(), TrainingExample.id.asc())).scalars()
    return [ExampleItem(id=row.id, message_id=row.message_id, conversation_id=None, text=row.text,
                        source=row.source, status=row.status, intent=row.intent, note=row.note,
                        labelled_by_email=None, labelled_at=row.labelled_at, created_at=row.created_at)
            for row in rows]


def forget_messages(session: Session, message_ids: Select) -> int:
    """Delete the examples copied from the messages `message_ids` selects, whatever their status:
    a patient's words must not outlive their message's erasure or retention. Rows deleted."""
    return session.execute(delete(TrainingExample).where(TrainingExample.message_id.in_(message_ids))
                           .execution_options(synchronize_session=False)).rowcount or 0
