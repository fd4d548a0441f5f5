"""What the staff console reads: the inbox of escalations, staff requests, transcripts, notes, audit.

Plain queries over a SQLAlchemy session (the caller owns the transaction), returning frozen views
that are safe to use after the session closes. No aiohttp, no Rasa.

Inbox order: urgent escalations first; then waiting before assigned; then the longest waiting
first. Resolved escalations come after every open one, most recently resolved first.

A transcript is read a page at a time (keyset paging on the message id): the newest page first,
then the page before a given message. A page holds at most TRANSCRIPT_PAGE_MESSAGES messages and
about TRANSCRIPT_PAGE_CHARS characters of text (always at least one message), so its size stays
bounded however long the messages are.

"Waiting since" is how long the patient has been waiting for a person: from the escalation
until staff first reply; after a staff reply, from the patient's next message (None while the
patient has nothing unanswered).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql import ColumnElement, Select

from bot.clinic import audit
from bot.clinic.bookings import (
    CourseProgress,
    PatientView,
    SessionView,
    course_progress,
    get_patient,
    normalise_phone,
    past_sessions,
    upcoming_sessions,
)
from bot.db.models import (
    CHANNELS,
    ESCALATION_PRIORITIES,
    ESCALATION_REASONS,
    Appointment,
    AuditLog,
    CareMessage,
    Conversation,
    ConversationRead,
    Escalation,
    Message,
    Patient,
    StaffNote,
    StaffRequest,
    StaffUser,
)

logger = logging.getLogger(__name__)

INBOX_FILTERS = ("open", "waiting", "assigned", "resolved", "all")
OPEN_STATUSES = ("waiting", "assigned")
MAX_NOTE_CHARS = 4000
INBOX_LIMIT = 300
RESOLVED_LIMIT = 100
INBOX_PAGE_SIZE = 50
PREVIEW_CHARS = 120
MAX_SEARCH_CHARS = 100
# Message text is searched in what patients wrote lately only (a LIKE over every message would
# read the whole table); names, references and phone numbers are searched whatever their age.
SEARCH_MESSAGE_DAYS = 90
ASSIGNEE_VIEWS = ("mine", "unassigned")
PHONE_LIKE = re.compile(r"^(?:whatsapp:|sms:|tel:)?\s*\+?[\d\s().-]{7,20}$", re.IGNORECASE)
SESSION_LIST_LIMIT = 10
CARE_LIST_LIMIT = 12
TRANSCRIPT_PAGE_MESSAGES = 50
TRANSCRIPT_PAGE_CHARS = 25_000
# Audit actions that change nothing the inbox or a transcript shows (reads, sign-ins): the live
# pages need not redraw for them. Anything else audited (including actions added later) counts.
QUIET_ACTIONS = ("transcript_viewed", "inbox_viewed", "bookings_viewed", "care_messages_viewed", "requests_viewed",
                 "audit_exported", "login", "login_failed", "logout", "session_expired", "staff_account_created",
                 "staff_password_set", "staff_unlocked", "patient_viewed", "canned_reply_filled")


class NoteError(ValueError):
    """A note cannot be added; the message says why (shown to the staff member)."""


@dataclass(frozen=True)
class InboxItem:
    """One escalation in the inbox, with its conversation and patient (if verified)."""

    escalation_id: int
    conversation_id: int
    channel: str
    owner: str
    reason: str
    summary: str
    priority: str
    status: str
    assigned_to: Optional[int]
    assigned_email: Optional[str]
    created_at: datetime
    resolved_at: Optional[datetime]
    waiting_since: Optional[datetime]
    patient_id: Optional[int]
    patient_name: Optional[str]
    patient_ref: Optional[str]
    merged_reports: int = 0  # urgent reports from the same network merged into this one (a flood?)
    merged_into_conversation: Optional[int] = None  # this report was merged into that conversation's case
    preview: str = ""                    # the start of the conversation's newest message (never logged)
    preview_author: Optional[str] = None  # who wrote it: patient, bot, staff, system
    unread: bool = False                 # the patient wrote since the staff member asking last read it

    @property
    def urgent(self) -> bool:
        """True for red flags (and anything else marked urgent)."""
        return self.priority == "urgent"


class InboxFilterError(ValueError):
    """A filter value the inbox does not know; the message says which and what is allowed."""


@dataclass(frozen=True)
class InboxFilter:
    """Which escalations the inbox shows; None (or "") means any.

    `assignee` is a staff id, "mine" (the staff member asking) or "unassigned"; `search` matches a
    patient's name or reference, a phone number (as typed: it is normalised to E.164), or the text
    of recent patient messages.
    """

    status: str = "open"
    priority: Optional[str] = None
    reason: Optional[str] = None
    channel: Optional[str] = None
    assignee: Union[None, int, str] = None
    verified: Optional[bool] = None
    search: str = ""

    def __post_init__(self) -> None:
        """Refuse unknown values (InboxFilterError)."""
        _one_of("status", self.status, INBOX_FILTERS)
        _one_of("priority", self.priority, ESCALATION_PRIORITIES)
        _one_of("reason", self.reason, ESCALATION_REASONS)
        _one_of("channel", self.channel, CHANNELS)
        if isinstance(self.assignee, str):
            _one_of("assignee", self.assignee, ASSIGNEE_VIEWS)
        if len(self.search) > MAX_SEARCH_CHARS:
            raise InboxFilterError(f"the search is longer than {MAX_SEARCH_CHARS} characters")


def _one_of(name: str, value: Optional[str], allowed: Sequence[str]) -> None:
    """InboxFilterError unless `value` is None or one of `allowed`."""
    if value is not None and value not in allowed:
        raise InboxFilterError(f"{name} must be one of {', '.join(allowed)}")


@dataclass(frozen=True)
class InboxPage:
    """One page of the inbox: its rows, how many match in all, and which page it is."""

    items: Tuple[InboxItem, ...]
    total: int
    page: int
    page_size: int
    open_total: int = 0
    urgent_open: int = 0

    @property
    def pages(self) -> int:
        """How many pages the matching rows fill (at least one)."""
        return max((self.total + self.page_size - 1) // self.page_size, 1)


@dataclass(frozen=True)
class RequestItem:
    """A staff request (reschedule, cancel, delete data) with what the patient asked for."""

    id: int
    kind: str
    wishes: str
    status: str
    created_at: datetime
    done_at: Optional[datetime]
    patient_id: Optional[int]
    patient_name: Optional[str]
    patient_ref: Optional[str]
    appointment_id: Optional[int]
    appointment_starts_at: Optional[datetime]
    conversation_id: Optional[int]
    channel: str


@dataclass(frozen=True)
class EscalationView:
    """An escalation as shown beside its transcript."""

    id: int
    reason: str
    summary: str
    priority: str
    status: str
    assigned_to: Optional[int]
    assigned_email: Optional[str]
    created_at: datetime
    resolved_at: Optional[datetime]
    merged_reports: int = 0
    merged_into_conversation: Optional[int] = None
    merged_conversations: Tuple[int, ...] = ()  # the chats whose urgent reports were merged into this case


@dataclass(frozen=True)
class ConversationView:
    """A conversation's header: channel, owner, patient link and its latest escalation."""

    id: int
    channel: str
    external_id: str
    owner: str
    patient_id: Optional[int]
    created_at: datetime
    last_patient_message_at: Optional[datetime]
    escalation: Optional[EscalationView]

    @property
    def sender_key(self) -> str:
        """The Rasa sender id ("<channel>:<external id>"), as staff requests store it."""
        return f"{self.channel}:{self.external_id}"


