"""Canned replies: texts staff pick in the composer, with a few variables filled for one conversation.

Admins add, edit and delete them; every staff member can use them. A body may hold
{first_name}, {next_session}, {clinic_phone} and {clinic_name}; any other {word} is refused
when the reply is saved, so a typo never reaches a patient. Filling happens when a reply is
picked, for that conversation: {first_name} and {next_session} only when the conversation's
patient is verified (otherwise the text says "(not verified)" there, so staff see what is
missing before sending). Plain queries over a session the caller owns; no aiohttp.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Dict, List, Optional, Tuple

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.models import CannedReply

VARIABLES = ("first_name", "next_session", "clinic_phone", "clinic_name")
PATIENT_VARIABLES = ("first_name", "next_session")
NOT_VERIFIED = "(not verified)"
NO_SESSION = "(no session booked)"
MAX_TITLE_CHARS = 80
MAX_BODY_CHARS = 2000
MAX_REPLIES = 200
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class CannedReplyError(ValueError):
    """A canned reply cannot be saved; the message says why (shown to the administrator)."""


@dataclass(frozen=True)
class CannedReplyView:
    """One canned reply as the console shows it."""

    id: int
    title: str
    body: str
    updated_at: datetime


@dataclass(frozen=True)
class PatientFacts:
    """What a reply may say about the conversation's patient (None: not verified)."""

    first_name: str
    next_session: Optional[str]


def _view(row: CannedReply) -> CannedReplyView:
    """A frozen view of a row."""
    return CannedReplyView(id=row.id, title=row.title, body=row.body, updated_at=row.updated_at)


def list_replies(session: Session) -> List[CannedReplyView]:
    """Every canned reply, by title."""
    rows = session.execute(select(CannedReply).order_by(CannedReply.title).limit(MAX_REPLIES)).scalars()
    return [_view(row) for row in rows]


def get_reply(session: Session, reply_id: int) -> Optional[CannedReplyView]:
    """The canned reply with this id, if any."""
    row = session.get(CannedReply, reply_id)
    return _view(row) if row else None


def variables_of(body: str) -> Tuple[str, ...]:
    """The variables a body uses, in order of first use."""
    return tuple(dict.fromkeys(PLACEHOLDER.findall(body)))


def _checked(title: str, body: str) -> Tuple[str, str]:
    """The title and body stripped, or CannedReplyError saying what is wrong."""
    title, body = title.strip(), body.strip()
    if not title:
        raise CannedReplyError("give it a title")
    if len(title) > MAX_TITLE_CHARS:
        raise CannedReplyError(f"the title is longer than {MAX_TITLE_CHARS} characters")
    if not body:
        raise CannedReplyError("write the text of the reply")
    if len(body) > MAX_BODY_CHARS:
        raise CannedReplyError(f"the text is longer than {MAX_BODY_CHARS} characters")
    unknown = [name for name in variables_of(body) if name not in VARIABLES]
    if unknown:
        known = ", ".join("{" + name + "}" for name in VARIABLES)
        raise CannedReplyError(f"{{{unknown[0]}}} is not a variable (use {known})")
    return title, body


def _flush(session: Session) -> None:
    """Write now, turning a duplicate title into CannedReplyError."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:
        raise CannedReplyError("another canned reply has that title") from error


def add_reply(session: Session, title: str, body: str, staff_user_id: int, now: datetime) -> CannedReplyView:
    """A new canned reply."""
    title, body = _checked(title, body)
    row = CannedReply(title=title, body=body, created_by=staff_user_id, updated_by=staff_user_id,
                      created_at=now, updated_at=now)
    session.add(row)
    _flush(session)
    return _view(row)


def update_reply(session: Session, reply_id: int, title: str, body: str, staff_user_id: int,
                 now: datetime) -> CannedReplyView:
    """Change a canned reply; LookupError if there is none with this id."""
    row = session.get(CannedReply, reply_id)
    if row is None:
        raise LookupError(reply_id)
    row.title, row.body = _checked(title, body)
    row.updated_by, row.updated_at = staff_user_id, now
    _flush(session)
    return _view(row)


def delete_reply(session: Session, reply_id: int) -> None:
    """Delete a canned reply; LookupError if there is none with this id."""
    row = session.get(CannedReply, reply_id)
    if row is None:
        raise LookupError(reply_id)
    session.delete(row)


def fill(body: str, *, clinic_name: str, clinic_phone: str, patient: Optional[PatientFacts]) -> str:
    """The body with its variables filled: the patient's only when `patient` is given (verified)."""
    values: Dict[str, str] = {"clinic_name": clinic_name, "clinic_phone": clinic_phone}
    if patient is None:
        values.update({name: NOT_VERIFIED for name in PATIENT_VARIABLES})
    else:
        values.update({"first_name": patient.first_name, "next_session": patient.next_session or NO_SESSION})
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), body)
