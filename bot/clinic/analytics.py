"""The numbers: how many conversations, how many the assistant handled alone, why the others went to
staff, what it did not understand, how fast staff answered, and what became of care messages.

Plain SQLAlchemy over the clinic database, no web framework. A `Period` is a run of whole days in
the clinic's timezone; every figure is counted in SQL over that period's UTC bounds, through the
range indexes of migration 0014. The response and resolution times and the care replies come from
one bounded query each (one row per escalation or care message), whose percentiles are taken here,
so SQLite and PostgreSQL give the same answer.

Definitions (the console and its CSV/JSON exports show exactly these):
- conversations: conversations created in the period, per clinic day;
- contained: of those, the ones with no escalation at all and no staff message;
- escalated (per reason): of those, the ones with an escalation of that reason (any time);
- red flags: red-flag escalations created in the period, per category (bot.safety), stored in
  `escalation_categories` since migration 0014 (older ones count as "not recorded");
- not understood: patient messages in the period whose turn was a fallback (`messages.fallback`,
  recorded by the router since migration 0014) over all patient messages in the period;
- first response: from an escalation created in the period to the first staff message in its
  conversation at or after it (before its resolution); resolution: to `resolved_at`. Merged
  reports (resolved at once, by no one) are left out. p50 and p90 are nearest-rank percentiles;
- care messages: those due in the period; sent = has `sent_at`; delivered = delivered or read;
  failed = failed; replied = sent, and the patient wrote in its conversation within 48 hours after.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Dict, List, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, distinct, exists, func, literal, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from bot.db.models import (
    ESCALATION_REASONS,
    CareMessage,
    Conversation,
    Escalation,
    EscalationCategory,
    Message,
    UTCDateTime,
)
from bot.safety.vocabulary import CATEGORIES

RANGE_DAYS = {"day": 1, "week": 7, "month": 30}
DEFAULT_RANGE = "week"
MAX_CUSTOM_DAYS = 366
REPLY_WINDOW = timedelta(hours=48)
# The timed queries read one row per escalation or care message of the period: at most this many.
MAX_TIMED_ROWS = 200_000
CARE_OUTCOMES = ("due", "sent", "delivered", "failed", "replied")


class RangeError(ValueError):
    """The asked-for period is not one the analytics can show (the message says why)."""


@dataclass(frozen=True)
class Period:
    """Whole clinic days from `first_day` to `last_day` (inclusive), in `tz`."""

    name: str  # day | week | month | custom
    first_day: date
    last_day: date
    tz: ZoneInfo

    @property
    def days(self) -> List[date]:
        """Every clinic day of the period, in order."""
        return [self.first_day + timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1)]

    def day_bounds(self, day: date) -> Tuple[datetime, datetime]:
        """The UTC start and end of one clinic day (23 or 25 hours long on a clock change)."""
        return self.midnight(day), self.midnight(day + timedelta(days=1))

    def midnight(self, day: date) -> datetime:
        """Midnight at the start of `day` in the clinic, in UTC."""
        return datetime.combine(day, time(0), tzinfo=self.tz).astimezone(timezone.utc)

    @property
    def start(self) -> datetime:
        """The period's first instant."""
        return self.midnight(self.first_day)

    @property
    def end(self) -> datetime:
        """The instant just after the period."""
        return self.midnight(self.last_day + timedelta(days=1))


def _parse_day(text: str, name: str) -> date:
    """A YYYY-MM-DD date, or RangeError."""
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError as error:
        raise RangeError(f"{name} must be a date like 2026-11-20") from error


def parse_period(range_name: Optional[str], from_text: Optional[str], to_text: Optional[str], *,
                 today: date, tz: ZoneInfo) -> Period:
    """The period asked for: `range` day, week or month ending today, or `from`/`to` clinic dates
    (both, from <= to, neither after today, at most MAX_CUSTOM_DAYS days); RangeError otherwise."""
    if from_text is not None or to_text is not None:
        if range_name not in (None, "", "custom"):
            raise RangeError("give either range or from and to, not both")
        if not from_text or not to_text:
            raise RangeError("a custom range needs both from and to")
        first, last = _parse_day(from_text, "from"), _parse_day(to_text, "to")
        if first > last:
            raise RangeError("from must not be after to")
        if last > today:
            raise RangeError("to must not be after today")
        if (last - first).days + 1 > MAX_CUSTOM_DAYS:
            raise RangeError(f"a custom range is at most {MAX_CUSTOM_DAYS} days")
        return Period("custom", first, last, tz)
    name = range_name or DEFAULT_RANGE
    if name not in RANGE_DAYS:
        raise RangeError("range must be day, week or month (or give from and to)")
    return Period(name, today - timedelta(days=RANGE_DAYS[name] - 1), today, tz)


