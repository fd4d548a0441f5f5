"""Live updates for the console: a server-sent event stream at `/staff/events`.

Two sources feed it:
- the application's in-process hub (`app[EVENTS]`): the router publishes there when a patient
  writes, the bot or staff answer, a conversation is escalated, assigned or handed back;
- a `ChangeWatcher` that polls the database every `poll_seconds` (one poller per process, only
  while someone is watching), for changes made by other processes: the custom-action server
  records staff requests (booking changes, data deletion) in the database, and other replicas
  serve other patients and staff. Escalations are always opened by a router (through
  bot.conversations.handoff), so this replica's hub has them at once.

Events carry ids only (kind, conversation id, request id, urgent); the page then refetches the
JSON it needs, through the same access checks as everything else:

    event: ready            (once, when the stream opens: refetch, something may have changed)
    event: inbox-changed    data: {"kind": "message_in", "conversation_id": 12, ...}

The stream ends by itself after `stream_seconds` or when the session's idle time runs out, and
the browser's EventSource reconnects: each reconnection is checked again, so a stream never
outlives its session.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime
from typing import AsyncIterator, Dict, Optional, Set, Tuple

import aiohttp_session
from aiohttp import web

from bot.appkeys import EVENTS, SESSION_FACTORY
from bot.clinic.inbox import change_marker
from bot.console.options import CONSOLE_OPTIONS, CONSOLE_STOPPING
from bot.conversations.events import InboxEvent

logger = logging.getLogger(__name__)
QUEUE_LIMIT = 100


class ChangeWatcher:
    """Polls the database for changes while at least one stream is open; fans them out."""

    def __init__(self) -> None:
        """No subscribers, not running."""
        self._queues: Set[asyncio.Queue] = set()
        self._wake: Optional[asyncio.Event] = None
        self._task: Optional[asyncio.Task] = None
        self._app: Optional[web.Application] = None
        self._last: Optional[Tuple] = None

    def _marker(self) -> Optional[Tuple]:
        """The database's change marker now (None if the database cannot be read)."""
        if self._app is None:  # not started
            return None
        try:
            with self._app[SESSION_FACTORY]() as session:
                return change_marker(session)
        except Exception as error:  # a database outage must not end the streams
            logger.warning("change watcher: database not readable (%s)", type(error).__name__)
            return None

    def subscribe(self) -> asyncio.Queue:
        """A queue of change events; the first subscriber takes the baseline at once."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_LIMIT)
        if not self._queues and self._app is not None:
            self._last = self._marker()
        self._queues.add(queue)
        if self._wake is not None:
            self._wake.set()
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        """Stop delivering to `queue`."""
        self._queues.discard(queue)

    def _publish(self, event: InboxEvent) -> None:
        """Deliver to every subscriber; a full queue loses its oldest event."""
        for queue in list(self._queues):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    async def _run(self) -> None:
        """Poll while there are subscribers; sleep on the wake event otherwise."""
        assert self._wake is not None and self._app is not None
        while True:
            if not self._queues:
                self._last = None
                self._wake.clear()
                await self._wake.wait()
                continue
            marker = self._marker()
            if marker is not None:
                if self._last is not None and marker != self._last:
                    self._publish(InboxEvent("changed"))
                self._last = marker
            await asyncio.sleep(self._app[CONSOLE_OPTIONS].poll_seconds)

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: run the poller for the application's lifetime."""
        self._app = app
        self._wake = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())
        yield
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None


CHANGE_WATCHER = web.AppKey("console_change_watcher", ChangeWatcher)


def _frame(event_name: str, data: Dict) -> bytes:
    """One server-sent event."""
    return f"event: {event_name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode("utf-8")


def _event_data(event: InboxEvent) -> Dict:
    """What a page needs to know: ids and kinds, never text."""
    return {"kind": event.kind, "conversation_id": event.conversation_id, "request_id": event.request_id,
            "urgent": event.urgent}


async def _seconds_left(request: web.Request) -> float:
    """How long this stream may stay open: its limit, or until the session would go idle."""
    options = request.app[CONSOLE_OPTIONS]
    left = options.stream_seconds
    session = await aiohttp_session.get_session(request)
    try:
        seen = datetime.fromisoformat(str(session.get("seen")))
        left = min(left, (seen + options.idle_timeout - options.clock()).total_seconds() + 1)
    except (TypeError, ValueError):
        pass
    return max(left, 1.0)


async def event_stream(request: web.Request) -> web.StreamResponse:
    """GET /staff/events: the live stream (text/event-stream)."""
    if request.method == "HEAD":
        return web.Response(content_type="text/event-stream")
    app = request.app
    options = app[CONSOLE_OPTIONS]
    stopping = app[CONSOLE_STOPPING]
    hub, watcher = app[EVENTS], app[CHANGE_WATCHER]
    hub_queue, db_queue = hub.subscribe(), watcher.subscribe()
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + await _seconds_left(request)
    getters: Dict[asyncio.Future, Optional[asyncio.Queue]] = {
        asyncio.ensure_future(hub_queue.get()): hub_queue,
        asyncio.ensure_future(db_queue.get()): db_queue,
        asyncio.ensure_future(stopping.wait()): None,
    }
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
    try:
        await response.prepare(request)
        await response.write(b"retry: 3000\n\n" + _frame("ready", {}))
        while True:
            timeout = min(options.heartbeat_seconds, ends_at - loop.time())
            if timeout <= 0:
                break
            done, _ = await asyncio.wait(list(getters), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                await response.write(b": keep-alive\n\n")
                continue
            if any(getters[future] is None for future in done):
                break
            for future in done:
                queue = getters.pop(future)
                assert queue is not None  # the stop signal ended the loop above
                await response.write(_frame("inbox-changed", _event_data(future.result())))
                getters[asyncio.ensure_future(queue.get())] = queue
    except (ConnectionResetError, ConnectionError):
        logger.debug("event stream closed by the browser")
    finally:
        for future in getters:
            future.cancel()
        hub.unsubscribe(hub_queue)
        watcher.unsubscribe(db_queue)
    return response


async def stop_streams(app: web.Application) -> None:
    """on_shutdown: end the open streams so the server can stop at once."""
    app[CONSOLE_STOPPING].set()