@dataclass(frozen=True)
class MessageItem:
    """One message of a transcript."""

    id: int
    direction: str
    author: str
    text: str
    created_at: datetime
    staff_user_id: Optional[int]
    staff_email: Optional[str]


@dataclass(frozen=True)
class TranscriptPage:
    """Consecutive messages of a conversation, oldest first, and what lies either side of them."""

    messages: Tuple[MessageItem, ...]
    earlier: bool                # older messages than the first one exist
    later: bool                  # newer messages than the last one exist (False: it ends with the newest)
    later_before: Optional[int]  # the page of later messages is the one before this id (None: the newest page)

    @property
    def first_id(self) -> Optional[int]:
        """The id of the oldest message on the page (None if it is empty)."""
        return self.messages[0].id if self.messages else None


@dataclass(frozen=True)
class NoteItem:
    """One internal note (never sent to the patient)."""

    id: int
    text: str
    created_at: datetime
    staff_user_id: Optional[int]
    staff_email: Optional[str]


@dataclass(frozen=True)
class CareItem:
    """One care message of the patient (bot/care): what it is, about which session, what became of it."""

    id: int
    kind: str
    appointment_id: int
    session_starts_at: datetime
    due_at: datetime
    sent_at: Optional[datetime]
    status: str
    status_at: Optional[datetime]
    detail: Optional[str]
    error_code: Optional[str]
    channel: Optional[str]