@dataclass(frozen=True)
class Timing:
    """How many intervals were measured and their p50 and p90 in seconds (None when none)."""

    count: int
    p50_seconds: Optional[float]
    p90_seconds: Optional[float]


@dataclass(frozen=True)
class DayCount:
    """Patient-side counts of one clinic day."""

    day: date
    conversations: int
    patient_messages: int
    fallback_messages: int


@dataclass(frozen=True)
class Figures:
    """Every figure of one period (see the module docstring for what each one counts)."""

    period: Period
    by_day: List[DayCount]
    contained: int
    escalated: int
    escalated_by_reason: Dict[str, int]
    red_flags: int
    red_flags_by_category: Dict[str, int]
    red_flags_uncategorised: int
    first_response: Timing
    resolution: Timing
    care: Dict[str, int]
    timed_rows_capped: bool = False

    @property
    def conversations(self) -> int:
        """Conversations created in the period."""
        return sum(day.conversations for day in self.by_day)

    @property
    def patient_messages(self) -> int:
        """Patient messages in the period."""
        return sum(day.patient_messages for day in self.by_day)

    @property
    def fallback_messages(self) -> int:
        """Patient messages in the period the assistant did not understand."""
        return sum(day.fallback_messages for day in self.by_day)


def rate(part: int, whole: int) -> Optional[float]:
    """part / whole, or None when there is nothing to divide by."""
    return part / whole if whole else None


def percentile(sorted_values: Sequence[float], fraction: float) -> Optional[float]:
    """The nearest-rank percentile of ascending values: the smallest value with at least
    `fraction` of them at or below it; None for no values."""
    if not sorted_values:
        return None
    rank = max(math.ceil(fraction * len(sorted_values)), 1)
    return sorted_values[rank - 1]


def timing(seconds: Sequence[float]) -> Timing:
    """Count, p50 and p90 of some durations."""
    ordered = sorted(seconds)
    return Timing(len(ordered), percentile(ordered, 0.5), percentile(ordered, 0.9))


def _days_table(period: Period) -> Any:
    """The period's days as a small derived table (index, UTC start, UTC end) to join ranges on."""
    rows = []
    for index, day in enumerate(period.days):
        starts, ends = period.day_bounds(day)
        rows.append(select(literal(index).label("day"), literal(starts, UTCDateTime).label("starts"),
                           literal(ends, UTCDateTime).label("ends")))
    return (rows[0] if len(rows) == 1 else union_all(*rows)).subquery("days")


def _per_day(session: Session, period: Period) -> List[DayCount]:
    """Conversations created, patient messages and fallback turns on each day (two grouped joins)."""
    days = _days_table(period)
    conversations = dict(session.execute(
        select(days.c.day, func.count(Conversation.id)).select_from(days)
        .outerjoin(Conversation, and_(Conversation.created_at >= days.c.starts,
                                      Conversation.created_at < days.c.ends))
        .group_by(days.c.day)).all())
    fallback = func.sum(case((Message.fallback.is_(True), 1), else_=0))
    messages = {row[0]: (row[1], row[2] or 0) for row in session.execute(
        select(days.c.day, func.count(Message.id), fallback).select_from(days)
        .outerjoin(Message, and_(Message.author == "patient", Message.created_at >= days.c.starts,
                                 Message.created_at < days.c.ends))
        .group_by(days.c.day))}
    return [DayCount(day, conversations.get(index, 0), *messages.get(index, (0, 0)))
            for index, day in enumerate(period.days)]


def _created_in(column: Any, period: Period) -> Any:
    """`column` falls within the period."""
    return and_(column >= period.start, column < period.end)


def _contained(session: Session, period: Period) -> int:
    """Conversations of the period that never had an escalation or a staff message."""
    escalated = exists().where(Escalation.conversation_id == Conversation.id)
    staffed = exists().where(Message.conversation_id == Conversation.id, Message.author == "staff")
    return session.execute(select(func.count(Conversation.id)).where(
        _created_in(Conversation.created_at, period), ~escalated, ~staffed)).scalar_one()


def _escalated(session: Session, period: Period) -> Tuple[int, Dict[str, int]]:
    """Conversations of the period that were escalated: in all, and per reason."""
    joined = select(Escalation.reason, func.count(distinct(Escalation.conversation_id))).join(
        Conversation, Conversation.id == Escalation.conversation_id).where(
        _created_in(Conversation.created_at, period))
    per_reason = dict(session.execute(joined.group_by(Escalation.reason)).all())
    total = session.execute(select(func.count(distinct(Escalation.conversation_id))).join(
        Conversation, Conversation.id == Escalation.conversation_id).where(
        _created_in(Conversation.created_at, period))).scalar_one()
    return total, {reason: per_reason.get(reason, 0) for reason in ESCALATION_REASONS}


