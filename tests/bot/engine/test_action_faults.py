"""Custom actions that fail under the real model: the patient gets an apology, staff get the conversation.

The engine's action endpoint is `StubActionServer` (see conftest.py): it proxies to the real
`rasa_sdk` action server, or refuses connections, answers HTTP 500, or hangs past the engine's
action timeout. Each test opens new web conversations through `ConversationRouter.receive()`.
"""
from __future__ import annotations

import itertools
import time
from datetime import datetime, timezone
from typing import List, Tuple

import pytest
from sqlalchemy import select

from bot.channels.messages import InboundMessage
from bot.conversations.router import ConversationRouter, Outcome, RouterLimits
from bot.db.models import Conversation, Escalation, Message
from tests.bot.engine.conftest import ACTION_TIMEOUT_SECONDS, ENGINE_TIMEOUT_SECONDS, FAILURE_MODES
from tests.support.deliverers import RecordingDeliverer

pytestmark = [pytest.mark.model, pytest.mark.asyncio(scope="module")]

APOLOGY_START = "Sorry, something went wrong on our side"
FAQ_QUESTION, FAQ_ANSWER = "who invented mesotherapy", "Michel Pistor"
BOOKING_QUESTION, BOOKING_PROMPT = "when is my next appointment", "booking reference"
# A patient hears back within this, however the action server fails.
BOUND_SECONDS = ACTION_TIMEOUT_SECONDS + 5
_sessions = itertools.count()


@pytest.fixture
def deliverer() -> RecordingDeliverer:
    """What the web channel would have sent."""
    return RecordingDeliverer()


@pytest.fixture
def router(engine_settings, clinic_sessions, rasa_engine, deliverer) -> ConversationRouter:
    """The real router over the real engine; the engine timeout well above the action timeout."""
    router = ConversationRouter(engine_settings, clinic_sessions, rasa_engine,
                                limits=RouterLimits(engine_timeout_seconds=ENGINE_TIMEOUT_SECONDS))
    router.register(deliverer)
    return router


def new_session() -> str:
    """A web session id no other test uses."""
    return f"engine-faults-{next(_sessions)}"


def message(session_id: str, text: str) -> InboundMessage:
    """A web chat message from `session_id`."""
    return InboundMessage(channel="web", sender=session_id, text=text, channel_message_id=None,
                          has_media=False, received_at=datetime.now(timezone.utc))


async def say(router: ConversationRouter, session_id: str, text: str) -> Tuple[Outcome, float]:
    """Send one message through the router; its outcome and how long the patient waited."""
    started = time.monotonic()
    outcome = await router.receive(message(session_id, text))
    return outcome, time.monotonic() - started


def sent_to(deliverer: RecordingDeliverer, session_id: str) -> List[str]:
    """The texts delivered to one web session."""
    return [text for external_id, _, text in deliverer.sent if external_id == session_id]


def stored(clinic_sessions, session_id: str):
    """The conversation, its messages (direction, author, text) and its escalation reasons."""
    with clinic_sessions() as session:
        conversation = session.execute(select(Conversation).where(
            Conversation.channel == "web", Conversation.external_id == session_id)).scalar_one()
        rows = session.execute(select(Message).where(Message.conversation_id == conversation.id)
                               .order_by(Message.id)).scalars().all()
        reasons = session.execute(select(Escalation.reason).where(
            Escalation.conversation_id == conversation.id, Escalation.status != "resolved")).scalars().all()
        session.expunge(conversation)
        return conversation, [(row.direction, row.author, row.text) for row in rows], reasons


def assert_handed_to_staff(clinic_sessions, deliverer, session_id: str, text: str, seconds: float,
                           outcome: Outcome, earlier: int = 0) -> None:
    """Apology in time, an engine_error escalation, staff own it, and nothing lost."""
    assert outcome.handled_by == "error"
    assert seconds < BOUND_SECONDS, f"the patient waited {seconds:.1f} s"
    delivered = sent_to(deliverer, session_id)[earlier:]
    assert len(delivered) == 1 and delivered[0].startswith(APOLOGY_START), delivered
    conversation, rows, reasons = stored(clinic_sessions, session_id)
    assert reasons == ["engine_error"]
    assert conversation.owner == "staff"
    assert rows[-2:] == [("in", "patient", text), ("out", "bot", delivered[0])]