@dataclass(frozen=True)
class PatientPanel:
    """A verified patient beside their conversation: who they are, their sessions and care messages."""

    patient: PatientView
    upcoming: Tuple[SessionView, ...]
    past: Tuple[SessionView, ...]
    progress: Optional[CourseProgress]
    care: Tuple[CareItem, ...] = ()


@dataclass(frozen=True)
class AuditItem:
    """One audit row, with the staff member's email when the actor is staff."""

    id: int
    at: datetime
    actor_type: str
    actor_id: Optional[str]
    actor_email: Optional[str]
    action: str
    subject_type: Optional[str]
    subject_id: Optional[str]
    detail: Optional[dict]


# ---- the inbox ------------------------------------------------------------------------------

def _emails(session: Session, staff_ids: Iterable[Optional[int]]) -> Dict[int, str]:
    """Staff id -> email for the given ids."""
    ids = sorted({int(i) for i in staff_ids if i is not None})
    if not ids:
        return {}
    return dict(session.execute(select(StaffUser.id, StaffUser.email).where(StaffUser.id.in_(ids))).all())


def _patients(session: Session, patient_ids: Iterable[Optional[int]]) -> Dict[int, Tuple[str, str]]:
    """Patient id -> (full name, clinic reference)."""
    ids = sorted({i for i in patient_ids if i is not None})
    if not ids:
        return {}
    rows = session.execute(
        select(Patient.id, Patient.full_name, Patient.clinic_ref).where(Patient.id.in_(ids)))
    return {pid: (name, ref) for pid, name, ref in rows}


def _waiting_marks(session: Session, conversation_ids: Sequence[int]) -> Dict[int, Tuple[Optional[datetime],
                                                                                         Optional[datetime]]]:
    """Conversation id -> (last staff reply, first patient message after it)."""
    if not conversation_ids:
        return {}
    last_staff = (
        select(Message.conversation_id.label("conversation_id"), func.max(Message.created_at).label("at"))
        .where(Message.author == "staff", Message.conversation_id.in_(conversation_ids))
        .group_by(Message.conversation_id)
        .subquery()
    )
    staff_at = {cid: at for cid, at in session.execute(select(last_staff.c.conversation_id, last_staff.c.at))}
    first_after = session.execute(
        select(Message.conversation_id, func.min(Message.created_at))
        .outerjoin(last_staff, last_staff.c.conversation_id == Message.conversation_id)
        .where(Message.author == "patient", Message.conversation_id.in_(conversation_ids),
               or_(last_staff.c.at.is_(None), Message.created_at > last_staff.c.at))
        .group_by(Message.conversation_id)
    ).all()
    first = {cid: at for cid, at in first_after}
    return {cid: (staff_at.get(cid), first.get(cid)) for cid in conversation_ids}


def _waiting_since(escalation: Escalation,
                   marks: Tuple[Optional[datetime], Optional[datetime]]) -> Optional[datetime]:
    """Since when the patient has been waiting for a person (None if resolved or answered)."""
    if escalation.status == "resolved":
        return None
    last_staff, first_after = marks
    if last_staff is None or last_staff < escalation.created_at:
        return escalation.created_at
    return first_after


def _conversations_of_escalations(session: Session, escalation_ids: Iterable[int]) -> Dict[int, int]:
    """Escalation id -> its conversation id, for the escalations that still exist."""
    ids = sorted(set(escalation_ids))
    if not ids:
        return {}
    return dict(session.execute(select(Escalation.id, Escalation.conversation_id).where(Escalation.id.in_(ids))).all())


