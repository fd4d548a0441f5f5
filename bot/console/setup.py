"""Wire the staff console into the application: routes, static files, sessions, headers, live updates,
and the password-check threads."""
from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from bot.appkeys import SETTINGS
from bot.console.hashing import password_workers
from bot.console.live import CHANGE_WATCHER, ChangeWatcher, stop_streams
from bot.console.options import CONSOLE_OPTIONS, CONSOLE_STOPPING, ConsoleOptions
from bot.console.security import ConsoleCookieStorage, console_middleware, security_headers, session_fernet
from bot.console.views import add_routes

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "console"


def setup(app: web.Application) -> None:
    """Add the console to `app` (called by `bot.app.create_app`, after the database context)."""
    settings = app[SETTINGS]
    if CONSOLE_OPTIONS not in app:
        app[CONSOLE_OPTIONS] = ConsoleOptions()
    app[CONSOLE_STOPPING] = asyncio.Event()
    storage = ConsoleCookieStorage(session_fernet(settings))
    app.middlewares.append(console_middleware(storage))
    app.on_response_prepare.append(security_headers)  # type: ignore[arg-type]  # aiohttp 3.9 vs aiosignal 1.4
    add_routes(app)
    app.router.add_static("/staff/static/", STATIC_DIR, name="console_static", append_version=False)
    watcher = ChangeWatcher()
    app[CHANGE_WATCHER] = watcher
    app.cleanup_ctx.append(watcher.context)
    app.cleanup_ctx.append(password_workers)
    app.on_shutdown.append(stop_streams)  # type: ignore[arg-type]  # aiohttp 3.9 vs aiosignal 1.4
