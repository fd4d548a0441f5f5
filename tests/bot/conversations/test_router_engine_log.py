"""The log line of an engine failure names what failed, even when the error has no message."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

import pytest

from bot.channels.messages import InboundMessage
from bot.conversations.router import ConversationRouter, RouterLimits
from bot.engine.errors import EngineFailure
from bot.settings import Settings
from bot.web.webchat import WEB
from tests.bot.fakes import RecordingDeliverer, ScriptedEngine


@pytest.fixture
def engine(session_factory) -> ScriptedEngine:
    return ScriptedEngine(session_factory)


@pytest.fixture
def router(db_url, session_factory, engine) -> ConversationRouter:
    router = ConversationRouter(Settings.from_env({"DATABASE_URL": db_url}), session_factory, engine,
                                limits=RouterLimits(engine_timeout_seconds=0.5))
    router.register(RecordingDeliverer(WEB))
    return router


@pytest.mark.parametrize("failure, logged", [
    (asyncio.TimeoutError(), "engine failed (TimeoutError)"),
    (EngineFailure("custom action failed: ClientConnectorError"),
     "engine failed (custom action failed: ClientConnectorError)"),
])
async def test_engine_failure_is_logged_by_its_message_or_else_its_type(router, engine, caplog, failure, logged):
    engine.fail_with = failure
    inbound = InboundMessage(channel="web", sender="session-1", text="hello", channel_message_id=None,
                             has_media=False, received_at=datetime.now(timezone.utc))
    with caplog.at_level(logging.ERROR, logger="bot.conversations.router"):
        outcome = await router.receive(inbound)
    assert outcome.handled_by == "error"
    assert [record.getMessage().split(": ", 1)[1] for record in caplog.records
            if record.name == "bot.conversations.router"] == [logged]