def escape_like(text: str) -> str:
    """`text` for a LIKE pattern with its wildcards (% and _) and the escape character taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search_condition(search: str, now: datetime, phone_region: str) -> Optional[ColumnElement]:
    """Conversations matching the search: a phone number, else a name, reference or recent message text."""
    text = search.strip()
    if not text:
        return None
    phone = normalise_phone(text, phone_region) if PHONE_LIKE.match(text) else None
    if phone is not None:
        return or_(Conversation.external_id == phone,
                   Conversation.patient_id.in_(select(Patient.id).where(Patient.phone_e164 == phone)))
    pattern = f"%{escape_like(text)}%"
    return or_(
        Conversation.patient_id.in_(select(Patient.id).where(or_(
            Patient.full_name.ilike(pattern, escape="\\"), Patient.clinic_ref.ilike(pattern, escape="\\")))),
        Conversation.id.in_(select(Message.conversation_id).where(
            Message.author == "patient", Message.created_at >= now - timedelta(days=SEARCH_MESSAGE_DAYS),
            Message.text.ilike(pattern, escape="\\"))),
    )


def _filtered(filters: InboxFilter, me: Optional[int], now: datetime, phone_region: str) -> Select:
    """Escalations with their conversations matching every filter except the status."""
    query = select(Escalation, Conversation).join(Conversation, Conversation.id == Escalation.conversation_id)
    conditions: List[ColumnElement] = []
    if filters.priority:
        conditions.append(Escalation.priority == filters.priority)
    if filters.reason:
        conditions.append(Escalation.reason == filters.reason)
    if filters.channel:
        conditions.append(Conversation.channel == filters.channel)
    if filters.assignee == "unassigned":
        conditions.append(Escalation.assigned_to.is_(None))
    elif filters.assignee is not None:
        conditions.append(Escalation.assigned_to == (me if filters.assignee == "mine" else filters.assignee))
    if filters.verified is not None:
        conditions.append(Conversation.patient_id.isnot(None) if filters.verified else Conversation.patient_id.is_(None))
    searched = _search_condition(filters.search, now, phone_region)
    if searched is not None:
        conditions.append(searched)
    return query.where(*conditions)


def _count(session: Session, query: Select) -> int:
    """How many rows `query` returns."""
    return int(session.execute(select(func.count()).select_from(query.subquery())).scalar_one())


def _previews(session: Session, conversation_ids: Sequence[int]) -> Dict[int, Tuple[str, str]]:
    """Conversation id -> (author, start of the text) of its newest message."""
    if not conversation_ids:
        return {}
    newest = (select(func.max(Message.id)).where(Message.conversation_id.in_(conversation_ids))
              .group_by(Message.conversation_id).scalar_subquery())
    rows = session.execute(select(Message.conversation_id, Message.author,
                                  func.substr(Message.text, 1, PREVIEW_CHARS + 1)).where(Message.id.in_(newest)))
    return {cid: (author, _shortened(text or "")) for cid, author, text in rows}


def _shortened(text: str) -> str:
    """The first PREVIEW_CHARS characters on one line, with an ellipsis when there was more."""
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW_CHARS else line[:PREVIEW_CHARS].rstrip() + "…"


def _unread(session: Session, me: int, conversation_ids: Sequence[int]) -> set:
    """The conversations whose newest patient message `me` has not read."""
    if not conversation_ids:
        return set()
    newest = dict(session.execute(
        select(Message.conversation_id, func.max(Message.id))
        .where(Message.conversation_id.in_(conversation_ids), Message.author == "patient")
        .group_by(Message.conversation_id)).all())
    read = dict(session.execute(
        select(ConversationRead.conversation_id, ConversationRead.last_read_message_id)
        .where(ConversationRead.staff_user_id == me, ConversationRead.conversation_id.in_(list(newest)))).all()
    ) if newest else {}
    return {cid for cid, message_id in newest.items() if message_id > read.get(cid, 0)}


def inbox_page(session: Session, filters: Optional[InboxFilter] = None, *, me: Optional[int] = None,
               now: Optional[datetime] = None, page: int = 1, page_size: int = INBOX_PAGE_SIZE,
               phone_region: str = "GB") -> InboxPage:
    """One page of the escalations matching `filters`, in inbox order (open ones, then resolved ones),
    with previews and, for staff member `me`, unread markers. Offset paging over the two parts."""
    filters = filters or InboxFilter()
    now = now or datetime.now().astimezone()
    page = max(page, 1)
    base = _filtered(filters, me, now, phone_region)
    urgent_first = case((Escalation.priority == "urgent", 0), else_=1)
    waiting_first = case((Escalation.status == "waiting", 0), else_=1)
    wanted = OPEN_STATUSES if filters.status in ("open", "all") else (filters.status,)
    open_query = base.where(Escalation.status.in_(wanted)) if filters.status != "resolved" else None
    resolved_query = base.where(Escalation.status == "resolved") if filters.status in ("resolved", "all") else None
    open_total = _count(session, open_query) if open_query is not None else 0
    resolved_total = _count(session, resolved_query) if resolved_query is not None else 0
    offset = (page - 1) * page_size
    rows: List[tuple] = []
    if open_query is not None and offset < open_total:
        rows += session.execute(open_query.order_by(urgent_first, waiting_first, Escalation.created_at, Escalation.id)
                                .offset(offset).limit(page_size)).all()
    if resolved_query is not None and len(rows) < page_size:
        rows += session.execute(resolved_query.order_by(urgent_first, Escalation.resolved_at.desc(),
                                                        Escalation.id.desc())
                                .offset(max(offset - open_total, 0)).limit(page_size - len(rows))).all()
    urgent_open = _count(session, open_query.where(Escalation.priority == "urgent")) if open_query is not None else 0
    return InboxPage(items=tuple(_inbox_items(session, rows, me)), total=open_total + resolved_total, page=page,
                     page_size=page_size, open_total=open_total, urgent_open=urgent_open)


def _inbox_items(session: Session, rows: Sequence[tuple], me: Optional[int]) -> List[InboxItem]:
    """Views of (escalation, conversation) rows with staff emails, patients, previews and unread marks."""
    emails = _emails(session, (e.assigned_to for e, _ in rows))
    patients = _patients(session, (c.patient_id for _, c in rows))
    conversation_ids = sorted({c.id for _, c in rows})
    marks = _waiting_marks(session, sorted({c.id for e, c in rows if e.status != "resolved"}))
    merged_into = _conversations_of_escalations(session, {e.merged_into_id for e, _ in rows if e.merged_into_id})
    previews = _previews(session, conversation_ids)
    unread = _unread(session, me, conversation_ids) if me is not None else set()
    items = []
    for escalation, conversation in rows:
        name, ref = patients.get(conversation.patient_id, (None, None))
        author, preview = previews.get(conversation.id, (None, ""))
        items.append(InboxItem(
            escalation_id=escalation.id, conversation_id=conversation.id, channel=conversation.channel,
            owner=conversation.owner, reason=escalation.reason, summary=escalation.summary or "",
            priority=escalation.priority, status=escalation.status, assigned_to=escalation.assigned_to,
            assigned_email=emails.get(escalation.assigned_to) if escalation.assigned_to else None,
            created_at=escalation.created_at, resolved_at=escalation.resolved_at,
            waiting_since=_waiting_since(escalation, marks.get(conversation.id, (None, None))),
            patient_id=conversation.patient_id, patient_name=name, patient_ref=ref,
            merged_reports=escalation.merged_reports or 0,
            merged_into_conversation=merged_into.get(escalation.merged_into_id),
            preview=preview, preview_author=author, unread=conversation.id in unread,
        ))
    return items


def list_inbox(session: Session, *, status: str = "open",
               assigned_to: Optional[int] = None) -> List[InboxItem]:
    """The escalations for one filter (`INBOX_FILTERS`), optionally only those assigned to someone
    (the first INBOX_LIMIT of them)."""
    if status not in INBOX_FILTERS:
        raise ValueError(f"status must be one of {INBOX_FILTERS}, not {status!r}")
    return list(inbox_page(session, InboxFilter(status=status, assignee=assigned_to),
                           page_size=INBOX_LIMIT).items)


def staff_choices(session: Session) -> List[Tuple[int, str]]:
    """(id, email) of every staff account, by email: the inbox's assignee filter."""
    return [(i, e) for i, e in session.execute(select(StaffUser.id, StaffUser.email).order_by(StaffUser.email))]


