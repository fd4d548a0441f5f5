"""Teach the assistant: fallback turns enter the queue, "Flag for teaching" adds a message once,
staff label (topic titles, new topic needed) or dismiss; roles, CSRF and the audit trail."""
from __future__ import annotations

import re
from typing import List, Optional, Tuple

import pytest
from sqlalchemy import select

from bot.appkeys import ROUTER
from bot.channels.messages import InboundMessage
from bot.db.models import AuditLog, Message, TrainingExample, utcnow
from bot.engine.turn import EngineTurn, read_turn
from bot.teaching.notice import NOT_UNDERSTOOD_NOTICE

NOT_UNDERSTOOD = "zxq blorf hair thing"
FLAG_FORM = re.compile(r'action="/staff/messages/(\d+)/flag"')
EXAMPLE = re.compile(r'data-example-id="(\d+)"')


class UnsureEngine:
    """Answers like the trained assistant: "did you mean" (with its notice) for NOT_UNDERSTOOD, else an answer."""

    ready = True

    def __init__(self) -> None:
        self.calls: List[Tuple[str, str]] = []

    async def respond(self, sender_key: str, text: str, metadata: Optional[dict] = None) -> EngineTurn:
        self.calls.append((sender_key, text))
        if text == NOT_UNDERSTOOD:
            return read_turn([
                {"recipient_id": sender_key, "custom": NOT_UNDERSTOOD_NOTICE},
                {"recipient_id": sender_key, "text": "Sorry, I'm not sure I understood. Did you mean one of these?",
                 "buttons": [{"title": "Does it hurt?", "payload": "Does mesotherapy hurt?"}]},
            ])
        return read_turn([{"recipient_id": sender_key, "text": "Mesotherapy is a series of small injections."}])

    async def end_session(self, sender_key: str) -> None:
        self.calls.append((sender_key, "/session_start"))


@pytest.fixture
def console_app(settings, session_factory, clock):
    from bot.app import create_app
    from bot.console.options import CONSOLE_OPTIONS, ConsoleOptions

    app = create_app(settings, engine=UnsureEngine(), use_default_screen=False)
    app[CONSOLE_OPTIONS] = ConsoleOptions(clock=clock, poll_seconds=0.1, heartbeat_seconds=0.5, stream_seconds=30)
    return app


def examples(session_factory) -> List[TrainingExample]:
    with session_factory() as session:
        return list(session.execute(select(TrainingExample).order_by(TrainingExample.id)).scalars())


def audit_rows(session_factory, action) -> List[AuditLog]:
    with session_factory() as session:
        return list(session.execute(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))
                    .scalars())


async def patient_says(app, text, sender="session-teach"):
    return await app[ROUTER].receive(InboundMessage(channel="web", sender=sender, text=text, channel_message_id=None,
                                                    has_media=False, received_at=utcnow()))


async def test_a_message_the_assistant_did_not_understand_enters_the_queue(console_app, client, session_factory):
    understood = await patient_says(console_app, "what is mesotherapy")
    missed = await patient_says(console_app, NOT_UNDERSTOOD)
    assert understood.understood and not missed.understood
    assert missed.replies[-1].text.startswith("Sorry, I'm not sure")  # the notice itself is never shown
    queued = examples(session_factory)
    assert [(e.text, e.source, e.status) for e in queued] == [(NOT_UNDERSTOOD, "fallback", "open")]
    with session_factory() as session:
        message = session.get(Message, queued[0].message_id)
    assert (message.direction, message.author, message.text) == ("in", "patient", NOT_UNDERSTOOD)


async def test_a_message_gone_before_its_turn_ends_is_not_queued_and_the_patient_is_answered(
        console_app, client, session_factory, caplog):
    router = console_app[ROUTER]
    accepted = router.accept(InboundMessage(channel="web", sender="session-gone", text=NOT_UNDERSTOOD,
                                            channel_message_id=None, has_media=False, received_at=utcnow()))
    with session_factory.begin() as session:  # erased while the assistant thought
        session.delete(session.get(Message, accepted.message_id))
    outcome = await router.process(accepted)
    assert outcome.handled_by == "bot" and outcome.replies[-1].text.startswith("Sorry, I'm not sure")
    assert examples(session_factory) == []
    assert f"message {accepted.message_id}: not queued for teaching: TeachingError" in caplog.text


