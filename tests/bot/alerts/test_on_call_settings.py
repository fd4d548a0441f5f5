"""The on-call settings in the clinic profile, and the pager running inside the application."""
from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.alerts.schedule import periodic_paging
from bot.appkeys import HTTP_CLIENT, SESSION_FACTORY, SETTINGS
from bot.settings import ClinicProfile, SettingsError
from tests.support.clock import START, Clock
from tests.support.platforms import TWILIO_AUTH_TOKEN, PlatformStub

ROOT = Path(__file__).resolve().parents[3]


def profile_with(tmp_path: Path, extra: str, environ=None) -> ClinicProfile:
    text = (ROOT / "clinic.yml").read_text(encoding="utf-8")
    text = text.replace('on_call_phone: ""\n', "").replace("urgent_page_after_minutes: 5\n", "")
    (tmp_path / "clinic.yml").write_text(text + extra, encoding="utf-8")
    return ClinicProfile.load(tmp_path / "clinic.yml", environ or {})


def test_the_shipped_profile_pages_nobody_after_five_minutes() -> None:
    profile = ClinicProfile.load(ROOT / "clinic.yml", {})
    assert (profile.on_call_phone, profile.urgent_page_after_minutes) == ("", 5)


def test_the_profile_names_the_on_call_phone_and_the_wait(tmp_path) -> None:
    profile = profile_with(tmp_path, 'on_call_phone: " +447700900555 "\nurgent_page_after_minutes: 12\n')
    assert (profile.on_call_phone, profile.urgent_page_after_minutes) == ("+447700900555", 12)
    assert profile_with(tmp_path, "", {"ON_CALL_PHONE": "+447700900556"}).on_call_phone == "+447700900556"
    assert profile_with(tmp_path, "").urgent_page_after_minutes == 5


@pytest.mark.parametrize("value", ["0", "soon", "-3"])
def test_a_wait_that_is_not_a_positive_number_of_minutes_is_refused(tmp_path, value) -> None:
    with pytest.raises(SettingsError, match="urgent_page_after_minutes"):
        profile_with(tmp_path, f"urgent_page_after_minutes: {value}\n")


async def test_the_application_pages_in_the_background_when_a_phone_is_set(aiohttp_server, settings,
                                                                           session_factory, rows):
    stub = PlatformStub()
    server = await aiohttp_server(stub.app())
    twilio = dataclasses.replace(settings.twilio, account_sid="AC" + "0" * 32, auth_token=TWILIO_AUTH_TOKEN,
                                 api_base=str(server.make_url("")).rstrip("/"), from_sms="+447700900990",
                                 public_base_url="https://bot.clinic.example")
    clinic = dataclasses.replace(settings.clinic, on_call_phone="+447700900555")
    conversation = rows.conversation("sms", "+447700900123")
    rows.escalation(conversation, reason="red_flag", priority="urgent", at=START)

    async def run(app_settings) -> None:
        app = web.Application()
        app[SETTINGS], app[SESSION_FACTORY] = app_settings, session_factory
        async with aiohttp.ClientSession() as http:
            app[HTTP_CLIENT] = http
            context = periodic_paging(interval_seconds=0.05, first_delay_seconds=0,
                                      clock=Clock(START + timedelta(minutes=6)))(app)
            await context.__anext__()
            await asyncio.sleep(0.5)
            with pytest.raises(StopAsyncIteration):
                await context.__anext__()

    await run(dataclasses.replace(settings, twilio=twilio))  # no on-call phone: no pager
    assert stub.twilio == []
    await run(dataclasses.replace(settings, twilio=twilio, clinic=clinic))
    assert stub.sms_to("+447700900555") == ["Urgent case waiting in the Northfield Hair Clinic console: "
                                            "https://bot.clinic.example/staff"]