def mark_read(session: Session, staff_user_id: int, conversation_id: int, message_id: int) -> None:
    """Record that the staff member has read the conversation up to message `message_id` (never backwards)."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(ConversationRead).values(staff_user_id=staff_user_id, conversation_id=conversation_id,
                                                last_read_message_id=message_id)
    newer = statement.excluded.last_read_message_id
    session.execute(statement.on_conflict_do_update(
        index_elements=[ConversationRead.staff_user_id, ConversationRead.conversation_id],
        set_={"last_read_message_id": case((ConversationRead.last_read_message_id < newer, newer),
                                           else_=ConversationRead.last_read_message_id)}))


# ---- staff requests -------------------------------------------------------------------------

def _channels_of(session: Session, conversation_ids: Iterable[Optional[int]]) -> Dict[int, str]:
    """Conversation id -> channel for the stored conversations among `conversation_ids`."""
    ids = sorted({i for i in conversation_ids if i is not None})
    if not ids:
        return {}
    return dict(session.execute(select(Conversation.id, Conversation.channel).where(Conversation.id.in_(ids))).all())


def _request_items(session: Session, requests: Sequence[StaffRequest]) -> List[RequestItem]:
    """Views of staff requests with their patient, session and conversation."""
    patients = _patients(session, (r.patient_id for r in requests))
    appointment_ids = sorted({r.appointment_id for r in requests if r.appointment_id is not None})
    starts = dict(session.execute(
        select(Appointment.id, Appointment.starts_at).where(Appointment.id.in_(appointment_ids))
    ).all()) if appointment_ids else {}
    channels = _channels_of(session, (r.conversation_id for r in requests))
    items = []
    for request in requests:
        name, ref = patients.get(request.patient_id, (None, None))
        conversation_id = request.conversation_id if request.conversation_id in channels else None
        channel = channels.get(request.conversation_id, "web")
        items.append(RequestItem(
            id=request.id, kind=request.kind, wishes=request.wishes or "", status=request.status,
            created_at=request.created_at, done_at=request.done_at, patient_id=request.patient_id,
            patient_name=name, patient_ref=ref, appointment_id=request.appointment_id,
            appointment_starts_at=starts.get(request.appointment_id), conversation_id=conversation_id,
            channel=channel,
        ))
    return items


def list_requests(session: Session, status: str = "open", limit: int = INBOX_LIMIT) -> List[RequestItem]:
    """Staff requests with this status, oldest first."""
    requests = list(session.execute(
        select(StaffRequest).where(StaffRequest.status == status)
        .order_by(StaffRequest.created_at, StaffRequest.id).limit(limit)
    ).scalars())
    return _request_items(session, requests)


def requests_of_conversation(session: Session, conversation: ConversationView) -> List[RequestItem]:
    """The staff requests made in this conversation, open ones first, newest first."""
    requests = list(session.execute(
        select(StaffRequest).where(StaffRequest.conversation_id == conversation.id)
        .order_by(case((StaffRequest.status == "open", 0), else_=1), StaffRequest.created_at.desc())
        .limit(50)
    ).scalars())
    return _request_items(session, requests)


# ---- one conversation -----------------------------------------------------------------------

def _escalation_view(session: Session, conversation_id: int) -> Optional[EscalationView]:
    """The open escalation of the conversation, else its most recent one."""
    escalation = session.execute(
        select(Escalation).where(Escalation.conversation_id == conversation_id)
        .order_by(case((Escalation.status == "resolved", 1), else_=0), Escalation.id.desc())
    ).scalars().first()
    if escalation is None:
        return None
    email = (_emails(session, [escalation.assigned_to]).get(escalation.assigned_to)
             if escalation.assigned_to else None)
    return EscalationView(
        id=escalation.id, reason=escalation.reason, summary=escalation.summary or "",
        priority=escalation.priority, status=escalation.status, assigned_to=escalation.assigned_to,
        assigned_email=email, created_at=escalation.created_at, resolved_at=escalation.resolved_at,
        merged_reports=escalation.merged_reports or 0,
        merged_into_conversation=_conversations_of_escalations(
            session, [escalation.merged_into_id] if escalation.merged_into_id else []).get(escalation.merged_into_id),
        merged_conversations=_merged_conversations(session, escalation.id) if escalation.merged_reports else (),
    )


def _merged_conversations(session: Session, escalation_id: int, limit: int = 50) -> Tuple[int, ...]:
    """The conversations whose urgent reports were merged into this escalation (newest first, a page)."""
    return tuple(dict.fromkeys(session.execute(
        select(Escalation.conversation_id).where(Escalation.merged_into_id == escalation_id)
        .order_by(Escalation.id.desc()).limit(limit)).scalars()))


def get_conversation(session: Session, conversation_id: int) -> Optional[ConversationView]:
    """The conversation's header, or None if there is no such conversation."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return None
    return ConversationView(
        id=conversation.id, channel=conversation.channel, external_id=conversation.external_id,
        owner=conversation.owner, patient_id=conversation.patient_id, created_at=conversation.created_at,
        last_patient_message_at=conversation.last_patient_message_at,
        escalation=_escalation_view(session, conversation.id),
    )


