"""The conversation router: every patient message from every channel passes through `receive()`.

    store it -> consent keywords (SMS/WhatsApp) -> limits -> red-flag screen -> staff or bot?
    -> an answer to a care reminder (SMS/WhatsApp: bot.care.replies) or the Rasa engine
    (or an apology and an escalation when it fails) -> store and deliver the replies

The router knows who owns a conversation (the bot or staff) and nothing about wire formats:
each channel registers a `Deliverer` that sends replies in its own medium. Staff act through
`take_over()`, `staff_reply()`, `staff_template()` (an approved WhatsApp template, when the
reply window is closed) and `hand_back()`.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Protocol, Sequence, Tuple, cast

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.care import replies as care_replies
from bot.channels.keywords import consent_keyword, help_text
from bot.channels.kinds import ChannelKind
from bot.channels.messages import Button, ChannelSendError, InboundMessage, OutboundMessage, choose_button
from bot.channels.proactive import SentMessage, WhatsAppTemplate
from bot.clinic import audit
from bot.clinic.identity import channel_identity_metadata
from bot.conversations import handoff, store
from bot.conversations.events import InboxEvent, InboxEvents
from bot.conversations.ratelimit import SlidingWindowLimiter, Verdict
from bot.conversations.replies import Replies
from bot.conversations.store import ConversationRef
from bot.db.models import Conversation, utcnow
from bot.engine.errors import EngineFailure, EngineNotReady
from bot.engine.turn import EngineTurn
from bot.settings import Settings
from bot.teaching import queue as teaching

if TYPE_CHECKING:  # bot.safety.screen imports spaCy; the router needs only the type
    from bot.safety.screen import ScreenResult

logger = logging.getLogger(__name__)


class Engine(Protocol):
    """What the router needs of the Rasa engine."""

    @property
    def ready(self) -> bool:
        """True once the model can answer."""

    async def respond(self, sender_key: str, text: str, metadata: Optional[dict] = None) -> EngineTurn:
        """The bot's replies to one message, and the handoff a custom action asked for."""

    async def end_session(self, sender_key: str) -> None:
        """Start a new conversation session for this sender (nothing carries over)."""


class Screen(Protocol):
    """What the router needs of the red-flag screen (bot.safety)."""

    def check(self, text: str) -> ScreenResult:
        """A result with `kind`, `categories` and `is_red_flag`."""


class Deliverer(Protocol):
    """Sends messages to patients on one channel, and says what kind of channel it is."""

    kind: ChannelKind

    async def send(self, conversation: ConversationRef, replies: Sequence[OutboundMessage], author: str) -> None:
        """Deliver `replies` to the patient of `conversation`; raise ChannelSendError if refused."""

    async def notify_owner(self, conversation: ConversationRef, owner: str, notice: str) -> None:
        """Tell a live client that staff joined (owner "staff") or left (owner "bot")."""


class ProactiveDeliverer(Deliverer, Protocol):
    """A deliverer that can also write first: a text, or an approved WhatsApp template."""

    async def send_proactive(self, conversation: ConversationRef, text: str, template: Optional[WhatsAppTemplate],
                             *, kind: str = "this message") -> SentMessage:
        """Send it; the platform's id for it; ChannelSendError if refused."""


class ConversationEnded(Exception):
    """The patient ended this chat: its session id takes no more messages."""


class AddressLimited(Exception):
    """A web client's network address is over a limit (new chats or messages): nothing was stored."""

    def __init__(self, limit: str) -> None:
        """`limit` is "new_chats" or "messages"."""
        super().__init__(f"client address over its {limit} limit")
        self.limit = limit


class StaffActionError(Exception):
    """A staff action cannot be done; the message says why (shown to the staff member)."""


@dataclass(frozen=True)
class RouterLimits:
    """Message size, rate limit and how long the engine may take."""

    max_message_chars: int = 2000
    messages_per_window: int = 20
    window_seconds: float = 60.0
    engine_timeout_seconds: float = 15.0
    acknowledge_every_seconds: float = 600.0
    # Per web client address (bot/web/client_address.py): new chats an hour, urgent escalations an
    # hour (beyond it, merged into one), messages a minute.
    new_chats_per_address_hour: int = 20
    urgent_per_address_hour: int = 1
    messages_per_address_minute: int = 60


