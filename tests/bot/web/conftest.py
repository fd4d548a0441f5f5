"""The application on a migrated SQLite database with a scripted engine, served on a real port.

`settings` extends the shared one (tests/support/settings.py) with the fake platform accounts."""
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
def settings(settings: Settings) -> Settings:
    """The shared test settings with the fake Twilio and WhatsApp accounts and an identity key."""
    return dataclasses.replace(
        settings,
        twilio_account_sid="AC" + "0" * 32, twilio_auth_token=TWILIO_AUTH_TOKEN,
        public_base_url="https://bot.clinic.example", twilio_sms_from="+447700900999",
        twilio_whatsapp_from="+447700900998", whatsapp_verify_token="verify-me",
        whatsapp_app_secret=WHATSAPP_APP_SECRET, identity_signing_key="s" * 32, session_secret="",
    )


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
