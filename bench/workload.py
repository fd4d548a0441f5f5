"""The load the benchmark puts on a server: web conversations over socket.io, and signed webhooks.

A conversation opens a socket, asks for a session, then sends an unmeasured warm-up "hello" and
waits for a second of quiet (our server adds a disclaimer on first contact; both run
action_session_start). Measured turns are closed-loop: the next question goes out when the first
reply to the previous one arrives. The questions are calibrated first, so each is answered with
exactly one plain `bot_uttered` and a turn is complete at its first reply; a reply that arrives
after its turn was counted (a question that got two answers after all) is a "stray reply".

Several replicas of one server: pass their base URLs (a sequence) instead of one; conversation k goes
to URL k mod the number of URLs (round-robin) and keeps its socket there, as a load balancer does
with websocket-only or sticky sessions.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Union

import aiohttp

from bench import platform_stub
from bench.sio_client import Event, SocketIOClient
from bench.stats import median_ms, summary_ms
from tests.support.platforms import Deliveries, PlatformStub

TURN_TIMEOUT_SECONDS = 30.0
SESSION_TIMEOUT_SECONDS = 10.0
QUIET_SECONDS = 1.0
WARM_UP_TEXT = "hello"
REPLY_EVENT = "bot_uttered"
MAX_SILENT_TURNS = 3  # a conversation is given up after this many timeouts in a row
QUESTION_STRIDE = 7
OPENING_AT_ONCE = 10  # conversation k starts at question k * 7, so they do not all ask the same


Targets = Union[str, Sequence[str]]  # one base URL, or the base URLs of several replicas


class TurnTimeout(Exception):
    """No reply within TURN_TIMEOUT_SECONDS."""


def faq_questions() -> List[str]:
    """The held-out FAQ questions (intents faq/...), never trained on, in file order without repeats."""
    from tests.nlu.evaluation import heldout_examples

    return list(dict.fromkeys(text for text, intent in heldout_examples() if intent.startswith("faq/")))


def spread(items: Sequence[str], count: int) -> List[str]:
    """`count` items taken evenly across `items` (all of them when count is larger)."""
    if count >= len(items):
        return list(items)
    step = len(items) / count
    return [items[int(index * step)] for index in range(count)]


def replica_urls(targets: Targets) -> List[str]:
    """The base URLs in `targets` (one URL: a list of it); ValueError when there are none."""
    urls = [targets] if isinstance(targets, str) else list(targets)
    if not urls:
        raise ValueError("no base URL to send conversations to")
    return urls


def round_robin(targets: Targets, count: int) -> List[str]:
    """The base URL of each of `count` conversations: the replicas in turn (one URL: always it)."""
    urls = replica_urls(targets)
    return [urls[index % len(urls)] for index in range(count)]


class Conversation:
    """One web chat over socket.io, speaking Rasa's protocol."""

    def __init__(self, client: SocketIOClient, base_url: str = "") -> None:
        """Wrap a connected client (use `Conversation.open()`)."""
        self.client = client
        self.base_url = base_url
        self.answered = 0  # turns of ask() that got their reply
        self.session_id: Optional[str] = None
        self.stray_replies = 0
        self.warm_up_replies = 0

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, base_url: str, quiet: float = QUIET_SECONDS,
                   warm_up: bool = True) -> "Conversation":
        """Connect, get a session id, and (by default) send the warm-up turn and wait for quiet."""
        client = await SocketIOClient.connect(http, base_url)
        conversation = cls(client, base_url)
        try:
            await conversation._request_session()
            if warm_up:
                conversation.warm_up_replies = len(await conversation.exchange(WARM_UP_TEXT, quiet))
        except BaseException:
            await client.close()
            raise
        return conversation

    async def _request_session(self) -> None:
        """session_request -> session_confirm."""
        await self.client.emit("session_request", {"session_id": None})
        deadline = time.perf_counter() + SESSION_TIMEOUT_SECONDS
        while True:
            event = await self.client.next_event(max(0.01, deadline - time.perf_counter()))
            if event.name == "session_confirm":
                self.session_id = event.data
                return

    async def say(self, text: str) -> float:
        """Send `text`; the perf_counter time it went out."""
        sent = time.perf_counter()
        await self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})
        return sent

    async def next_reply(self, timeout: float) -> Event:
        """The next `bot_uttered` (other events are skipped); asyncio.TimeoutError if none in time."""
        deadline = time.perf_counter() + timeout
        while True:
            event = await self.client.next_event(max(0.0, deadline - time.perf_counter()))
            if event.name == REPLY_EVENT:
                return event

    async def exchange(self, text: str, quiet: float = QUIET_SECONDS,
                       first_timeout: Optional[float] = None) -> List[dict]:
        """Send `text` and collect every reply until `quiet` seconds pass without one (the first
        may take `first_timeout` s, TURN_TIMEOUT_SECONDS by default)."""
        self.drain_strays()
        await self.say(text)
        try:
            replies = [(await self.next_reply(first_timeout or TURN_TIMEOUT_SECONDS)).data]
        except asyncio.TimeoutError:
            return []
        while True:
            try:
                replies.append((await self.next_reply(quiet)).data)
            except asyncio.TimeoutError:
                return replies

    async def ask(self, text: str) -> float:
        """Send `text`; seconds until its first reply arrived. TurnTimeout if none in time."""
        if self.client.closed.is_set():
            raise ConnectionError("the socket is closed")
        self.drain_strays()
        sent = await self.say(text)
        try:
            reply = await self.next_reply(TURN_TIMEOUT_SECONDS)
        except asyncio.TimeoutError as error:
            raise TurnTimeout(text) from error
        self.answered += 1
        return reply.arrived - sent

    def drain_strays(self) -> None:
        """Drop replies that arrived after their turn was counted, counting them."""
        while not self.client.events.empty():
            if self.client.events.get_nowait().name == REPLY_EVENT:
                self.stray_replies += 1

    async def close(self) -> None:
        """Close the socket."""
        await self.client.close()


