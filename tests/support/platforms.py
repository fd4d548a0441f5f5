"""Twilio's Messages API and Meta's Graph API on loopback: `PlatformStub` answers like them and
records what arrived, for the webhook tests, `tests/scale` and `bench`.

Point the server under test at it with TWILIO_API_BASE = `stub.base` and WHATSAPP_API_BASE =
`graph_base(stub.base)`. Serve it on the running event loop (`await stub.start()`, `await
stub.stop()`), inside a test's aiohttp server (`aiohttp_server(stub.app())`), or from a thread of its
own for a fixture that outlives one test's loop (`stub.serve_in_thread()`, `stub.close()`); what it
records may be read from any thread.
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import pytest
from aiohttp import web

from tests.support.background import BackgroundAppServer

# Credentials of a fake clinic account (what tests sign webhooks with and the app checks them against).
TWILIO_AUTH_TOKEN = "twilio-auth-token-for-tests"
WHATSAPP_APP_SECRET = "meta-app-secret-for-tests"
WHATSAPP_VERIFY_TOKEN = "verify-token-for-tests"
GRAPH_VERSION = "v19.0"
TWILIO_MESSAGES_PATH = "/2010-04-01/Accounts/{sid}/Messages.json"
GRAPH_MESSAGES_PATH = f"/{GRAPH_VERSION}/{{number_id}}/messages"


def graph_base(stub_base: str) -> str:
    """The WHATSAPP_API_BASE that sends Graph API calls to the stub at `stub_base`."""
    return f"{stub_base}/{GRAPH_VERSION}"


@dataclass
class Deliveries:
    """How many replies reached each API, and when the last one did (time.perf_counter())."""

    twilio: int = 0
    graph: int = 0
    last_at: float = 0.0

    @property
    def total(self) -> int:
        """Replies through either API."""
        return self.twilio + self.graph


class PlatformStub:
    """Twilio's Messages resource (201 with a message sid) and the Graph API's messages endpoint
    (200 with a wamid); `twilio` holds each posted form, `graph` each posted JSON body. After
    `refuse(status, code)` both refuse what is posted (recorded all the same) as the platforms do."""

    def __init__(self) -> None:
        """Nothing is served until `start()`, `serve_in_thread()` or `app()` is served."""
        self.twilio: List[Dict[str, str]] = []
        self.graph: List[dict] = []
        self.deliveries = Deliveries()
        self.base = ""
        self._lock = threading.Lock()
        self._runner: Optional[web.AppRunner] = None
        self._thread_server: Optional[BackgroundAppServer] = None
        self.refusal: Optional[Tuple[int, int]] = None

    def refuse(self, status: int, code: int) -> None:
        """Answer every later message with HTTP `status` and the platform's error `code`."""
        self.refusal = (status, code)

    def app(self) -> web.Application:
        """The two send endpoints as an aiohttp application."""
        app = web.Application()
        app.router.add_post(TWILIO_MESSAGES_PATH, self._twilio_message)
        app.router.add_post(GRAPH_MESSAGES_PATH, self._graph_message)
        return app

    async def start(self, port: int = 0) -> "PlatformStub":
        """Serve on 127.0.0.1 from the running loop (`port` 0: any free port); `base` is its URL."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.base = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        """Stop what `start()` serves."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def serve_in_thread(self) -> "PlatformStub":
        """Serve on a free port from a thread with its own event loop; `base` is its URL."""
        self._thread_server = BackgroundAppServer(self.app).start()
        self.base = self._thread_server.url
        return self

    def close(self) -> None:
        """Stop what `serve_in_thread()` serves."""
        if self._thread_server is not None:
            self._thread_server.stop()
            self._thread_server = None

    async def _twilio_message(self, request: web.Request) -> web.Response:
        """Record the form; answer as Twilio does."""
        form = dict(await request.post())
        with self._lock:
            self.twilio.append(form)
            self.deliveries.twilio += 1
            self.deliveries.last_at = time.perf_counter()
            sid = f"SM{len(self.twilio):032d}"
        if self.refusal is not None:
            status, code = self.refusal
            return web.json_response({"code": code, "message": "refused", "status": status}, status=status)
        return web.json_response({"sid": sid, "status": "queued"}, status=201)

    async def _graph_message(self, request: web.Request) -> web.Response:
        """Record the JSON body; answer as the Graph API does."""
        body = await request.json()
        with self._lock:
            self.graph.append(body)
            self.deliveries.graph += 1
            self.deliveries.last_at = time.perf_counter()
            wamid = f"wamid.out{len(self.graph)}"
        if self.refusal is not None:
            status, code = self.refusal
            return web.json_response({"error": {"message": "refused", "type": "OAuthException", "code": code}},
                                     status=status)
        return web.json_response({"messaging_product": "whatsapp", "messages": [{"id": wamid}]})

    def sms_to(self, phone: str) -> List[str]:
        """The bodies of every Twilio message sent to `phone`, in order."""
        with self._lock:
            return [message.get("Body", "") for message in self.twilio if message.get("To") == phone]

    def whatsapp_to(self, phone: str) -> List[dict]:
        """Every Graph API message sent to `phone` (digits only on the wire), in order."""
        with self._lock:
            return [message for message in self.graph if message.get("to") == phone.lstrip("+")]

    async def wait_for(self, api: str, count: int, seconds: float = 5) -> list:
        """What reached `api` ("twilio" or "graph") once it holds `count` messages; fails after `seconds`."""
        deadline = asyncio.get_running_loop().time() + seconds
        while len(getattr(self, api)) < count:
            assert asyncio.get_running_loop().time() < deadline, f"only {len(getattr(self, api))} sent"
            await asyncio.sleep(0.02)
        return getattr(self, api)


@pytest.fixture
async def platform(aiohttp_server) -> PlatformStub:
    """Twilio's and the Graph API's stand-in on a real local port (its `base` is the URL to use)."""
    stub = PlatformStub()
    server = await aiohttp_server(stub.app())
    stub.base = str(server.make_url("")).rstrip("/")
    return stub
