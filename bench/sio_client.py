"""A small Socket.IO v5 client over one Engine.IO v4 websocket (aiohttp), for the benchmark.

python-engineio's websocket client needs aiohttp 3.10 and Rasa 3.6 pins 3.9, so this speaks the
text packets itself:

    server -> 0{"sid": ..., "pingInterval": ...}     Engine.IO open
    client -> 40                                      Socket.IO connect to the "/" namespace
    server -> 40{"sid": ...}                          connected (44{...} is a refusal)
    both   -> 42["event", data]                       an event (an ack id may follow "42")
    server -> 2      client -> 3                      Engine.IO ping / pong
    either -> 41 (Socket.IO disconnect) or 1 (Engine.IO close)

Every event is queued with the `time.perf_counter()` of its arrival, so latencies do not include
the time a caller took to read the queue. Binary packets and other namespaces are not supported.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, Optional

import aiohttp

SOCKET_PATH = "socket.io"
CONNECT_TIMEOUT_SECONDS = 10.0


class SocketIOError(Exception):
    """The server refused the connection or broke the protocol."""


@dataclass(frozen=True)
class Event:
    """One event the server emitted: its name, its payload and when it arrived (perf_counter)."""

    name: str
    data: Any
    arrived: float


def socket_url(base_url: str, path: str = SOCKET_PATH) -> str:
    """The websocket URL of a server's Engine.IO endpoint, e.g. ws://127.0.0.1:8000/socket.io/?EIO=4..."""
    base = base_url.rstrip("/").replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return f"{base}/{path.strip('/')}/?EIO=4&transport=websocket"


def event_packet(name: str, data: Any) -> str:
    """The text packet that emits event `name` with `data` on the default namespace."""
    return "42" + json.dumps([name, data], separators=(",", ":"))


def parse_event(packet: str) -> Optional[tuple]:
    """(name, data) of a `42...` event packet on the default namespace; None for anything else.

    An ack id (digits right after "42") is skipped; an event without data has data None.
    """
    if not packet.startswith("42"):
        return None
    body = packet[2:].lstrip("0123456789")
    if not body.startswith("["):
        return None  # another namespace ("42/chat,[...]") or garbage
    items = json.loads(body)
    if not items or not isinstance(items[0], str):
        return None
    return items[0], (items[1] if len(items) > 1 else None)


class SocketIOClient:
    """One Socket.IO connection: `emit()` events, read the server's with `next_event()`.

    Use `await SocketIOClient.connect(http_session, "http://host:port")`, and `await close()` at
    the end. A background task reads the socket, answers pings and queues events.
    """

    def __init__(self, websocket: aiohttp.ClientWebSocketResponse) -> None:
        """Wrap an open websocket (use `connect()`)."""
        self.websocket = websocket
        self.events: "asyncio.Queue[Event]" = asyncio.Queue()
        self.sid: Optional[str] = None
        self.closed = asyncio.Event()
        self._connected = asyncio.get_running_loop().create_future()
        self._reader: Optional[asyncio.Task] = None

    @classmethod
    async def connect(cls, http: aiohttp.ClientSession, base_url: str, path: str = SOCKET_PATH,
                      timeout: float = CONNECT_TIMEOUT_SECONDS) -> "SocketIOClient":
        """Open the websocket, do the Engine.IO and Socket.IO handshakes, start reading."""
        websocket = await http.ws_connect(socket_url(base_url, path), timeout=timeout, autoping=True)
        client = cls(websocket)
        client._reader = asyncio.ensure_future(client._read())
        try:
            await asyncio.wait_for(asyncio.shield(client._connected), timeout)
        except BaseException:
            await client.close()
            raise
        return client

    async def emit(self, name: str, data: Any = None) -> None:
        """Send event `name` with `data`."""
        await self.websocket.send_str(event_packet(name, data))

    async def next_event(self, timeout: float) -> Event:
        """The next event from the server; asyncio.TimeoutError if none arrives in `timeout` s."""
        return await asyncio.wait_for(self.events.get(), timeout)

    async def close(self) -> None:
        """Say goodbye (41), close the websocket and stop the reader."""
        if not self.websocket.closed:
            try:
                await self.websocket.send_str("41")
            except (ConnectionError, RuntimeError):
                pass
            await self.websocket.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
        self.closed.set()

    async def _read(self) -> None:
        """Read packets until the socket closes; the handshake outcome goes to `_connected`."""
        try:
            async for message in self.websocket:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue  # binary attachments are not used by these servers
                await self._handle(message.data)
        except Exception as error:  # noqa: BLE001 - a broken socket ends the reader
            self._fail_handshake(SocketIOError(f"socket failed: {type(error).__name__}: {error}"))
        finally:
            self._fail_handshake(SocketIOError("socket closed during the handshake"))
            self.closed.set()

    async def _handle(self, packet: str) -> None:
        """React to one text packet from the server."""
        arrived = time.perf_counter()
        kind = packet[:1]
        if kind == "0":  # Engine.IO open: connect to the default namespace
            await self.websocket.send_str("40")
        elif kind == "2":  # ping
            await self.websocket.send_str("3" + packet[1:])
        elif kind == "1":  # Engine.IO close
            await self.websocket.close()
        elif packet.startswith("40"):
            payload = packet[2:]
            self.sid = json.loads(payload).get("sid") if payload.startswith("{") else None
            if not self._connected.done():
                self._connected.set_result(True)
        elif packet.startswith("44"):
            self._fail_handshake(SocketIOError(f"connection refused by the server: {packet[2:]}"))
        elif packet.startswith("41"):
            await self.websocket.close()
        else:
            parsed = parse_event(packet)
            if parsed is not None:
                self.events.put_nowait(Event(parsed[0], parsed[1], arrived))

    def _fail_handshake(self, error: Exception) -> None:
        """Make a pending `connect()` fail with `error` (no-op once connected)."""
        if not self._connected.done():
            self._connected.set_exception(error)
            self._connected.exception()  # retrieved: no "never retrieved" warning if unawaited
