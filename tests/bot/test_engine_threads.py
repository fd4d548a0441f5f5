"""Rasa runs on engine threads: the application's event loop stays free while the model works."""
import asyncio
import threading
import time

import pytest

from bot.engine import agent as engine_module
from bot.engine.agent import EngineThread, RasaEngine, thread_index
from bot.engine.errors import EngineFailure
from bot.settings import Settings


class BlockingAgent:
    """Stands in for Rasa's Agent: blocks its thread like inference does, and records where it ran."""

    def __init__(self, seconds=0.3, fail_action=False):
        self.seconds = seconds
        self.fail_action = fail_action
        self.threads = []
        self.cancelled = False

    def is_ready(self):
        return True

    async def handle_message(self, message):
        self.threads.append(threading.current_thread().name)
        time.sleep(self.seconds)  # blocking, as TensorFlow and Rasa's policies are
        if self.fail_action:
            engine_module._action_failures.get().append("ClientConnectorError")
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        message.output_channel.messages.append({"text": f"answer to {message.text}"})


@pytest.fixture
def engine():
    made = RasaEngine(Settings.from_env({}), threads=2)
    made.threads = [EngineThread(f"rasa-engine-{index}") for index in range(2)]
    yield made
    made.close()


async def largest_pause_while(task):
    """The longest the event loop went without running a 10 ms ticker while `task` ran."""
    largest, last = 0.0, time.monotonic()
    while not task.done():
        await asyncio.sleep(0.01)
        now = time.monotonic()
        largest, last = max(largest, now - last), now
    return largest


async def test_the_event_loop_keeps_running_while_rasa_blocks(engine):
    engine.agent = BlockingAgent(seconds=0.5)
    task = asyncio.ensure_future(engine.respond("web:abc", "does it hurt"))
    pause = await largest_pause_while(task)
    turn = await task
    assert [reply.text for reply in turn.replies] == ["answer to does it hurt"]
    assert pause < 0.2
    assert engine.agent.threads[0].startswith("rasa-engine-")


async def test_a_conversation_always_uses_the_same_engine_thread(engine):
    engine.agent = BlockingAgent(seconds=0)
    for _ in range(3):
        await engine.respond("sms:+447700900123", "hello")
    assert len(set(engine.agent.threads)) == 1
    assert engine.agent.threads[0] == f"rasa-engine-{thread_index('sms:+447700900123', 2)}"


async def test_two_conversations_can_run_on_two_threads_at_once(engine):
    keys = [f"web:{n}" for n in range(20)]
    first = next(k for k in keys if thread_index(k, 2) == 0)
    second = next(k for k in keys if thread_index(k, 2) == 1)
    engine.agent = BlockingAgent(seconds=0.4)
    started = time.monotonic()
    await asyncio.gather(engine.respond(first, "a"), engine.respond(second, "b"))
    assert time.monotonic() - started < 0.75  # side by side, not 0.8 s one after the other


async def test_a_failed_custom_action_is_an_engine_failure(engine):
    engine.agent = BlockingAgent(seconds=0, fail_action=True)
    with pytest.raises(EngineFailure, match="ClientConnectorError"):
        await engine.respond("web:abc", "when is my next appointment")


async def test_a_timeout_cancels_the_turn_on_the_engine_thread(engine):
    engine.agent = BlockingAgent(seconds=0)

    async def slow(message):
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            engine.agent.cancelled = True
            raise

    engine.agent.handle_message = slow
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(engine.respond("web:abc", "hi"), 0.2)
    deadline = time.monotonic() + 2
    while not engine.agent.cancelled and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert engine.agent.cancelled


async def test_a_burst_waits_at_the_gate_instead_of_crowding_the_engine_thread(engine):
    in_flight, peak = 0, 0

    class CountingAgent(BlockingAgent):
        async def handle_message(self, message):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.05)  # waiting on a custom action
            in_flight -= 1
            message.output_channel.messages.append({"text": "ok"})

    engine.agent = CountingAgent()
    keys = [f"web:{n}" for n in range(200)]
    same_thread = [k for k in keys if thread_index(k, 2) == 0][:20]
    turns = await asyncio.gather(*(engine.respond(key, "hi") for key in same_thread))
    assert all(turn.replies[0].text == "ok" for turn in turns)
    assert peak == engine_module.TURNS_IN_FLIGHT
