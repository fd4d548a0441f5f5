"""A conversation: transcript, patient panel (verified or not), reply, notes, assign, hand back."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from bot.appkeys import ROUTER
from bot.channels.messages import InboundMessage
from bot.db.models import (
    Appointment,
    AuditLog,
    ConsentRecord,
    Conversation,
    Escalation,
    Message,
    Patient,
    StaffNote,
    TreatmentCourse,
    utcnow,
)
from tests.support.clock import START

AUTHORS = re.compile(r'<li class="msg msg-\w+" data-author="(\w+)" data-message-id="(\d+)">')


def audit_rows(session_factory, action):
    with session_factory() as session:
        return list(session.execute(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))
                    .scalars())


def seed_patient(session_factory):
    """Alex Morgan: two completed sessions and one booked, of an 8-session course."""
    with session_factory.begin() as session:
        patient = Patient(clinic_ref="MC-4827", full_name="Alex Morgan", phone_e164="+447700900123",
                          date_of_birth=date(1988, 4, 12))
        course = TreatmentCourse(patient=patient, treatment="Hair mesotherapy", planned_sessions=8)
        for index, (days, status) in enumerate(((-14, "completed"), (-7, "completed"), (3, "booked"))):
            course.appointments.append(Appointment(
                starts_at=START + timedelta(days=days, hours=4), duration_min=45, status=status,
                practitioner="Dr Priya Shah", source_key=f"MC-4827|{index}"))
        session.add(patient)
        session.flush()
        return patient.id


def seed_conversation(rows, channel="web", external_id=None, **kwargs):
    conversation = rows.conversation(channel, external_id, **kwargs)
    rows.message(conversation, "Can I speak to a person?", author="patient", at=START - timedelta(minutes=3))
    rows.message(conversation, "I've asked the team to reply.", author="bot", at=START - timedelta(minutes=3))
    rows.message(conversation, "Summer message", author="patient", at=datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc))
    rows.escalation(conversation, reason="asked_for_person", summary="Asked for a person about prices.")
    return conversation


async def test_the_transcript_of_an_unverified_patient(console, accounts, rows, session_factory):
    conversation = seed_conversation(rows)
    await console.signed_in_as("staff@clinic.example")
    response, text = await console.page(f"/staff/conversations/{conversation}")
    assert response.status == 200
    assert [author for author, _ in AUTHORS.findall(text)] == ["patient", "bot", "patient"]
    assert 'id="transcript"' in text and "Can I speak to a person?" in text
    assert "Wed 1 Jul 2026, 13:00" in text  # 12:00 UTC is 13:00 in London in July
    assert "Asked for a person" in text and "Asked for a person about prices." in text
    assert 'id="not-verified"' in text and "Not verified." in text
    assert "Upcoming sessions" not in text and "Dr Priya Shah" not in text
    viewed = audit_rows(session_factory, "transcript_viewed")
    assert [(r.actor_id, r.subject_type, r.subject_id, r.detail) for r in viewed] == [
        (str(accounts["staff"]), "conversation", str(conversation), {"messages": 3})]
    assert audit_rows(session_factory, "bookings_viewed") == []


async def test_a_verified_patient_is_shown_with_their_sessions(console, accounts, rows, session_factory):
    patient_id = seed_patient(session_factory)
    conversation = seed_conversation(rows, "sms", "+447700900123", patient_id=patient_id)
    rows.request("sms:+447700900123", wishes="Later in the day", patient_id=patient_id)
    await console.signed_in_as("clinician@clinic.example")
    _, text = await console.page(f"/staff/conversations/{conversation}")
    assert 'data-verified="yes"' in text and 'id="patient-name">Alex Morgan<' in text and "MC-4827" in text
    assert "Hair mesotherapy: 2 of 8 sessions done, 6 to go; next on Monday at 14:00." in text
    upcoming = text[text.index('id="upcoming-sessions"'):text.index("Past sessions")]
    assert "Mon 23 Nov 2026, 14:00" in upcoming and "Booked" in upcoming and "session 3 of 8" in upcoming
    past = text[text.index('id="past-sessions"'):]
    assert past.index("Fri 13 Nov 2026, 14:00") < past.index("Fri 6 Nov 2026, 14:00")
    assert "Later in the day" in text
    viewed = audit_rows(session_factory, "bookings_viewed")
    assert [(r.subject_type, r.subject_id, r.detail) for r in viewed] == [
        ("patient", str(patient_id), {"conversation_id": conversation})]


async def test_an_unknown_conversation_is_404(console, accounts):
    await console.signed_in_as("staff@clinic.example")
    assert (await console.client.get("/staff/conversations/999")).status == 404
    assert (await console.client.get("/staff/api/conversations/999")).status == 404


async def test_huge_numbers_in_the_address_are_404_or_400_never_a_server_error(console, accounts, rows):
    """Beyond what an INTEGER column holds, SQLite and PostgreSQL raise: the console answers first."""
    await console.signed_in_as("admin@clinic.example")
    huge = "99999999999999999999"
    conversation = rows.conversation()
    for path, status, says in [(f"/staff/conversations/{huge}", 404, "no such id"),
                               (f"/staff/api/conversations/{huge}", 404, "no such id"),
                               (f"/staff/api/conversations/{conversation}?after={huge}", 400, "after is too large"),
                               (f"/staff/audit?page={huge}", 400, "page is too large"),
                               ("/staff/audit?page=2147483647", 200, "Audit log")]:
        response = await console.client.get(path)
        assert (response.status, says in await response.text()) == (status, True), path


async def test_a_reply_on_the_web_is_stored_as_staff_and_delivered(console, accounts, rows, session_factory,
                                                                    deliverers):
    conversation = seed_conversation(rows)
    await console.signed_in_as("staff@clinic.example")
    response = await console.post(f"/staff/conversations/{conversation}/reply", {"text": "Hello, this is Jo."})
    assert response.status == 303 and response.headers["Location"] == f"/staff/conversations/{conversation}"
    _, text = await console.page(f"/staff/conversations/{conversation}")
    assert "Reply sent to the patient." in text
    assert AUTHORS.findall(text)[-1][0] == "staff" and "Hello, this is Jo." in text
    with session_factory() as session:
        last = session.execute(select(Message).where(Message.conversation_id == conversation)
                               .order_by(Message.id.desc())).scalars().first()
        assert (last.author, last.direction, last.staff_user_id, last.text) == (
            "staff", "out", accounts["staff"], "Hello, this is Jo.")
        assert session.get(Conversation, conversation).owner == "staff"
        escalation = session.execute(select(Escalation)).scalars().one()
        assert (escalation.status, escalation.assigned_to) == ("assigned", accounts["staff"])
    assert (conversation, "staff", "Hello, this is Jo.") in deliverers["web"].sent_by_id()
    assert [r.actor_id for r in audit_rows(session_factory, "reply")] == [str(accounts["staff"])]


async def test_a_reply_by_sms_goes_out_by_sms(console, accounts, rows, session_factory, deliverers):
    conversation = seed_conversation(rows, "sms", "+447700900123")
    await console.signed_in_as("staff@clinic.example")
    response = await console.post(f"/staff/conversations/{conversation}/reply", {"text": "We can call you."},
                                  json_api=True)
    assert response.status == 200 and await response.json() == {"ok": True, "message": "Reply sent to the patient."}
    assert deliverers["sms"].sent_by_id() == [(conversation, "staff", "We can call you.")]
    with session_factory() as session:
        assert session.execute(select(Message.author).where(Message.text == "We can call you.")).scalar() == "staff"


async def test_a_reply_to_a_number_that_opted_out_is_refused_with_the_reason(console, accounts, rows,
                                                                             session_factory, deliverers):
    conversation = seed_conversation(rows, "sms", "+447700900123")
    with session_factory.begin() as session:
        session.add(ConsentRecord(phone_e164="+447700900123", channel="sms", opted_out=True, changed_at=START))
    await console.signed_in_as("staff@clinic.example")
    response = await console.post(f"/staff/conversations/{conversation}/reply", {"text": "Hello?"}, json_api=True)
    body = await response.json()
    assert response.status == 409 and body["ok"] is False and "opted out" in body["error"]
    assert deliverers["sms"].sent == []
    with session_factory() as session:
        assert session.execute(select(Message).where(Message.text == "Hello?")).first() is None


async def test_whatsapp_after_24_hours_needs_a_template(console, accounts, rows, session_factory, deliverers):
    conversation = seed_conversation(rows, "whatsapp", "+447700900123",
                                     last_patient_message_at=utcnow() - timedelta(hours=25))
    await console.signed_in_as("staff@clinic.example")
    response = await console.post(f"/staff/conversations/{conversation}/reply", {"text": "Late answer"})
    assert response.status == 303
    _, text = await console.page(f"/staff/conversations/{conversation}")
    assert "Problem: </strong>Not sent:" in text and "template message" in text
    assert deliverers["whatsapp"].sent == []
    with session_factory() as session:
        assert session.execute(select(Message).where(Message.text == "Late answer")).first() is None


async def test_whatsapp_within_24_hours_is_sent(console, accounts, rows, deliverers):
    conversation = seed_conversation(rows, "whatsapp", "+447700900123",
                                     last_patient_message_at=utcnow() - timedelta(hours=2))
    await console.signed_in_as("staff@clinic.example")
    response = await console.post(f"/staff/conversations/{conversation}/reply", {"text": "On time"}, json_api=True)
    assert response.status == 200
    assert deliverers["whatsapp"].sent_by_id() == [(conversation, "staff", "On time")]


async def test_an_empty_reply_is_refused(console, accounts, rows, deliverers):
    conversation = seed_conversation(rows)
    await console.signed_in_as("staff@clinic.example")
    response = await console.post(f"/staff/conversations/{conversation}/reply", {"text": "   "}, json_api=True)
    assert response.status == 409 and "empty" in (await response.json())["error"]
    assert deliverers["web"].sent == []


async def test_notes_stay_with_staff(console, accounts, rows, session_factory, deliverers):
    conversation = seed_conversation(rows, "sms", "+447700900123")
    await console.signed_in_as("staff@clinic.example")
    response = await console.post(f"/staff/conversations/{conversation}/notes",
                                  {"text": "Called her back, all fine."})
    assert response.status == 303
    _, text = await console.page(f"/staff/conversations/{conversation}")
    notes = text[text.index('id="notes"'):text.index('id="note-form"')]
    assert "Called her back, all fine." in notes and "staff@clinic.example" in notes
    transcript = text[text.index('id="transcript"'):text.index('id="transcript-empty"')]
    assert "Called her back" not in transcript
    assert all(not d.sent for d in deliverers.values())
    with session_factory() as session:
        assert session.execute(select(Message).where(Message.text.like("%Called her%"))).first() is None
        note = session.execute(select(StaffNote)).scalars().one()
        assert (note.conversation_id, note.staff_user_id) == (conversation, accounts["staff"])
    added = audit_rows(session_factory, "note_added")
    assert [(r.subject_id, r.detail) for r in added] == [(str(conversation), {"note_id": note.id})]
    empty = await console.post(f"/staff/conversations/{conversation}/notes", {"text": ""}, json_api=True)
    assert empty.status == 422


async def test_assign_to_me(console, accounts, rows, session_factory, deliverers):
    conversation = seed_conversation(rows, owner="bot")
    await console.signed_in_as("clinician@clinic.example")
    response = await console.post(f"/staff/conversations/{conversation}/assign", json_api=True)
    assert response.status == 200 and (await response.json())["ok"]
    with session_factory() as session:
        escalation = session.execute(select(Escalation)).scalars().one()
        assert (escalation.status, escalation.assigned_to) == ("assigned", accounts["clinician"])
        assert session.get(Conversation, conversation).owner == "staff"
    assert deliverers["web"].notices_by_id() == [(conversation, "staff")]
    _, text = await console.page(f"/staff/conversations/{conversation}")
    assert 'id="escalation-assigned">you<' in text
    assert [r.actor_id for r in audit_rows(session_factory, "assign")] == [str(accounts["clinician"])]


async def test_assigning_a_conversation_without_an_escalation_opens_one(console, accounts, rows, session_factory):
    conversation = rows.conversation("web", owner="bot")
    await console.signed_in_as("staff@clinic.example")
    await console.post(f"/staff/conversations/{conversation}/assign")
    with session_factory() as session:
        escalation = session.execute(select(Escalation)).scalars().one()
        assert (escalation.conversation_id, escalation.status) == (conversation, "assigned")


async def test_hand_back_gives_the_conversation_to_the_bot(console, console_app, accounts, rows, session_factory,
                                                           deliverers):
    conversation = seed_conversation(rows, "web", "session-abc")
    await console.signed_in_as("staff@clinic.example")
    await console.post(f"/staff/conversations/{conversation}/reply", {"text": "Sorted, thanks!"})
    response = await console.post(f"/staff/conversations/{conversation}/hand-back")
    assert response.status == 303
    _, text = await console.page(f"/staff/conversations/{conversation}")
    assert "Resolved: the assistant answers this patient again" in text
    assert 'data-owner="bot"' in text and 'data-status="resolved"' in text
    with session_factory() as session:
        assert session.get(Conversation, conversation).owner == "bot"
        escalation = session.execute(select(Escalation)).scalars().one()
        assert escalation.status == "resolved" and escalation.resolved_at is not None
        told = session.execute(select(Message).where(Message.conversation_id == conversation,
                                                     Message.author == "system")).scalars().all()
    assert told, "the patient is told the assistant is back"
    assert deliverers["web"].notices_by_id()[-1] == (conversation, "bot")
    assert [r.actor_id for r in audit_rows(session_factory, "hand_back")] == [str(accounts["staff"])]
    # The bot answers the next message again.
    outcome = await console_app[ROUTER].receive(InboundMessage(
        channel="web", sender="session-abc", text="What does it cost?", channel_message_id=None,
        has_media=False, received_at=utcnow()))
    assert outcome.handled_by == "bot" and outcome.replies[-1].text == "The bot answers."
    _, text = await console.page("/staff?status=open")
    assert f'data-conversation-id="{conversation}"' not in text


async def test_the_live_transcript_api_returns_only_what_is_new(console, accounts, rows, session_factory):
    conversation = seed_conversation(rows)
    await console.signed_in_as("staff@clinic.example")
    _, text = await console.page(f"/staff/conversations/{conversation}")
    last_id = int(AUTHORS.findall(text)[-1][1])
    views_before = len(audit_rows(session_factory, "transcript_viewed"))
    data = await (await console.client.get(f"/staff/api/conversations/{conversation}?after={last_id}")).json()
    assert data["messages"] == [] and data["conversation"]["owner"] == "staff"
    assert len(audit_rows(session_factory, "transcript_viewed")) == views_before  # nothing new shown
    rows.message(conversation, "One more thing", at=START + timedelta(minutes=1))
    await console.post(f"/staff/conversations/{conversation}/notes", {"text": "note"}, json_api=True)
    data = await (await console.client.get(
        f"/staff/api/conversations/{conversation}?after={last_id}&after_note=0")).json()
    assert [(m["author"], m["text"]) for m in data["messages"]] == [("patient", "One more thing")]
    assert [n["text"] for n in data["notes"]] == ["note"]
    assert data["conversation"]["escalation"]["reason_label"] == "Asked for a person"
    views = audit_rows(session_factory, "transcript_viewed")
    assert views[-1].detail == {"after_message_id": last_id, "messages": 1}
    assert (await console.client.get(f"/staff/api/conversations/{conversation}?after=x")).status == 400


async def test_audit_details_never_hold_message_text(console, accounts, rows, session_factory):
    conversation = seed_conversation(rows, "sms", "+447700900123")
    await console.signed_in_as("staff@clinic.example")
    await console.page(f"/staff/conversations/{conversation}")
    await console.post(f"/staff/conversations/{conversation}/reply", {"text": "PRIVATE-REPLY"})
    await console.post(f"/staff/conversations/{conversation}/notes", {"text": "PRIVATE-NOTE"})
    await console.post(f"/staff/conversations/{conversation}/hand-back")
    with session_factory() as session:
        rows_ = session.execute(select(AuditLog)).scalars().all()
    dumped = json.dumps([[r.action, r.actor_id, r.subject_type, r.subject_id, r.detail] for r in rows_])
    for private in ("PRIVATE", "+447700900123", "Can I speak", "staff@clinic.example"):
        assert private not in dumped


# ---- a long transcript, a page at a time ---------------------------------------------------

TEXTS = re.compile(r'<div class="msg-text">([^<]*)</div>')
EARLIER_LINK = re.compile(r'<a id="transcript-earlier" href="([^"]+)" data-before="(\d+)">Earlier messages</a>')
LATER_LINK = re.compile(r'<a id="transcript-later" href="([^"]+)">Later messages</a>')


def seed_long_conversation(rows, count, text=lambda n: f"message {n}"):
    """A conversation of `count` messages, patient and assistant in turn; the ids of the messages."""
    conversation = rows.conversation()
    with rows.factory.begin() as session:
        ids = [rows.message(conversation, text(n), author="patient" if n % 2 else "bot",
                            at=START + timedelta(seconds=n), session=session) for n in range(1, count + 1)]
    return conversation, ids


def shown(text):
    return [int(t.split()[-1]) for t in TEXTS.findall(text) if t.startswith("message ")]


async def test_a_long_conversation_opens_on_its_newest_messages_and_pages_back(console, accounts, rows,
                                                                              session_factory):
    conversation, ids = seed_long_conversation(rows, 120)
    await console.signed_in_as("staff@clinic.example")
    response, text = await console.page(f"/staff/conversations/{conversation}")
    assert response.status == 200 and shown(text) == list(range(71, 121))
    assert 'data-newest="yes"' in text and 'id="transcript-earlier-note"' not in text
    assert LATER_LINK.search(text) is None
    href, before = EARLIER_LINK.search(text).groups()
    assert (href, int(before)) == (f"/staff/conversations/{conversation}?before={ids[70]}", ids[70])

    _, text = await console.page(href)
    assert shown(text) == list(range(21, 71))
    assert 'data-newest="no"' in text and "You are reading earlier messages" in text
    assert f'<a id="transcript-newest" href="/staff/conversations/{conversation}">' in text
    assert LATER_LINK.search(text).group(1) == f"/staff/conversations/{conversation}"
    href = EARLIER_LINK.search(text).group(1)
    assert href == f"/staff/conversations/{conversation}?before={ids[20]}"

    _, text = await console.page(href)
    assert shown(text) == list(range(1, 21))
    assert EARLIER_LINK.search(text) is None and 'id="transcript-earlier"' not in text  # the first page
    _, later = await console.page(LATER_LINK.search(text).group(1))
    assert shown(later) == list(range(21, 71))
    # The panels beside the transcript are those of the conversation, whichever page is shown.
    assert 'id="escalation-panel"' in text and 'id="note-form"' in text and 'id="reply-form"' in text

    viewed = audit_rows(session_factory, "transcript_viewed")
    assert [(r.actor_id, r.subject_id, r.detail) for r in viewed] == [
        (str(accounts["staff"]), str(conversation), {"messages": 50}),
        (str(accounts["staff"]), str(conversation), {"before_message_id": ids[70], "messages": 50}),
        (str(accounts["staff"]), str(conversation), {"before_message_id": ids[20], "messages": 20}),
        (str(accounts["staff"]), str(conversation), {"before_message_id": ids[70], "messages": 50}),
    ]


async def test_an_earlier_page_of_a_verified_patient_is_audited_as_a_bookings_view_too(console, accounts, rows,
                                                                                       session_factory):
    patient_id = seed_patient(session_factory)
    conversation = seed_conversation(rows, "sms", "+447700900123", patient_id=patient_id)
    await console.signed_in_as("staff@clinic.example")
    with session_factory() as session:
        last = session.execute(select(Message.id).where(Message.conversation_id == conversation)
                               .order_by(Message.id.desc())).scalars().first()
    _, text = await console.page(f"/staff/conversations/{conversation}?before={last}")
    assert [author for author, _ in AUTHORS.findall(text)] == ["patient", "bot"]
    assert 'id="patient-name">Alex Morgan<' in text
    assert [r.detail for r in audit_rows(session_factory, "transcript_viewed")] == [
        {"before_message_id": last, "messages": 2}]
    assert [r.detail for r in audit_rows(session_factory, "bookings_viewed")] == [{"conversation_id": conversation}]


async def test_a_page_of_long_messages_stays_small(console, accounts, rows):
    """100 messages of 2,000 characters (what is stored of the longest): the page holds a part of them."""
    await console.signed_in_as("staff@clinic.example")
    for text in (lambda n: f"{n:04d}" + "x" * 1996, lambda n: f"{n:04d}" + '"<&' * 665 + "'"):
        conversation, _ = seed_long_conversation(rows, 100, text)
        response, page = await console.page(f"/staff/conversations/{conversation}")
        assert response.status == 200
        size = len(page.encode("utf-8"))
        assert size < 200_000, size
        assert TEXTS.findall(page)[-1].startswith("0100") and EARLIER_LINK.search(page)


async def test_a_bad_before_is_400_never_a_server_error(console, accounts, rows):
    conversation, _ = seed_long_conversation(rows, 3)
    await console.signed_in_as("staff@clinic.example")
    bad = {"x": "before must be a number", "-1": "before must not be negative", "1.5": "before must be a number",
           "": "before must be a message id", "0": "before must be a message id",
           "99999999999999999999": "before is too large", "9" * 5000: "before must be a number"}
    for value, says in bad.items():
        for path in (f"/staff/conversations/{conversation}", f"/staff/api/conversations/{conversation}"):
            response = await console.client.get(path, params={"before": value})
            assert (response.status, says in await response.text()) == (400, True), (path, value[:20])
    both = await console.client.get(f"/staff/api/conversations/{conversation}?before=3&after=1")
    assert both.status == 400 and "not both" in await both.text()
    response, text = await console.page(f"/staff/conversations/{conversation}?before=2147483647")
    assert response.status == 200 and shown(text) == [1, 2, 3] and 'data-newest="yes"' in text


async def test_the_api_loads_earlier_pages_and_new_messages_a_page_at_a_time(console, accounts, rows,
                                                                            session_factory):
    conversation, ids = seed_long_conversation(rows, 120)
    await console.signed_in_as("staff@clinic.example")
    api = f"/staff/api/conversations/{conversation}"
    data = await (await console.client.get(f"{api}?before={ids[70]}")).json()
    assert [m["text"] for m in data["messages"]] == [f"message {n}" for n in range(21, 71)]
    assert data["earlier_before"] == ids[20] and "more_after" not in data
    data = await (await console.client.get(f"{api}?before={ids[20]}")).json()
    assert len(data["messages"]) == 20 and data["earlier_before"] is None
    data = await (await console.client.get(f"{api}?after={ids[9]}")).json()
    assert [m["id"] for m in data["messages"]] == ids[10:60] and data["more_after"] is True
    data = await (await console.client.get(f"{api}?after={ids[69]}")).json()
    assert [m["id"] for m in data["messages"]] == ids[70:] and data["more_after"] is False
    data = await (await console.client.get(f"{api}?after_note=0")).json()  # an earlier page's live redraw
    assert data["messages"] == [] and data["conversation"]["id"] == conversation
    assert [r.detail for r in audit_rows(session_factory, "transcript_viewed")] == [
        {"before_message_id": ids[70], "messages": 50}, {"before_message_id": ids[20], "messages": 20},
        {"after_message_id": ids[9], "messages": 50}, {"after_message_id": ids[69], "messages": 50}]
