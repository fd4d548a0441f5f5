"""The Rasa Agent in-process: load the trained model once, then answer one message at a time.

`RasaEngine.respond()` returns an `EngineTurn`: the bot's replies as channel-neutral
`OutboundMessage`s, and the handoff a custom action asked for (bot.engine.turn). A custom
action that fails (connection refused, HTTP 500, timeout) does not stop Rasa, which carries on
without the action's events; the engine notices it through `GuardedActionEndpoint` and raises
`EngineFailure` instead, so the router can apologise and hand the conversation to staff.

Rasa's work (NLU, policies, the tracker store's SQL) is mostly blocking Python and TensorFlow, so
it runs on engine threads, each with its own event loop, never on the application's loop: webhook
acknowledgements, socket.io traffic and the staff console stay responsive while the model thinks.
A conversation always goes to the same engine thread, so its messages are handled in order.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Coroutine, Dict, List, Optional, Tuple

from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.utils.endpoints import EndpointConfig

from bot.engine.errors import EngineFailure, EngineNotReady
from bot.engine.fast_load import use_eager_weight_building
from bot.engine.stores import ClinicLockStore, ClinicTrackerStore, conversation_lock_lifetime
from bot.engine.turn import EngineTurn, read_turn
from bot.settings import Settings

logger = logging.getLogger(__name__)

MODEL_FILE = "clinic.tar.gz"
# Turns running inside Rasa at once on one engine thread; more wait their turn before entering it.
TURNS_IN_FLIGHT = 4
INPUT_CHANNEL = "clinic"
# Rasa's own message that starts a new conversation session (the router never passes a typed one).
SESSION_START = "/session_start"

# The failures of custom actions during the current `respond()` call (one list per call).
_action_failures: contextvars.ContextVar[Optional[List[str]]] = contextvars.ContextVar(
    "action_failures", default=None
)


class GuardedActionEndpoint(EndpointConfig):
    """Rasa's action endpoint with a bounded timeout; failures are noted for the current turn."""

    def __init__(self, url: str, timeout_seconds: float) -> None:
        """Call the action server at `url`, giving up after `timeout_seconds`."""
        super().__init__(url=url)
        self.timeout_seconds = timeout_seconds

    async def request(self, method: str = "post", subpath: Optional[str] = None,
                      content_type: Optional[str] = "application/json", compress: bool = False,
                      **kwargs: Any) -> Optional[Any]:
        """Rasa's request with our timeout; a failure is recorded, then re-raised for Rasa."""
        kwargs["timeout"] = self.timeout_seconds
        try:
            return await super().request(method, subpath, content_type, compress, **kwargs)
        except Exception as error:  # Rasa turns any of these into a lost action
            failures = _action_failures.get()
            if failures is not None:
                failures.append(type(error).__name__)
            logger.warning("custom action call failed: %s", type(error).__name__)
            raise


def without_silent_tracker_fallback(agent: Agent) -> Agent:
    """Take Rasa's FailSafeTrackerStore wrapper off the agent's tracker store.

    The wrapper answers a database error with an empty in-memory tracker, so the patient's turn would
    go on as a new conversation (a verified patient suddenly unverified). Without it the error reaches
    `respond()`, which raises EngineFailure: an apology, and the conversation goes to staff.
    """
    store = agent.tracker_store
    inner = getattr(store, "_tracker_store", None)
    if isinstance(store, FailSafeTrackerStore) and inner is not None:
        agent.tracker_store = inner
        if agent.processor is not None:
            agent.processor.tracker_store = inner
    return agent


class EngineThread:
    """A daemon thread running an event loop of its own, on which Rasa's coroutines run."""

    def __init__(self, name: str) -> None:
        """Start the thread and its loop at once."""
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        """The thread's body: serve the loop until `stop()`."""
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.close()

    def submit(self, coroutine: Coroutine) -> concurrent.futures.Future:
        """Schedule `coroutine` on this thread's loop; cancelling the future cancels it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop once what it is running yields, and wait for the thread."""
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)


def thread_index(sender_key: str, threads: int) -> int:
    """The engine thread that always handles this conversation (a stable hash of its key)."""
    return zlib.crc32(sender_key.encode("utf-8")) % threads


