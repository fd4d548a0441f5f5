"""A replica is killed (SIGKILL, as a crash or the OOM killer would) while patients and staff use it."""
from __future__ import annotations

from tests.scale.clients import (
    QUESTIONS,
    QUIET_SECONDS,
    escalations_of,
    eventually,
    exchange,
    faq_answer,
    owner_of,
    stored_messages,
    tracker_user_texts,
    turn_in_progress,
    web_conversation,
)
from tests.scale.conftest import STAFF_EMAIL, STAFF_PASSWORD

PRICES = "How much does a session cost?"
ASK_FOR_PERSON = "Can I talk to a real person please?"
STILL_THERE = "Are you still there? I have a question about my scalp."
STAFF_REPLY = "Hello, this is Jo from the clinic team. How can I help?"


async def test_replica_killed_mid_turn_the_patient_continues_on_the_other_and_staff_see_everything(
        cluster, tabs, console):
    """The patient's replica dies while it works on their message (it waits for a custom action,
    holding Rasa's conversation lock in Redis). The patient reconnects with the same session id to
    the survivor and asks again: the bot answers there. A staff member who signed in on the dead
    replica is still signed in on the survivor (shared SESSION_SECRET) and reads the whole
    transcript, the unanswered message included."""
    await console.login(cluster.a.url, STAFF_EMAIL, STAFF_PASSWORD)
    tab = await tabs.connect(cluster.a.url, label="patient on A")
    session_id = tab.session_id
    conversation = web_conversation(cluster.sessions, session_id)
    for topic, question in QUESTIONS[:2]:
        assert (await exchange(tab, cluster.sessions, conversation, question))[-1] == faq_answer(topic)

    cluster.actions.pause()  # A's turn now waits on the custom action that answers prices
    try:
        await tab.say(PRICES)
        await eventually(lambda: turn_in_progress(cluster.redis.port, f"web:{session_id}"), 10,
                         "replica A working on the message")
        cluster.a.kill()
    finally:
        cluster.actions.resume()
    try:
        await tab.close()
        again = await tabs.connect(cluster.b.url, session_id, label="patient on B")
        assert again.session_id == session_id
        replies = await exchange(again, cluster.sessions, conversation, PRICES)
        assert await again.quiet_for(QUIET_SECONDS) == []

        stored = stored_messages(cluster.sessions, conversation)
        asked = [q for _, q in QUESTIONS[:2]]
        assert [said for direction, _, said in stored if direction == "in"] == asked + [PRICES, PRICES]
        assert await console.transcript(cluster.b.url, conversation) == [(a, said) for _, a, said in stored]
        assert len(replies) == 1 and replies[0].startswith("Prices at"), f"the bot must answer: {replies}"
        assert tracker_user_texts(cluster.sessions, f"web:{session_id}") == asked + [PRICES]
    finally:
        cluster.a.start()  # as an orchestrator would; the `cluster` fixture waits for it to be ready


async def test_replica_killed_during_a_handoff_staff_carry_on_from_the_other_replica(cluster, tabs, console):
    """The patient asks for a person on A; a staff member opens the conversation on B; A dies.
    The patient reconnects to B and writes: staff see it, reply from B (the patient gets it), hand
    back, and the bot answers the next question."""
    await console.login(cluster.b.url, STAFF_EMAIL, STAFF_PASSWORD)
    tab = await tabs.connect(cluster.a.url, label="patient on A")
    session_id = tab.session_id
    conversation = web_conversation(cluster.sessions, session_id)
    handoff = await exchange(tab, cluster.sessions, conversation, ASK_FOR_PERSON)
    assert "member of the clinic team" in handoff[-1]
    assert owner_of(cluster.sessions, conversation) == "staff"
    assert escalations_of(cluster.sessions, conversation) == [("asked_for_person", "waiting")]
    assert (await console.transcript(cluster.b.url, conversation))[0] == ("patient", ASK_FOR_PERSON)

    cluster.a.kill()
    await tab.close()
    patient = await tabs.connect(cluster.b.url, session_id, label="patient on B")
    assert patient.session_id == session_id
    await patient.say(STILL_THERE)
    written = ("in", "patient", STILL_THERE)
    await eventually(lambda: written in stored_messages(cluster.sessions, conversation),
                     what="the patient's message stored")
    assert ("patient", STILL_THERE) in await console.transcript(cluster.b.url, conversation)
    (ack,) = await patient.replies(1)  # not silence: a short acknowledgement, and the bot stays out of it
    assert "your message is with the clinic team" in ack["text"]
    assert await patient.quiet_for(QUIET_SECONDS) == [], "nothing more while staff own it"

    assert await console.post(f"{cluster.b.url}/staff/conversations/{conversation}/reply",
                              {"text": STAFF_REPLY}) == 303
    name, data = await patient.next_event()
    assert name == "handoff" and data["owner"] == "staff"
    assert [(r["text"], r["author"]) for r in await patient.replies(1)] == [(STAFF_REPLY, "staff")]

    assert await console.post(f"{cluster.b.url}/staff/conversations/{conversation}/hand-back") == 303
    (back,) = await patient.replies(1)
    assert back["author"] == "system" and "handed you back" in back["text"]
    name, data = await patient.next_event()
    assert name == "handoff" and data["owner"] == "bot"

    topic, question = QUESTIONS[0]
    assert await exchange(patient, cluster.sessions, conversation, question) == [faq_answer(topic)]
    assert [author for _, author, _ in stored_messages(cluster.sessions, conversation)] == [
        "patient", "bot", "bot", "patient", "bot", "staff", "system", "patient", "bot"]  # the 2nd "bot": the ack
    assert escalations_of(cluster.sessions, conversation) == [("asked_for_person", "resolved")]
    assert tracker_user_texts(cluster.sessions, f"web:{session_id}") == [ASK_FOR_PERSON, question]
