"""Limits per client address on the web chat, as an attacker on one network meets them.

The client address is the peer, or behind TRUSTED_PROXIES the first untrusted hop of
X-Forwarded-For (bot/web/client_address.py); these tests come "through" a proxy on 127.0.0.1.
"""
from __future__ import annotations

from typing import List, Optional
from zoneinfo import ZoneInfo

import pytest
import socketio
from sqlalchemy import func, select

import bot.safety.replies  # noqa: F401  (imported here, as the real screen is at start-up: it brings spaCy)
from bot.clinic.inbox import list_inbox
from bot.db.models import Conversation, Escalation, Message
from bot.settings import Settings, SettingsError
from bot.web.client_address import ClientAddresses, parse_networks
from bot.web.webchat import is_signed_session_id, new_session_id
from tests.bot.web.test_webchat import ChatClient, close_socket

RED_FLAG = "my lips swelling after the session"  # what tests/bot/fakes.KeywordScreen flags
KEY = b"k" * 32


def addresses(*trusted: str) -> ClientAddresses:
    return ClientAddresses(parse_networks(trusted), KEY)


# ---- who the client is ---------------------------------------------------------------------

def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say():
    assert addresses().resolve("203.0.113.9", ["198.51.100.1"]) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_first_untrusted_hop_from_the_right_is_the_client():
    resolver = addresses("10.0.0.0/8")
    # The client forged the left-most entry; the proxy appended what it saw (203.0.113.9).
    assert resolver.resolve("10.0.0.2", ["1.2.3.4, 203.0.113.9"]) == "203.0.113.9"
    assert resolver.resolve("10.0.0.2", ["1.2.3.4", "203.0.113.9, 10.0.0.7"]) == "203.0.113.9"  # two proxies
    assert resolver.resolve("10.0.0.2", ["203.0.113.9:51234"]) == "203.0.113.9"
    assert resolver.resolve("10.0.0.2", ["garbage, 10.0.0.5"]) == "10.0.0.5"  # stops at what a proxy vouched for
    assert resolver.resolve("10.0.0.2", []) == "10.0.0.2"
    assert resolver.resolve(None, ["203.0.113.9"]) == "unknown"


def test_keys_name_no_address_and_ipv6_clients_count_per_64():
    resolver = addresses()
    key = resolver.key_of("203.0.113.9")
    assert "203" not in key and len(key) == 32 and key != resolver.key_of("203.0.113.10")
    assert resolver.key_of("2001:db8:1:2::1") == resolver.key_of("2001:db8:1:2:ffff::9")
    assert resolver.key_of("2001:db8:1:2::1") != resolver.key_of("2001:db8:1:3::1")
    assert ClientAddresses((), b"other" * 8).key_of("203.0.113.9") != key


def test_a_malformed_trusted_proxy_setting_is_refused_by_name():
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES.*'10.0.0.300'"):
        Settings.from_env({"TRUSTED_PROXIES": "127.0.0.1, 10.0.0.300"})
    assert Settings.from_env({"TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"}).trusted_proxies == ("127.0.0.1",
                                                                                              "10.0.0.0/8")


def test_session_ids_are_signed_and_only_the_right_key_accepts_them():
    session_id = new_session_id(KEY)
    assert is_signed_session_id(KEY, session_id) and not is_signed_session_id(b"x" * 32, session_id)
    assert not is_signed_session_id(KEY, session_id[:-1] + ("A" if session_id[-1] != "A" else "B"))
    assert not is_signed_session_id(KEY, "no-dot-here") and not is_signed_session_id(KEY, "é.é")


# ---- limits over real sockets -------------------------------------------------------------------

@pytest.fixture
def limited_client(aiohttp_client, make_app, settings):
    async def build(**changes):
        return await aiohttp_client(make_app(settings, trusted_proxies=("127.0.0.1",), **changes))
    return build


@pytest.fixture
async def open_chat():
    clients: List[ChatClient] = []

    async def connect(client, address: str, session_id: Optional[str] = None) -> ChatClient:
        chat = ChatClient(widget=True, tab="tab-1")
        chat.sio = socketio.AsyncClient(reconnection=False)
        for name in ("session_confirm", "bot_uttered", "clinic_message", "handoff", "history", "chat_ended"):
            chat.sio.on(name, chat._recorder(name))
        await chat.sio.connect(str(client.make_url("/")), socketio_path="socket.io", transports=["polling"],
                               headers={"X-Forwarded-For": address})
        await chat.sio.emit("session_request", {"session_id": session_id, "client": "clinic-widget", "tab": "tab-1"})
        name, chat.session_id = await chat.next_event()
        assert name == "session_confirm"
        clients.append(chat)
        return chat

    yield connect
    for chat in clients:
        await close_socket(chat.sio)


def count(session_factory, model) -> int:
    with session_factory() as session:
        return session.execute(select(func.count(model.id))).scalar_one()


async def test_opening_chats_stores_nothing_until_the_patient_writes(limited_client, open_chat, session_factory):
    client = await limited_client()
    for _ in range(5):
        chat = await open_chat(client, "203.0.113.9")
        page = await chat.history()
        assert "automated assistant" in page["items"][0]["text"] and page["items"][0]["id"] is None
    assert count(session_factory, Conversation) == 0 and count(session_factory, Message) == 0
    await chat.say("hello")
    assert [r["text"] for r in await chat.replies(1)] == ["bot heard: hello"]
    with session_factory() as session:
        stored = session.execute(select(Message.author, Message.text).order_by(Message.id)).all()
    assert [author for author, _ in stored] == ["bot", "patient", "bot"]  # the welcome it saw, then the turn
    assert "automated assistant" in stored[0][1]