async def test_flag_for_teaching_adds_a_patient_message_once(console, accounts, rows, session_factory):
    conversation = rows.conversation("web")
    patient = rows.message(conversation, "can my hair go green from it")
    bot = rows.message(conversation, "I can help with that.", author="bot")
    await console.signed_in_as("staff@clinic.example")
    _, page = await console.page(f"/staff/conversations/{conversation}")
    assert FLAG_FORM.findall(page) == [str(patient)]  # only on the patient's message
    first = await console.post(f"/staff/messages/{patient}/flag")
    again = await console.post(f"/staff/messages/{patient}/flag", json_api=True)
    assert first.status == 303 and first.headers["Location"] == f"/staff/conversations/{conversation}"
    assert again.status == 200 and "already" in (await again.json())["message"]
    assert [(e.message_id, e.source, e.status) for e in examples(session_factory)] == [(patient, "flagged", "open")]
    flagged = audit_rows(session_factory, "teaching_flagged")
    assert [(r.actor_id, r.detail["message_id"], r.detail["already_queued"]) for r in flagged] == [
        (str(accounts["staff"]), patient, False), (str(accounts["staff"]), patient, True)]
    assert (await console.post(f"/staff/messages/{bot}/flag")).status == 404  # not a patient's message
    assert (await console.post("/staff/messages/99999/flag")).status == 404


async def test_a_fallback_message_flagged_later_stays_one_example(console_app, client, console, accounts,
                                                                  session_factory):
    await patient_says(console_app, NOT_UNDERSTOOD)
    (example,) = examples(session_factory)
    await console.signed_in_as("staff@clinic.example")
    assert (await console.post(f"/staff/messages/{example.message_id}/flag")).status == 303
    assert [(e.id, e.source) for e in examples(session_factory)] == [(example.id, "fallback")]


async def test_the_queue_shows_topic_titles_and_labelling_moves_an_example(console_app, client, console, accounts,
                                                                           session_factory):
    await patient_says(console_app, NOT_UNDERSTOOD)
    (example,) = examples(session_factory)
    await console.signed_in_as("clinician@clinic.example")
    response, page = await console.page("/staff/teach")
    assert response.status == 200 and EXAMPLE.findall(page) == [str(example.id)]
    assert NOT_UNDERSTOOD in page and "The assistant did not understand" in page
    assert '<option value="faq/pain">Does it hurt?</option>' in page
    assert ">faq/pain<" not in page  # titles, not raw intent names
    viewed = audit_rows(session_factory, "teaching_queue_viewed")
    assert [(r.actor_id, r.detail) for r in viewed] == [
        (str(accounts["clinician"]), {"example_ids": [example.id], "status": "open"})]

    response = await console.post(f"/staff/teach/{example.id}/label", {"intent": "faq/pain", "next": "/staff/teach"})
    assert response.status == 303 and response.headers["Location"] == "/staff/teach"
    (row,) = examples(session_factory)
    assert (row.status, row.intent, row.labelled_by) == ("labelled", "faq/pain", accounts["clinician"])
    _, page = await console.page("/staff/teach")
    assert EXAMPLE.findall(page) == [] and "Nothing to label" in page
    _, page = await console.page("/staff/teach?status=labelled")
    assert "Labelled as <strong>Does it hurt?</strong> by clinician@clinic.example" in page
    labelled = audit_rows(session_factory, "teaching_labelled")
    assert [(r.subject_id, r.detail) for r in labelled] == [(str(example.id), {"intent": "faq/pain", "note": False})]


async def test_new_topic_needed_keeps_the_note_and_dismiss_takes_it_out(console, accounts, rows, session_factory):
    conversation = rows.conversation("web")
    first = rows.message(conversation, "do you do eyebrow meso")
    second = rows.message(conversation, "haha ok")
    await console.signed_in_as("staff@clinic.example")
    for message_id in (first, second):
        await console.post(f"/staff/messages/{message_id}/flag")
    one, two = examples(session_factory)
    labelled = await console.post(f"/staff/teach/{one.id}/label",
                                  {"intent": "new_topic", "note": "eyebrow treatments"}, json_api=True)
    assert labelled.status == 200 and (await labelled.json())["message"] == "Labelled as “New topic needed”."
    dismissed = await console.post(f"/staff/teach/{two.id}/dismiss", json_api=True)
    assert dismissed.status == 200
    one, two = examples(session_factory)
    assert (one.status, one.intent, one.note) == ("labelled", None, "eyebrow treatments")
    assert (two.status, two.labelled_by) == ("dismissed", accounts["staff"])
    assert [r.subject_id for r in audit_rows(session_factory, "teaching_dismissed")] == [str(two.id)]
    _, page = await console.page("/staff/teach?status=dismissed")
    assert EXAMPLE.findall(page) == [str(two.id)] and "Dismissed by staff@clinic.example" in page


