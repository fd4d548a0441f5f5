"""Web conversations across two replicas: one session moving between them, and two tabs on different ones."""
from __future__ import annotations

from tests.scale.clients import (
    QUESTIONS,
    QUIET_SECONDS,
    exchange,
    faq_answer,
    stored_messages,
    tracker_user_texts,
    web_conversation,
)


async def test_one_web_conversation_alternating_between_replicas(cluster, tabs):
    """A patient whose every reconnect lands on the other replica keeps one conversation: each
    answer arrives once, and the clinic database and Rasa's tracker hold every turn in order."""
    session_id = None
    received = []
    for turn, (topic, question) in enumerate(QUESTIONS):
        replica = cluster.replicas[turn % 2]
        tab = await tabs.connect(replica.url, session_id, label=f"turn {turn} on {replica.name}")
        assert session_id is None or tab.session_id == session_id, "the issued session id must be confirmed"
        session_id = tab.session_id
        conversation = web_conversation(cluster.sessions, session_id)
        replies = await exchange(tab, cluster.sessions, conversation, question)
        assert replies[-1] == faq_answer(topic), f"turn {turn} on {replica.name}"
        assert await tab.quiet_for(QUIET_SECONDS) == [], f"turn {turn}: a reply arrived twice"
        received.append((question, replies))
        await tab.close()

    assert "automated assistant" in received[0][1][0], "the first reply is the disclaimer"
    assert all(len(replies) == 1 for _, replies in received[1:]), "one answer per later question"
    expected = []
    for question, replies in received:
        expected += [("in", "patient", question)] + [("out", "bot", reply) for reply in replies]
    assert stored_messages(cluster.sessions, conversation) == expected
    assert tracker_user_texts(cluster.sessions, f"web:{session_id}") == [q for _, q in QUESTIONS]


async def test_two_tabs_on_different_replicas_both_see_each_reply_once(cluster, tabs):
    """Tab 1 on replica A and tab 2 on replica B share one session: a message from tab 1 is
    answered on A, and the reply reaches both tabs exactly once (socket.io rooms through Redis)."""
    first = await tabs.connect(cluster.a.url, label="tab 1 on A")
    second = await tabs.connect(cluster.b.url, first.session_id, label="tab 2 on B")
    assert second.session_id == first.session_id
    conversation = web_conversation(cluster.sessions, first.session_id)
    for topic, question in QUESTIONS[:2]:
        on_first = await exchange(first, cluster.sessions, conversation, question)
        assert on_first[-1] == faq_answer(topic)
        on_second = [reply["text"] for reply in await second.replies(len(on_first))]
        assert on_second == on_first, "tab 2 (on the other replica) must see the same replies"
    assert await first.quiet_for(QUIET_SECONDS) == [], "tab 1 got a reply twice"
    assert await second.quiet_for(QUIET_SECONDS) == [], "tab 2 got a reply twice"
    stored = stored_messages(cluster.sessions, conversation)
    # The disclaimer and two answers, each stored once.
    assert len([said for direction, _, said in stored if direction == "out"]) == 3
