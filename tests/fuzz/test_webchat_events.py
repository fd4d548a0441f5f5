"""Fuzzing the web chat's socket.io handlers (bot/web/webchat.py) with whatever a client can send.

The handlers are called directly, on a socket connected as a browser connects
(tests/support/sockets.py), with any value python-socketio could hand them after decoding an
event: dicts, lists, strings, numbers, None, bytes, nested. Every example asserts that no exception
escapes, that the database being up is never reported as a technical problem, that malformed data
stores nothing, and that a well-formed message is stored once.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.app import WEBCHAT
from bot.appkeys import ROUTER, SESSION_FACTORY, SETTINGS
from bot.db.models import Conversation, Message
from bot.web.webchat import MAX_TAB_ID_CHARS, WIDGET_CLIENT, unavailable_text
from tests.support import fuzzing
from tests.support.fuzzing import Stored
from tests.support.sockets import ConnectedSocket

EVENTS = ("session_request", "user_uttered", "history_request", "end_chat")
KEYS = ("session_id", "client", "tab", "message", "before", "metadata", "customData")
# Stand-ins the test replaces with real values: the session id the server issued to this socket
# and the id of a message stored in its chat.
ISSUED, STORED_ID = "<issued session id>", "<stored message id>"

ANY_VALUE = fuzzing.python_values(KEYS, max_leaves=12)
MESSAGE = st.one_of(fuzzing.hostile_text(60), st.integers(2001, 70_000).map("x".__mul__), ANY_VALUE,
                    st.sampled_from(["options", "handoff", "/faq_pain", "lips swelling", "MC-1001 12/04/1988"]))
PLAUSIBLE = st.fixed_dictionaries({}, optional={
    "session_id": st.one_of(st.sampled_from([ISSUED, None, "", "someone-elses-session"]), fuzzing.hostile_text(20),
                            st.just("s" * 129), ANY_VALUE),
    "client": st.one_of(st.sampled_from([WIDGET_CLIENT, "rasa-webchat", WIDGET_CLIENT.upper()]), ANY_VALUE),
    "tab": st.one_of(fuzzing.hostile_text(20), st.just("t" * MAX_TAB_ID_CHARS), st.just("t" * 65), ANY_VALUE),
    "message": MESSAGE,
    "before": st.one_of(st.sampled_from([STORED_ID, 0, -1, 2**31, 2**64, True, 1.5, "12"]), ANY_VALUE),
})
DATA = st.one_of(st.fixed_dictionaries({"message": MESSAGE, "session_id": st.just(ISSUED)}), PLAUSIBLE, ANY_VALUE)
# python-socketio hands a handler every argument the client emitted: mostly one, maybe none or more.
ARGUMENTS = st.one_of(DATA.map(lambda data: [data]), st.lists(DATA, max_size=3))
CALLS = st.lists(st.tuples(st.sampled_from(EVENTS), ARGUMENTS), min_size=1, max_size=6)
# Most sequences start as a browser does (a session first, as the widget or as rasa-webchat).
OPENINGS = st.sampled_from([[], [("session_request", [{}])],
                            [("session_request", [{"client": WIDGET_CLIENT, "tab": "tab-1"}])]])
SEQUENCES = st.tuples(OPENINGS, CALLS).map(lambda parts: parts[0] + parts[1])


def substitute(value: Any, issued: str, stored_id: int) -> Any:
    """`value` with the stand-ins replaced, at any depth."""
    if value == ISSUED:
        return issued
    if value == STORED_ID:
        return stored_id
    if isinstance(value, dict):
        return {key: substitute(item, issued, stored_id) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, issued, stored_id) for item in value]
    return value


def well_formed_message(data: Any) -> bool:
    """What `user_uttered` takes as a patient's message: a dict whose "message" is a string."""
    return isinstance(data, dict) and isinstance(data.get("message"), str)


def welcome_counts(sessions, welcome_text: str) -> List[int]:
    """How many times each conversation holds the first-screen welcome (never more than once)."""
    with sessions() as session:
        return list(session.execute(
            select(func.count()).select_from(Message).where(Message.text == welcome_text)
            .group_by(Message.conversation_id)).scalars())


def ended(sessions, session_id: Any) -> bool:
    with sessions() as session:
        return session.execute(select(Conversation.ended_at).where(
            Conversation.channel == "web", Conversation.external_id == session_id)).scalar_one_or_none() is not None


