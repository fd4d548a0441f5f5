"""Redis goes away (our redis-server is killed), then comes back on the same port."""
from __future__ import annotations

import asyncio
import uuid

from tests.scale.clients import (
    QUESTIONS,
    QUIET_SECONDS,
    eventually,
    exchange,
    faq_answer,
    new_phone,
    post_sms,
    sms_form,
    stored_messages,
    web_conversation,
)

SETTLE_SECONDS = 1.5
# python-socketio's Redis listener reconnects with a backoff that doubles up to 60 s.
FANOUT_BACK_SECONDS = 90


def fanout_subscribers(redis_server) -> int:
    """How many replicas listen on the web chat's pub/sub channel (PUBSUB NUMSUB)."""
    import redis

    from bot.web import webchat

    channel = getattr(webchat, "FANOUT_CHANNEL", "socketio")
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=1)
    try:
        return int(dict(client.pubsub_numsub(channel)).get(channel.encode(), 0))
    except redis.RedisError:
        return 0
    finally:
        client.close()


async def test_replicas_keep_serving_without_redis_and_fan_out_resumes_when_it_is_back(cluster, http, tabs):
    """With Redis gone, both replicas still answer web and SMS patients, each reply once.

    What degrades until Redis is back:
    - socket.io fan-out between replicas: a reply reaches only the tabs connected to the replica
      that processed the message; a second tab of the same session on the other replica misses it
      (it is stored, so staff see it, and the patient sees it on reload);
    - conversation locks are per process (bot/engine/stores.py): two messages of one conversation
      arriving at the same moment on two different replicas could be processed side by side.
    Webhook deduplication is unaffected (it is a unique constraint in PostgreSQL).
    When Redis is back on the same port, each replica's socket.io listener resubscribes (backoff up
    to 60 s) and a tab on B again gets the replies to a message sent from a tab on A.
    """
    cluster.redis.kill()

    phones = [new_phone() for _ in cluster.replicas]
    forms = [sms_form("Does mesotherapy hurt?", "SM" + uuid.uuid4().hex, phone) for phone in phones]
    statuses = await asyncio.gather(*(post_sms(http, r.url, f) for r, f in zip(cluster.replicas, forms)))
    assert [status for status, _ in statuses] == [200, 200]
    for replica, (topic, question) in zip(cluster.replicas, QUESTIONS):
        tab = await tabs.connect(replica.url, label=f"web patient on {replica.name}")
        conversation = web_conversation(cluster.sessions, tab.session_id)
        replies = await exchange(tab, cluster.sessions, conversation, question)
        assert replies[-1] == faq_answer(topic), f"{replica.name} answers without Redis"
        assert await tab.quiet_for(QUIET_SECONDS) == [], f"{replica.name}: a reply arrived twice"
        assert [m[2] for m in stored_messages(cluster.sessions, conversation) if m[0] == "out"] == replies
    for phone in phones:
        await eventually(lambda phone=phone: cluster.platform.sms_to(phone), what="an SMS reply without Redis")
    await asyncio.sleep(SETTLE_SECONDS)
    for phone in phones:
        (sms,) = cluster.platform.sms_to(phone)
        assert faq_answer("pain") in sms

    cluster.redis.start_and_wait()
    await eventually(lambda: fanout_subscribers(cluster.redis) >= 2, FANOUT_BACK_SECONDS,
                     "both replicas listening on Redis again")
    first = await tabs.connect(cluster.a.url, label="tab 1 on A")
    second = await tabs.connect(cluster.b.url, first.session_id, label="tab 2 on B")
    conversation = web_conversation(cluster.sessions, first.session_id)
    topic, question = QUESTIONS[2]
    on_first = await exchange(first, cluster.sessions, conversation, question)
    assert on_first[-1] == faq_answer(topic)
    assert [reply["text"] for reply in await second.replies(len(on_first))] == on_first
    assert await second.quiet_for(QUIET_SECONDS) == []
