"""The benchmark's workload against our application with a scripted engine (no model)."""
from __future__ import annotations

import asyncio

import pytest
import socketio
from aiohttp import web

from bench.workload import (
    Conversation,
    calibrate,
    is_plain_single_reply,
    phone_number,
    round_robin,
    run_phase,
    spread,
    webhooks_under_load,
)

QUIET = 0.2
QUESTIONS = ["what is mesotherapy", "does it hurt", "how much is it", "how long does a session take"]


async def test_warm_up_drains_the_disclaimer_and_the_greeting(http, app_url):
    conversation = await Conversation.open(http, app_url, quiet=QUIET)
    try:
        assert conversation.warm_up_replies == 2  # first contact: disclaimer, then "bot heard: hello"
        seconds = await conversation.ask("does it hurt")
        assert 0 < seconds < 5 and conversation.stray_replies == 0
    finally:
        await conversation.close()


async def test_closed_loop_phase_counts_every_turn_once(http, app_url):
    result = await run_phase(http, app_url, QUESTIONS, count=3, turns=4, quiet=QUIET)
    figures = result.figures()
    assert figures["turns"] == 12 and figures["timeouts"] == 0 and figures["errors"] == 0
    assert figures["stray_replies"] == 0 and figures["msgs_per_sec"] > 0
    assert figures["first_reply_ms"]["n"] == 12 and figures["first_reply_ms"]["p50"] > 0
    assert sorted(result.by_turn) == [1, 2, 3, 4] and all(len(v) == 3 for v in result.by_turn.values())


async def test_a_second_reply_to_a_turn_is_counted_as_a_stray(http, app_url):
    conversation = await Conversation.open(http, app_url, warm_up=False)
    try:
        await conversation.ask("what is mesotherapy")  # first contact: the disclaimer completes the turn
        await asyncio.sleep(QUIET)
        conversation.drain_strays()
        assert conversation.stray_replies == 1  # the answer itself came after the turn was counted
    finally:
        await conversation.close()


async def test_calibration_keeps_questions_with_one_plain_reply(http, app_url):
    answers = await calibrate(http, app_url, ["what is mesotherapy", "options", "does it hurt"], workers=2,
                              quiet=QUIET)
    assert list(answers) == ["what is mesotherapy", "options", "does it hurt"]
    assert answers["does it hurt"] == [{"text": "bot heard: does it hurt"}]
    assert is_plain_single_reply(answers["what is mesotherapy"])
    assert not is_plain_single_reply(answers["options"])  # buttons: a fallback-like offer
    assert not is_plain_single_reply([]) and not is_plain_single_reply(answers["does it hurt"] * 2)


async def test_signed_webhooks_are_acknowledged_and_answered_through_the_stub(http, app_url, stub):
    figures = await webhooks_under_load(http, app_url, QUESTIONS, stub, rate=20, seconds=0.5, conversations=2,
                                        quiet=QUIET)
    assert figures["twilio"]["statuses"] == {"200": 5} and figures["meta"]["statuses"] == {"200": 5}
    assert figures["all_ack_ms"]["n"] == 10 and figures["all_ack_ms"]["p99"] > 0
    assert figures["twilio_replies"] >= 5 and figures["graph_replies"] >= 5
    assert figures["web_during"]["turns"] > 0 and figures["web_during"]["errors"] == 0


def test_spread_and_phone_numbers():
    assert spread(list("abcdefgh"), 4) == ["a", "c", "e", "g"]
    assert spread(list("ab"), 5) == ["a", "b"]
    assert phone_number("twilio", 0) == "+447700900500" and phone_number("meta", 201) == "+447700900701"


async def test_calibration_stops_at_once_when_the_server_does_not_answer(http, aiohttp_server, monkeypatch):
    sio = socketio.AsyncServer(async_mode="aiohttp")
    app = web.Application()
    sio.attach(app)

    @sio.on("session_request")
    async def confirm(sid, data):
        await sio.emit("session_confirm", "a-session", to=sid)

    server = await aiohttp_server(app)
    monkeypatch.setattr("bench.workload.TURN_TIMEOUT_SECONDS", 0.3)
    try:
        with pytest.raises(RuntimeError, match="did not answer 'hello'"):
            await calibrate(http, str(server.make_url("")), ["what is mesotherapy"], workers=1, quiet=QUIET)
    finally:
        await sio.shutdown()


def test_round_robin_gives_each_conversation_one_replica_in_turn():
    two = ["http://a", "http://b"]
    assert round_robin(two, 5) == ["http://a", "http://b", "http://a", "http://b", "http://a"]
    assert round_robin("http://a", 3) == ["http://a"] * 3  # one server: a plain URL, as before
    assert round_robin(["http://a", "http://b", "http://c"], 2) == ["http://a", "http://b"]
    assert round_robin(["http://a", "http://b"], 0) == []
    with pytest.raises(ValueError):
        round_robin([], 1)


async def test_a_phase_over_two_replicas_keeps_each_conversation_on_its_replica(http, replica_urls):
    result = await run_phase(http, replica_urls, QUESTIONS, count=3, turns=2, quiet=QUIET)
    figures = result.figures()
    assert figures["turns"] == 6 and figures["timeouts"] == 0 and figures["errors"] == 0
    assert figures["stray_replies"] == 0
    assert figures["turns_per_replica"] == [4, 2]  # conversations 1 and 3 on the first, 2 on the second
    assert list(result.turns_by_url) == replica_urls


async def test_one_server_has_no_per_replica_figures(http, app_url):
    figures = (await run_phase(http, app_url, QUESTIONS, count=2, turns=1, quiet=QUIET)).figures()
    assert figures["turns"] == 2 and "turns_per_replica" not in figures


async def test_calibration_asks_every_replica(http, replica_urls, monkeypatch):
    opened = []
    original = Conversation.open.__func__

    async def spy(cls, http, base_url, *args, **kwargs):
        opened.append(base_url)
        return await original(cls, http, base_url, *args, **kwargs)

    monkeypatch.setattr(Conversation, "open", classmethod(spy))
    answers = await calibrate(http, replica_urls, QUESTIONS, workers=2, quiet=QUIET)
    assert sorted(opened) == sorted(replica_urls)
    assert answers["does it hurt"] == [{"text": "bot heard: does it hurt"}]
    assert all(is_plain_single_reply(replies) for replies in answers.values())
