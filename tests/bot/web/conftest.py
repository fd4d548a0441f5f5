"""The application on a migrated SQLite database with a scripted engine, served on a real port.

`settings` has the fake platform accounts of tests/support/platforms.py."""
from __future__ import annotations

import dataclasses

import pytest

from bot.app import create_app
from bot.appkeys import ROUTER
from bot.settings import Settings
from tests.bot.fakes import KeywordScreen, ScriptedEngine
from tests.support.platforms import TWILIO_AUTH_TOKEN, WHATSAPP_APP_SECRET


@pytest.fixture
def engine(session_factory) -> ScriptedEngine:
    return ScriptedEngine(session_factory)


@pytest.fixture
def settings(db_url) -> Settings:
    """Settings with the fake Twilio and WhatsApp accounts and an identity key."""
    return Settings.from_env({
        "DATABASE_URL": db_url, "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "PUBLIC_BASE_URL": "https://bot.clinic.example", "TWILIO_SMS_FROM": "+447700900999",
        "TWILIO_WHATSAPP_FROM": "+447700900998", "WHATSAPP_VERIFY_TOKEN": "verify-me",
        "WHATSAPP_APP_SECRET": WHATSAPP_APP_SECRET, "IDENTITY_SIGNING_KEY": "s" * 32,
    })


@pytest.fixture
def make_app(session_factory, engine):
    """create_app with the test's engine and screen; keyword arguments replace settings fields."""

    def build(settings: Settings, **changes):
        return create_app(dataclasses.replace(settings, **changes), engine=engine, screen=KeywordScreen())

    return build


@pytest.fixture
async def client(aiohttp_client, make_app, settings):
    return await aiohttp_client(make_app(settings))


@pytest.fixture
def router(client):
    return client.app[ROUTER]
