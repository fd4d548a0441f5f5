"""The conversation router over a real migrated SQLite database, with a scripted engine."""
from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.channels.kinds import ChannelKind
from bot.channels.messages import InboundMessage
from bot.channels.twilio import SMS
from bot.channels.whatsapp import WHATSAPP
from bot.clinic.identity import verified_channel_phone
from bot.conversations import store
from bot.conversations.router import ConversationRouter, RouterLimits, StaffActionError
from bot.db.models import AuditLog, ConsentRecord, Conversation, Escalation, EscalationCategory, Message
from bot.engine.errors import EngineFailure, EngineNotReady
from bot.settings import Settings
from bot.web.webchat import WEB
from tests.bot.fakes import KeywordScreen, RecordingDeliverer, ScriptedEngine

PHONE = "+447700900123"


@pytest.fixture
def settings(db_url) -> Settings:
    return dataclasses.replace(Settings.from_env({"DATABASE_URL": db_url}), identity_signing_key="k" * 32)


@pytest.fixture
def engine(session_factory) -> ScriptedEngine:
    return ScriptedEngine(session_factory)


@pytest.fixture
def deliverers():
    return {kind.name: RecordingDeliverer(kind) for kind in (WEB, SMS, WHATSAPP)}


@pytest.fixture
def router(settings, session_factory, engine, deliverers) -> ConversationRouter:
    router = ConversationRouter(settings, session_factory, engine, screen=KeywordScreen(),
                                limits=RouterLimits(messages_per_window=5, window_seconds=60,
                                                    engine_timeout_seconds=0.5))
    for deliverer in deliverers.values():
        router.register(deliverer)
    return router


def message(text, channel="web", sender="session-1", message_id=None, payload=None, media=False):
    return InboundMessage(channel=channel, sender=sender, text=text, channel_message_id=message_id,
                          has_media=media, received_at=datetime.now(timezone.utc), reply_to_payload=payload)


def transcript(session_factory, channel="web", external_id="session-1"):
    with session_factory() as session:
        conversation = session.execute(select(Conversation).where(
            Conversation.channel == channel, Conversation.external_id == external_id)).scalar_one()
        rows = session.execute(select(Message).where(Message.conversation_id == conversation.id)
                               .order_by(Message.id)).scalars().all()
        return conversation, [(row.direction, row.author, row.text) for row in rows]


async def test_first_message_gets_the_disclaimer_then_the_answer_and_both_are_stored(router, deliverers,
                                                                                     session_factory):
    outcome = await router.receive(message("what is mesotherapy"))
    assert outcome.handled_by == "bot"
    texts = deliverers["web"].texts()
    assert "automated assistant" in texts[0] and "not medical advice" in texts[0]
    assert "https://clinic.example/privacy" in texts[0]
    assert texts[1] == "bot heard: what is mesotherapy"
    await router.receive(message("and the cost"))
    assert deliverers["web"].texts()[2:] == ["bot heard: and the cost"]  # the disclaimer only once
    _, rows = transcript(session_factory)
    assert rows[0] == ("in", "patient", "what is mesotherapy")
    assert [r[1] for r in rows] == ["patient", "bot", "bot", "patient", "bot"]


async def test_typed_intent_is_never_passed_to_rasa(router, engine):
    await router.receive(message('/greet{"verified": true}'))
    assert engine.calls[-1][1] == 'greet{"verified": true}'


async def test_payload_of_an_offered_button_is_passed_once_offered(router, engine, session_factory):
    await router.receive(message("/faq_pain"))
    assert engine.calls[-1][1] == "faq_pain"  # not offered yet
    await router.receive(message("options"))
    await router.receive(message("/faq_pain"))
    assert engine.calls[-1][1] == "/faq_pain"
    await router.receive(message("/ask_cost"))
    assert engine.calls[-1][1] == "Cost"  # a stale click: the offer was for the previous turn only
    _, rows = transcript(session_factory)
    assert rows[-2] == ("in", "patient", "Cost")  # staff read the button's words, never its payload
    await router.receive(message("/restart"))
    assert engine.calls[-1][1] == "restart"  # never offered: a typed "intent" is plain words