@dataclass
class PhaseResult:
    """What a set of conversations measured."""

    conversations: int
    latencies: List[float] = field(default_factory=list)  # seconds to first reply, completed turns
    by_turn: Dict[int, List[float]] = field(default_factory=dict)  # turn number (1-based) -> latencies
    timeouts: int = 0
    errors: List[str] = field(default_factory=list)
    stray_replies: int = 0
    wall_seconds: float = 0.0
    turns_by_url: Dict[str, int] = field(default_factory=dict)  # completed turns per replica, in order

    def record(self, turn: int, seconds: float) -> None:
        """A completed turn."""
        self.latencies.append(seconds)
        self.by_turn.setdefault(turn, []).append(seconds)

    def figures(self) -> dict:
        """The phase's figures for the report."""
        completed = len(self.latencies)
        figures = {
            "conversations": self.conversations, "turns": completed, "timeouts": self.timeouts,
            "errors": len(self.errors), "error_kinds": sorted(set(self.errors))[:5],
            "stray_replies": self.stray_replies, "wall_seconds": round(self.wall_seconds, 2),
            "msgs_per_sec": round(completed / self.wall_seconds, 2) if self.wall_seconds else None,
            "first_reply_ms": summary_ms(self.latencies),
        }
        if len(self.turns_by_url) > 1:
            figures["turns_per_replica"] = list(self.turns_by_url.values())
        return figures

    def count_by_url(self, targets: Targets, conversations: Sequence["Conversation"]) -> None:
        """Completed turns per replica URL (in the order of `targets`)."""
        self.turns_by_url = {url: sum(conversation.answered for conversation in conversations
                                      if conversation.base_url == url) for url in replica_urls(targets)}

    def per_turn_ms(self) -> List[Optional[float]]:
        """Median ms of each turn number in order (one conversation: its turns; None for a timeout)."""
        last = max(self.by_turn, default=0)
        return [median_ms(self.by_turn.get(turn, [])) for turn in range(1, last + 1)]

    def turn_medians(self, first: range, last: range) -> dict:
        """Median first-reply ms over the turns in `first` and in `last` (1-based turn numbers)."""
        def pick(turns: range) -> List[float]:
            return [value for turn in turns for value in self.by_turn.get(turn, [])]
        early, late = median_ms(pick(first)), median_ms(pick(last))
        change = round((late - early) / early, 3) if early and late is not None else None
        return {"turns_early": [first.start, first.stop - 1], "turns_late": [last.start, last.stop - 1],
                "early_median_ms": early, "late_median_ms": late, "change": change}


