"""The fuzz tests: Hypothesis against the patient-facing entry points of the real application.

The application runs in-process (aiohttp's test client) on a migrated SQLite copy, with the
scripted engine and keyword screen of tests/bot/fakes.py and Twilio's and Meta's send APIs stubbed
on loopback (tests/support/platforms.py), so an accepted message is answered for real.

The "fuzz" profile keeps a run bounded and reproducible: a fixed number of examples per test,
derandomized (the same examples every run, so CI is repeatable), no deadline (the first request
of a test is slower), and no example database (with `pytest_configure` below, nothing Hypothesis
writes lands in the repository). One application serves every example of a test, so the
function-scoped fixtures are shared on purpose; each example checks against what it found before.
"""
from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.configuration import set_hypothesis_home_dir

from bot.app import create_app
from bot.appkeys import BACKGROUND_TASKS
from bot.channels.twilio import TwilioConfig
from bot.channels.whatsapp import WhatsAppConfig
from bot.settings import Settings
from tests.bot.fakes import KeywordScreen, ScriptedEngine
from tests.support.platforms import (
    TWILIO_AUTH_TOKEN,
    WHATSAPP_APP_SECRET,
    WHATSAPP_VERIFY_TOKEN,
    graph_base,
)
from tests.support.settings import settings_for

hypothesis_settings.register_profile(
    "fuzz", database=None, derandomize=True, deadline=None, max_examples=50, print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.large_base_example],
)
hypothesis_settings.load_profile("fuzz")  # for the whole run: only tests/fuzz uses Hypothesis

PUBLIC_BASE_URL = "https://bot.clinic.example"
HYPOTHESIS_HOME = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis keeps caches (Unicode tables, constants read from our code) in its home folder,
    `.hypothesis/` in the current directory by default: a temporary folder instead, gone afterwards."""
    config.stash[HYPOTHESIS_HOME] = Path(tempfile.mkdtemp(prefix="hypothesis-"))
    set_hypothesis_home_dir(config.stash[HYPOTHESIS_HOME])


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(config.stash[HYPOTHESIS_HOME], ignore_errors=True)


@pytest.fixture
def engine(session_factory) -> ScriptedEngine:
    return ScriptedEngine(session_factory)


@pytest.fixture
def settings(db_url, platform) -> Settings:
    """The fake Twilio and Cloud API accounts, sending to the stub."""
    return settings_for(
        db_url, identity_signing_key="s" * 32,
        twilio=TwilioConfig(account_sid="AC" + "0" * 32, auth_token=TWILIO_AUTH_TOKEN, api_base=platform.base,
                            public_base_url=PUBLIC_BASE_URL, from_sms="+447700900999",
                            from_whatsapp="+447700900998"),
        whatsapp=WhatsAppConfig(verify_token=WHATSAPP_VERIFY_TOKEN, app_secret=WHATSAPP_APP_SECRET,
                                api_base=graph_base(platform.base), phone_number_id="1234567890",
                                access_token="graph-token-for-tests"),
    )


@pytest.fixture
async def client(aiohttp_client, settings, session_factory, engine, caplog):
    """The application; INFO and above is captured, for the checks on what is logged."""
    caplog.set_level(logging.INFO)
    return await aiohttp_client(create_app(settings, engine=engine, screen=KeywordScreen()))


@pytest.fixture
def replies_done(client):
    """Wait for the replies the webhooks left to background tasks (their exceptions propagate)."""

    async def wait() -> None:
        tasks = list(client.app[BACKGROUND_TASKS])
        if tasks:
            await asyncio.gather(*tasks)

    return wait