async def assert_recovered(router, deliverer, stub) -> None:
    """A new conversation gets normal answers once the action server works again."""
    session_id, calls = new_session(), len(stub.calls)
    outcome, _ = await say(router, session_id, FAQ_QUESTION)
    assert outcome.handled_by == "bot" and FAQ_ANSWER in sent_to(deliverer, session_id)[-1]
    outcome, _ = await say(router, session_id, BOOKING_QUESTION)
    assert outcome.handled_by == "bot" and BOOKING_PROMPT in sent_to(deliverer, session_id)[-1]
    assert stub.actions_since(calls) and {kind for _, kind in stub.actions_since(calls)} == {"proxied"}


async def test_faq_question_gets_the_faq_answer_through_the_real_action_server(router, deliverer, stub):
    """Harness sanity: session start goes through the proxy; the FAQ needs no other action."""
    session_id, calls = new_session(), len(stub.calls)
    outcome, _ = await say(router, session_id, FAQ_QUESTION)
    assert outcome.handled_by == "bot"
    delivered = sent_to(deliverer, session_id)
    assert "automated assistant" in delivered[0] and FAQ_ANSWER in delivered[-1]
    assert stub.actions_since(calls) == [("action_session_start", "proxied")]


@pytest.mark.parametrize("mode", FAILURE_MODES)
async def test_failing_session_start_apologises_and_hands_the_first_message_to_staff(
        mode, router, deliverer, stub, clinic_sessions):
    """The first message of a conversation runs action_session_start; it fails in `mode`."""
    session_id, calls = new_session(), len(stub.calls)
    async with stub.failing(mode):
        outcome, seconds = await say(router, session_id, BOOKING_QUESTION)
        reached = [] if mode == "refused" else [("action_session_start", mode)]
        assert stub.actions_since(calls) == reached
        assert_handed_to_staff(clinic_sessions, deliverer, session_id, BOOKING_QUESTION, seconds, outcome)
        later, _ = await say(router, session_id, "hello?")
        assert later.handled_by == "staff"  # the bot stays out of it; the patient hears their message is with the team
        assert len(sent_to(deliverer, session_id)) == 2 and "with the clinic team" in sent_to(deliverer, session_id)[-1]
    await assert_recovered(router, deliverer, stub)


@pytest.mark.parametrize("mode", ["http_500", "hang"])
async def test_failing_form_validation_mid_conversation_apologises_and_hands_to_staff(
        mode, router, deliverer, stub, clinic_sessions):
    """The verification form's validation action fails when the patient gives their reference."""
    session_id = new_session()
    await say(router, session_id, BOOKING_QUESTION)
    assert BOOKING_PROMPT in sent_to(deliverer, session_id)[-1]
    earlier, calls = len(sent_to(deliverer, session_id)), len(stub.calls)
    async with stub.failing(mode, only=frozenset({"validate_verification_form"})):
        outcome, seconds = await say(router, session_id, "MC-4827")
    assert ("validate_verification_form", mode) in stub.actions_since(calls)
    assert_handed_to_staff(clinic_sessions, deliverer, session_id, "MC-4827", seconds, outcome, earlier)
    await assert_recovered(router, deliverer, stub)


async def test_conversation_handed_back_after_a_fault_gets_normal_answers(
        router, deliverer, stub, clinic_sessions, clinic_staff_id):
    """Staff hand the faulted conversation back: the bot answers it as if nothing had happened."""
    session_id = new_session()
    async with stub.failing("http_500"):
        outcome, _ = await say(router, session_id, BOOKING_QUESTION)
    assert outcome.handled_by == "error"
    conversation, _, _ = stored(clinic_sessions, session_id)
    await router.hand_back(conversation.id, clinic_staff_id)
    outcome, _ = await say(router, session_id, FAQ_QUESTION)
    assert outcome.handled_by == "bot" and FAQ_ANSWER in sent_to(deliverer, session_id)[-1]
    outcome, _ = await say(router, session_id, BOOKING_QUESTION)
    assert outcome.handled_by == "bot" and BOOKING_PROMPT in sent_to(deliverer, session_id)[-1]
