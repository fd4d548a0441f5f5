"""Operating the care messages: `python -m bot care preview | send-due`, and the server's periodic run."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import timedelta
from typing import List, Optional

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.appkeys import ROUTER, SESSION_FACTORY, SETTINGS
from bot.care.task import periodic_care
from bot.channels.proactive import SentMessage, WhatsAppTemplate
from bot.channels.twilio import SMS
from bot.conversations.router import ConversationRouter
from bot.db.models import CareMessage
from bot.settings import Settings
from tests.support.care import consenting_patient, session_at, the_demo_clinic
from tests.support.clock import START

PHONE = "+447700900123"


@pytest.fixture
def cli_env(monkeypatch, db_url, session_factory):
    """The command line on this test's (migrated) database."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("CLINIC_PROFILE", raising=False)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return db_url


def test_preview_lists_what_will_be_sent_without_phone_numbers_or_sending(cli_env, session_factory, profile,
                                                                        capsys):
    from bot.care import cli

    now = START
    the_demo_clinic(session_factory, now, profile)
    args = cli_args("preview", days=4)
    assert cli.run(args, Settings.from_env(), session_factory, clock=lambda: now) == 0
    out = capsys.readouterr().out
    assert out.startswith("planned: created 13, moved 0, cancelled 0, skipped 0, unchanged 0\n")
    lines = out.splitlines()[2:]
    assert lines and all(line.split()[3] in ("preparation", "reminder", "aftercare_checkin") for line in lines)
    assert {line.split()[4] for line in lines} <= {"MC-4827", "MC-7315"} and "+44" not in out
    with session_factory.begin() as session:
        assert set(session.execute(select(CareMessage.status)).scalars()) == {"scheduled"}


async def test_send_due_with_nothing_due(cli_env, capsys):
    import bot.__main__ as main

    # In a thread of its own: the command runs its own event loop, as it does from a shell.
    assert await asyncio.to_thread(main.main, ["care", "send-due"]) == 0
    assert capsys.readouterr().out == "sent 0, skipped 0, failed 0\n"


def cli_args(action: str, **values):
    import argparse

    return argparse.Namespace(care_action=action, **values)


@dataclasses.dataclass
class ProactiveSms:
    """A router deliverer (SMS) that can also write first, recording what it wrote."""

    kind = SMS
    provider = "twilio"
    written: List[str] = dataclasses.field(default_factory=list)

    async def send(self, conversation, replies, author) -> None:
        """Not used here."""

    async def notify_owner(self, conversation, owner, notice) -> None:
        """Not used here."""

    async def send_proactive(self, ref, text: str, template: Optional[WhatsAppTemplate]) -> SentMessage:
        """Record and accept."""
        self.written.append(text)
        return SentMessage("twilio", f"SM{len(self.written)}")


async def test_the_server_plans_and_sends_through_the_router_deliverers(db_url, session_factory, caplog):
    settings = dataclasses.replace(Settings.from_env({"DATABASE_URL": db_url}), care_interval_seconds=0.05)
    _, course = consenting_patient(session_factory)
    session_at(session_factory, course, START + timedelta(days=1))
    sms = ProactiveSms()
    app = web.Application()
    app[SETTINGS] = settings
    app[SESSION_FACTORY] = session_factory
    router = ConversationRouter(settings, session_factory, engine=None)  # type: ignore[arg-type]
    router.register(sms)
    app[ROUTER] = router
    app.cleanup_ctx.append(periodic_care(first_delay_seconds=0, clock=lambda: START + timedelta(hours=1)))
    caplog.set_level(logging.INFO, logger="bot.care")
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        for _ in range(100):
            if sms.written:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # more runs: nothing is sent twice
    finally:
        await runner.cleanup()
    assert len(sms.written) == 1 and "reminder" in sms.written[0]
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert PHONE not in logged and "Alex" not in logged and "care messages: sent 1" in logged


async def test_care_interval_zero_turns_the_server_run_off(db_url, session_factory):
    app = web.Application()
    app[SETTINGS] = dataclasses.replace(Settings.from_env({"DATABASE_URL": db_url}), care_interval_seconds=0)
    context = periodic_care(first_delay_seconds=0)(app)
    await context.__anext__()
    assert [t for t in asyncio.all_tasks() if "care_periodically" in repr(t)] == []
    with pytest.raises(StopAsyncIteration):
        await context.__anext__()


def test_care_interval_from_the_environment():
    assert Settings.from_env({}).care_interval_seconds == 60
    assert Settings.from_env({"CARE_INTERVAL_SECONDS": "0"}).care_interval_seconds == 0


async def test_a_channel_that_cannot_write_first_fails_the_message_and_says_so(db_url, session_factory, profile):
    from bot.care.plan import plan_care
    from bot.care.sender import RouterDeliverers, send_due
    from tests.support.deliverers import RecordingDeliverer

    settings = Settings.from_env({"DATABASE_URL": db_url})
    _, course = consenting_patient(session_factory)
    appointment = session_at(session_factory, course, START + timedelta(days=1))
    with session_factory.begin() as session:
        plan_care(session, profile, START)
    router = ConversationRouter(settings, session_factory, engine=None)  # type: ignore[arg-type]
    router.register(RecordingDeliverer(kind=SMS))  # replies only: no send_proactive
    report = await send_due(session_factory, RouterDeliverers(router), START + timedelta(hours=1), profile=profile)
    assert report.failed == 1
    with session_factory.begin() as session:
        reminder = session.execute(select(CareMessage).where(CareMessage.appointment_id == appointment,
                                                             CareMessage.kind == "reminder")).scalar_one()
        assert (reminder.status, reminder.detail, reminder.message_id) == ("failed", "no deliverer", None)
