"""The benchmark's raw Socket.IO client against our application and against python-socketio."""
from __future__ import annotations

import asyncio

import pytest
import socketio
from aiohttp import web

from bench.sio_client import SocketIOClient, SocketIOError, event_packet, parse_event, socket_url

WAIT = 5


def test_event_packets_round_trip_and_other_packets_are_ignored():
    packet = event_packet("user_uttered", {"message": "hi", "session_id": None})
    assert packet == '42["user_uttered",{"message":"hi","session_id":null}]'
    assert parse_event(packet) == ("user_uttered", {"message": "hi", "session_id": None})
    assert parse_event('4212["ack_me",1]') == ("ack_me", 1)
    assert parse_event('42["no_data"]') == ("no_data", None)
    assert parse_event('42/chat,["elsewhere",1]') is None
    assert parse_event("2") is None and parse_event('40{"sid":"x"}') is None


def test_socket_url_uses_engine_io_4_over_websocket():
    assert socket_url("http://127.0.0.1:8000/") == "ws://127.0.0.1:8000/socket.io/?EIO=4&transport=websocket"
    secure = socket_url("https://bot.example", "/chat/io")
    assert secure == "wss://bot.example/chat/io/?EIO=4&transport=websocket"


async def next_named(client: SocketIOClient, name: str):
    while True:
        event = await client.next_event(WAIT)
        if event.name == name:
            return event


async def test_our_web_chat_confirms_a_session_and_answers_in_rasa_format(http, app_url):
    client = await SocketIOClient.connect(http, app_url)
    try:
        assert client.sid
        await client.emit("session_request", {"session_id": None})
        confirm = await next_named(client, "session_confirm")
        assert isinstance(confirm.data, str) and len(confirm.data) >= 32
        await client.emit("user_uttered", {"message": "what is mesotherapy", "session_id": confirm.data})
        disclaimer = await next_named(client, "bot_uttered")
        answer = await next_named(client, "bot_uttered")
        assert "automated assistant" in disclaimer.data["text"]
        assert answer.data == {"text": "bot heard: what is mesotherapy"}  # exactly Rasa's keys
        assert confirm.arrived <= disclaimer.arrived <= answer.arrived
    finally:
        await client.close()
    assert client.closed.is_set() and client.websocket.closed


@pytest.fixture
async def socketio_server(aiohttp_server):
    """A python-socketio AsyncServer that pings every 0.1 s and echoes `ping_me`; (sio, url, policy)."""
    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=0.1, ping_timeout=0.3)
    policy = {"accept": True}
    app = web.Application()
    sio.attach(app)

    @sio.on("connect")
    async def connect(sid, environ, auth=None):
        return policy["accept"]

    @sio.on("ping_me")
    async def ping_me(sid, data):
        await sio.emit("pong_you", {"got": data}, to=sid)

    server = await aiohttp_server(app)
    yield sio, str(server.make_url("")).rstrip("/"), policy
    await sio.shutdown()


async def test_pings_are_answered_so_the_connection_outlives_the_ping_timeout(http, socketio_server):
    _, url, _ = socketio_server
    client = await SocketIOClient.connect(http, url)
    try:
        await asyncio.sleep(1.0)  # ten ping intervals; without pongs the server drops us after 0.4 s
        assert not client.closed.is_set()
        await client.emit("ping_me", [1, "two"])
        event = await client.next_event(WAIT)
        assert (event.name, event.data) == ("pong_you", {"got": [1, "two"]})
    finally:
        await client.close()


async def test_a_refused_connection_raises(http, socketio_server):
    _, url, policy = socketio_server
    policy["accept"] = False
    with pytest.raises(SocketIOError, match="refused"):
        await SocketIOClient.connect(http, url)