class RasaEngine:
    """The trained model with the clinic's tracker store, lock store and action endpoint."""

    def __init__(self, settings: Settings, action_timeout_seconds: float = 8.0, threads: int = 1) -> None:
        """Nothing is loaded yet: call `await load()` (the application does it at start-up)."""
        self.settings = settings
        self.action_timeout_seconds = action_timeout_seconds
        self.thread_count = max(1, threads)
        self.threads: List[EngineThread] = []
        self._gates: List[asyncio.Semaphore] = []
        self.agent: Optional[Agent] = None
        self.load_seconds: Optional[float] = None

    @property
    def ready(self) -> bool:
        """True once the model is loaded and can answer."""
        return self.agent is not None and self.agent.is_ready()

    def model_file(self) -> Path:
        """The trained model this engine loads."""
        path = Path(self.settings.model_path)
        return path if path.suffix == ".gz" else path / MODEL_FILE

    def _load_agent(self) -> Agent:
        """Build the agent (blocking: reads the model and builds TensorFlow graphs)."""
        use_eager_weight_building()
        agent = Agent.load(
            model_path=str(self.model_file()),
            action_endpoint=GuardedActionEndpoint(self.settings.action_endpoint_url, self.action_timeout_seconds),
            tracker_store=ClinicTrackerStore(database_url=self.settings.database_url),
            lock_store=ClinicLockStore(redis_url=self.settings.redis_url or "",
                                       lock_lifetime_seconds=conversation_lock_lifetime(self.settings)),
        )
        return without_silent_tracker_fallback(agent)

    async def load(self) -> None:
        """Load the model in a worker thread, so the server answers /healthz (503) meanwhile."""
        started = time.monotonic()
        if not self.model_file().exists():
            raise FileNotFoundError(f"no trained model at {self.model_file()}: run `make train`")
        agent = await asyncio.get_running_loop().run_in_executor(None, self._load_agent)
        self.threads = [EngineThread(f"rasa-engine-{index}") for index in range(self.thread_count)]
        self.agent = agent
        self.load_seconds = time.monotonic() - started
        logger.info("model loaded in %.1f s", self.load_seconds)

    def _admission(self, index: int) -> asyncio.Semaphore:
        """The gate of engine thread `index`: at most TURNS_IN_FLIGHT turns run on it at once.

        Under a burst, the other turns wait here rather than inside Rasa, where a turn waiting on a
        custom action would not be read back in time while the thread's loop computes the others,
        and would fail as an action timeout (an apology and a needless staff escalation).
        """
        if len(self._gates) != len(self.threads):
            self._gates = [asyncio.Semaphore(TURNS_IN_FLIGHT) for _ in self.threads]
        return self._gates[index]

    def close(self) -> None:
        """Stop the engine threads (the application calls this at shutdown)."""
        for thread in self.threads:
            thread.stop()
        self.threads = []

    async def respond(self, sender_key: str, text: str, metadata: Optional[Dict[str, Any]] = None
                      ) -> EngineTurn:
        """The bot's turn after one patient message; `EngineFailure` if any part of it failed."""
        if not self.ready or not self.threads:
            raise EngineNotReady("the model is still loading")
        index = thread_index(sender_key, len(self.threads))
        async with self._admission(index):
            collected, failures = await asyncio.wrap_future(
                self.threads[index].submit(self._handle(sender_key, text, metadata or {})))
        if failures:
            raise EngineFailure(f"custom action failed: {', '.join(failures)}")
        return read_turn(collected)

    async def end_session(self, sender_key: str) -> None:
        """Start a new Rasa conversation session for this sender: no slot carries over, so a patient's
        verification ends (`/session_start` runs action_session_start; nothing is said)."""
        if not self.ready or not self.threads:
            raise EngineNotReady("the model is still loading")
        index = thread_index(sender_key, len(self.threads))
        async with self._admission(index):
            _, failures = await asyncio.wrap_future(
                self.threads[index].submit(self._handle(sender_key, SESSION_START, {})))
        if failures:
            raise EngineFailure(f"custom action failed: {', '.join(failures)}")

    async def _handle(self, sender_key: str, text: str, metadata: Dict[str, Any]
                      ) -> Tuple[List[Dict[str, Any]], List[str]]:
        """On an engine thread: Rasa handles the message; its replies and any action failures."""
        failures: List[str] = []
        _action_failures.set(failures)
        output = CollectingOutputChannel()
        assert self.agent is not None  # respond() hands turns over only once the model is loaded
        try:
            await self.agent.handle_message(UserMessage(
                text, output_channel=output, sender_id=sender_key, input_channel=INPUT_CHANNEL, metadata=metadata,
            ))
        except Exception as error:
            raise EngineFailure(f"Rasa failed: {type(error).__name__}") from error
        return output.messages, failures