@dataclass(frozen=True)
class Accepted:
    """A stored patient message waiting for its reply."""

    inbound: InboundMessage
    text: str
    conversation: ConversationRef
    first_contact: bool
    opted_out: bool
    offered: Sequence[Button]
    stale_title: Optional[str] = None  # the title of an earlier button whose payload was sent again
    welcomed: bool = False  # the web chat's first screen already showed the disclaimer
    message_id: Optional[int] = None  # the stored message (queued for teaching if not understood)


@dataclass
class Outcome:
    """What `receive()` did with one message (for the caller's logs and for tests)."""

    conversation: Optional[ConversationRef] = None
    replies: List[OutboundMessage] = field(default_factory=list)
    handled_by: str = "bot"  # bot | care | staff | screen | limit | consent | duplicate | error
    understood: bool = True  # False when the assistant's turn was a fallback ("did you mean...?")


class ConversationRouter:
    """Routes patient messages to the bot or to staff, and staff messages back to patients."""

    def __init__(self, settings: Settings, session_factory: sessionmaker, engine: Engine, *,
                 events: Optional[InboxEvents] = None, screen: Optional[Screen] = None,
                 limits: Optional[RouterLimits] = None, clock: Callable[[], datetime] = utcnow) -> None:
        """Wire the router; channels then `register()` their deliverers."""
        self.settings = settings
        self.sessions = session_factory
        self.engine = engine
        self.events = events or InboxEvents()
        self.screen = screen
        self.limits = limits or RouterLimits()
        self.clock = clock
        self.replies = Replies(settings.clinic)
        self.limiter = SlidingWindowLimiter(self.limits.messages_per_window, self.limits.window_seconds)
        self.address_limiter = SlidingWindowLimiter(self.limits.messages_per_address_minute, 60.0)
        self.deliverers: Dict[str, Deliverer] = {}
        self.by_provider: Dict[Tuple[str, str], Deliverer] = {}
        self._acknowledged: Dict[int, datetime] = {}  # conversation id -> last "with the team" reply

    def register(self, deliverer: Deliverer, *, default: bool = True) -> None:
        """Send `deliverer.kind`'s messages through `deliverer`: always for conversations that came in
        through its provider, and for the others too when it is the channel's `default`."""
        provider = getattr(deliverer, "provider", None)
        if provider:
            self.by_provider[(deliverer.kind.name, provider)] = deliverer
        if default or deliverer.kind.name not in self.deliverers:
            self.deliverers[deliverer.kind.name] = deliverer

    def deliverer_for(self, ref: ConversationRef) -> Optional[Deliverer]:
        """The deliverer of the platform this conversation came in on, else its channel's default."""
        if ref.provider and (ref.channel, ref.provider) in self.by_provider:
            return self.by_provider[(ref.channel, ref.provider)]
        return self.deliverers.get(ref.channel)

    def kind_of(self, channel: str) -> ChannelKind:
        """The registered channel's kind; a channel with no deliverer is treated as plain text."""
        deliverer = self.deliverers.get(channel)
        return deliverer.kind if deliverer is not None else ChannelKind(channel)

    # ---- patient messages -------------------------------------------------------------------

    async def receive(self, inbound: InboundMessage) -> Outcome:
        """Handle one patient message end to end: `accept()` it, then `process()` it."""
        accepted = self.accept(inbound)
        if accepted is None:
            return Outcome(handled_by="duplicate")
        return await self.process(accepted)

    def accept(self, inbound: InboundMessage) -> Optional["Accepted"]:
        """Store the message (one transaction, with its webhook receipt); None if it is a redelivery.

        Webhooks call this before answering the platform, so a message that was acknowledged is
        always in the database; a database error propagates (the webhook answers 503 and the
        platform delivers again). A web message from a client address over its limits raises
        AddressLimited and nothing is stored (`address_refusal` says what to tell the patient).
        The conversation row is created with the first message (a web chat's, after the welcome
        its patient saw).
        """
        now = self.clock()
        text = (inbound.text or "").strip()
        if inbound.client_key and self.address_limiter.check(inbound.client_key) is not Verdict.ALLOW:
            raise AddressLimited("messages")
        with self.sessions.begin() as session:
            if inbound.channel_message_id and not store.claim_receipt(
                    session, inbound.channel, inbound.channel_message_id, now):
                return None
            conversation = self._conversation_of(session, inbound, now)
            if conversation.ended_at is not None:
                raise ConversationEnded(f"conversation {conversation.id} was ended by the patient")
            if inbound.provider:  # answered through the platform it came in on, from the number it was sent to
                conversation.provider = inbound.provider
                conversation.clinic_address = inbound.clinic_address or conversation.clinic_address
            first_contact = conversation.last_patient_message_at is None
            offered = store.offered_buttons(session, conversation.id)
            stale_title = None
            if text.startswith("/") and text not in {button.payload for button in offered}:
                # An old button pressed again: the patient chose its words, not the old question's answer.
                stale_title = store.earlier_button_titled(session, conversation.id, text)
            message = store.record_inbound(session, conversation, self.stored_text(stale_title or text), now,
                                           inbound.channel_message_id)
            accepted = Accepted(
                inbound=inbound, text=text, conversation=ConversationRef.of(conversation),
                first_contact=first_contact,
                opted_out=self.kind_of(inbound.channel).phone_numbers and store.is_opted_out(
                    session, inbound.sender, inbound.channel),
                offered=offered, stale_title=stale_title,
                welcomed=first_contact and store.has_outbound(session, conversation.id), message_id=message.id)
        self.events.publish(InboxEvent("message_in", conversation_id=accepted.conversation.id))
        return accepted

    def _conversation_of(self, session: Session, inbound: InboundMessage, now: datetime) -> Conversation:
        """The sender's conversation; a new one is created unless its client address has started
        too many chats within the hour (AddressLimited). A new clinic-widget chat stores first the
        welcome its patient was shown (bot.web.webchat)."""
        conversation = store.find_by_sender(session, inbound.channel, inbound.sender)
        if conversation is not None:
            return conversation
        if inbound.client_key and store.chats_started_from(
                session, inbound.client_key, now - timedelta(hours=1)) >= self.limits.new_chats_per_address_hour:
            raise AddressLimited("new_chats")
        conversation = store.conversation_for(session, inbound.channel, inbound.sender, now)
        conversation.client_key = inbound.client_key
        if inbound.client is not None:  # the clinic widget's tab: it showed the welcome first
            store.record_outbound(session, conversation.id, [self.replies.welcome()], now)
        return conversation

    def address_refusal(self, text: Optional[str], limited: AddressLimited) -> OutboundMessage:
        """What a web patient over an address limit is told: the urgent guidance for a red flag
        (always), else why the message was not taken and how to reach the clinic."""
        flagged = self._screen((text or "").strip())
        if flagged is not None and flagged.is_red_flag:
            return self.replies.red_flag(flagged)
        return self.replies.address_limited(limited.limit)

    def stored_text(self, text: str) -> str:
        """What is kept of a patient's message: all of it up to the size limit, then a note of its length."""
        if not text:
            return "[attachment without text]"
        limit = self.limits.max_message_chars
        if len(text) <= limit:
            return text
        return f"{text[:limit]}\n[message truncated: {len(text):,} characters in all]"

    async def process(self, accepted: "Accepted") -> Outcome:
        """Decide the replies to an accepted message, then store and deliver them."""
        ref, inbound, text = accepted.conversation, accepted.inbound, accepted.text
        outcome = Outcome(conversation=ref)
        # A pressed reminder button ("Cancel") arrives as its title: it answers the reminder, it is no STOP.
        pressed_care_option = inbound.reply_to_payload in care_replies.CHOICE_OF_PAYLOAD
        keyword = (consent_keyword(text) if self.kind_of(inbound.channel).phone_numbers and not pressed_care_option
                   else None)
        if keyword and (keyword != "start" or accepted.opted_out):
            return await self._consent(ref, inbound, keyword, outcome)
        if accepted.opted_out:
            return await self._opted_out_message(ref, text, outcome)
        replies = await self._decide(ref, inbound, accepted.stale_title or text, accepted.offered, outcome)
        if accepted.first_contact and not accepted.welcomed and replies and outcome.handled_by == "bot":
            replies.insert(0, self.replies.disclaimer())
        outcome.replies = replies
        await self._send(ref, replies, author="bot")
        if not outcome.understood and accepted.message_id is not None:
            self._queue_for_teaching(accepted.message_id)
        return outcome

    def _queue_for_teaching(self, message_id: int) -> None:
        """Mark a message the assistant did not understand (the analytics' fallback rate) and put it in
        the teaching queue (bot.teaching); a database error is logged, never the patient's problem."""
        try:
            with self.sessions.begin() as session:
                store.mark_fallback(session, message_id)
                teaching.queue_fallback(session, message_id, self.clock())
        except (SQLAlchemyError, teaching.TeachingError) as error:  # e.g. the chat was erased meanwhile
            logger.error("message %s: not queued for teaching: %s", message_id, type(error).__name__)

    async def process_safely(self, accepted: "Accepted") -> Outcome:
        """`process()`; if it fails unexpectedly, the patient still gets an apology (best effort)."""
        ref = accepted.conversation
        try:
            return await self.process(accepted)
        except Exception as error:
            logger.error("conversation %s: processing failed: %s", ref.id, type(error).__name__)
            deliverer = self.deliverer_for(ref)
            if deliverer is not None:
                try:
                    await deliverer.send(ref, [self.replies.apology(self.clock())], "system")
                except Exception as send_error:
                    logger.error("conversation %s: apology not delivered: %s", ref.id, type(send_error).__name__)
            return Outcome(conversation=ref, handled_by="error")

    async def _decide(self, ref: ConversationRef, inbound: InboundMessage, text: str, offered: Sequence[Button],
                      outcome: Outcome) -> List[OutboundMessage]:
        """The replies to one message from a patient who has not opted out.

        The red-flag screen comes first: a long message or a flood can still report an emergency.
        Then the rate limit (oversized messages count too), then staff ownership: while staff have
        the conversation, nothing but the rate-limited acknowledgement is sent, whatever its size.
        """
        flagged = self._screen(text)
        if flagged is not None and flagged.is_red_flag:
            outcome.handled_by = "screen"
            return await self._red_flag(ref, flagged)
        verdict = self.limiter.check(ref.sender_key)
        if verdict is not Verdict.ALLOW:
            outcome.handled_by = "limit"
            return [self.replies.slow_down()] if verdict is Verdict.REFUSE_AND_TELL else []
        if ref.owner == "staff":
            return await self._while_staff_own(ref, outcome)
        if len(text) > self.limits.max_message_chars:
            outcome.handled_by = "limit"
            return [self.replies.too_long(len(text), self.limits.max_message_chars)]
        if not text:
            outcome.handled_by = "bot"
            return [self.replies.media_only()]
        if flagged is not None and flagged.kind == "after_effect":
            outcome.handled_by = "screen"
            return [self.replies.after_effect(flagged)]
        answered = self._care_reply(ref, inbound, text, offered)
        if answered is not None:
            outcome.handled_by = "care"
            return [answered]
        return await self._ask_engine(ref, self.engine_text(inbound, text, offered), outcome, inbound.client)

    def _care_reply(self, ref: ConversationRef, inbound: InboundMessage, text: str,
                    offered: Sequence[Button]) -> Optional[OutboundMessage]:
        """On SMS and WhatsApp, the answer to a reply to the reminder in context ("1" confirms, "2"
        and "3" ask staff to move or cancel that session: bot.care.replies); None for anything else."""
        if not self.kind_of(ref.channel).phone_numbers:
            return None
        with self.sessions.begin() as session:
            return care_replies.answer_reply(session, conversation_id=ref.id, channel=ref.channel,
                                             phone_e164=ref.external_id, text=text,
                                             pressed_payload=inbound.reply_to_payload, offered=offered,
                                             profile=self.settings.clinic, now=self.clock())

    def _screen(self, text: str) -> Optional[ScreenResult]:
        """The red-flag screen's result for `text` (None when there is no screen or no text)."""
        if self.screen is None or not text:
            return None
        return self.screen.check(text)

    async def _red_flag(self, ref: ConversationRef, flagged: ScreenResult) -> List[OutboundMessage]:
        """Urgent guidance now, and the conversation at the top of the staff inbox."""
        await self._escalate(ref, handoff.HandoffRequest(reason="red_flag", priority="urgent",
                                                         summary=self.replies.red_flag_summary(flagged),
                                                         patient_id=ref.patient_id,
                                                         categories=flagged.categories))
        return [self.replies.red_flag(flagged)]

    async def _escalate(self, ref: ConversationRef, request: handoff.HandoffRequest) -> None:
        """Give the conversation to staff (bot.conversations.handoff), tell the inbox, and tell the
        patient's live client at once that the clinic team will answer (and when)."""
        if request.patient_id is None and ref.patient_id is not None:
            request = dataclasses.replace(request, patient_id=ref.patient_id)
        now = self.clock()
        with self.sessions.begin() as session:
            escalation = handoff.escalate(session, sender_key=ref.sender_key, request=request, now=now,
                                          urgent_limit=self._urgent_limit(ref))
            merged_into = store.conversation_of_escalation(session, escalation.merged_into_id)
        urgent = request.priority == "urgent"
        if merged_into is not None:  # one more urgent report from a flooding address: its row counts it
            self.events.publish(InboxEvent("escalated", conversation_id=merged_into, urgent=urgent))
            return
        self.events.publish(InboxEvent("escalated", conversation_id=ref.id, urgent=urgent))
        if ref.owner != "staff":
            await self._notify(ref, "staff", self.replies.escalated_notice(now))

    def _urgent_limit(self, ref: ConversationRef) -> Optional[handoff.UrgentLimit]:
        """The per-address limit on urgent escalations for a web chat; None elsewhere."""
        if not ref.client_key:
            return None
        return handoff.UrgentLimit(ref.client_key, self.limits.urgent_per_address_hour, timedelta(hours=1))

    async def _while_staff_own(self, ref: ConversationRef, outcome: Outcome) -> List[OutboundMessage]:
        """A patient writes while the conversation is with staff: never silence.

        Until a staff member takes an urgent red-flag case, every message gets the urgent guidance
        again; otherwise a short acknowledgement, at most once per `acknowledge_every_seconds`.
        """
        now = self.clock()
        with self.sessions.begin() as session:
            escalation = store.open_escalation_of(session, ref.id)
            waiting_red_flag = bool(escalation is not None and escalation.reason == "red_flag"
                                    and escalation.status == "waiting")
        if waiting_red_flag:
            outcome.handled_by = "screen"
            return [self.replies.red_flag_reminder()]
        outcome.handled_by = "staff"
        last = self._acknowledged.get(ref.id)
        if last is not None and (now - last).total_seconds() < self.limits.acknowledge_every_seconds:
            return []
        self._acknowledged[ref.id] = now
        return [self.replies.with_the_team(now)]

    def engine_text(self, inbound: InboundMessage, text: str, offered: Sequence[Button]) -> str:
        """What Rasa receives: an offered button's payload, or the patient's words (never a typed intent)."""
        payloads = {button.payload for button in offered}
        if inbound.reply_to_payload and inbound.reply_to_payload in payloads:
            return inbound.reply_to_payload
        if text in payloads:
            return text
        if self.kind_of(inbound.channel).phone_numbers:  # buttons went out as numbered options
            chosen = choose_button(text, offered)
            if chosen:
                return chosen
        # Rasa reads "/intent{...}" as an intent with entities: only offered payloads may do that.
        return text.lstrip("/").strip() or text.replace("/", " ").strip() or "?"

    async def _ask_engine(self, ref: ConversationRef, text: str, outcome: Outcome,
                          client: Optional[str] = None) -> List[OutboundMessage]:
        """Rasa's replies; on failure an apology, and the conversation goes to staff."""
        metadata = self._identity_metadata(ref)
        try:
            await asyncio.wait_for(self._keep_or_end_verification(ref, client), self.limits.engine_timeout_seconds)
            turn = await asyncio.wait_for(self.engine.respond(ref.sender_key, text, metadata),
                                          self.limits.engine_timeout_seconds)
            if not turn.replies:
                raise EngineFailure("Rasa produced no reply")
        except EngineNotReady:
            outcome.handled_by = "error"
            return [self.replies.starting_up()]
        except (EngineFailure, asyncio.TimeoutError) as error:
            logger.error("conversation %s: engine failed (%s)", ref.id, str(error) or type(error).__name__)
            outcome.handled_by = "error"
            return await self._engine_failed(ref)
        if turn.handoff is not None:
            await self._escalate(ref, turn.handoff)
        outcome.understood = turn.understood
        if turn.verified and client is not None:
            with self.sessions.begin() as session:
                store.set_verified_client(session, ref.id, client, self.clock())
        return list(turn.replies)

    def verification_holds(self, ref: ConversationRef, client: Optional[str], now: datetime) -> bool:
        """True while the web patient's verification may be used by `client` (the same tab, not idle)."""
        idle = timedelta(minutes=self.settings.verification_idle_minutes)
        return (ref.verified_client is not None and client == ref.verified_client
                and ref.verified_at is not None and now - ref.verified_at <= idle)

    async def _keep_or_end_verification(self, ref: ConversationRef, client: Optional[str]) -> None:
        """A web verification is bound to one tab and lapses when idle: refresh it, or end it in Rasa.

        Ending it starts a new Rasa session, so no slot (verified, patient id) carries over and the
        patient must prove who they are again before any booking detail.
        """
        if ref.verified_client is None:
            return
        now = self.clock()
        holds = self.verification_holds(ref, client, now)
        if not holds:
            await self.engine.end_session(ref.sender_key)
            logger.info("conversation %s: verification ended (other tab or idle)", ref.id)
        with self.sessions.begin() as session:
            store.set_verified_client(session, ref.id, client if holds else None, now)

    async def end_chat(self, channel: str, external_id: str) -> Optional[ConversationRef]:
        """The patient pressed "End chat": the verification ends and the chat takes no more messages."""
        with self.sessions.begin() as session:
            conversation = store.find_by_sender(session, channel, external_id)
            if conversation is None:
                return None
            store.end_web_chat(session, conversation.id, self.clock())
            ref = ConversationRef.of(conversation)
        try:
            await asyncio.wait_for(self.engine.end_session(ref.sender_key), self.limits.engine_timeout_seconds)
        except (EngineFailure, asyncio.TimeoutError) as error:  # the session id is dead anyway
            logger.warning("conversation %s: Rasa session not restarted: %s", ref.id, type(error).__name__)
        return ref

    def _identity_metadata(self, ref: ConversationRef) -> dict:
        """The signed phone number of an SMS or WhatsApp sender, for the custom actions."""
        if self.kind_of(ref.channel).phone_numbers and self.settings.identity_signing_key:
            return channel_identity_metadata(self.settings.identity_signing_key, ref.sender_key, ref.external_id)
        return {}

    async def _engine_failed(self, ref: ConversationRef) -> List[OutboundMessage]:
        """Open an escalation for a turn the engine could not answer, and apologise."""
        await self._escalate(ref, handoff.HandoffRequest(
            reason="engine_error", summary="The assistant could not answer (technical fault).",
            patient_id=ref.patient_id))
        return [self.replies.apology(self.clock())]

    async def _consent(self, ref: ConversationRef, inbound: InboundMessage, keyword: str,
                       outcome: Outcome) -> Outcome:
        """STOP, START (after STOP) and HELP on SMS and WhatsApp."""
        outcome.handled_by = "consent"
        now = self.clock()
        if keyword == "help":
            outcome.replies = [OutboundMessage(help_text(self.settings.clinic.name, self.settings.clinic.phone))]
            await self._send(ref, outcome.replies, author="system")
            return outcome
        opting_out = keyword == "stop"
        if opting_out and self.kind_of(inbound.channel).confirms_stop:
            # The platform does not confirm the opt-out itself: the patient hears it from us, once.
            outcome.replies = [self.replies.opted_out()]
            await self._send(ref, outcome.replies, author="system")
        with self.sessions.begin() as session:
            store.set_opt_out(session, inbound.sender, inbound.channel, opting_out, now)
        if not opting_out:
            outcome.replies = [self.replies.opted_in()]
            await self._send(ref, outcome.replies, author="system")
        return outcome

    async def _opted_out_message(self, ref: ConversationRef, text: str, outcome: Outcome) -> Outcome:
        """Nothing is sent to an opted-out number; a red flag still reaches staff (they may call)."""
        outcome.handled_by = "consent"
        flagged = self._screen(text)
        if flagged is not None and flagged.is_red_flag:
            await self._red_flag(ref, flagged)
        return outcome

    # ---- delivery ---------------------------------------------------------------------------

    async def _send(self, ref: ConversationRef, replies: Sequence[OutboundMessage], author: str,
                    staff_user_id: Optional[int] = None) -> None:
        """Store the replies, then deliver them; a channel failure is logged (the text is kept)."""
        if not replies:
            return
        now = self.clock()
        with self.sessions.begin() as session:
            store.record_outbound(session, ref.id, replies, now, author=author, staff_user_id=staff_user_id)
        self.events.publish(InboxEvent("message_out", conversation_id=ref.id))
        deliverer = self.deliverer_for(ref)
        if deliverer is None:
            logger.warning("conversation %s: no deliverer for channel %s", ref.id, ref.channel)
            return
        if deliverer.kind.phone_numbers and author != "system" and self._opted_out(ref):
            logger.info("conversation %s: number opted out, nothing sent", ref.id)
            return
        try:
            await deliverer.send(ref, replies, author)
        except Exception as error:  # a channel outage must not lose the stored conversation
            logger.error("conversation %s: delivery on %s failed: %s", ref.id, ref.channel, error)

    def _opted_out(self, ref: ConversationRef) -> bool:
        """True if the patient behind this phone conversation opted out."""
        with self.sessions.begin() as session:
            return store.is_opted_out(session, ref.external_id, ref.channel)

    # ---- staff actions ----------------------------------------------------------------------

    def _load(self, session: Session, conversation_id: int) -> Conversation:
        """The conversation, or StaffActionError if there is none."""
        conversation = store.find_conversation(session, conversation_id)
        if conversation is None:
            raise StaffActionError(f"conversation {conversation_id} does not exist")
        return conversation

    async def take_over(self, conversation_id: int, staff_user_id: int) -> ConversationRef:
        """A staff member takes the conversation: the bot goes silent; the patient is told."""
        with self.sessions.begin() as session:
            conversation = self._load(session, conversation_id)
            joined = handoff.assign(session, conversation, staff_user_id, self.clock())
            ref = ConversationRef.of(conversation)
        self.events.publish(InboxEvent("assigned", conversation_id=conversation_id))
        if joined:
            await self._notify(ref, "staff", self.replies.staff_joined_notice())
        return ref

    async def staff_reply(self, conversation_id: int, staff_user_id: int, text: str) -> ConversationRef:
        """Send a staff member's words to the patient on their channel (taking the conversation)."""
        text = (text or "").strip()
        if not text:
            raise StaffActionError("the reply is empty")
        if len(text) > self.limits.max_message_chars:
            raise StaffActionError(f"the reply is longer than {self.limits.max_message_chars} characters")
        now = self.clock()
        with self.sessions.begin() as session:
            conversation = self._load(session, conversation_id)
            self._check_reachable(session, conversation, now)
        ref = await self.take_over(conversation_id, staff_user_id)
        with self.sessions.begin() as session:
            audit.record(session, actor_type="staff", actor_id=staff_user_id, action="reply",
                         subject_type="conversation", subject_id=conversation_id, now=now)
        await self._send(ref, [OutboundMessage(text)], author="staff", staff_user_id=staff_user_id)
        return ref

    async def staff_template(self, conversation_id: int, staff_user_id: int, template: WhatsAppTemplate, text: str,
                             *, kind: str = "this message") -> SentMessage:
        """Send an approved WhatsApp template for a staff member (taking the conversation) when a
        free-form reply is refused because the reply window is closed.

        `text` is the template's words as the patient sees them: it is stored as the staff
        member's message. Refused (StaffActionError) when the text is empty, the patient opted
        out, or the channel cannot write first; a platform refusal is a StaffActionError with its
        reason, and nothing is stored. Audited ("template_reply", with the template's name)."""
        text = (text or "").strip()
        if not text:
            raise StaffActionError("the template message is empty")
        now = self.clock()
        with self.sessions.begin() as session:
            conversation = self._load(session, conversation_id)
            if self.kind_of(conversation.channel).phone_numbers and store.is_opted_out(
                    session, conversation.external_id, conversation.channel):
                raise StaffActionError("the patient opted out of messages on this channel (STOP)")
            target = ConversationRef.of(conversation)
        deliverer = self.deliverer_for(target)
        if deliverer is None or not hasattr(deliverer, "send_proactive"):
            raise StaffActionError(f"template messages cannot be sent on {target.channel}")
        ref = await self.take_over(conversation_id, staff_user_id)
        detail = {"kind": kind, "template": template.meta_name or template.twilio_content_sid}
        try:
            sent = await cast(ProactiveDeliverer, deliverer).send_proactive(ref, text, template, kind=kind)
        except ChannelSendError as error:
            logger.warning("conversation %s: template not sent: %s", conversation_id, error)
            with self.sessions.begin() as session:
                audit.record(session, actor_type="staff", actor_id=staff_user_id, action="template_reply_failed",
                             subject_type="conversation", subject_id=conversation_id,
                             detail={**detail, "error_code": error.code}, now=now)
            raise StaffActionError(f"the template was not sent: {error.reason or error}") from error
        with self.sessions.begin() as session:
            (message,) = store.record_outbound(session, ref.id, [OutboundMessage(text)], now, author="staff",
                                               staff_user_id=staff_user_id)
            message.channel_message_id = sent.provider_message_id
            audit.record(session, actor_type="staff", actor_id=staff_user_id, action="template_reply",
                         subject_type="conversation", subject_id=conversation_id,
                         detail={**detail, "provider": sent.provider}, now=now)
        self.events.publish(InboxEvent("message_out", conversation_id=conversation_id))
        return sent

    def _check_reachable(self, session: Session, conversation: Conversation, now: datetime) -> None:
        """Refuse a reply the channel would not deliver (opted out; outside its reply window)."""
        kind = self.kind_of(conversation.channel)
        if kind.phone_numbers and store.is_opted_out(session, conversation.external_id, conversation.channel):
            raise StaffActionError("the patient opted out of messages on this channel (STOP)")
        refusal = kind.refusal(conversation.last_patient_message_at, now)
        if refusal is not None:
            raise StaffActionError(refusal)

    async def hand_back(self, conversation_id: int, staff_user_id: int) -> ConversationRef:
        """Resolve the escalation and give the conversation back to the bot; the patient is told."""
        with self.sessions.begin() as session:
            conversation = self._load(session, conversation_id)
            was_staff = handoff.hand_back(session, conversation, staff_user_id, self.clock())
            ref = ConversationRef.of(conversation)
        self.events.publish(InboxEvent("handed_back", conversation_id=conversation_id))
        if was_staff:
            await self._send(ref, [self.replies.handed_back()], author="system")
            await self._notify(ref, "bot", self.replies.staff_left_notice())
        return ref

    async def staff_typing(self, conversation_id: int) -> bool:
        """Tell a live client that staff are typing a reply (web chat only: its deliverer has `typing`);
        False when the channel has no such notice or the chat has ended."""
        with self.sessions() as session:
            conversation = self._load(session, conversation_id)
            ended = conversation.ended_at is not None
            ref = ConversationRef.of(conversation)
        typing = getattr(self.deliverer_for(ref), "typing", None)
        if ended or typing is None:
            return False
        try:
            await typing(ref)
        except Exception as error:
            logger.warning("conversation %s: typing notice failed: %s", ref.id, type(error).__name__)
            return False
        return True

    async def resolve_quietly(self, escalation_ids: Sequence[int], staff_user_id: int) -> List[int]:
        """Resolve open escalations in bulk (spam) and give their conversations back to the bot. The
        patients are not told: nobody is owed an answer to spam, and a reply would invite more."""
        with self.sessions.begin() as session:
            resolved = handoff.resolve_quietly(session, escalation_ids, staff_user_id, self.clock())
        for conversation_id in resolved:
            self.events.publish(InboxEvent("handed_back", conversation_id=conversation_id))
        return resolved

    async def _notify(self, ref: ConversationRef, owner: str, notice: str) -> None:
        """Tell a live client about the change of owner (web only; others get messages)."""
        deliverer = self.deliverer_for(ref)
        if deliverer is not None:
            try:
                await deliverer.notify_owner(ref, owner, notice)
            except Exception as error:
                logger.warning("conversation %s: owner notice failed: %s", ref.id, type(error).__name__)