async def test_a_chat_id_issued_before_a_restart_is_kept_when_the_secret_is_shared(
        limited_client, open_chat, session_factory):
    secret = "x" * 43 + "="
    first = await limited_client(session_secret=secret)
    chat = await open_chat(first, "203.0.113.9")
    replica = await limited_client(session_secret=secret)  # another process with the same SESSION_SECRET
    again = await open_chat(replica, "203.0.113.9", chat.session_id)
    assert again.session_id == chat.session_id
    other = await limited_client(session_secret="y" * 43 + "=")
    assert (await open_chat(other, "203.0.113.9", chat.session_id)).session_id != chat.session_id


async def test_new_chats_beyond_the_limit_from_one_address_are_refused_and_nothing_is_stored(
        limited_client, open_chat, session_factory):
    client = await limited_client(address_new_chats_per_hour=2)
    for _ in range(2):
        chat = await open_chat(client, "203.0.113.9")
        await chat.say("hello")
        await chat.replies(1)
    third = await open_chat(client, "203.0.113.9")
    await third.say("hello")
    (refused,) = await third.replies(1)
    assert refused["author"] == "system" and "Too many chats have been started from your network" in refused["text"]
    assert count(session_factory, Conversation) == 2
    await third.say(RED_FLAG)  # a red flag is always answered with the urgent guidance
    (urgent,) = await third.replies(1)
    assert "999" in urgent["text"] and "Too many" not in urgent["text"]
    assert count(session_factory, Conversation) == 2 and count(session_factory, Escalation) == 0
    elsewhere = await open_chat(client, "198.51.100.4")  # another network is not affected
    await elsewhere.say("hello")
    assert [r["text"] for r in await elsewhere.replies(1)] == ["bot heard: hello"]


async def test_urgent_cases_beyond_the_limit_from_one_address_are_merged_into_one_marked_row(
        limited_client, open_chat, session_factory):
    client = await limited_client(address_urgent_per_hour=2)
    for _ in range(5):
        chat = await open_chat(client, "203.0.113.9")
        await chat.say(RED_FLAG)
        (reply,) = await chat.replies(1)
        assert "999" in reply["text"]  # every sender gets the urgent guidance
    with session_factory() as session:
        inbox = list_inbox(session)
        merged = session.execute(select(Escalation).where(Escalation.merged_into_id.is_not(None))).scalars().all()
        assert [row.urgent for row in inbox] == [True, True]  # two rows, not five
        assert sorted(row.merged_reports for row in inbox) == [0, 3]
        assert len(merged) == 3 and {m.status for m in merged} == {"resolved"}
        owners = session.execute(select(Conversation.owner).order_by(Conversation.id)).scalars().all()
    assert owners == ["staff", "staff", "bot", "bot", "bot"]  # merged chats stay with the bot
    with session_factory() as session:
        from bot.console.present import merged_note
        [main] = [row for row in list_inbox(session) if row.merged_reports]
        resolved = [row for row in list_inbox(session, status="resolved") if row.merged_into_conversation]
        assert len(resolved) == 3 and {row.merged_into_conversation for row in resolved} == {main.conversation_id}
    assert merged_note(main.merged_reports, None).startswith("3 more urgent reports from the same network")
    other = await open_chat(client, "198.51.100.4")
    await other.say(RED_FLAG)
    await other.replies(1)
    with session_factory() as session:
        assert len(list_inbox(session)) == 3  # another address opens its own urgent case


async def test_messages_beyond_the_per_address_rate_are_refused_unstored_with_a_reason(
        limited_client, open_chat, session_factory):
    client = await limited_client(address_messages_per_minute=3)
    chats = [await open_chat(client, "203.0.113.9") for _ in range(2)]
    for text, chat in (("one", chats[0]), ("two", chats[1]), ("three", chats[0])):
        await chat.say(text)
        await chat.replies(1)
    await chats[1].say("four")
    (refused,) = await chats[1].replies(1)
    assert "Too many messages are coming from your network" in refused["text"]
    with session_factory() as session:
        texts = session.execute(select(Message.text).where(Message.author == "patient")).scalars().all()
    assert sorted(texts) == ["one", "three", "two"]


async def test_three_fresh_sessions_reporting_a_red_flag_make_one_urgent_row_by_default(
        limited_client, open_chat, session_factory, aiohttp_client):
    """The attacker's finding: three new sessions from one network each sent a red flag and added three urgent
    rows. Now (ADDRESS_URGENT_PER_HOUR=1) the inbox has one, marked, with links to the others."""
    from bot.clinic.inbox import get_conversation
    from bot.console.present import escalation as present_escalation

    client = await limited_client()
    for _ in range(3):
        chat = await open_chat(client, "203.0.113.9")
        await chat.say(RED_FLAG)
        (reply,) = await chat.replies(1)
        assert "999" in reply["text"]
    with session_factory() as session:
        [row] = list_inbox(session)
        assert row.urgent and row.merged_reports == 2
        view = get_conversation(session, row.conversation_id)
    shown = present_escalation(view.escalation, ZoneInfo("UTC"), view.escalation.created_at, me=0)
    assert shown["merged_note"].startswith("2 more urgent reports from the same network")
    assert [url for _, url in shown["merged_urls"]] == [f"/staff/conversations/{i}" for i in (3, 2)]