def _red_flags(session: Session, period: Period) -> Tuple[int, Dict[str, int], int]:
    """Red-flag escalations of the period: in all, per category, and without a recorded category."""
    red = and_(Escalation.reason == "red_flag", _created_in(Escalation.created_at, period))
    total = session.execute(select(func.count(Escalation.id)).where(red)).scalar_one()
    per_category = dict(session.execute(
        select(EscalationCategory.category, func.count(EscalationCategory.id))
        .join(Escalation, Escalation.id == EscalationCategory.escalation_id).where(red)
        .group_by(EscalationCategory.category)).all())
    categorised = exists().where(EscalationCategory.escalation_id == Escalation.id)
    uncategorised = session.execute(select(func.count(Escalation.id)).where(red, ~categorised)).scalar_one()
    return total, {category: per_category.get(category, 0) for category in CATEGORIES}, uncategorised


def _timings(session: Session, period: Period) -> Tuple[Timing, Timing, bool]:
    """First human response and resolution times of the period's escalations (merged ones left out)."""
    first_staff = select(func.min(Message.created_at)).where(
        Message.conversation_id == Escalation.conversation_id, Message.author == "staff",
        Message.created_at >= Escalation.created_at,
        or_(Escalation.resolved_at.is_(None), Message.created_at <= Escalation.resolved_at),
    ).correlate(Escalation).scalar_subquery()
    rows = session.execute(
        select(Escalation.created_at, first_staff, Escalation.resolved_at)
        .where(_created_in(Escalation.created_at, period), Escalation.merged_into_id.is_(None))
        .order_by(Escalation.created_at).limit(MAX_TIMED_ROWS + 1)).all()
    capped = len(rows) > MAX_TIMED_ROWS
    rows = rows[:MAX_TIMED_ROWS]
    first = [(answered - opened).total_seconds() for opened, answered, _ in rows if answered is not None]
    resolved = [(closed - opened).total_seconds() for opened, _, closed in rows if closed is not None]
    return timing(first), timing(resolved), capped


def _care(session: Session, period: Period) -> Tuple[Dict[str, int], bool]:
    """Care messages due in the period: due, sent, delivered, failed, and replied within 48 hours."""
    due = _created_in(CareMessage.due_at, period)
    sent = CareMessage.sent_at.is_not(None)
    counts = session.execute(select(
        func.count(CareMessage.id),
        func.sum(case((sent, 1), else_=0)),
        func.sum(case((CareMessage.status.in_(("delivered", "read")), 1), else_=0)),
        func.sum(case((CareMessage.status == "failed", 1), else_=0)),
    ).where(due)).one()
    outbound, reply = aliased(Message), aliased(Message)
    first_reply = select(func.min(reply.created_at)).where(
        reply.conversation_id == outbound.conversation_id, reply.author == "patient",
        reply.created_at > CareMessage.sent_at).correlate(CareMessage, outbound).scalar_subquery()
    rows = session.execute(
        select(CareMessage.sent_at, first_reply).join(outbound, outbound.id == CareMessage.message_id)
        .where(due, sent).order_by(CareMessage.due_at).limit(MAX_TIMED_ROWS + 1)).all()
    replied = sum(1 for sent_at, answered in rows[:MAX_TIMED_ROWS]
                  if answered is not None and answered - sent_at <= REPLY_WINDOW)
    values = [counts[0], counts[1] or 0, counts[2] or 0, counts[3] or 0, replied]
    return dict(zip(CARE_OUTCOMES, values)), len(rows) > MAX_TIMED_ROWS


def figures(session: Session, period: Period) -> Figures:
    """Every figure of the period, read in one session (read-only)."""
    escalated, by_reason = _escalated(session, period)
    red_flags, by_category, uncategorised = _red_flags(session, period)
    first_response, resolution, timings_capped = _timings(session, period)
    care, care_capped = _care(session, period)
    return Figures(
        period=period, by_day=_per_day(session, period), contained=_contained(session, period),
        escalated=escalated, escalated_by_reason=by_reason, red_flags=red_flags,
        red_flags_by_category=by_category, red_flags_uncategorised=uncategorised,
        first_response=first_response, resolution=resolution, care=care,
        timed_rows_capped=timings_capped or care_capped,
    )