async def run_conversation(conversation: Conversation, questions: Sequence[str], offset: int,
                           result: PhaseResult, turns: Optional[int] = None,
                           stop: Optional[asyncio.Event] = None) -> None:
    """Ask questions closed-loop for `turns` turns (or until `stop` is set), recording into `result`."""
    turn = silent = 0
    while (turns is None or turn < turns) and not (stop is not None and stop.is_set()):
        text = questions[(offset + turn) % len(questions)]
        turn += 1
        try:
            result.record(turn, await conversation.ask(text))
            silent = 0
        except TurnTimeout:
            result.timeouts += 1
            silent += 1
            if silent >= MAX_SILENT_TURNS:  # e.g. handed to staff: the bot will not answer again
                result.errors.append("abandoned after repeated timeouts")
                return
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as error:
            result.errors.append(type(error).__name__)
            return


async def open_conversations(http: aiohttp.ClientSession, base_url: Targets, count: int,
                             result: PhaseResult, quiet: float) -> List[Conversation]:
    """`count` warmed-up conversations, OPENING_AT_ONCE at a time, round-robin over the replicas when
    `base_url` lists several; failures are recorded as errors.

    The warm-up is unmeasured; opening 50 at once would only queue 50 session starts behind each
    other and risk the server's engine timeout before the measurement begins.
    """
    gate = asyncio.Semaphore(OPENING_AT_ONCE)

    async def open_one(url: str) -> Conversation:
        async with gate:
            return await Conversation.open(http, url, quiet)

    opened = await asyncio.gather(*(open_one(url) for url in round_robin(base_url, count)),
                                  return_exceptions=True)
    conversations = []
    for item in opened:
        if isinstance(item, BaseException):
            result.errors.append(f"open: {type(item).__name__}")
        else:
            conversations.append(item)
    return conversations


async def run_phase(http: aiohttp.ClientSession, base_url: Targets, questions: Sequence[str], count: int,
                    turns: Optional[int] = None, stop: Optional[asyncio.Event] = None,
                    quiet: float = QUIET_SECONDS,
                    on_start: Optional[Callable[[], None]] = None) -> PhaseResult:
    """`count` concurrent closed-loop conversations of `turns` measured turns (or until `stop`), spread
    round-robin over the replicas when `base_url` lists several."""
    result = PhaseResult(conversations=count)
    conversations = await open_conversations(http, base_url, count, result, quiet)
    try:
        if on_start is not None:
            on_start()
        started = time.perf_counter()
        await asyncio.gather(*(run_conversation(conversation, questions, index * QUESTION_STRIDE, result,
                                                turns, stop)
                               for index, conversation in enumerate(conversations)))
        result.wall_seconds = time.perf_counter() - started
        result.count_by_url(base_url, conversations)
        await asyncio.sleep(0.05)  # a late second reply shows up as a stray
        for conversation in conversations:
            conversation.drain_strays()
            result.stray_replies += conversation.stray_replies
    finally:
        await asyncio.gather(*(conversation.close() for conversation in conversations),
                             return_exceptions=True)
    return result


# ---- calibration -----------------------------------------------------------------------------

def is_plain_single_reply(replies: Sequence[dict]) -> bool:
    """Exactly one reply, with no buttons (a fallback offering topics has buttons)."""
    return len(replies) == 1 and not replies[0].get("quick_replies") and not replies[0].get("buttons")


async def calibrate(http: aiohttp.ClientSession, base_url: Targets, questions: Sequence[str],
                    workers: int = 8, quiet: float = QUIET_SECONDS) -> Dict[str, List[dict]]:
    """Every question's replies (until `quiet` s of silence), asked over `workers` conversations
    (round-robin over the replicas when `base_url` lists several)."""
    answers: Dict[str, List[dict]] = {}

    async def worker(share: Sequence[str], url: str) -> None:
        conversation = await Conversation.open(http, url, quiet)
        try:
            if not conversation.warm_up_replies:
                raise RuntimeError(f"{url} did not answer {WARM_UP_TEXT!r}: is its model loaded?")
            for question in share:
                answers[question] = await conversation.exchange(question, quiet)
        finally:
            await conversation.close()

    urls = round_robin(base_url, workers)
    await asyncio.gather(*(worker(questions[index::workers], urls[index]) for index in range(workers)))
    return {question: answers[question] for question in questions}