def _message_items(session: Session, messages: Sequence[Message]) -> List[MessageItem]:
    """Views of messages with the emails of the staff who wrote them."""
    emails = _emails(session, (m.staff_user_id for m in messages))
    return [
        MessageItem(id=m.id, direction=m.direction, author=m.author, text=m.text, created_at=m.created_at,
                    staff_user_id=m.staff_user_id, staff_email=emails.get(m.staff_user_id))
        for m in messages
    ]


def _fitting(messages: Sequence[Message], limit: int, max_chars: int) -> int:
    """How many of `messages`, taken in order, fit a page: at most `limit`, at least one if any,
    and no more once their text exceeds `max_chars` characters."""
    count, chars = 0, 0
    for message in messages[:limit]:
        chars += len(message.text)
        if count and chars > max_chars:
            break
        count += 1
    return count


def messages_after(session: Session, conversation_id: int, after_id: int = 0,
                   limit: int = TRANSCRIPT_PAGE_MESSAGES,
                   max_chars: int = TRANSCRIPT_PAGE_CHARS) -> Tuple[List[MessageItem], bool]:
    """The first page of messages after message `after_id`, oldest first; and whether more follow."""
    rows = list(session.execute(
        select(Message).where(Message.conversation_id == conversation_id, Message.id > after_id)
        .order_by(Message.id).limit(limit + 1)
    ).scalars())
    count = _fitting(rows, limit, max_chars)
    return _message_items(session, rows[:count]), len(rows) > count