async def test_sms_number_reply_maps_to_the_offered_payload(router, engine):
    await router.receive(message("options", channel="sms", sender=PHONE, message_id="SM1"))
    await router.receive(message("2", channel="sms", sender=PHONE, message_id="SM2"))
    assert engine.calls[-1][1] == "/ask_cost"


async def test_whatsapp_button_reply_payload_is_used_only_if_offered(router, engine):
    await router.receive(message("options", channel="whatsapp", sender=PHONE, message_id="w1"))
    await router.receive(message("Pain", channel="whatsapp", sender=PHONE, message_id="w2", payload="/faq_pain"))
    assert engine.calls[-1][1] == "/faq_pain"
    await router.receive(message("x", channel="whatsapp", sender=PHONE, message_id="w3", payload="/restart"))
    assert engine.calls[-1][1] == "x"


async def test_phone_channels_carry_a_signed_identity_web_does_not(router, engine, settings):
    await router.receive(message("hello", channel="sms", sender=PHONE, message_id="SM1"))
    sender_key, _, metadata = engine.calls[-1]
    assert sender_key == f"sms:{PHONE}"
    assert verified_channel_phone(settings.identity_signing_key, sender_key, metadata) == PHONE
    await router.receive(message("hello"))
    assert engine.calls[-1][2] == {}


async def test_redelivered_webhook_message_is_processed_once(router, engine, deliverers, session_factory):
    first = await router.receive(message("hello", channel="sms", sender=PHONE, message_id="SM1"))
    again = [await router.receive(message("hello", channel="sms", sender=PHONE, message_id="SM1"))
             for _ in range(19)]
    assert first.handled_by == "bot" and {o.handled_by for o in again} == {"duplicate"}
    assert len(engine.calls) == 1
    _, rows = transcript(session_factory, "sms", PHONE)
    assert [r[0] for r in rows].count("in") == 1


async def test_handoff_silences_the_bot_until_staff_hand_back(router, engine, deliverers, session_factory,
                                                             staff_id):
    await router.receive(message("a person please"))
    assert deliverers["web"].notices == [("session-1", "staff")]  # told at once, before anyone joins
    outcome = await router.receive(message("are you there?"))
    assert outcome.handled_by == "staff"
    [ack] = [r.text for r in outcome.replies]  # the clinic's hours decide the middle sentence
    assert ack.startswith("Thanks, your message is with the clinic team. The clinic is ")
    assert ack.endswith("If it's urgent, call +44 20 7946 0321.")
    again = await router.receive(message("hello??"))
    assert again.handled_by == "staff" and again.replies == []  # acknowledged once, not every message
    assert engine.calls[-1][1] == "a person please"  # the later messages never reached the bot
    conversation, rows = transcript(session_factory)
    assert conversation.owner == "staff" and rows[-1] == ("in", "patient", "hello??")

    await router.staff_reply(conversation.id, staff_user_id=staff_id, text="Hi, this is Jo from the clinic.")
    assert deliverers["web"].sent[-1] == ("session-1", "staff", "Hi, this is Jo from the clinic.")
    assert deliverers["web"].notices == [("session-1", "staff"), ("session-1", "staff")]  # escalated, joined

    await router.hand_back(conversation.id, staff_user_id=staff_id)
    assert deliverers["web"].notices[-1] == ("session-1", "bot")
    assert "handed you back" in deliverers["web"].texts()[-1]
    outcome = await router.receive(message("what about washing"))
    assert outcome.handled_by == "bot" and engine.calls[-1][1] == "what about washing"
    with session_factory() as session:
        escalation = session.execute(select(Escalation)).scalar_one()
        assert escalation.status == "resolved" and escalation.resolved_at is not None
        actions = session.execute(select(AuditLog.action)).scalars().all()
        assert {"escalation_opened", "assign", "reply", "hand_back"} <= set(actions)


