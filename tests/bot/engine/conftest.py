"""The trained model in a real `RasaEngine`, behind a real router, with an action endpoint that fails on demand.

    router -> RasaEngine (models/clinic.tar.gz) -> StubActionServer -> `rasa_sdk` action server
                                                   (proxies, or: refused | http_500 | hang)

Everything is built once per module (the model takes ~40 s to load): one migrated SQLite database
seeded with the demo clinic, shared by the router, Rasa's tracker store and the action server.
The tests run on the module's event loop (`pytest.mark.asyncio(scope="module")`), where the stub
server lives; each test uses conversations of its own.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from typing import AsyncIterator, FrozenSet, List, Optional, Tuple

import aiohttp
import pytest
from aiohttp import web

from bot.settings import Settings
from tests.support import processes
from tests.support.database import demo_clinic_database
from tests.support.ports import free_port
from tests.support.rows import Rows

ACTION_TIMEOUT_SECONDS = 1.5
ENGINE_TIMEOUT_SECONDS = 10.0
HANG_LIMIT_SECONDS = 60.0
FAILURE_MODES = ("refused", "http_500", "hang")


class StubActionServer:
    """The engine's action endpoint: proxies to the real action server, or fails on demand.

    Modes: "normal" (proxy), "refused" (nothing listens on the port), "http_500", "hang" (no answer
    until the mode changes). `only` limits a failure to some actions (not for "refused").
    """

    def __init__(self, upstream: str, port: int) -> None:
        """Forward to `upstream` (the real /webhook) from 127.0.0.1:`port`."""
        self.upstream, self.port = upstream, port
        self.mode, self.only = "normal", None  # type: str, Optional[FrozenSet[str]]
        self.calls: List[Tuple[str, str]] = []  # (action name, "proxied" or the failure mode)
        self._release = asyncio.Event()
        self._runner: Optional[web.AppRunner] = None
        self._site: Optional[web.TCPSite] = None
        self._client: Optional[aiohttp.ClientSession] = None

    @property
    def url(self) -> str:
        """The action endpoint URL to give the engine."""
        return f"http://127.0.0.1:{self.port}/webhook"

    async def start(self) -> None:
        """Listen, in normal mode."""
        app = web.Application()
        app.router.add_post("/webhook", self._webhook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self._client = aiohttp.ClientSession()
        await self._listen()

    async def _listen(self) -> None:
        """Open the listening socket (again)."""
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()

    async def set_mode(self, mode: str, only: Optional[FrozenSet[str]] = None) -> None:
        """Switch to `mode`; hanging requests are released; "refused" closes the port."""
        if mode == "refused" and self._site is not None:
            await self._site.stop()
            self._site = None
        elif mode != "refused" and self._site is None:
            await self._listen()
        self._release.set()
        self._release = asyncio.Event()
        self.mode, self.only = mode, only

    @contextlib.asynccontextmanager
    async def failing(self, mode: str, only: Optional[FrozenSet[str]] = None) -> AsyncIterator["StubActionServer"]:
        """Fail in `mode` inside the block; back to normal after it, whatever happened."""
        await self.set_mode(mode, only)
        try:
            yield self
        finally:
            await self.set_mode("normal")

    def actions_since(self, index: int) -> List[Tuple[str, str]]:
        """The calls received after the first `index` ones."""
        return self.calls[index:]

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        """Answer one action call according to the current mode."""
        body = await request.read()
        action = str(json.loads(body or b"{}").get("next_action", "?"))
        failing = self.mode != "normal" and (self.only is None or action in self.only)
        self.calls.append((action, self.mode if failing else "proxied"))
        if not failing:
            return await self._proxy(body)
        if self.mode == "hang":
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._release.wait(), HANG_LIMIT_SECONDS)
        return web.json_response({"error": f"stub action server: {self.mode}"}, status=500)

    async def _proxy(self, body: bytes) -> web.Response:
        """Forward the call to the real action server and relay its answer."""
        async with self._client.post(self.upstream, data=body,
                                     headers={"Content-Type": "application/json"}) as response:
            return web.Response(body=await response.read(), status=response.status,
                                content_type="application/json")

    async def close(self) -> None:
        """Release hanging requests and stop serving."""
        self._release.set()
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture(scope="module")
def event_loop_policy():
    """The event loop policy Rasa's imports install, installed before the module's loop exists.

    Importing Rasa imports aiogram, which replaces the policy (uvloop's) unconditionally; if that
    happened while the model loads, the module's loop would no longer be the current one and the
    next test would find no event loop.
    """
    import bot.engine.agent  # noqa: F401  (the import replaces the policy)

    return asyncio.get_event_loop_policy()


@pytest.fixture(scope="module")
def engine_db(tmp_path_factory, migrated_sqlite_template) -> str:
    """A migrated SQLite database with the demo clinic seeded now."""
    return demo_clinic_database(migrated_sqlite_template, tmp_path_factory.mktemp("engine") / "clinic.db")


@pytest.fixture(scope="module")
def clinic_sessions(engine_db):
    """Sessions on the module's database (the router's, and the tests' queries)."""
    from bot.db.session import create_db_engine, make_session_factory

    engine = create_db_engine(engine_db)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def action_server(engine_db, tmp_path_factory):
    """The action server on a free port against the module's database, started (not yet healthy);
    (the process, its port)."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("actions") / "action-server.log"
    with processes.stopping(processes.action_server(engine_db, port, log_path)) as process:
        yield process, port


@pytest.fixture(scope="module")
async def stub(action_server) -> AsyncIterator[StubActionServer]:
    """The controllable action endpoint, proxying to the real action server."""
    _, port = action_server
    server = StubActionServer(processes.action_url(port), free_port())
    await server.start()
    yield server
    await server.close()


@pytest.fixture(scope="module")
def engine_settings(engine_db, stub, trained_model) -> Settings:
    """Settings for the engine and router: the module's database, the stub's URL, short timeouts."""
    return Settings.from_env({
        "DATABASE_URL": engine_db, "ACTION_ENDPOINT_URL": stub.url, "MODEL_PATH": str(trained_model),
        "ACTION_TIMEOUT_SECONDS": str(ACTION_TIMEOUT_SECONDS), "ENGINE_TIMEOUT_SECONDS": str(ENGINE_TIMEOUT_SECONDS),
    })


@pytest.fixture(scope="module")
async def rasa_engine(engine_settings, action_server):
    """The trained model, loaded once; ready when the action server answers too."""
    from bot.engine.agent import RasaEngine

    engine = RasaEngine(engine_settings, action_timeout_seconds=engine_settings.action_timeout_seconds)
    await engine.load()
    process, port = action_server
    try:
        await asyncio.to_thread(process.wait_until_answering, processes.health_url(port), 60)
    except RuntimeError as error:
        pytest.fail(str(error))
    assert engine.ready
    yield engine
    close = getattr(engine, "close", None)
    if close is not None:
        close()


@pytest.fixture(scope="module")
def clinic_staff_id(clinic_sessions) -> int:
    """A staff member in the module's database (who hands conversations back)."""
    return Rows(clinic_sessions).staff_user("sam@clinic.example")
