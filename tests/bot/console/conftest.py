"""Fixtures for the staff console: the real application on a tmp SQLite database, a fake engine,
a movable clock, recording deliverers, staff accounts, and a signed-in browser-like client."""
from __future__ import annotations

import dataclasses
import itertools
import re
from datetime import datetime, timedelta, timezone
from typing import Dict, List, Optional, Tuple

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet

from bot.channels.kinds import ChannelKind
from bot.channels.messages import OutboundMessage
from bot.channels.twilio import SMS
from bot.channels.whatsapp import WHATSAPP
from bot.clinic import staff as staff_accounts
from bot.clinic.escalations import get_or_create_conversation
from bot.db.models import Conversation, Escalation, Message, StaffRequest
from bot.engine.turn import EngineTurn
from bot.settings import Settings
from bot.web.webchat import WEB

PASSWORD = "correct horse battery"
START = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
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


class Clock:
    """A clock the test moves by hand (console sessions, lockouts, audit times)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


class RecordingDeliverer:
    """A channel of `kind` that records what it was asked to send."""

    def __init__(self, kind: ChannelKind) -> None:
        self.kind = kind
        self.sent: List[Tuple[int, str, str]] = []
        self.notices: List[Tuple[int, str]] = []

    async def send(self, conversation, replies, author) -> None:
        for reply in replies:
            self.sent.append((conversation.id, reply.text, author))

    async def notify_owner(self, conversation, owner, notice) -> None:
        self.notices.append((conversation.id, owner))


@pytest.fixture(autouse=True)
def fast_hasher(monkeypatch):
    """Cheap argon2 parameters: the real ones take half a second per hash on purpose."""
    monkeypatch.setattr(staff_accounts, "PASSWORD_HASHER",
                        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, hash_len=16, salt_len=16))


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return dataclasses.replace(Settings.from_env({}), database_url=db_url,
                               session_secret=Fernet.generate_key().decode())


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
    return {kind.name: RecordingDeliverer(kind) for kind in (WEB, SMS, WHATSAPP)}


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

    async def login(self, email: str, password: str = PASSWORD, next_path: str = "/staff"):
        await self.page("/staff/login")
        return await self.client.post("/staff/login", data={
            "email": email, "password": password, "csrf_token": self.csrf, "next": next_path,
        }, allow_redirects=False)

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


class Rows:
    """Put conversations, messages, escalations and requests straight into the database."""

    def __init__(self, session_factory) -> None:
        self.factory = session_factory
        self.numbers = itertools.count(1)

    def conversation(self, channel: str = "web", external_id: Optional[str] = None, *, owner: str = "staff",
                     patient_id: Optional[int] = None, last_patient_message_at: Optional[datetime] = None) -> int:
        with self.factory.begin() as session:
            conversation = Conversation(channel=channel, external_id=external_id or f"ext-{channel}-{next(self.numbers)}",
                                        owner=owner, patient_id=patient_id, created_at=START,
                                        last_patient_message_at=last_patient_message_at)
            session.add(conversation)
            session.flush()
            return conversation.id

    def message(self, conversation_id: int, text: str, author: str = "patient", at: datetime = START) -> int:
        with self.factory.begin() as session:
            message = Message(conversation_id=conversation_id, direction="in" if author == "patient" else "out",
                              author=author, text=text, created_at=at)
            session.add(message)
            session.flush()
            return message.id

    def escalation(self, conversation_id: int, *, reason: str = "asked_for_person", priority: str = "normal",
                   status: str = "waiting", at: datetime = START, assigned_to: Optional[int] = None,
                   summary: str = "Asked to speak to someone.") -> int:
        with self.factory.begin() as session:
            escalation = Escalation(conversation_id=conversation_id, reason=reason, summary=summary,
                                    priority=priority, status=status, created_at=at, assigned_to=assigned_to,
                                    resolved_at=at if status == "resolved" else None)
            session.add(escalation)
            session.flush()
            return escalation.id

    def request(self, sender_key: str, kind: str = "reschedule", wishes: str = "Friday afternoon please",
                patient_id: Optional[int] = None, appointment_id: Optional[int] = None) -> int:
        with self.factory.begin() as session:
            conversation_id = get_or_create_conversation(session, sender_key, START).id
            request = StaffRequest(kind=kind, patient_id=patient_id, appointment_id=appointment_id,
                                   conversation_id=conversation_id, wishes=wishes, status="open", created_at=START)
            session.add(request)
            session.flush()
            return request.id


@pytest.fixture
def rows(session_factory) -> Rows:
    return Rows(session_factory)
