"""Our application with a scripted engine on a real port, and the benchmark's platform stub."""
from __future__ import annotations

import aiohttp
import pytest

from bench.platform_stub import platform_env
from bot.app import create_app
from bot.settings import Settings
from tests.bot.fakes import KeywordScreen, ScriptedEngine
from tests.support.platforms import PlatformStub


@pytest.fixture
async def stub():
    platform = await PlatformStub().start()
    yield platform
    await platform.stop()


async def _serve_app(aiohttp_server, db_url, session_factory, stub) -> str:
    """create_app() with the scripted engine, signed webhooks on, no rate limit; its base URL."""
    settings = Settings.from_env({"DATABASE_URL": db_url, "RATE_LIMIT_MESSAGES": "1000000",
                                  **platform_env(stub.base)})
    app = create_app(settings, engine=ScriptedEngine(session_factory), screen=KeywordScreen())
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
async def app_url(aiohttp_server, db_url, session_factory, stub) -> str:
    """The base URL of create_app() with the scripted engine, signed webhooks on, no rate limit."""
    return await _serve_app(aiohttp_server, db_url, session_factory, stub)


@pytest.fixture
async def replica_urls(aiohttp_server, db_url, session_factory, stub) -> list:
    """The base URLs of two such applications on the same database, as two replicas."""
    return [await _serve_app(aiohttp_server, db_url, session_factory, stub) for _ in range(2)]


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session
