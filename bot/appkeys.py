"""Typed keys for what the aiohttp application holds (aiohttp 3.9 `web.AppKey`)."""
from __future__ import annotations

from typing import Set

import aiohttp
from aiohttp import web
from sqlalchemy.orm import sessionmaker

from bot.conversations.events import InboxEvents
from bot.conversations.router import ConversationRouter, Engine
from bot.settings import Settings
from bot.web.client_address import ClientAddresses

SETTINGS = web.AppKey("settings", Settings)
SESSION_FACTORY = web.AppKey("session_factory", sessionmaker)
HTTP_CLIENT = web.AppKey("http_client", aiohttp.ClientSession)
ENGINE = web.AppKey("engine", Engine)  # bot.engine.agent.RasaEngine, or a stand-in in tests
EVENTS = web.AppKey("events", InboxEvents)
ROUTER = web.AppKey("router", ConversationRouter)
BACKGROUND_TASKS = web.AppKey("background_tasks", Set)
CLIENT_ADDRESSES = web.AppKey("client_addresses", ClientAddresses)  # the client behind trusted proxies