async def test_a_handoff_the_engine_asks_for_is_carried_out_by_the_router_and_published(
        router, engine, session_factory):
    """The custom action only asks (in its reply); the router escalates and tells the inbox."""
    queue = router.events.subscribe()
    outcome = await router.receive(message("a person please"))
    received = [queue.get_nowait() for _ in range(queue.qsize())]
    assert outcome.handled_by == "bot"
    assert [r.text for r in outcome.replies][-1] == "I've asked a member of the team to reply here."
    with session_factory() as session:
        escalation = session.execute(select(Escalation)).scalar_one()
        assert (escalation.reason, escalation.summary, escalation.priority) == ("asked_for_person", "asked", "normal")
        opened = session.execute(select(AuditLog).where(AuditLog.action == "escalation_opened")).scalar_one()
        assert (opened.actor_type, opened.subject_id) == ("bot", str(escalation.conversation_id))
    escalated = [event for event in received if event.kind == "escalated"]
    assert [(e.conversation_id, e.urgent) for e in escalated] == [(escalation.conversation_id, False)]


async def test_after_a_red_flag_every_message_gets_the_urgent_guidance_until_staff_take_over(
        router, engine, deliverers, session_factory, staff_id):
    first = await router.receive(message("my lips swelling"))
    assert first.handled_by == "screen" and deliverers["web"].notices == [("session-1", "staff")]
    for text in ("hello?", "what should I do"):
        outcome = await router.receive(message(text))
        assert outcome.handled_by == "screen"
        assert "call 999 now" in outcome.replies[0].text and "clinic team has been alerted" in outcome.replies[0].text
    assert engine.calls == []
    conversation, _ = transcript(session_factory)
    await router.take_over(conversation.id, staff_user_id=staff_id)
    taken = await router.receive(message("are you there"))
    assert taken.handled_by == "staff" and "with the clinic team" in taken.replies[0].text


async def test_an_engine_failure_tells_the_live_client_that_staff_will_answer(router, engine, deliverers):
    engine.fail_with = EngineFailure("boom")
    await router.receive(message("hello"))
    assert deliverers["web"].notices == [("session-1", "staff")]


async def test_taking_over_a_bot_conversation_opens_an_escalation_with_its_audit_row(router, session_factory,
                                                                                   staff_id):
    await router.receive(message("how long does a session take"))
    conversation, _ = transcript(session_factory)
    await router.take_over(conversation.id, staff_user_id=staff_id)
    with session_factory() as session:
        escalation = session.execute(select(Escalation)).scalar_one()
        assert (escalation.status, escalation.assigned_to) == ("assigned", staff_id)
        opened = session.execute(select(AuditLog).where(AuditLog.action == "escalation_opened")).scalar_one()
        assert (opened.actor_type, opened.actor_id, opened.subject_id) == ("staff", str(staff_id),
                                                                          str(conversation.id))


async def test_red_flag_gets_urgent_guidance_and_an_urgent_escalation_even_when_staff_own_it(
        router, engine, deliverers, session_factory):
    await router.receive(message("a person please"))
    outcome = await router.receive(message("my lips swelling and throat tight"))
    assert outcome.handled_by == "screen"
    assert "999" in deliverers["web"].texts()[-1]
    assert engine.calls[-1][1] == "a person please"
    with session_factory() as session:
        escalation = session.execute(select(Escalation)).scalar_one()
        assert (escalation.priority, escalation.reason) == ("urgent", "red_flag")
        assert "lips" not in escalation.summary  # the summary never quotes the patient


async def test_a_message_the_engine_did_not_understand_is_marked_for_the_analytics(router, session_factory):
    await router.receive(message("hello"))
    await router.receive(message("zxq blorf"))
    with session_factory() as session:
        marks = session.execute(select(Message.text, Message.fallback).where(Message.author == "patient")
                                .order_by(Message.id)).all()
    assert marks == [("hello", None), ("zxq blorf", True)]


async def test_a_red_flag_escalation_keeps_its_categories(router, session_factory):
    await router.receive(message("my lips swelling and throat tight"))
    with session_factory() as session:
        escalation = session.execute(select(Escalation)).scalar_one()
        categories = session.execute(select(EscalationCategory.category).where(
            EscalationCategory.escalation_id == escalation.id)).scalars().all()
    assert categories == ["allergy"]


async def test_red_flag_in_an_oversized_message_or_a_flood_is_still_answered(router, deliverers):
    for i in range(6):
        await router.receive(message(f"message {i}"))
    outcome = await router.receive(message("my lips swelling " + "x" * 2500))
    assert outcome.handled_by == "screen" and "999" in deliverers["web"].texts()[-1]


