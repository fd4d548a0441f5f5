"""Fixtures for the staff console: the real application on a tmp SQLite database, a fake engine,
a movable clock, recording deliverers, staff accounts, and a signed-in browser-like client.

The database, `rows`, the clock and the deliverers are the shared ones from tests/support."""
from __future__ import annotations

import dataclasses
import re
from typing import Dict, List, Optional, Tuple

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet

from bot.channels.messages import OutboundMessage
from bot.clinic import staff as staff_accounts
from bot.engine.turn import EngineTurn
from bot.settings import Settings
from tests.support.clock import START, Clock
from tests.support.deliverers import RecordingDeliverer, recording_deliverers

PASSWORD = "correct horse battery"
CSRF_IN_PAGE = re.compile(r'name="csrf-token" content="([^"]+)"')
CSRF_IN_FORM = re.compile(r'name="csrf_token" value="([^"]+)"')


class FakeEngine:
    """Stands in for the Rasa engine: always ready, answers every message the same way."""

    ready = True

    def __init__(self) -> None:
        self.calls: List[Tuple[str, str]] = []

    async def respond(self, sender_key: str, text: str, metadata: Optional[dict] = None) -> EngineTurn:
        self.calls.append((sender_key, text))
        return EngineTurn([OutboundMessage("The bot answers.")])

    async def end_session(self, sender_key: str) -> None:
        self.calls.append((sender_key, "/session_start"))


@pytest.fixture(autouse=True)
def fast_hasher(monkeypatch):
    """Cheap argon2 parameters: the real ones take half a second per hash on purpose."""
    monkeypatch.setattr(staff_accounts, "PASSWORD_HASHER",
                        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, hash_len=16, salt_len=16))


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared test settings with a session secret for the console's cookies."""
    return dataclasses.replace(settings, session_secret=Fernet.generate_key().decode())


@pytest.fixture
def accounts(session_factory) -> Dict[str, int]:
    """One account per role; the password of each is PASSWORD."""
    ids = {}
    with session_factory.begin() as session:
        for role in ("staff", "clinician", "admin"):
            ids[role] = staff_accounts.create_staff_user(session, f"{role}@clinic.example", PASSWORD, role).id
    return ids


@pytest.fixture
def deliverers() -> Dict[str, RecordingDeliverer]:
    return recording_deliverers()


@pytest.fixture
def console_app(settings, session_factory, clock):
    from bot.app import create_app
    from bot.console.options import CONSOLE_OPTIONS, ConsoleOptions

    app = create_app(settings, engine=FakeEngine(), use_default_screen=False)
    app[CONSOLE_OPTIONS] = ConsoleOptions(clock=clock, poll_seconds=0.1, heartbeat_seconds=0.5,
                                          stream_seconds=30, audit_page_size=10)
    return app


class Console:
    """A test client that behaves like a browser on the console (cookies, CSRF token)."""

    def __init__(self, client) -> None:
        self.client = client
        self.csrf = ""

    async def page(self, path: str, **kwargs):
        response = await self.client.get(path, **kwargs)
        text = await response.text()
        found = CSRF_IN_PAGE.search(text) or CSRF_IN_FORM.search(text)
        if found:
            self.csrf = found.group(1)
        return response, text

    async def login(self, email: str, password: str = PASSWORD, next_path: str = "/staff", *,
                    headers: Optional[dict] = None):
        await self.page("/staff/login")
        return await self.post_login(email, password, next_path, headers=headers)

    async def post_login(self, email: str, password: str = PASSWORD, next_path: str = "/staff", *,
                         headers: Optional[dict] = None):
        """POST the sign-in form with the CSRF token already held (several may be sent at once)."""
        return await self.client.post("/staff/login", data={
            "email": email, "password": password, "csrf_token": self.csrf, "next": next_path,
        }, headers=headers or {}, allow_redirects=False)

    async def post(self, path: str, data: Optional[dict] = None, *, json_api: bool = False, **kwargs):
        """POST a form with the CSRF token (as the form field, or as the header for the JSON API)."""
        data = dict(data or {})
        headers = kwargs.pop("headers", {})
        if json_api:
            headers = {"X-CSRF-Token": self.csrf, "Accept": "application/json", **headers}
        else:
            data.setdefault("csrf_token", self.csrf)
        return await self.client.post(path, data=data, headers=headers, allow_redirects=False, **kwargs)

    async def signed_in_as(self, email: str):
        response = await self.login(email)
        assert response.status == 303, await response.text()
        await self.page("/staff")
        return self


@pytest.fixture
async def client(aiohttp_client, console_app, deliverers):
    from bot.appkeys import ROUTER

    test_client = await aiohttp_client(console_app)
    for deliverer in deliverers.values():
        console_app[ROUTER].register(deliverer)
    return test_client


@pytest.fixture
def console(client) -> Console:
    return Console(client)
