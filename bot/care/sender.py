"""Send the care messages that are due, each at most once: `send_due(session_factory, deliver, now)`.

    stale "sending" rows -> "unknown"; nothing during quiet hours;
    claim a batch of due rows ("scheduled" -> "sending", committed BEFORE anything is sent)
    -> per row: re-check consent, STOP, the session and "too late"; choose the channel; render;
       store the outbound copy in the patient's phone conversation; send; mark "sent" or "failed"

Exactly once: a row is claimed in a short transaction of its own, with `SELECT ... FOR UPDATE SKIP
LOCKED` on PostgreSQL (two replicas never claim the same row; neither waits for the other) and, on
SQLite, an UPDATE guarded by `status = 'scheduled'` per row under SQLite's single writer lock. Only
the claimer sends. A sender that stops between claiming and marking (a crash, a deploy, a timeout
whose outcome the platform did not say) leaves the row "sending": after `stale_after` it becomes
"unknown" and is NEVER sent again automatically, because a duplicate health message is worse than
a missing one (staff see it in the console; the stored copy and the provider's own records say
whether it went). For the same reason an error without an answer from the platform marks the row
"unknown", not "failed"; "failed" is a refusal the platform reported (its error code kept).

The channels are reached through a `ProactiveDeliverer` (the server's: `RouterDeliverers`, over the
router's per-conversation deliverers); a WhatsApp message outside the 24-hour window goes as the
kind's approved template, inside it as free text; SMS always as text.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Protocol, Tuple

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

# The reminder's copy offers REMINDER_BUTTONS, so "1", "2", "3" (or a tap) are read in context
# (bot.care.replies; never a bare "Cancel", which is a STOP keyword on SMS and WhatsApp).
from bot.care.replies import REMINDER_BUTTONS
from bot.care.schedule import CareSubject, render
from bot.channels.kinds import ChannelKind
from bot.channels.messages import ChannelSendError, OutboundMessage
from bot.channels.proactive import SentMessage, WhatsAppTemplate
from bot.conversations import store
from bot.conversations.store import ConversationRef
from bot.db.models import Appointment, CareMessage, Message, Patient, TreatmentCourse
from bot.settings import ClinicProfile

if TYPE_CHECKING:  # the router brings the engine's types; only its deliverer lookup is used
    from bot.conversations.router import ConversationRouter

logger = logging.getLogger(__name__)

CLAIM_BATCH = 100
STALE_SENDING = timedelta(minutes=10)
PHONE_CHANNELS = ("sms", "whatsapp")
BEFORE_SESSION = ("preparation", "reminder")


class ProactiveDeliverer(Protocol):
    """Writes first to a patient's phone conversation (bot/channels implement it per platform)."""

    async def send_proactive(self, ref: ConversationRef, text: str,
                             template: Optional[WhatsAppTemplate]) -> SentMessage:
        """Send `text` (or, given one, the approved `template`); raise ChannelSendError if refused."""


class NoDeliverer(Exception):
    """No channel can write first to this conversation (nothing was sent)."""


class RouterDeliverers:
    """The server's `ProactiveDeliverer`: each conversation's own deliverer, as the router chooses it."""

    def __init__(self, router: "ConversationRouter") -> None:
        """Send through `router.deliverer_for(ref)`."""
        self.router = router

    async def send_proactive(self, ref: ConversationRef, text: str,
                             template: Optional[WhatsAppTemplate]) -> SentMessage:
        """Send through the conversation's deliverer; NoDeliverer when it cannot write first."""
        deliverer = self.router.deliverer_for(ref)
        send = getattr(deliverer, "send_proactive", None)
        if send is None:
            raise NoDeliverer(f"no deliverer on {ref.channel} can write first")
        sent: SentMessage = await send(ref, text, template)
        return sent


@dataclass
class SendReport:
    """What one `send_due` did, by outcome."""

    sent: int = 0
    skipped: int = 0  # skipped or cancelled at send time (opted out, consent withdrawn, too late, ...)
    failed: int = 0
    unknown: int = 0  # may or may not have gone: never sent again

    def describe(self) -> str:
        """"sent 3, skipped 1, failed 0" (and the unknown ones, when there are any)."""
        text = f"sent {self.sent}, skipped {self.skipped}, failed {self.failed}"
        return text + (f", unknown {self.unknown}" if self.unknown else "")


def default_kinds() -> Dict[str, ChannelKind]:
    """The phone channels' kinds (their reply windows), from their own modules."""
    from bot.channels.twilio import SMS
    from bot.channels.whatsapp import WHATSAPP

    return {SMS.name: SMS, WHATSAPP.name: WHATSAPP}