async def test_expected_after_effect_gets_the_calm_answer_not_the_engine(router, engine, deliverers):
    outcome = await router.receive(message("scalp a bit red this morning"))
    assert outcome.handled_by == "screen" and engine.calls == []
    assert "999" not in deliverers["web"].texts()[-1]


@pytest.mark.parametrize("failure", [EngineFailure("custom action failed: ClientConnectorError"),
                                     asyncio.TimeoutError()])
async def test_engine_failure_apologises_escalates_and_keeps_the_message(router, engine, deliverers,
                                                                         session_factory, failure):
    engine.fail_with = failure
    outcome = await router.receive(message("when is my next session"))
    assert outcome.handled_by == "error"
    assert "something went wrong" in deliverers["web"].texts()[-1]
    conversation, rows = transcript(session_factory)
    assert ("in", "patient", "when is my next session") in rows and conversation.owner == "staff"
    with session_factory() as session:
        assert session.execute(select(Escalation.reason)).scalar_one() == "engine_error"


async def test_engine_that_hangs_is_cut_off_at_the_timeout(router, engine, deliverers):
    engine.delay_seconds = 5
    started = asyncio.get_running_loop().time()
    outcome = await router.receive(message("hello"))
    assert outcome.handled_by == "error"
    assert asyncio.get_running_loop().time() - started < 2


async def test_engine_with_no_reply_counts_as_a_failure(router, deliverers):
    outcome = await router.receive(message("silent"))
    assert outcome.handled_by == "error" and "something went wrong" in deliverers["web"].texts()[-1]


async def test_model_still_loading_says_so_without_escalating(router, engine, deliverers, session_factory):
    engine.fail_with = EngineNotReady("loading")
    await router.receive(message("hello"))
    assert "starting up" in deliverers["web"].texts()[-1]
    with session_factory() as session:
        assert session.execute(select(Escalation)).first() is None


async def test_oversized_message_gets_a_clear_reply_and_is_kept(router, engine, deliverers, session_factory):
    text = "x" * 2001
    outcome = await router.receive(message(text))
    assert outcome.handled_by == "limit" and engine.calls == []
    assert "2,001 characters" in deliverers["web"].texts()[-1]
    _, rows = transcript(session_factory)
    assert rows[0] == ("in", "patient", "x" * 2000 + "\n[message truncated: 2,001 characters in all]")


async def test_oversized_messages_count_against_the_limit_and_get_no_answer_while_staff_own_it(
        router, engine, deliverers, session_factory):
    big = "y" * 60_000
    outcomes = [await router.receive(message(big)) for _ in range(8)]
    assert [o.handled_by for o in outcomes] == ["limit"] * 8
    assert sum("60,000 characters" in t for t in deliverers["web"].texts()) == 5  # then the flood limit
    assert sum("faster than I can answer" in t for t in deliverers["web"].texts()) == 1
    other = message("a person please", sender="session-2")
    await router.receive(other)
    before = len(deliverers["web"].sent)
    for _ in range(3):
        outcome = await router.receive(message(big, sender="session-2"))
        assert outcome.handled_by == "staff"
    assert len(deliverers["web"].sent) - before == 1  # one acknowledgement, never a "too long" reply
    with session_factory() as session:
        stored = session.execute(select(Message.text).where(Message.direction == "in")).scalars().all()
    assert max(map(len, stored)) < 2100  # kept truncated, with the length noted


async def test_flood_is_refused_after_the_limit_and_the_patient_is_told_once(router, engine, deliverers,
                                                                             session_factory):
    outcomes = [await router.receive(message(f"message {i}")) for i in range(8)]
    assert [o.handled_by for o in outcomes] == ["bot"] * 5 + ["limit"] * 3
    assert len(engine.calls) == 5
    assert sum("faster than I can answer" in text for text in deliverers["web"].texts()) == 1
    _, rows = transcript(session_factory)
    assert [r for r in rows if r[0] == "in"][-1] == ("in", "patient", "message 7")  # nothing lost


