"""The web chat over a real socket.io connection (python-socketio's client), Rasa's protocol."""
from __future__ import annotations

import asyncio
import re
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
    """A socket.io client that records every event it receives: the clinic widget (`widget=True`,
    replies in `clinic_message`) or a Rasa-protocol client such as rasa-webchat (`bot_uttered`).

    It uses the polling transport: python-engineio's websocket client needs aiohttp 3.10, and
    Rasa 3.6 pins 3.9. The browser tests (tests/e2e) cover the websocket transport.
    """

    def __init__(self, widget: bool = False, tab: Optional[str] = None) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.widget = widget
        self.tab = tab
        self.reply_event = "clinic_message" if widget else "bot_uttered"
        self.events: "asyncio.Queue[Tuple[str, Any]]" = asyncio.Queue()
        for name in ("session_confirm", "bot_uttered", "clinic_message", "handoff", "history", "chat_ended"):
            self.sio.on(name, self._recorder(name))
        self.session_id: Optional[str] = None

    def _recorder(self, name):
        async def record(data=None):
            await self.events.put((name, data))
        return record

    async def connect(self, base_url: str, session_id: Optional[str] = None) -> str:
        await self.sio.connect(base_url, socketio_path="socket.io", transports=["polling"])
        request = {"session_id": session_id, **({"client": "clinic-widget", "tab": self.tab} if self.widget else {})}
        await self.sio.emit("session_request", request)
        name, data = await self.next_event()
        assert name == "session_confirm"
        self.session_id = data
        return data

    async def say(self, text: str) -> None:
        await self.sio.emit("user_uttered", {"message": text, "session_id": self.session_id})

    async def history(self, before: Optional[int] = None) -> dict:
        """Ask for a page of the chat's history and return the answer (other events are skipped)."""
        await self.sio.emit("history_request", {"before": before} if before else {})
        while True:
            name, data = await self.next_event()
            if name == "history":
                return data

    async def next_event(self) -> Tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), WAIT)

    async def replies(self, count: int) -> List[dict]:
        found = []
        while len(found) < count:
            name, data = await self.next_event()
            assert name != ("bot_uttered" if self.widget else "clinic_message"), (name, data)
            if name == self.reply_event:
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

    async def open_chat(session_id: Optional[str] = None, widget: bool = False, tab: Optional[str] = None) -> ChatClient:
        chat_client = ChatClient(widget or tab is not None, tab)
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


async def test_user_uttered_gets_bot_uttered_exactly_in_rasa_format(chat):
    """Only Rasa's keys, so an unmodified rasa-webchat renders every reply."""
    patient = await chat()
    await patient.say("what is mesotherapy")
    disclaimer, answer = await patient.replies(2)
    assert set(disclaimer) == {"text"} and "automated assistant" in disclaimer["text"]
    assert answer == {"text": "bot heard: what is mesotherapy"}
    await patient.say("options")
    (offer,) = await patient.replies(1)
    assert offer == {"text": "Did you mean:", "quick_replies": [
        {"content_type": "text", "title": "Pain", "payload": "/faq_pain"},
        {"content_type": "text", "title": "Cost", "payload": "/ask_cost"},
    ]}


async def test_the_clinic_widget_gets_its_own_events_with_author_and_clinic_time(chat):
    widget = await chat(widget=True)
    rasa_client = await chat(widget.session_id)  # the same chat open in rasa-webchat
    await widget.say("options")
    disclaimer, offer = await widget.replies(2)
    assert disclaimer["author"] == "bot" and re.fullmatch(r"\d\d:\d\d", disclaimer["time"])
    assert offer["quick_replies"][0] == {"content_type": "text", "title": "Pain", "payload": "/faq_pain"}
    assert [set(r) for r in await rasa_client.replies(2)] == [{"text"}, {"text", "quick_replies"}]


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
    patient = await chat(widget=True)
    await patient.say("a person please")
    name, data = await patient.next_event()  # at once, before the bot's own words
    assert name == "handoff" and data["owner"] == "staff" and "with the clinic team" in data["notice"]
    await patient.replies(2)
    with session_factory() as session:
        conversation_id = session.execute(select(Conversation.id).where(
            Conversation.external_id == patient.session_id)).scalar_one()
    await patient.say("hello? anyone?")
    (ack,) = await patient.replies(1)
    assert ack["author"] == "bot" and "your message is with the clinic team" in ack["text"]
    await router.staff_reply(conversation_id, staff_id, "Hi, Jo here from the clinic.")
    name, data = await patient.next_event()
    assert name == "handoff" and data["owner"] == "staff" and "joined" in data["notice"]
    (staff_message,) = await patient.replies(1)
    assert (staff_message["text"], staff_message["author"]) == ("Hi, Jo here from the clinic.", "staff")
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
    assert authors == ["patient", "bot", "bot", "patient", "bot", "staff", "system", "patient", "bot"]


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
    patient = await chat(widget=True)
    router.sessions = unreachable_database()
    await patient.say("hello")
    (reply,) = await patient.replies(1)
    assert reply["author"] == "system" and "technical problem" in reply["text"]
    assert "was not received" in reply["text"]


