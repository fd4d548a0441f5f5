"""Staff send an approved WhatsApp template when the 24-hour window is closed (router.staff_template)."""
from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select

from bot.channels import twilio
from bot.channels.proactive import SentMessage, WhatsAppTemplate
from bot.channels.twilio import TwilioConfig, TwilioDeliverer
from bot.channels.whatsapp import WHATSAPP, CloudApiDeliverer, WhatsAppConfig
from bot.conversations import store
from bot.conversations.router import ConversationRouter, StaffActionError
from bot.db.models import AuditLog, Conversation, Message
from tests.bot.fakes import ScriptedEngine
from tests.support.clock import START, Clock
from tests.support.deliverers import RecordingDeliverer
from tests.support.platforms import TWILIO_AUTH_TOKEN, WHATSAPP_APP_SECRET, graph_base
from tests.support.settings import settings_for

PATIENT = "+447700900123"
TEXT = "Hello Alex, this is Northfield Hair Clinic: please reply so we can continue our conversation."
TEMPLATE = WhatsAppTemplate(twilio_content_sid="HX" + "4" * 32, meta_name="please_reply", meta_language="en_GB",
                            variables=("Alex",))


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def clock() -> Clock:
    return Clock(START + timedelta(days=2))


@pytest.fixture
def router(db_url, session_factory, platform, http, clock) -> ConversationRouter:
    router = ConversationRouter(settings_for(db_url), session_factory, ScriptedEngine(session_factory), clock=clock)
    router.register(CloudApiDeliverer(http, WhatsAppConfig("verify", WHATSAPP_APP_SECRET, graph_base(platform.base),
                                                           "1234567890", "graph-token")))
    router.register(TwilioDeliverer(http, TwilioConfig("AC" + "0" * 32, TWILIO_AUTH_TOKEN, platform.base,
                                                       "https://bot.clinic.example", "+447700900990"), twilio.SMS))
    return router


@pytest.fixture
def closed(rows) -> int:
    """A WhatsApp conversation (through Meta) whose patient last wrote two days ago."""
    return rows.conversation("whatsapp", PATIENT, owner="bot", last_patient_message_at=START)


def conversation_messages(session_factory, conversation_id):
    with session_factory() as session:
        return [(m.direction, m.author, m.staff_user_id, m.text, m.channel_message_id)
                for m in session.execute(select(Message).where(Message.conversation_id == conversation_id)).scalars()]


def audits(session_factory):
    with session_factory() as session:
        return [(a.action, a.actor_id, a.subject_id, a.detail) for a in session.execute(select(AuditLog)).scalars()]


async def test_a_closed_window_refuses_a_reply_and_the_template_goes_instead(
        router, platform, session_factory, closed, staff_id):
    with pytest.raises(StaffActionError, match="template"):
        await router.staff_reply(closed, staff_id, "Hello again")
    sent = await router.staff_template(closed, staff_id, TEMPLATE, TEXT, kind="reminder")
    assert sent == SentMessage("meta", "wamid.out1")
    assert platform.graph[0]["type"] == "template" and platform.graph[0]["template"]["name"] == "please_reply"
    assert conversation_messages(session_factory, closed) == [("out", "staff", staff_id, TEXT, "wamid.out1")]
    with session_factory() as session:
        assert session.get(Conversation, closed).owner == "staff"
    assert (("template_reply", str(staff_id), str(closed),
             {"kind": "reminder", "template": "please_reply", "provider": "meta"})
            in audits(session_factory))


async def test_a_template_the_platform_has_no_name_for_is_refused_and_nothing_is_stored(
        router, platform, session_factory, closed, staff_id):
    twilio_only = WhatsAppTemplate(twilio_content_sid="HX" + "5" * 32)
    with pytest.raises(StaffActionError, match="no approved template configured for maintenance"):
        await router.staff_template(closed, staff_id, twilio_only, TEXT, kind="maintenance")
    assert platform.graph == [] and conversation_messages(session_factory, closed) == []
    failed = [entry for entry in audits(session_factory) if entry[0] == "template_reply_failed"]
    assert failed == [("template_reply_failed", str(staff_id), str(closed),
                       {"kind": "maintenance", "template": "HX" + "5" * 32, "error_code": None})]


async def test_a_platform_refusal_is_shown_with_nothing_stored(router, platform, session_factory, closed, staff_id):
    platform.refuse(400, 132001)
    with pytest.raises(StaffActionError, match="not sent"):
        await router.staff_template(closed, staff_id, TEMPLATE, TEXT)
    assert conversation_messages(session_factory, closed) == []
    assert [d["error_code"] for a, _, _, d in audits(session_factory) if a == "template_reply_failed"] == [132001]


async def test_an_opted_out_patient_gets_no_template(router, platform, session_factory, closed, staff_id, clock):
    with session_factory.begin() as session:
        store.set_opt_out(session, PATIENT, "whatsapp", True, clock())
    with pytest.raises(StaffActionError, match="opted out"):
        await router.staff_template(closed, staff_id, TEMPLATE, TEXT)
    assert platform.graph == []


async def test_an_empty_text_or_an_unknown_conversation_is_refused(router, platform, closed, staff_id):
    with pytest.raises(StaffActionError, match="empty"):
        await router.staff_template(closed, staff_id, TEMPLATE, "  ")
    with pytest.raises(StaffActionError, match="does not exist"):
        await router.staff_template(closed + 100, staff_id, TEMPLATE, TEXT)
    assert platform.graph == []


async def test_a_channel_that_cannot_write_first_is_refused(db_url, session_factory, rows, staff_id):
    router = ConversationRouter(settings_for(db_url), session_factory, ScriptedEngine(session_factory))
    router.register(RecordingDeliverer(WHATSAPP))
    conversation_id = rows.conversation("whatsapp", PATIENT, owner="bot", last_patient_message_at=START)
    with pytest.raises(StaffActionError, match="cannot be sent on whatsapp"):
        await router.staff_template(conversation_id, staff_id, TEMPLATE, TEXT)