async def test_a_label_that_is_not_a_topic_is_refused(console, accounts, rows, session_factory):
    conversation = rows.conversation("web")
    message_id = rows.message(conversation, "hmm")
    await console.signed_in_as("admin@clinic.example")
    await console.post(f"/staff/messages/{message_id}/flag")
    (example,) = examples(session_factory)
    for intent in ("greet", "faq", ""):
        response = await console.post(f"/staff/teach/{example.id}/label", {"intent": intent}, json_api=True)
        assert response.status == 422 and "Not labelled" in (await response.json())["error"]
    assert examples(session_factory)[0].status == "open"
    assert audit_rows(session_factory, "teaching_labelled") == []
    assert (await console.post("/staff/teach/999/label", {"intent": "faq/pain"})).status == 404
    assert (await console.post("/staff/teach/999/dismiss")).status == 404
    assert (await console.client.get("/staff/teach?status=everything")).status == 400


@pytest.mark.parametrize("role", ["staff", "clinician", "admin"])
async def test_every_role_can_label(console, accounts, rows, session_factory, role):
    message_id = rows.message(rows.conversation("web"), "what about my beard")
    await console.signed_in_as(f"{role}@clinic.example")
    _, page = await console.page("/staff")
    assert '<a href="/staff/teach"' in page  # in the nav
    await console.post(f"/staff/messages/{message_id}/flag")
    (example,) = examples(session_factory)
    response = await console.post(f"/staff/teach/{example.id}/label", {"intent": "faq/suitability"})
    assert response.status == 303 and examples(session_factory)[0].labelled_by == accounts[role]


async def test_signed_out_and_without_csrf_nothing_changes(console, client, accounts, rows, session_factory):
    message_id = rows.message(rows.conversation("web"), "what about my beard")
    signed_out = await client.get("/staff/teach", allow_redirects=False)
    assert signed_out.status in (302, 303) and "/staff/login" in signed_out.headers["Location"]
    assert (await client.post(f"/staff/messages/{message_id}/flag", allow_redirects=False)).status in (401, 403)
    await console.signed_in_as("staff@clinic.example")
    no_token = await client.post(f"/staff/messages/{message_id}/flag", allow_redirects=False)
    forged = await client.post(f"/staff/messages/{message_id}/flag", data={"csrf_token": "forged"},
                               allow_redirects=False)
    assert (no_token.status, forged.status) == (403, 403)
    assert examples(session_factory) == []
    await console.post(f"/staff/messages/{message_id}/flag")
    (example,) = examples(session_factory)
    for path, data in ((f"/staff/teach/{example.id}/label", {"intent": "faq/pain"}),
                       (f"/staff/teach/{example.id}/dismiss", {})):
        assert (await client.post(path, data=data, allow_redirects=False)).status == 403
    assert examples(session_factory)[0].status == "open"


async def test_the_queue_is_paged_oldest_first(console, accounts, rows, session_factory):
    from datetime import timedelta

    from bot.console.teach import PAGE_SIZE
    from tests.support.clock import START

    conversation = rows.conversation("web")
    ids = [rows.message(conversation, f"question number {n}", at=START + timedelta(minutes=n))
           for n in range(PAGE_SIZE + 2)]
    await console.signed_in_as("staff@clinic.example")
    for message_id in ids:
        await console.post(f"/staff/messages/{message_id}/flag")
    queued = [e.id for e in examples(session_factory)]
    _, first = await console.page("/staff/teach")
    _, second = await console.page("/staff/teach?page=2")
    assert EXAMPLE.findall(first) == [str(i) for i in queued[:PAGE_SIZE]]
    assert EXAMPLE.findall(second) == [str(i) for i in queued[PAGE_SIZE:]]
    assert 'href="/staff/teach?page=2" rel="next"' in first and 'rel="prev"' in second
    assert f"{PAGE_SIZE + 2} to label · page 1 of 2" in first