def _later_page_before(session: Session, conversation_id: int, before_id: int, limit: int,
                       max_chars: int) -> Optional[int]:
    """The `before` of the page that follows messages up to `before_id` (None: the newest page)."""
    rows = list(session.execute(
        select(Message).where(Message.conversation_id == conversation_id, Message.id >= before_id)
        .order_by(Message.id).limit(limit + 1)
    ).scalars())
    count = _fitting(rows, limit, max_chars)
    return rows[count].id if count < len(rows) else None


def transcript_page(session: Session, conversation_id: int, before_id: Optional[int] = None,
                    limit: int = TRANSCRIPT_PAGE_MESSAGES,
                    max_chars: int = TRANSCRIPT_PAGE_CHARS) -> TranscriptPage:
    """The page of messages just before message `before_id` (the newest page when None)."""
    query = select(Message).where(Message.conversation_id == conversation_id)
    if before_id is not None:
        query = query.where(Message.id < before_id)
    rows = list(session.execute(query.order_by(Message.id.desc()).limit(limit + 1)).scalars())
    count = _fitting(rows, limit, max_chars)
    later = before_id is not None and session.execute(
        select(Message.id).where(Message.conversation_id == conversation_id, Message.id >= before_id).limit(1)
    ).first() is not None
    return TranscriptPage(
        messages=tuple(_message_items(session, list(reversed(rows[:count])))),
        earlier=len(rows) > count,
        later=later,
        later_before=_later_page_before(session, conversation_id, before_id, limit, max_chars)
        if later and before_id is not None else None,
    )


def notes(session: Session, conversation_id: int, after_id: int = 0) -> List[NoteItem]:
    """The conversation's internal notes after note `after_id`, oldest first."""
    rows = list(session.execute(
        select(StaffNote).where(StaffNote.conversation_id == conversation_id, StaffNote.id > after_id)
        .order_by(StaffNote.id)
    ).scalars())
    emails = _emails(session, (n.staff_user_id for n in rows))
    return [NoteItem(id=n.id, text=n.text, created_at=n.created_at, staff_user_id=n.staff_user_id,
                     staff_email=emails.get(n.staff_user_id)) for n in rows]


def add_note(session: Session, conversation_id: int, staff_user_id: int, text: str,
             now: datetime) -> NoteItem:
    """Keep a private note on the conversation (audited with ids only); NoteError if empty or too long."""
    text = (text or "").strip()
    if not text:
        raise NoteError("the note is empty")
    if len(text) > MAX_NOTE_CHARS:
        raise NoteError(f"the note is longer than {MAX_NOTE_CHARS} characters")
    if session.get(Conversation, conversation_id) is None:
        raise NoteError(f"conversation {conversation_id} does not exist")
    note = StaffNote(conversation_id=conversation_id, staff_user_id=staff_user_id, text=text, created_at=now)
    session.add(note)
    session.flush()
    audit.record(session, actor_type="staff", actor_id=staff_user_id, action="note_added",
                 subject_type="conversation", subject_id=conversation_id, detail={"note_id": note.id},
                 now=now)
    email = _emails(session, [staff_user_id]).get(staff_user_id)
    return NoteItem(id=note.id, text=note.text, created_at=now, staff_user_id=staff_user_id,
                    staff_email=email)


def care_messages(session: Session, patient_id: int, limit: int = CARE_LIST_LIMIT) -> List[CareItem]:
    """The patient's care messages due last (at most `limit`), in the order they are due."""
    rows = session.execute(
        select(CareMessage, Appointment.starts_at)
        .join(Appointment, CareMessage.appointment_id == Appointment.id)
        .where(CareMessage.patient_id == patient_id)
        .order_by(CareMessage.due_at.desc(), CareMessage.id.desc())
        .limit(limit)
    ).all()
    return [
        CareItem(id=care.id, kind=care.kind, appointment_id=care.appointment_id, session_starts_at=starts_at,
                 due_at=care.due_at, sent_at=care.sent_at, status=care.status, status_at=care.status_at,
                 detail=care.detail, error_code=care.error_code, channel=care.channel)
        for care, starts_at in reversed(rows)
    ]