async def send_due(session_factory: sessionmaker, deliver: ProactiveDeliverer, now: datetime,
                   limit: Optional[int] = None, *, profile: ClinicProfile,
                   kinds: Optional[Mapping[str, ChannelKind]] = None,
                   stale_after: timedelta = STALE_SENDING) -> SendReport:
    """Send every care message due at `now` (at most `limit`), each once; nothing in quiet hours."""
    report = SendReport(unknown=mark_stale(session_factory, now, stale_after))
    if profile.care.quiet_hours.contains(now, profile.timezone):
        return report
    channel_kinds = dict(kinds) if kinds is not None else default_kinds()
    handled = 0
    while limit is None or handled < limit:
        batch = CLAIM_BATCH if limit is None else min(CLAIM_BATCH, limit - handled)
        claimed = claim_due(session_factory, now, batch)
        for row_id in claimed:
            outcome = await send_one(session_factory, deliver, row_id, now, profile, channel_kinds)
            setattr(report, outcome, getattr(report, outcome) + 1)
        handled += len(claimed)
        if len(claimed) < batch:
            break
    if handled or report.unknown:
        logger.info("care messages: %s", report.describe())
    return report


def mark_stale(session_factory: sessionmaker, now: datetime, stale_after: timedelta) -> int:
    """Rows claimed longer than `stale_after` ago and never marked become "unknown"; how many."""
    with session_factory.begin() as session:
        result = session.execute(
            update(CareMessage)
            .where(CareMessage.status == "sending", CareMessage.claimed_at < now - stale_after)
            .values(status="unknown", detail="sender stopped mid-send", status_at=now, updated_at=now)
            .execution_options(synchronize_session=False))
    if result.rowcount:
        logger.warning("care messages: %d left sending by a stopped sender marked unknown", result.rowcount)
    return int(result.rowcount or 0)


