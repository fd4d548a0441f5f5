"""Canned replies: admins manage them (CSRF, audited), everyone lists them, and one is filled in
for a conversation: the patient's first name and next session only when the patient is verified."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.appkeys import ROUTER
from bot.clinic import canned_replies as canned
from bot.db.models import AuditLog, CannedReply
from bot.web.webchat import WEB
from tests.bot.console.test_console_conversation import seed_patient
from tests.support.clock import START
from tests.support.deliverers import RecordingDeliverer

BODY = "Hi {first_name}, your next session is {next_session}. Call {clinic_phone} ({clinic_name})."


def audit_actions(session_factory, prefix):
    with session_factory() as session:
        return [(r.action, r.subject_type, r.subject_id, r.detail) for r in session.execute(
            select(AuditLog).where(AuditLog.action.startswith(prefix)).order_by(AuditLog.id)).scalars()]


def reply_rows(session_factory):
    with session_factory() as session:
        return [(r.title, r.body) for r in session.execute(select(CannedReply).order_by(CannedReply.id)).scalars()]


async def test_an_admin_adds_edits_and_deletes_canned_replies(console, accounts, session_factory):
    await console.signed_in_as("admin@clinic.example")
    added = await console.post("/staff/replies", {"title": "Next session", "body": BODY})
    assert added.status == 303
    [(title, body)] = reply_rows(session_factory)
    assert (title, body) == ("Next session", BODY)
    with session_factory() as session:
        reply_id = session.execute(select(CannedReply.id)).scalar_one()
    _, page = await console.page("/staff/replies")
    assert "Canned reply “Next session” added." in page and f'data-reply-id="{reply_id}"' in page

    edited = await console.post(f"/staff/replies/{reply_id}", {"title": "Opening", "body": "Call {clinic_phone}."})
    assert edited.status == 303
    assert reply_rows(session_factory) == [("Opening", "Call {clinic_phone}.")]
    deleted = await console.post(f"/staff/replies/{reply_id}/delete")
    assert deleted.status == 303 and reply_rows(session_factory) == []
    assert audit_actions(session_factory, "canned_reply_") == [
        ("canned_reply_created", "canned_reply", str(reply_id), None),
        ("canned_reply_updated", "canned_reply", str(reply_id), None),
        ("canned_reply_deleted", "canned_reply", str(reply_id), None),
    ]
    missing = await console.post(f"/staff/replies/{reply_id}/delete")
    assert missing.status == 404


async def test_an_unknown_variable_or_a_duplicate_title_is_refused(console, accounts, session_factory):
    await console.signed_in_as("admin@clinic.example")
    typo = await console.post("/staff/replies", {"title": "Typo", "body": "Hi {firstname}"}, json_api=True)
    assert typo.status == 422 and "{firstname} is not a variable" in (await typo.json())["error"]
    assert (await console.post("/staff/replies", {"title": "Hello", "body": "Hello"}, json_api=True)).status == 200
    again = await console.post("/staff/replies", {"title": "Hello", "body": "Again"}, json_api=True)
    assert again.status == 422 and "another canned reply has that title" in (await again.json())["error"]
    assert reply_rows(session_factory) == [("Hello", "Hello")]


async def test_changing_canned_replies_needs_the_csrf_token(console, accounts, session_factory):
    await console.signed_in_as("admin@clinic.example")
    forged = await console.client.post("/staff/replies", data={"title": "X", "body": "Y", "csrf_token": "forged"},
                                       allow_redirects=False)
    assert forged.status == 403 and reply_rows(session_factory) == []


async def test_staff_and_clinicians_use_canned_replies_but_cannot_manage_them(console, accounts, session_factory):
    with session_factory.begin() as session:
        canned.add_reply(session, "Hours", "We open at nine.", accounts["admin"], START)
    for email in ("staff@clinic.example", "clinician@clinic.example"):
        await console.signed_in_as(email)
        assert (await console.client.get("/staff/replies")).status == 403
        assert (await console.post("/staff/replies", {"title": "Mine", "body": "x"})).status == 403
        listed = await (await console.client.get("/staff/api/replies")).json()
        assert [(r["title"], r["body"]) for r in listed["replies"]] == [("Hours", "We open at nine.")]
        _, inbox = await console.page("/staff")
        assert 'href="/staff/replies"' not in inbox
        await console.post("/staff/logout")
    assert reply_rows(session_factory) == [("Hours", "We open at nine.")]


def _reply(session_factory, admin_id, body=BODY):
    with session_factory.begin() as session:
        return canned.add_reply(session, "Next session", body, admin_id, START).id


async def test_a_reply_filled_in_for_a_verified_patient(console, accounts, rows, session_factory, settings):
    patient_id = seed_patient(session_factory)
    conversation = rows.conversation("web", patient_id=patient_id)
    reply_id = _reply(session_factory, accounts["admin"])
    await console.signed_in_as("staff@clinic.example")
    response = await console.client.get(f"/staff/api/conversations/{conversation}/replies/{reply_id}")
    body = await response.json()
    starts = (START + timedelta(days=3, hours=4)).astimezone(settings.clinic.timezone)
    assert body["text"] == (f"Hi Alex, your next session is {starts:%a} {starts.day} {starts:%b %Y, %H:%M}. "
                            f"Call {settings.clinic.phone} ({settings.clinic.name}).")
    assert body["not_verified"] == []
    [(action, subject, subject_id, detail)] = audit_actions(session_factory, "canned_reply_filled")
    assert (subject, subject_id) == ("patient", str(patient_id))
    assert detail == {"conversation_id": conversation, "canned_reply_id": reply_id,
                      "variables": ["first_name", "next_session"]}


async def test_a_reply_filled_in_for_an_unverified_patient_says_so(console, accounts, rows, session_factory,
                                                                   settings):
    seed_patient(session_factory)
    conversation = rows.conversation("sms", "+447700900123")
    reply_id = _reply(session_factory, accounts["admin"])
    await console.signed_in_as("staff@clinic.example")
    body = await (await console.client.get(f"/staff/api/conversations/{conversation}/replies/{reply_id}")).json()
    assert body["text"] == (f"Hi (not verified), your next session is (not verified). "
                            f"Call {settings.clinic.phone} ({settings.clinic.name}).")
    assert body["not_verified"] == ["first_name", "next_session"]
    assert "Alex" not in body["text"]
    assert audit_actions(session_factory, "canned_reply_filled") == []
    missing = await console.client.get(f"/staff/api/conversations/{conversation}/replies/{reply_id + 1}")
    assert missing.status == 404


def test_filling_leaves_unknown_braces_and_says_when_nothing_is_booked():
    facts = canned.PatientFacts(first_name="Sam", next_session=None)
    text = canned.fill("{first_name}: {next_session} {other}", clinic_name="C", clinic_phone="1", patient=facts)
    assert text == "Sam: (no session booked) {other}"


class TypingWeb(RecordingDeliverer):
    """The web channel, recording typing notices as the web chat's deliverer would emit them."""

    def __init__(self) -> None:
        super().__init__(WEB)
        self.typing_for: list = []

    async def typing(self, conversation) -> None:
        self.typing_for.append(conversation.id)


async def test_the_typing_notice_needs_the_csrf_token_and_a_conversation(console, accounts, rows, console_app):
    web_channel = TypingWeb()
    console_app[ROUTER].register(web_channel)
    web = rows.conversation("web")
    sms = rows.conversation("sms", "+447700900123")
    await console.signed_in_as("staff@clinic.example")
    forged = await console.client.post(f"/staff/conversations/{web}/typing", headers={"X-CSRF-Token": "forged"})
    assert forged.status == 403
    sent = await console.post(f"/staff/conversations/{web}/typing", json_api=True)
    assert (sent.status, await sent.json()) == (200, {"ok": True, "told": True})
    silent = await console.post(f"/staff/conversations/{sms}/typing", json_api=True)
    assert (await silent.json())["told"] is False
    assert (await console.post(f"/staff/conversations/{sms + 100}/typing", json_api=True)).status == 404
    assert web_channel.typing_for == [web]
