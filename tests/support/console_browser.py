"""The staff console in a real browser: the application on a local port, and signing in.

`console_server(settings)` serves the application (scripted engine, no red-flag screen, a fresh
SESSION_SECRET, live updates polled every 0.2 s) for the length of a `with`; `sign_in` signs a
Playwright page in and waits until the page it was sent to is live.
"""
from __future__ import annotations

import dataclasses
import re
from contextlib import contextmanager
from datetime import datetime
from typing import Iterator, Optional
from urllib.parse import quote

from cryptography.fernet import Fernet

from bot.app import create_app
from bot.console.options import CONSOLE_OPTIONS, ConsoleOptions
from bot.settings import Settings
from tests.bot.fakes import ScriptedEngine
from tests.support.background import BackgroundAppServer
from tests.support.clock import Clock


@contextmanager
def console_server(settings: Settings, *, now: Optional[datetime] = None) -> Iterator[str]:
    """The application's URL while it runs; the console's clock frozen at `now` if given."""
    settings = dataclasses.replace(settings, session_secret=Fernet.generate_key().decode())

    def make_app():
        app = create_app(settings, engine=ScriptedEngine(), use_default_screen=False)
        app[CONSOLE_OPTIONS] = (ConsoleOptions(clock=Clock(now), poll_seconds=0.2) if now is not None
                                else ConsoleOptions(poll_seconds=0.2))
        return app

    with BackgroundAppServer(make_app) as server:
        yield server.url


def sign_in(page, base_url: str, path: str, email: str, password: str, *, live: bool = True) -> None:
    """Sign in through the login page, landing on `path`; with `live`, wait for its live updates."""
    page.goto(f"{base_url}/staff/login?next={quote(path)}")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(path) + "$"))
    if live:
        page.wait_for_selector("#live-status:has-text('Live')")