def claim_due(session_factory: sessionmaker, now: datetime, limit: int) -> List[int]:
    """Claim up to `limit` due rows for this sender (committed before returning); their ids."""
    with session_factory.begin() as session:
        query = (select(CareMessage.id)
                 .where(CareMessage.status == "scheduled", CareMessage.due_at <= now)
                 .order_by(CareMessage.due_at, CareMessage.id).limit(limit))
        if session.get_bind().dialect.name == "postgresql":
            ids = list(session.execute(query.with_for_update(skip_locked=True)).scalars())
            if ids:
                session.execute(update(CareMessage).where(CareMessage.id.in_(ids))
                                .values(status="sending", claimed_at=now, updated_at=now)
                                .execution_options(synchronize_session=False))
            return ids
        claimed = []
        for row_id in session.execute(query).scalars().all():
            result = session.execute(
                update(CareMessage).where(CareMessage.id == row_id, CareMessage.status == "scheduled")
                .values(status="sending", claimed_at=now, updated_at=now)
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:
                claimed.append(row_id)
        return claimed


@dataclass(frozen=True)
class Prepared:
    """A claimed row ready to go: where, what, and the stored copy's id."""

    ref: ConversationRef
    text: str
    template: Optional[WhatsAppTemplate]
    message_id: int


async def send_one(session_factory: sessionmaker, deliver: ProactiveDeliverer, row_id: int, now: datetime,
                   profile: ClinicProfile, kinds: Mapping[str, ChannelKind]) -> str:
    """Send one claimed row; the outcome ("sent", "skipped", "failed" or "unknown")."""
    with session_factory.begin() as session:
        prepared = _prepare(session, row_id, now, profile, kinds)
    if isinstance(prepared, str):
        return prepared
    try:
        sent = await deliver.send_proactive(prepared.ref, prepared.text, prepared.template)
    except NoDeliverer:
        return _failed(session_factory, row_id, prepared, now, error_code=None, detail="no deliverer")
    except ChannelSendError as error:
        if error.status is None:  # no answer: it may have been accepted
            return _unknown(session_factory, row_id, now, "no answer from the platform")
        code = str(error.code) if error.code is not None else f"http {error.status}"
        return _failed(session_factory, row_id, prepared, now, error_code=code, detail="refused by the platform")
    except Exception as error:  # noqa: BLE001 - a timeout or dropped connection: the outcome is unknown
        logger.warning("care message %d: send ended with %s; marked unknown", row_id, type(error).__name__)
        return _unknown(session_factory, row_id, now, f"send ended with {type(error).__name__}"[:120])
    with session_factory.begin() as session:
        session.execute(update(CareMessage).where(CareMessage.id == row_id).values(
            status="sent", provider=sent.provider, provider_message_id=sent.provider_message_id, sent_at=now,
            status_at=now, updated_at=now).execution_options(synchronize_session=False))
        if sent.provider_message_id:
            session.execute(update(Message).where(Message.id == prepared.message_id)
                            .values(channel_message_id=sent.provider_message_id)
                            .execution_options(synchronize_session=False))
    logger.debug("care message %d sent through %s", row_id, sent.provider)
    return "sent"


def _prepare(session: Session, row_id: int, now: datetime, profile: ClinicProfile,
             kinds: Mapping[str, ChannelKind]) -> "Prepared | str":
    """Check the claimed row can still go, render it and store its copy; else mark it and say how."""
    found = session.execute(
        select(CareMessage, Appointment, TreatmentCourse, Patient)
        .join(Appointment, Appointment.id == CareMessage.appointment_id)
        .join(TreatmentCourse, Appointment.course_id == TreatmentCourse.id)
        .join(Patient, Patient.id == TreatmentCourse.patient_id)
        .where(CareMessage.id == row_id)).first()
    if found is None:
        return "skipped"  # the session was deleted meanwhile, and its rows with it
    row, appointment, course, patient = found
    channel = patient.preferred_channel if patient.preferred_channel in PHONE_CHANNELS else "sms"
    reason = _reason_not_to_send(row, appointment, patient, profile, now)
    if reason is None and store.is_opted_out(session, patient.phone_e164, channel):
        reason = ("skipped", "opted out")
    if reason is not None:
        return _close(row, *reason, now=now)
    conversation = store.conversation_for(session, channel, patient.phone_e164, now)
    if conversation.patient_id is None:
        conversation.patient_id = patient.id
    subject = CareSubject(first_name=(patient.full_name.split() or [""])[0], treatment=course.treatment,
                          session_start=appointment.starts_at, practitioner=appointment.practitioner)
    rendered = render(row.kind, subject, now, profile)
    kind = kinds.get(channel) or ChannelKind(channel)
    template = None
    if not kind.within_reply_window(conversation.last_patient_message_at, now):
        if rendered.template is None:
            return _close(row, "skipped", "no WhatsApp template", now=now)
        template = rendered.template
    buttons = REMINDER_BUTTONS if row.kind == "reminder" else ()
    copy = store.record_outbound(session, conversation.id, [OutboundMessage(rendered.text, buttons)], now,
                                 author="bot")[0]
    row.message_id, row.channel, row.updated_at = copy.id, channel, now
    return Prepared(ConversationRef.of(conversation), rendered.text, template, copy.id)


def _reason_not_to_send(row: CareMessage, appointment: Appointment, patient: Patient, profile: ClinicProfile,
                        now: datetime) -> Optional[Tuple[str, str]]:
    """(status, detail) when the row must not go now, else None."""
    if not profile.care[row.kind].enabled:
        return ("cancelled", "switched off")
    if patient.care_consent is not True:
        return ("cancelled", "consent withdrawn")
    if not patient.phone_e164:
        return ("cancelled", "no phone number")
    if appointment.status in ("cancelled", "no_show"):
        return ("cancelled", f"session {appointment.status.replace('_', '-')}")
    if row.kind in BEFORE_SESSION and appointment.status != "booked":
        return ("cancelled", f"session {appointment.status}")
    if profile.care[row.kind].window(appointment.starts_at, profile).latest < now:
        return ("skipped", "too late")
    return None


def _close(row: CareMessage, status: str, detail: str, *, now: datetime) -> str:
    """Mark a claimed row that will not be sent; its outcome for the report."""
    row.status, row.detail, row.status_at, row.updated_at = status, detail, now, now
    logger.debug("care message %d %s: %s", row.id, status, detail)
    return "skipped"


def _failed(session_factory: sessionmaker, row_id: int, prepared: Prepared, now: datetime,
            error_code: Optional[str], detail: str) -> str:
    """The platform refused: the row is "failed" (with its error code) and the stored copy removed."""
    with session_factory.begin() as session:
        session.execute(update(CareMessage).where(CareMessage.id == row_id).values(
            status="failed", error_code=error_code, detail=detail, message_id=None, status_at=now, updated_at=now)
            .execution_options(synchronize_session=False))
        session.execute(delete(Message).where(Message.id == prepared.message_id)
                        .execution_options(synchronize_session=False))
    logger.warning("care message %d failed: %s (error code %s)", row_id, detail, error_code)
    return "failed"


def _unknown(session_factory: sessionmaker, row_id: int, now: datetime, detail: str) -> str:
    """The send may or may not have gone: "unknown", never sent again; the stored copy stays."""
    with session_factory.begin() as session:
        session.execute(update(CareMessage).where(CareMessage.id == row_id).values(
            status="unknown", detail=detail, status_at=now, updated_at=now)
            .execution_options(synchronize_session=False))
    return "unknown"