def patient_panel(session: Session, patient_id: int, now: datetime,
                  limit: int = SESSION_LIST_LIMIT) -> Optional[PatientPanel]:
    """Who the verified patient is, their upcoming and past sessions, course progress and care messages."""
    patient = get_patient(session, patient_id)
    if patient is None:
        return None
    return PatientPanel(
        patient=patient,
        upcoming=tuple(upcoming_sessions(session, patient_id, now, limit=limit)),
        past=tuple(past_sessions(session, patient_id, now, limit=limit)),
        progress=course_progress(session, patient_id, now),
        care=tuple(care_messages(session, patient_id)),
    )


# ---- live updates ---------------------------------------------------------------------------

def change_marker(session: Session) -> Tuple[Optional[int], ...]:
    """A value that changes whenever the inbox or a transcript may have changed, in any process.

    The newest escalation, message and staff request, and the newest audit row that is not a
    quiet one (assignments, hand-backs, notes, requests done, escalations upgraded to urgent are
    all audited). Each is a short walk down a primary-key index.
    """
    def newest(column: InstrumentedAttribute, *conditions: ColumnElement) -> Optional[int]:
        return session.execute(select(column).where(*conditions).order_by(column.desc()).limit(1)).scalar()

    return (
        newest(Escalation.id),
        newest(Message.id),
        newest(StaffRequest.id),
        newest(AuditLog.id, AuditLog.action.notin_(QUIET_ACTIONS)),
    )


# ---- the audit log --------------------------------------------------------------------------

def _staff_actor(row: AuditLog) -> Optional[int]:
    """The staff id of a row done by staff, else None."""
    if row.actor_type == "staff" and (row.actor_id or "").isdigit():
        return int(row.actor_id)
    return None


def _staff_email(emails: Dict[int, str], row: AuditLog) -> Optional[str]:
    """The email of the staff member who did `row`, when staff did it."""
    staff_id = _staff_actor(row)
    return emails.get(staff_id) if staff_id is not None else None


def _audit_items(session: Session, rows: Sequence[AuditLog]) -> List[AuditItem]:
    """Views of audit rows with staff emails."""
    emails = _emails(session, (_staff_actor(r) for r in rows))
    return [
        AuditItem(id=r.id, at=r.at, actor_type=r.actor_type, actor_id=r.actor_id,
                  actor_email=_staff_email(emails, r),
                  action=r.action, subject_type=r.subject_type, subject_id=r.subject_id, detail=r.detail)
        for r in rows
    ]


def _audit_filter(query: Select, action: Optional[str]) -> Select:
    """Only rows of `action`, when given."""
    return query.where(AuditLog.action == action) if action else query


def audit_page(session: Session, page: int = 1, per_page: int = 50,
               action: Optional[str] = None) -> Tuple[List[AuditItem], int]:
    """One page of the audit log, newest first, and the number of rows in all."""
    page = max(page, 1)
    total = session.execute(_audit_filter(select(func.count(AuditLog.id)), action)).scalar_one()
    rows = list(session.execute(
        _audit_filter(select(AuditLog), action).order_by(AuditLog.id.desc())
        .offset((page - 1) * per_page).limit(per_page)
    ).scalars())
    return _audit_items(session, rows), total


def audit_actions(session: Session) -> List[str]:
    """The distinct actions in the audit log, for the filter."""
    return list(session.execute(select(AuditLog.action).distinct().order_by(AuditLog.action)).scalars())


def iter_audit(session: Session, batch: int = 1000,
               up_to_id: Optional[int] = None) -> Iterator[List[AuditItem]]:
    """The whole audit log, oldest first, in batches (keyset pagination: constant memory)."""
    after = 0
    while True:
        query = select(AuditLog).where(AuditLog.id > after)
        if up_to_id is not None:
            query = query.where(AuditLog.id <= up_to_id)
        rows = list(session.execute(query.order_by(AuditLog.id).limit(batch)).scalars())
        if not rows:
            return
        yield _audit_items(session, rows)
        after = rows[-1].id


def last_logout_at(session: Session, staff_user_id: int) -> Optional[datetime]:
    """When the staff member last signed out (that ends every session they had before)."""
    return session.execute(
        select(AuditLog.at).where(and_(AuditLog.subject_type == "staff_user",
                                       AuditLog.subject_id == str(staff_user_id),
                                       AuditLog.action == "logout"))
        .order_by(AuditLog.id.desc()).limit(1)
    ).scalar()