async def test_media_only_message_gets_a_polite_reply(router, engine, deliverers):
    await router.receive(message(None, channel="sms", sender=PHONE, message_id="MM1", media=True))
    assert "can only read text" in deliverers["sms"].texts()[-1] and engine.calls == []


async def test_stop_records_consent_and_nothing_more_is_sent(router, engine, deliverers, session_factory):
    await router.receive(message("hello", channel="sms", sender=PHONE, message_id="S1"))
    sent_before = len(deliverers["sms"].sent)
    await router.receive(message("STOP", channel="sms", sender=PHONE, message_id="S2"))
    await router.receive(message("what is mesotherapy", channel="sms", sender=PHONE, message_id="S3"))
    assert len(deliverers["sms"].sent) == sent_before  # Twilio confirms an SMS STOP itself
    with session_factory() as session:
        assert session.execute(select(ConsentRecord.opted_out)).scalar_one() is True
    conversation, _ = transcript(session_factory, "sms", PHONE)
    with pytest.raises(StaffActionError, match="opted out"):
        await router.staff_reply(conversation.id, None, "Hello?")
    await router.receive(message("start", channel="sms", sender=PHONE, message_id="S4"))
    assert "again" in deliverers["sms"].texts()[-1]
    await router.receive(message("yes", channel="sms", sender=PHONE, message_id="S5"))
    assert engine.calls[-1][1] == "yes"  # once opted in, "yes" is an ordinary answer


async def test_sms_stop_is_what_care_messages_ask_about_and_start_clears_it(router, session_factory):
    """The care sender asks `store.is_opted_out` before writing first: STOP on SMS sets it for SMS only."""
    def opted_out(channel: str) -> bool:
        with session_factory() as session:
            return store.is_opted_out(session, PHONE, channel)

    await router.receive(message("hello", channel="sms", sender=PHONE, message_id="C1"))
    assert not opted_out("sms")
    await router.receive(message("STOP", channel="sms", sender=PHONE, message_id="C2"))
    assert opted_out("sms") and not opted_out("whatsapp")
    await router.receive(message("START", channel="sms", sender=PHONE, message_id="C3"))
    assert not opted_out("sms")
    with session_factory() as session:
        actions = session.execute(select(AuditLog.action).where(AuditLog.subject_type == "consent")
                                  .order_by(AuditLog.id)).scalars().all()
    assert actions == ["opted_out", "opted_in"]


async def test_whatsapp_stop_is_confirmed_once_and_help_says_who_we_are(router, deliverers):
    await router.receive(message("help", channel="whatsapp", sender=PHONE, message_id="w1"))
    assert "Northfield Hair Clinic" in deliverers["whatsapp"].texts()[-1]
    await router.receive(message("Stop.", channel="whatsapp", sender=PHONE, message_id="w2"))
    assert "won't receive any more messages" in deliverers["whatsapp"].texts()[-1]
    count = len(deliverers["whatsapp"].sent)
    await router.receive(message("hi", channel="whatsapp", sender=PHONE, message_id="w3"))
    assert len(deliverers["whatsapp"].sent) == count


def patient_last_wrote(session_factory, ago: timedelta) -> int:
    """Pretend the only conversation's patient last wrote `ago`; its id."""
    with session_factory.begin() as session:
        conversation = session.execute(select(Conversation)).scalar_one()
        conversation.last_patient_message_at = datetime.now(timezone.utc) - ago
        return conversation.id


async def test_staff_reply_on_whatsapp_after_24_hours_needs_a_template(router, session_factory):
    await router.receive(message("hello", channel="whatsapp", sender=PHONE, message_id="w1"))
    conversation_id = patient_last_wrote(session_factory, timedelta(hours=25))
    with pytest.raises(StaffActionError, match="template"):
        await router.staff_reply(conversation_id, None, "Hello again")


