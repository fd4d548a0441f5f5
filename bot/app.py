"""`create_app(settings)`: the one aiohttp application that serves every channel and the staff console.

Resources are opened and closed in `app.cleanup_ctx` (database engine, HTTP client, the Rasa
engine, the router); nothing happens at import time. The Rasa model loads in the background after
start-up, so `/healthz` answers 503 until it is ready.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import AsyncIterator, Callable, Optional

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.alerts.schedule import periodic_paging
from bot.appkeys import (
    BACKGROUND_TASKS,
    CLIENT_ADDRESSES,
    ENGINE,
    EVENTS,
    HTTP_CLIENT,
    ROUTER,
    SESSION_FACTORY,
    SETTINGS,
)
from bot.care.task import periodic_care
from bot.channels import twilio, whatsapp
from bot.channels.twilio import TwilioDeliverer
from bot.console import setup_console
from bot.conversations.events import InboxEvents
from bot.conversations.router import ConversationRouter, Engine, RouterLimits, Screen
from bot.db.session import create_db_engine, make_session_factory
from bot.keys import CLIENT_ADDRESSES as CLIENT_ADDRESS_KEY
from bot.keys import WEB_SESSION_IDS, application_secret, derive_key
from bot.privacy.schedule import periodic_purge
from bot.settings import Settings
from bot.web.client_address import ClientAddresses, parse_networks
from bot.web.pages import setup_pages
from bot.web.webchat import WebChat, WebDeliverer, client_manager
from bot.web.webhooks import setup_webhooks

logger = logging.getLogger(__name__)

# What `app.cleanup_ctx` takes: set up, yield while the application runs, then clean up.
CleanupContext = Callable[[web.Application], AsyncIterator[None]]

PACKAGE_ROOT = Path(__file__).resolve().parent
MAX_REQUEST_BYTES = 256 * 1024
WEBCHAT = web.AppKey("webchat", WebChat)


def router_limits(settings: Settings) -> RouterLimits:
    """The router's limits from the settings."""
    return RouterLimits(max_message_chars=settings.max_message_chars,
                        messages_per_window=settings.rate_limit_messages,
                        window_seconds=settings.rate_limit_window_seconds,
                        engine_timeout_seconds=settings.engine_timeout_seconds,
                        new_chats_per_address_hour=settings.address_new_chats_per_hour,
                        urgent_per_address_hour=settings.address_urgent_per_hour,
                        messages_per_address_minute=settings.address_messages_per_minute)


def load_screen(settings: Settings) -> Optional[Screen]:
    """The red-flag screen over the project's spaCy pipeline (bot.safety)."""
    from bot.safety.loader import load_default_screen

    return load_default_screen(settings)


async def _database(app: web.Application) -> AsyncIterator[None]:
    """The clinic database's engine and session factory for the application's lifetime."""
    engine = create_db_engine(app[SETTINGS].database_url)
    app[SESSION_FACTORY] = make_session_factory(engine)
    yield
    engine.dispose()


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    """One outbound HTTP client (Twilio, Meta) shared by every request."""
    async with aiohttp.ClientSession() as client:
        app[HTTP_CLIENT] = client
        yield


async def _background_tasks(app: web.Application) -> AsyncIterator[None]:
    """Replies still being worked on are finished (up to 30 s) before shutdown."""
    app[BACKGROUND_TASKS] = set()
    yield
    tasks = app[BACKGROUND_TASKS]
    pending = list(tasks)
    if pending:
        logger.info("finishing %d background replies before shutdown", len(pending))
        await asyncio.wait(pending, timeout=30)


def _engine_context(engine: Optional[Engine]) -> CleanupContext:
    """Use the given engine, or load the trained Rasa model in the background."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        if engine is not None:
            app[ENGINE] = engine
            yield
            return
        from bot.engine.agent import RasaEngine

        settings = app[SETTINGS]
        rasa_engine = RasaEngine(settings, action_timeout_seconds=settings.action_timeout_seconds,
                                 threads=settings.engine_threads)
        app[ENGINE] = rasa_engine
        loading = asyncio.ensure_future(rasa_engine.load())
        loading.add_done_callback(_report_load)
        yield
        loading.cancel()
        rasa_engine.close()

    return context


def _report_load(task: asyncio.Future) -> None:
    """Log a model that failed to load (the server keeps answering /healthz with 503)."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("the model could not be loaded: %s", task.exception())


def _router_context(screen: Optional[Screen], use_default_screen: bool) -> CleanupContext:
    """The conversation router, with a deliverer for every channel."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        chosen = screen if screen is not None or not use_default_screen else load_screen(settings)
        router = ConversationRouter(settings, app[SESSION_FACTORY], app[ENGINE], events=app[EVENTS],
                                    screen=chosen, limits=router_limits(settings))
        router.register(WebDeliverer(app[WEBCHAT].sio, settings.clinic.timezone))
        register_phone_deliverers(router, app[HTTP_CLIENT], settings)
        app[ROUTER] = router
        yield

    return context


def register_phone_deliverers(router: ConversationRouter, http: aiohttp.ClientSession, settings: Settings) -> None:
    """SMS through Twilio; WhatsApp through both platforms, each answering what came in through it.

    A WhatsApp conversation that never wrote in (or came before this was recorded) goes through the
    Cloud API when WHATSAPP_PHONE_NUMBER_ID is set, else through Twilio's WhatsApp numbers.
    """
    router.register(TwilioDeliverer(http, settings.twilio, twilio.SMS))
    cloud_api = bool(settings.whatsapp.phone_number_id)
    router.register(TwilioDeliverer(http, settings.twilio, whatsapp.WHATSAPP), default=not cloud_api)
    if cloud_api:
        router.register(whatsapp.CloudApiDeliverer(http, settings.whatsapp))


def create_app(settings: Settings, *, engine: Optional[Engine] = None, screen: Optional[Screen] = None,
               use_default_screen: bool = True) -> web.Application:
    """The application; `engine` and `screen` replace the Rasa model and red-flag screen in tests."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[SETTINGS] = settings
    app[EVENTS] = InboxEvents()
    secret = application_secret(settings)
    app[CLIENT_ADDRESSES] = ClientAddresses(parse_networks(settings.trusted_proxies),
                                            derive_key(secret, CLIENT_ADDRESS_KEY))
    origins = "*" if "*" in settings.web_allowed_origins else list(settings.web_allowed_origins)
    app[WEBCHAT] = WebChat(app, allowed_origins=origins, client_manager=client_manager(settings.redis_url),
                           session_key=derive_key(secret, WEB_SESSION_IDS))
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(PACKAGE_ROOT / "templates")),
                         autoescape=jinja2.select_autoescape(["html"]))
    app.cleanup_ctx.extend([
        _database, _http_client, _background_tasks, _engine_context(engine),
        _router_context(screen, use_default_screen), periodic_purge(), periodic_care(), periodic_paging(),
    ])
    setup_pages(app)
    setup_webhooks(app)
    setup_console(app)
    return app