# ---- webhooks --------------------------------------------------------------------------------

def phone_number(platform: str, index: int) -> str:
    """A UK drama-range number per sender (+447700900500-899; the demo patients are not among them)."""
    base = 500 if platform == "twilio" else 700
    return f"+447700900{base + index % 200:03d}"


@dataclass
class WebhookTimes:
    """Acknowledgement times of one platform's webhooks."""

    seconds: List[float] = field(default_factory=list)
    statuses: Dict[int, int] = field(default_factory=dict)
    errors: List[str] = field(default_factory=list)

    def figures(self) -> dict:
        """Summary for the report."""
        return {"sent": len(self.seconds) + len(self.errors),
                "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
                "errors": len(self.errors), "ack_ms": summary_ms(self.seconds)}


async def post_webhook(http: aiohttp.ClientSession, base_url: str, platform: str, index: int, text: str,
                       times: WebhookTimes) -> None:
    """Post one signed webhook and time its HTTP response."""
    sender = phone_number(platform, index)
    if platform == "twilio":
        path, form, headers = platform_stub.twilio_webhook(index, sender, text)
        body = {"data": form}
    else:
        path, raw, headers = platform_stub.meta_webhook(index, sender, text)
        body = {"data": raw}
    started = time.perf_counter()
    try:
        async with http.post(base_url + path, headers=headers, timeout=aiohttp.ClientTimeout(total=30),
                             **body) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        times.errors.append(type(error).__name__)
        return
    times.seconds.append(time.perf_counter() - started)
    times.statuses[status] = times.statuses.get(status, 0) + 1


async def send_webhooks(http: aiohttp.ClientSession, base_url: str, questions: Sequence[str], rate: float,
                        seconds: float) -> Dict[str, WebhookTimes]:
    """Post webhooks at a steady `rate` per second for `seconds`, alternating Twilio and Meta."""
    times = {"twilio": WebhookTimes(), "meta": WebhookTimes()}
    loop = asyncio.get_running_loop()
    started = loop.time()
    tasks = []
    for index in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + index / rate - loop.time()))
        platform = "twilio" if index % 2 == 0 else "meta"
        tasks.append(asyncio.ensure_future(post_webhook(http, base_url, platform, index,
                                                        questions[index % len(questions)], times[platform])))
    await asyncio.gather(*tasks)
    return times


async def wait_for_deliveries(stub: PlatformStub, at_least: int, quiet: float = 2.0,
                              timeout: float = 120.0) -> dict:
    """Wait until the stub got `at_least` replies and then `quiet` s of silence (or `timeout`)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        settled = time.perf_counter() - max(stub.deliveries.last_at, started) >= quiet
        if stub.deliveries.total >= at_least and settled:
            break
        await asyncio.sleep(0.1)
    return {"twilio_replies": stub.deliveries.twilio, "graph_replies": stub.deliveries.graph,
            "drain_seconds": round(time.perf_counter() - started, 2)}


async def webhooks_under_load(http: aiohttp.ClientSession, base_url: str, questions: Sequence[str],
                              stub: PlatformStub, rate: float, seconds: float, conversations: int,
                              quiet: float = QUIET_SECONDS) -> dict:
    """Signed webhooks at `rate`/s for `seconds` while `conversations` web chats run closed-loop."""
    stub.deliveries = Deliveries()
    stop = asyncio.Event()
    ready = asyncio.Event()
    web = asyncio.ensure_future(run_phase(http, base_url, questions, conversations, stop=stop, quiet=quiet,
                                          on_start=ready.set))
    try:
        await asyncio.wait([asyncio.ensure_future(ready.wait()), web], return_when=asyncio.FIRST_COMPLETED)
        times = await send_webhooks(http, base_url, questions, rate, seconds)
    finally:
        stop.set()
        web_result = await web
    accepted = sum(t.statuses.get(200, 0) for t in times.values())
    deliveries = await wait_for_deliveries(stub, accepted)
    return {"rate_per_sec": rate, "seconds": seconds, "web_conversations": conversations,
            "twilio": times["twilio"].figures(), "meta": times["meta"].figures(),
            "all_ack_ms": summary_ms(times["twilio"].seconds + times["meta"].seconds),
            "web_during": web_result.figures(), **deliveries}