class Chat:
    """One connected socket, driven handler by handler."""

    def __init__(self, client) -> None:
        self.webchat = client.app[WEBCHAT]
        self.sessions = client.app[SESSION_FACTORY]
        self.socket: ConnectedSocket

    async def open(self) -> "Chat":
        self.socket = await ConnectedSocket.open(self.webchat.sio)
        return self

    async def call(self, event: str, *arguments: Any) -> List[Tuple[str, Any]]:
        """Run the handler of `event` as python-socketio does (exceptions propagate); the events it sent back."""
        handler = {"session_request": self.webchat.on_session_request, "user_uttered": self.webchat.on_user_uttered,
                   "history_request": self.webchat.on_history_request, "end_chat": self.webchat.on_end_chat}[event]
        await handler(self.socket.sid, *arguments)
        return self.socket.events()

    async def session(self) -> Dict[str, Any]:
        return await self.webchat.sio.get_session(self.socket.sid)


def count_tried(name: str, data: Any) -> None:
    """Count what was tried (shown with --hypothesis-show-statistics)."""
    shape = "message" if well_formed_message(data) else type(data).__name__
    event(f"{name} with {shape}")


def said(events: List[Tuple[str, Any]]) -> List[str]:
    """Every text the socket was sent (replies, system lines)."""
    return [data.get("text", "") for name, data in events
            if name in ("bot_uttered", "clinic_message") and isinstance(data, dict)]


@settings(max_examples=150)
@given(calls=SEQUENCES)
@example(calls=[("session_request", [{"session_id": "\ud800"}])])
@example(calls=[("session_request", [{"session_id": "abc\x00"}])])
@example(calls=[("session_request", [{}]), ("user_uttered", [{"message": "hi \ud83d"}])])
@example(calls=[("session_request", [{"client": WIDGET_CLIENT, "tab": "\udc00"}]),
                ("user_uttered", [{"message": "MC-1001 12/04/1988"}])])
@example(calls=[("session_request", [{}, "extra"]), ("user_uttered", [{"message": "hi"}, {}]),
                ("history_request", [{}, 1]), ("end_chat", [{}, None])])
async def test_any_event_with_any_data_raises_nothing_and_stores_only_messages(client, caplog, calls):
    chat = await Chat(client).open()
    unavailable = unavailable_text(client.app[SETTINGS].clinic.phone)
    welcome = client.app[ROUTER].replies.welcome().text
    issued, stored_id = "never-issued", 1
    caplog.clear()
    try:
        for name, raw in calls:
            arguments = substitute(raw, issued, stored_id)
            data = arguments[0] if arguments else None
            before = Stored.now(chat.sessions)
            session_before = await chat.session()
            events = await chat.call(name, *arguments)
            after = Stored.now(chat.sessions)
            assert unavailable not in said(events), "the database is up"
            if name == "session_request":
                assert [sent for sent, _ in events] == ["session_confirm"]
                issued = events[0][1]
                assert isinstance(issued, str) and (await chat.session())["session_id"] == issued
                assert after.conversations - before.conversations <= 1 and after.inbound == before.inbound
            elif name == "user_uttered" and well_formed_message(data) and session_before.get("session_id") \
                    and not ended(chat.sessions, session_before["session_id"]):
                assert after.inbound == before.inbound + 1, said(events)
            else:
                assert after.inbound == before.inbound
            with chat.sessions() as session:
                stored_id = session.execute(select(func.max(Message.id))).scalar_one() or 1
            assert all(count == 1 for count in welcome_counts(chat.sessions, welcome))
            assert fuzzing.errors_logged(caplog.records) == []
            count_tried(name, data)
        fuzzing.assert_consistent(chat.sessions)
    finally:
        await chat.socket.close()


@settings(max_examples=60)
@given(text=st.one_of(fuzzing.hostile_text(80), st.integers(2001, 60_000).map("é".__mul__)),
       widget=st.booleans())
@example(text="\ud800", widget=True)
@example(text="a\x00b", widget=False)
async def test_any_text_a_patient_types_is_stored_once_and_answered(client, caplog, text, widget):
    caplog.clear()
    chat = await Chat(client).open()
    try:
        request = {"client": WIDGET_CLIENT, "tab": "tab-1"} if widget else {}
        [(_, session_id)] = await chat.call("session_request", request)
        before = Stored.now(chat.sessions)
        events = await chat.call("user_uttered", {"message": text, "session_id": session_id})
        assert Stored.now(chat.sessions).inbound == before.inbound + 1
        assert said(events), "the patient hears something back"
        fuzzing.assert_consistent(chat.sessions)
        assert fuzzing.errors_logged(caplog.records) == []
    finally:
        await chat.socket.close()