def conversation_of(session_factory, session_id: str) -> int:
    with session_factory() as session:
        return session.execute(select(Conversation.id).where(Conversation.external_id == session_id)).scalar_one()


async def test_history_after_a_reload_includes_a_staff_reply_sent_while_the_tab_was_closed(
        chat, router, session_factory, staff_id):
    tab = await chat(tab="tab-1")
    await tab.say("hello")
    await tab.replies(1)  # the widget showed the welcome (stored with the first message): no second disclaimer
    await tab.close()
    await router.staff_reply(conversation_of(session_factory, tab.session_id), staff_id, "Hi, Jo here.")
    reloaded = await chat(tab.session_id, tab="tab-1")
    page = await reloaded.history()
    assert page["hidden"] is False and page["more"] is False
    assert [(i["author"], i["text"]) for i in page["items"]][-2:] == [("bot", "bot heard: hello"),
                                                                     ("staff", "Hi, Jo here.")]
    assert [i["author"] for i in page["items"]] == ["bot", "patient", "bot", "staff"]  # newest last
    assert "automated assistant" in page["items"][0]["text"]  # the welcome it was shown
    assert all(re.fullmatch(r"\d\d:\d\d", i["time"]) for i in page["items"])


async def test_history_comes_in_pages_newest_last(chat, session_factory):
    from bot.channels.messages import OutboundMessage
    from bot.conversations import store
    from bot.db.models import utcnow

    tab = await chat(tab="tab-1")
    await tab.say("hello")
    await tab.replies(1)
    conversation_id = conversation_of(session_factory, tab.session_id)
    with session_factory.begin() as session:
        store.record_outbound(session, conversation_id, [OutboundMessage(f"note {n}") for n in range(60)], utcnow())
    first = await tab.history()
    assert len(first["items"]) == 50 and first["more"] is True and first["items"][-1]["text"] == "note 59"
    older = await tab.history(before=first["items"][0]["id"])
    assert [i["text"] for i in older["items"]][3:] == [f"note {n}" for n in range(10)] and older["more"] is False
    assert [i["author"] for i in older["items"]][:3] == ["bot", "patient", "bot"]  # welcome, hello, its answer


async def test_a_new_tab_of_a_verified_chat_sees_no_history_until_it_verifies(chat):
    first = await chat(tab="tab-a")
    await first.say("MC-4827 12/04/1988")
    await first.replies(1)
    assert (await first.history())["hidden"] is False
    other = await chat(first.session_id, tab="tab-b")
    page = await other.history()
    assert page == {"items": [], "more": False, "hidden": True, "before": None, "owner": "bot"}
    plain = await chat(first.session_id)  # a Rasa-protocol client gets no history at all
    await plain.sio.emit("history_request", {})
    with pytest.raises(asyncio.TimeoutError):
        while True:
            name, _ = await asyncio.wait_for(plain.events.get(), 0.5)
            assert name != "history"


async def test_end_chat_tells_every_tab_and_the_id_is_not_accepted_again(chat, engine):
    tab = await chat(tab="tab-a")
    second = await chat(tab.session_id, tab="tab-b")
    await tab.say("hello")
    await tab.replies(1)
    await tab.sio.emit("end_chat", {})
    for client in (tab, second):
        while (await client.next_event())[0] != "chat_ended":
            pass
    assert engine.sessions_ended == [f"web:{tab.session_id}"]
    await second.say("still there?")
    (told,) = await second.replies(1)
    assert told["author"] == "system" and "This chat has ended" in told["text"]
    again = await chat(tab.session_id, tab="tab-a")
    assert again.session_id != tab.session_id  # a new chat, a new id


async def test_an_empty_chat_opens_with_the_disclaimer_and_starter_questions(chat, engine):
    tab = await chat(tab="tab-1")
    page = await tab.history()
    [welcome] = page["items"]
    assert welcome["author"] == "bot" and "automated assistant" in welcome["text"]
    assert [r["title"] for r in welcome["quick_replies"]] == [
        "What is hair mesotherapy?", "Does it hurt?", "How many sessions will I need?",
        "When can I wash my hair after a session?"]
    await tab.say("Does it hurt?")  # a starter pressed: its payload is the question itself
    (answer,) = await tab.replies(1)  # no second disclaimer: the first screen showed it
    assert answer["text"] == "bot heard: Does it hurt?"
    assert [i["author"] for i in (await tab.history())["items"]] == ["bot", "patient", "bot"]  # kept
