"""Outside opening hours nobody is paged: the patient reporting a red flag already has the
emergency guidance, and the web widget says the clinic is closed and when the team will reply."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from bot.alerts.schedule import page_once
from bot.channels.messages import InboundMessage
from bot.channels.twilio import SMS
from bot.channels.whatsapp import WHATSAPP
from bot.conversations.router import ConversationRouter
from bot.db.models import Escalation
from bot.settings import Settings
from bot.web.webchat import WEB
from tests.bot.fakes import KeywordScreen, RecordingDeliverer, ScriptedEngine
from tests.support.clock import START, Clock

FRIDAY_EVENING = START.replace(hour=19)  # the clinic closes at 18:00 on Fridays (London, winter: UTC)


def closed_router(settings, session_factory, deliverers, clock) -> ConversationRouter:
    router = ConversationRouter(settings, session_factory, ScriptedEngine(session_factory), screen=KeywordScreen(),
                                clock=clock)
    for deliverer in deliverers.values():
        router.register(deliverer)
    return router


def message(text: str, channel: str, sender: str) -> InboundMessage:
    return InboundMessage(channel=channel, sender=sender, text=text, channel_message_id=None, has_media=False,
                          received_at=datetime.now(timezone.utc))


async def test_a_red_flag_out_of_hours_gets_the_guidance_and_the_closed_notice_and_pages_nobody(
        settings: Settings, session_factory):
    settings = dataclasses.replace(settings, identity_signing_key="k" * 32,
                                   clinic=dataclasses.replace(settings.clinic, on_call_phone="+447700900555"))
    deliverers = {kind.name: RecordingDeliverer(kind) for kind in (WEB, SMS, WHATSAPP)}
    clock = Clock(FRIDAY_EVENING)
    router = closed_router(settings, session_factory, deliverers, clock)

    web = await router.receive(message("my lips swelling", "web", "session-1"))
    assert web.handled_by == "screen"
    assert f"call {settings.clinic.emergency_number} now" in web.replies[0].text.lower()
    [notice] = deliverers["web"].owner_notices
    assert "The clinic is closed at the moment" in notice.notice and "after we open" in notice.notice

    sms = await router.receive(message("my lips swelling", "sms", "+447700900123"))
    assert f"call {settings.clinic.emergency_number} now" in sms.replies[0].text.lower()
    with session_factory() as session:
        assert [e.priority for e in session.execute(select(Escalation)).scalars()] == ["urgent", "urgent"]

    texts: list = []

    async def send_text(to: str, text: str) -> str:
        texts.append((to, text))
        return "SM1"

    clock.advance(hours=2)  # 21:00, still closed, long past the wait
    assert await page_once(session_factory, settings, send_text, clock) == 0
    assert texts == []
    clock.now = FRIDAY_EVENING + timedelta(days=3, hours=-10, minutes=4)  # Monday 09:04: just opened
    assert await page_once(session_factory, settings, send_text, clock) == 0  # the team has 5 minutes
    clock.advance(minutes=1)  # 09:05, both still waiting
    assert await page_once(session_factory, settings, send_text, clock) == 2
    assert [to for to, _ in texts] == ["+447700900555"] * 2
