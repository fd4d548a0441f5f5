"""Platforms deliver again and again: 20 concurrent copies of one webhook, split over both replicas."""
from __future__ import annotations

import asyncio
import uuid

from tests.scale.clients import (
    conversation_id,
    eventually,
    faq_answer,
    graph_text,
    new_phone,
    post_sms,
    post_whatsapp,
    receipts,
    sms_form,
    stored_messages,
    whatsapp_body,
)

COPIES = 20
SETTLE_SECONDS = 2.0
QUESTION, TOPIC = "How long does one session take?", "session_length"


def deliveries(cluster):
    """Where the copies go: alternately replica A and replica B."""
    return [cluster.replicas[n % 2].url for n in range(COPIES)]


async def test_twilio_webhook_delivered_20_times_to_two_replicas_is_answered_once(cluster, http):
    """One MessageSid, 20 deliveries at once (10 per replica): every delivery is acknowledged,
    one message is stored and one SMS reply reaches Twilio's API."""
    phone, sid = new_phone(), "SM" + uuid.uuid4().hex
    form = sms_form(QUESTION, sid, phone)
    results = await asyncio.gather(*(post_sms(http, url, form) for url in deliveries(cluster)))
    assert [status for status, _ in results] == [200] * COPIES
    await eventually(lambda: cluster.platform.sms_to(phone), what="the SMS reply")
    await asyncio.sleep(SETTLE_SECONDS)  # time for a duplicate reply to show up, if there were one
    (sms,) = cluster.platform.sms_to(phone)
    assert "automated assistant" in sms and faq_answer(TOPIC) in sms
    assert receipts(cluster.sessions, "sms", sid) == 1
    conversation = conversation_id(cluster.sessions, "sms", phone)
    assert [m for m in stored_messages(cluster.sessions, conversation) if m[0] == "in"] == [
        ("in", "patient", QUESTION)]


async def test_whatsapp_webhook_delivered_20_times_to_two_replicas_is_answered_once(cluster, http):
    """One WhatsApp message id, 20 deliveries at once: one stored message, one set of replies sent."""
    phone, message_id = new_phone(), f"wamid.{uuid.uuid4().hex}"
    body = whatsapp_body(QUESTION, message_id, phone)
    statuses = await asyncio.gather(*(post_whatsapp(http, url, body) for url in deliveries(cluster)))
    assert list(statuses) == [200] * COPIES
    answer = faq_answer(TOPIC)
    await eventually(lambda: any(graph_text(m) == answer for m in cluster.platform.whatsapp_to(phone)),
                     what="the WhatsApp answer")
    await asyncio.sleep(SETTLE_SECONDS)
    sent = [graph_text(m) for m in cluster.platform.whatsapp_to(phone)]
    assert len(sent) == 2 and "automated assistant" in sent[0] and sent[1] == faq_answer(TOPIC)
    assert receipts(cluster.sessions, "whatsapp", message_id) == 1
    conversation = conversation_id(cluster.sessions, "whatsapp", phone)
    assert stored_messages(cluster.sessions, conversation) == [
        ("in", "patient", QUESTION), ("out", "bot", sent[0]), ("out", "bot", sent[1])]
