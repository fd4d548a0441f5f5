"""The web chat over a real socket.io connection (python-socketio's client), Rasa's protocol."""
from __future__ import annotations

import asyncio
from typing import Any, List, Optional, Tuple

import pytest
import socketio
from sqlalchemy import select

from bot.db.models import Conversation, Message
from tests.support.database import unreachable_database

WAIT = 5


async def close_socket(sio: socketio.AsyncClient) -> None:
    """Disconnect at once: send the close packet, do not wait for the read loop."""
    sio.eio.reconnection = False
    await sio.eio.disconnect(abort=True)
    for task in (sio.eio.read_loop_task, sio.eio.write_loop_task):
        if task is not None:
            task.cancel()


class ChatClient:
    """A socket.io client that records every event it receives.

    It uses the polling transport: python-engineio's websocket client needs aiohttp 3.10, and
    Rasa 3.6 pins 3.9. The browser tests (tests/e2e) cover the websocket transport.
    """

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: "asyncio.Queue[Tuple[str, Any]]" = asyncio.Queue()
        for name in ("session_confirm", "bot_uttered", "handoff"):
            self.sio.on(name, self._recorder(name))
        self.session_id: Optional[str] = None

    def _recorder(self, name):
        async def record(data=None):
            await self.events.put((name, data))
        return record

    async def connect(self, base_url: str, session_id: Optional[str] = None) -> str:
        await self.sio.connect(base_url, socketio_path="socket.io", transports=["polling"])
        await self.sio.emit("session_request", {"session_id": session_id})
        name, data = await self.next_event()
        assert name == "session_confirm"
        self.session_id = data
        return data

    async def say(self, text: str) -> None:
        await self.sio.emit("user_uttered", {"message": text, "session_id": self.session_id})

    async def next_event(self) -> Tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), WAIT)

    async def replies(self, count: int) -> List[dict]:
        found = []
        while len(found) < count:
            name, data = await self.next_event()
            if name == "bot_uttered":
                found.append(data)
        return found

    async def close(self) -> None:
        """Leave without waiting for the pending long-poll (it would take a ping interval)."""
        await close_socket(self.sio)


async def eventually(condition, seconds: float = WAIT) -> None:
    """Wait until `condition()` is true (the server handles socket events in the background)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def stored_texts(session_factory, conversation_id: int) -> List[str]:
    with session_factory() as session:
        return session.execute(select(Message.text).where(Message.conversation_id == conversation_id)
                               .order_by(Message.id)).scalars().all()


@pytest.fixture
async def chat(client):
    clients: List[ChatClient] = []

    async def open_chat(session_id: Optional[str] = None) -> ChatClient:
        chat_client = ChatClient()
        await chat_client.connect(str(client.make_url("/")), session_id)
        clients.append(chat_client)
        return chat_client

    yield open_chat
    for chat_client in clients:
        await chat_client.close()


async def test_session_is_issued_by_the_server_and_unknown_ids_are_replaced(chat, session_factory):
    first = await chat(None)
    assert len(first.session_id) >= 32
    forged = await chat("someone-elses-session")
    assert forged.session_id not in ("someone-elses-session", first.session_id)
    again = await chat(first.session_id)  # a page reload with the issued id
    assert again.session_id == first.session_id


async def test_user_uttered_gets_bot_uttered_in_rasa_format(chat):
    patient = await chat()
    await patient.say("what is mesotherapy")
    disclaimer, answer = await patient.replies(2)
    assert "automated assistant" in disclaimer["text"] and disclaimer["author"] == "bot"
    assert answer == {"text": "bot heard: what is mesotherapy", "author": "bot"}
    await patient.say("options")
    (offer,) = await patient.replies(1)
    assert offer["quick_replies"] == [
        {"content_type": "text", "title": "Pain", "payload": "/faq_pain"},
        {"content_type": "text", "title": "Cost", "payload": "/ask_cost"},
    ]


async def test_reload_continues_the_same_conversation_and_every_tab_hears_replies(chat, engine):
    tab = await chat()
    await tab.say("hello")
    await tab.replies(2)
    reloaded = await chat(tab.session_id)
    await reloaded.say("again")
    (reply,) = await reloaded.replies(1)  # no second disclaimer: same conversation
    assert reply["text"] == "bot heard: again"
    (echo,) = await tab.replies(1)
    assert echo["text"] == "bot heard: again"
    assert {call[0] for call in engine.calls} == {f"web:{tab.session_id}"}


async def test_nobody_else_receives_a_patients_replies(chat):
    alice, mallory = await chat(), await chat()
    await alice.say("my private question")
    await alice.replies(2)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(mallory.events.get(), 0.5)


async def test_handoff_staff_reply_and_hand_back_reach_the_widget(chat, router, session_factory, staff_id):
    patient = await chat()
    await patient.say("a person please")
    await patient.replies(2)
    with session_factory() as session:
        conversation_id = session.execute(select(Conversation.id).where(
            Conversation.external_id == patient.session_id)).scalar_one()
    await patient.say("hello? anyone?")
    await eventually(lambda: stored_texts(session_factory, conversation_id)[-1] == "hello? anyone?")
    await router.staff_reply(conversation_id, staff_id, "Hi, Jo here from the clinic.")
    name, data = await patient.next_event()
    assert name == "handoff" and data["owner"] == "staff" and "joined" in data["notice"]
    (staff_message,) = await patient.replies(1)
    assert staff_message == {"text": "Hi, Jo here from the clinic.", "author": "staff"}
    await router.hand_back(conversation_id, staff_id)
    (back,) = await patient.replies(1)
    assert back["author"] == "system" and "handed you back" in back["text"]
    name, data = await patient.next_event()
    assert name == "handoff" and data["owner"] == "bot"
    await patient.say("washing my hair?")
    (answer,) = await patient.replies(1)
    assert answer["text"] == "bot heard: washing my hair?"
    with session_factory() as session:
        authors = session.execute(select(Message.author).where(Message.conversation_id == conversation_id)
                                  .order_by(Message.id)).scalars().all()
    assert authors == ["patient", "bot", "bot", "patient", "staff", "system", "patient", "bot"]


async def test_malformed_events_are_ignored_without_breaking_the_socket(chat, client):
    patient = await chat()
    await patient.sio.emit("user_uttered", "not a dict")
    await patient.sio.emit("user_uttered", {"message": 42})
    await patient.sio.emit("session_request", ["odd"])
    name, new_id = await patient.next_event()
    assert name == "session_confirm" and new_id != patient.session_id
    patient.session_id = new_id
    await patient.say("still there?")
    replies = await patient.replies(2)
    assert replies[-1]["text"] == "bot heard: still there?"


async def test_user_uttered_before_session_request_is_told_to_reload(client):
    sio = socketio.AsyncClient(reconnection=False)
    received: "asyncio.Queue" = asyncio.Queue()
    sio.on("bot_uttered", lambda data: received.put_nowait(data))
    await sio.connect(str(client.make_url("/")), socketio_path="socket.io", transports=["polling"])
    try:
        await sio.emit("user_uttered", {"message": "hi"})
        data = await asyncio.wait_for(received.get(), WAIT)
        assert "reload" in data["text"]
    finally:
        await close_socket(sio)


async def test_database_down_tells_the_web_patient_plainly(chat, router):
    patient = await chat()
    router.sessions = unreachable_database()
    await patient.say("hello")
    (reply,) = await patient.replies(1)
    assert reply["author"] == "system" and "technical problem" in reply["text"]
    assert "was not received" in reply["text"]
