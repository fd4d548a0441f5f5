"""The database goes away (every replica connection cut and refused), then comes back."""
from __future__ import annotations

import asyncio
import uuid

from tests.scale.clients import (
    QUESTIONS,
    conversation_id,
    eventually,
    exchange,
    faq_answer,
    new_phone,
    post_sms,
    receipts,
    sms_form,
    stored_messages,
    tracker_events,
    tracker_user_texts,
    web_conversation,
)

SETTLE_SECONDS = 2.0
UNAVAILABLE = "can't take messages right now"
NEXT_SESSION = "When is my next appointment?"
# Alex Morgan, a demo patient (seed-demo): booking reference, then date of birth.
VERIFICATION = [NEXT_SESSION, "MC-4827", "12/04/1988"]


async def test_database_down_gets_503_and_a_plain_message_then_the_redelivery_is_processed_once(
        cluster, http, tabs):
    """While the database is unreachable a Twilio webhook gets 503 with Retry-After (Twilio delivers
    again) and a web patient is told plainly that the message was not received. Once it is back,
    both conversations carry on where they were: the verified web patient's retry gets their next
    session (no new identity check), Twilio's redelivery, to either replica, is stored once and
    answered once with the real answer, and Rasa's tracker holds every turn in one session."""
    (first_topic, first), (second_topic, second) = QUESTIONS[0], QUESTIONS[2]
    phone = new_phone()
    before, during = (sms_form(text, "SM" + uuid.uuid4().hex, phone) for text in (first, second))
    assert (await post_sms(http, cluster.b.url, before))[0] == 200
    tab = await tabs.connect(cluster.a.url, label="web patient on A")
    web = web_conversation(cluster.sessions, tab.session_id)
    for said in VERIFICATION:
        replies = await exchange(tab, cluster.sessions, web, said)
    assert replies[-1].startswith("Your next session is"), f"verified before the outage: {replies}"
    await eventually(lambda: cluster.platform.sms_to(phone), what="the SMS reply before the outage")

    cluster.proxy.cut()
    status, headers = await post_sms(http, cluster.a.url, during)
    assert status == 503 and int(headers.get("Retry-After", "0")) > 0
    await tab.say(NEXT_SESSION)
    (told,) = await tab.replies(1)
    assert told["author"] == "system" and UNAVAILABLE in told["text"] and "was not received" in told["text"]

    cluster.proxy.restore()
    retried = await exchange(tab, cluster.sessions, web, NEXT_SESSION)
    redeliveries = await asyncio.gather(*(post_sms(http, r.url, during) for r in (cluster.b, cluster.a)))
    assert [status for status, _ in redeliveries] == [200, 200]
    await eventually(lambda: len(cluster.platform.sms_to(phone)) >= 2, what="the SMS reply after the outage")
    await asyncio.sleep(SETTLE_SECONDS)  # time for a duplicate SMS to show up, if there were one

    sms = cluster.platform.sms_to(phone)
    assert len(sms) == 2 and faq_answer(second_topic) in sms[1], f"one real answer, not an apology: {sms[1:]}"
    assert faq_answer(first_topic) in sms[0]
    assert receipts(cluster.sessions, "sms", during["MessageSid"]) == 1
    texting = conversation_id(cluster.sessions, "sms", phone)
    assert [m[2] for m in stored_messages(cluster.sessions, texting) if m[0] == "in"] == [first, second]
    assert [m[2] for m in stored_messages(cluster.sessions, web) if m[0] == "in"] == VERIFICATION + [
        NEXT_SESSION], "the message refused during the outage is not stored; the retry is"
    assert len(retried) == 1 and retried[0].startswith("Your next session is"), (
        f"the verified patient must stay verified after the outage: {retried}")
    for sender in (f"sms:{phone}", f"web:{tab.session_id}"):
        events = tracker_events(cluster.sessions, sender)
        assert events.count("session_started") == 1, (
            f"{sender.split(':')[0]}: Rasa must carry on the same session (slots, forms, verification), "
            f"not start an empty one: {events}")
    assert tracker_user_texts(cluster.sessions, f"sms:{phone}") == [first, second]
    assert tracker_user_texts(cluster.sessions, f"web:{tab.session_id}") == VERIFICATION + [NEXT_SESSION]
