"""Staff typing in the console reaches the patient's web widget as a `typing` event (and only theirs);
SMS and WhatsApp conversations get nothing."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.conversations.router import StaffActionError
from bot.db.models import Conversation
from tests.bot.web.test_webchat import WAIT, ChatClient
from tests.support.rows import Rows


@pytest.fixture
async def widgets(client):
    opened = []

    async def open_widget() -> ChatClient:
        widget = ChatClient(widget=True)
        widget.sio.on("typing", widget._recorder("typing"))
        await widget.connect(str(client.make_url("/")))
        opened.append(widget)
        return widget

    yield open_widget
    for widget in opened:
        await widget.close()


def conversation_of(session_factory, session_id: str) -> int:
    with session_factory() as session:
        return session.execute(select(Conversation.id).where(Conversation.external_id == session_id)).scalar_one()


async def test_staff_typing_reaches_only_that_patients_widget(widgets, router, session_factory):
    patient, someone_else = await widgets(), await widgets()
    await patient.say("hello")
    await patient.replies(2)
    told = await router.staff_typing(conversation_of(session_factory, patient.session_id))
    assert told is True
    name, data = await asyncio.wait_for(patient.next_event(), WAIT)
    assert (name, data) == ("typing", {"who": "staff"})
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(someone_else.events.get(), 0.5)


async def test_phone_channels_and_unknown_conversations_get_no_typing_notice(router, session_factory):
    sms = Rows(session_factory).conversation("sms", "+447700900123")
    assert await router.staff_typing(sms) is False
    with pytest.raises(StaffActionError):
        await router.staff_typing(sms + 1000)