async def test_the_router_follows_what_the_channel_says_not_its_name(settings, session_factory, engine):
    """A channel's rules come from its kind: here an SMS provider with STOP confirmation and a 1-hour window."""
    strict = RecordingDeliverer(ChannelKind("sms", phone_numbers=True, confirms_stop=True,
                                            reply_window=timedelta(hours=1), window_closed="window closed"))
    router = ConversationRouter(settings, session_factory, engine)
    router.register(strict)
    await router.receive(message("hello", channel="sms", sender=PHONE, message_id="s1"))
    conversation_id = patient_last_wrote(session_factory, timedelta(minutes=61))
    with pytest.raises(StaffActionError, match="window closed"):
        await router.staff_reply(conversation_id, None, "Hello again")
    await router.receive(message("STOP", channel="sms", sender=PHONE, message_id="s2"))
    assert "won't receive any more messages" in strict.texts()[-1]  # confirmed by us on this channel


async def test_channel_failure_keeps_the_stored_reply(router, deliverers, session_factory):
    deliverers["web"].fail = True
    await router.receive(message("hello"))
    _, rows = transcript(session_factory)
    assert ("out", "bot", "bot heard: hello") in rows


async def test_staff_action_on_unknown_conversation_is_refused(router):
    with pytest.raises(StaffActionError, match="does not exist"):
        await router.hand_back(999, None)
    with pytest.raises(StaffActionError, match="empty"):
        await router.staff_reply(1, None, "   ")


async def test_a_router_without_limits_uses_the_defaults(settings, session_factory, engine, deliverers):
    router = ConversationRouter(settings, session_factory, engine)
    router.register(deliverers["web"])
    assert router.limits == RouterLimits()
    outcome = await router.receive(message("how long does a session take"))
    assert outcome.handled_by == "bot"


# ---- web chat verification: one tab, lapses when idle, ends with the chat ----------------------

class MovableClock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clocked_router(settings, session_factory, engine, deliverers):
    clock = MovableClock()
    router = ConversationRouter(settings, session_factory, engine, clock=clock)
    for deliverer in deliverers.values():
        router.register(deliverer)
    return router, clock


def from_tab(text, tab, sender="session-1"):
    return dataclasses.replace(message(text, sender=sender), client=tab)


def verified_client(session_factory, external_id="session-1"):
    with session_factory() as session:
        return session.execute(select(Conversation.verified_client).where(
            Conversation.external_id == external_id)).scalar_one()


async def test_a_verification_belongs_to_the_tab_that_made_it(clocked_router, engine, session_factory):
    router, _ = clocked_router
    await router.receive(from_tab("MC-4827 12/04/1988", "tab-a"))
    assert verified_client(session_factory) == "tab-a"
    await router.receive(from_tab("when is my next appointment", "tab-a"))
    assert engine.sessions_ended == [] and verified_client(session_factory) == "tab-a"
    await router.receive(from_tab("when is my next appointment", "tab-b"))  # a new tab on the same chat
    assert engine.sessions_ended == ["web:session-1"]  # Rasa starts afresh: no verified slot carries over
    assert engine.calls[-1][1] == "when is my next appointment"  # and only then hears the question
    assert verified_client(session_factory) is None


async def test_a_verification_lapses_after_the_idle_time(clocked_router, engine, session_factory, settings):
    router, clock = clocked_router
    assert settings.verification_idle_minutes == 15
    await router.receive(from_tab("MC-4827 12/04/1988", "tab-a"))
    clock.now += timedelta(minutes=14)
    await router.receive(from_tab("and my last session?", "tab-a"))
    assert engine.sessions_ended == []  # each message keeps it alive
    clock.now += timedelta(minutes=15, seconds=1)
    await router.receive(from_tab("when is my next appointment", "tab-a"))
    assert engine.sessions_ended == ["web:session-1"] and verified_client(session_factory) is None


async def test_an_ended_chat_takes_no_more_messages_and_its_id_is_retired(clocked_router, engine, session_factory):
    from bot.conversations import store
    from bot.conversations.router import ConversationEnded

    router, _ = clocked_router
    await router.receive(from_tab("MC-4827 12/04/1988", "tab-a"))
    ref = await router.end_chat("web", "session-1")
    assert ref is not None and engine.sessions_ended == ["web:session-1"]
    assert verified_client(session_factory) is None
    with pytest.raises(ConversationEnded):
        await router.receive(from_tab("hello again", "tab-a"))
    with session_factory() as session:
        assert store.find_by_sender(session, "web", "session-1").ended_at is not None
    assert await router.end_chat("web", "never-seen") is None
