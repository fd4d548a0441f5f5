"""The inbox: order (urgent first), filters, waiting times, staff requests, and live updates (SSE)."""
from __future__ import annotations

import asyncio
import json
import re
from datetime import date, timedelta

from sqlalchemy import select

from bot.appkeys import EVENTS
from bot.conversations.events import InboxEvent
from bot.db.models import Appointment, AuditLog, Patient, StaffRequest, TreatmentCourse
from tests.support.clock import START

ROW = re.compile(r'<tr class="inbox-row[^"]*" data-conversation-id="(\d+)"\s+data-escalation-id="\d+" '
                 r'data-priority="(\w+)" data-status="(\w+)">')


def inbox_rows(html):
    return [(int(c), p, s) for c, p, s in ROW.findall(html)]


def seed_inbox(rows, accounts):
    """Four escalations: normal waiting, urgent waiting (newer), assigned to staff, resolved."""
    normal = rows.conversation("web")
    rows.message(normal, "Can I talk to someone?", at=START - timedelta(minutes=60))
    rows.escalation(normal, at=START - timedelta(minutes=60))
    urgent = rows.conversation("sms", "+447700900111")
    rows.message(urgent, "My scalp is badly swollen", at=START - timedelta(minutes=5))
    rows.escalation(urgent, reason="red_flag", priority="urgent", at=START - timedelta(minutes=5),
                    summary="Possible allergic reaction")
    assigned = rows.conversation("whatsapp", "+447700900222")
    rows.escalation(assigned, status="assigned", assigned_to=accounts["staff"], at=START - timedelta(hours=3))
    resolved = rows.conversation("web")
    rows.escalation(resolved, status="resolved", at=START - timedelta(hours=5))
    return {"normal": normal, "urgent": urgent, "assigned": assigned, "resolved": resolved}


async def test_urgent_first_then_waiting_then_assigned(console, accounts, rows):
    ids = seed_inbox(rows, accounts)
    await console.signed_in_as("clinician@clinic.example")
    response, text = await console.page("/staff")
    assert response.status == 200
    assert inbox_rows(text) == [(ids["urgent"], "urgent", "waiting"), (ids["normal"], "normal", "waiting"),
                                (ids["assigned"], "normal", "assigned")]
    urgent_row = text[text.index(f'data-conversation-id="{ids["urgent"]}"'):]
    urgent_row = urgent_row[:urgent_row.index("</tr>")]
    assert 'class="badge badge-urgent"' in urgent_row and "Urgent" in urgent_row  # not only a colour
    assert "Urgent symptom (red flag)" in urgent_row and "Possible allergic reaction" in urgent_row
    assert "SMS" in urgent_row and "Not verified" in urgent_row and "5 min" in urgent_row
    assert "(1 urgent)" in text


async def test_filters_by_status_and_mine(console, accounts, rows):
    ids = seed_inbox(rows, accounts)
    await console.signed_in_as("staff@clinic.example")
    expected = {
        "waiting": [ids["urgent"], ids["normal"]],
        "assigned": [ids["assigned"]],
        "resolved": [ids["resolved"]],
        "all": [ids["urgent"], ids["normal"], ids["assigned"], ids["resolved"]],
    }
    for status, conversations in expected.items():
        _, text = await console.page(f"/staff?status={status}")
        assert [c for c, _, _ in inbox_rows(text)] == conversations, status
    _, text = await console.page("/staff?mine=1")
    assert [c for c, _, _ in inbox_rows(text)] == [ids["assigned"]]
    assert "you" in text
    await console.post("/staff/logout")
    await console.signed_in_as("admin@clinic.example")
    _, text = await console.page("/staff?mine=1")
    assert inbox_rows(text) == [] and "Nothing here" in text


async def test_the_json_inbox_matches_the_page(console, accounts, rows):
    ids = seed_inbox(rows, accounts)
    await console.signed_in_as("staff@clinic.example")
    response = await console.client.get("/staff/api/inbox?status=open")
    data = await response.json()
    assert response.status == 200
    assert [r["conversation_id"] for r in data["escalations"]] == [ids["urgent"], ids["normal"], ids["assigned"]]
    first = data["escalations"][0]
    assert first["priority"] == "urgent" and first["urgent"] and first["url"] == f"/staff/conversations/{ids['urgent']}"
    assert first["waiting_label"] == "5 min" and first["waiting_since"] == (START - timedelta(minutes=5)).isoformat()
    assert data["escalations"][1]["waiting_label"] == "1 h"
    assert data["escalations"][2]["assigned_label"] == "you" and data["escalations"][2]["mine"]
    assert data["counts"] == {"urgent": 1, "waiting": 2}
    mine = await (await console.client.get("/staff/api/inbox?mine=1")).json()
    assert [r["conversation_id"] for r in mine["escalations"]] == [ids["assigned"]]


async def test_a_staff_reply_stops_the_waiting_clock_until_the_patient_writes(console, accounts, rows, clock):
    conversation = rows.conversation("web")
    rows.escalation(conversation, at=START - timedelta(minutes=30))
    rows.message(conversation, "We'll look into it", author="staff", at=START - timedelta(minutes=20))
    await console.signed_in_as("staff@clinic.example")
    row = (await (await console.client.get("/staff/api/inbox")).json())["escalations"][0]
    assert (row["waiting"], row["waiting_label"]) == (False, "answered")
    rows.message(conversation, "Any news?", at=START - timedelta(minutes=10))
    row = (await (await console.client.get("/staff/api/inbox")).json())["escalations"][0]
    assert (row["waiting"], row["waiting_label"]) == (True, "10 min")


def seed_request(session_factory, rows):
    """A verified patient with a booked session, and their reschedule request."""
    with session_factory.begin() as session:
        patient = Patient(clinic_ref="MC-4827", full_name="Alex Morgan", phone_e164="+447700900123",
                          date_of_birth=date(1988, 4, 12))
        course = TreatmentCourse(patient=patient, treatment="Hair mesotherapy", planned_sessions=8)
        appointment = Appointment(course=course, starts_at=START + timedelta(days=3, hours=4), duration_min=45,
                                  status="booked", source_key="MC-4827|x")
        session.add_all([patient, course, appointment])
        session.flush()
        patient_id, appointment_id = patient.id, appointment.id
    conversation = rows.conversation("sms", "+447700900123", owner="bot", patient_id=patient_id)
    request_id = rows.request("sms:+447700900123", wishes="Any Friday afternoon", patient_id=patient_id,
                              appointment_id=appointment_id)
    return conversation, request_id


async def test_requests_are_listed_with_the_patients_wishes(console, accounts, rows, session_factory):
    conversation, request_id = seed_request(session_factory, rows)
    await console.signed_in_as("staff@clinic.example")
    _, text = await console.page("/staff")
    row = text[text.index(f'data-request-id="{request_id}"'):]
    row = row[:row.index("</tr>")]
    assert "Reschedule a session" in row and "Any Friday afternoon" in row
    assert "Alex Morgan (MC-4827)" in row and f'href="/staff/conversations/{conversation}"' in row
    assert "on Monday at 14:00" in row  # the session concerned, clinic time
    with session_factory() as session:
        viewed = session.execute(select(AuditLog).where(AuditLog.action == "requests_viewed")).scalars().all()
    # Two page loads (one after signing in, this one): each is recorded, with ids only.
    assert [(r.actor_id, r.detail) for r in viewed] == [(str(accounts["staff"]), {"request_ids": [request_id]})] * 2
    # Live redraws of the same requests do not fill the log; a new request shown is recorded.
    await console.client.get("/staff/api/inbox")
    await console.client.get("/staff/api/inbox")
    another = rows.request("web:someone", kind="delete_data", wishes="Please erase my data")
    await console.client.get("/staff/api/inbox")
    await console.client.get("/staff/api/inbox")
    with session_factory() as session:
        viewed = session.execute(select(AuditLog).where(AuditLog.action == "requests_viewed")).scalars().all()
    assert [r.detail["request_ids"] for r in viewed] == [[request_id], [request_id], [request_id, another]]
    assert all("Friday" not in json.dumps(r.detail) for r in viewed)


async def test_marking_a_request_done(console, accounts, rows, session_factory, clock):
    _, request_id = seed_request(session_factory, rows)
    await console.signed_in_as("staff@clinic.example")
    response = await console.post(f"/staff/requests/{request_id}/done", {"next": "/staff"})
    assert response.status == 303 and response.headers["Location"] == "/staff"
    _, text = await console.page("/staff")
    assert f'data-request-id="{request_id}"' not in text and "Request marked done." in text
    with session_factory() as session:
        request = session.get(StaffRequest, request_id)
        assert (request.status, request.done_by, request.done_at) == ("done", accounts["staff"], clock.now)
        done = session.execute(select(AuditLog).where(AuditLog.action == "staff_request_done")).scalars().all()
    assert [(r.actor_type, r.actor_id, r.subject_id) for r in done] == [
        ("staff", str(accounts["staff"]), str(request_id))]
    again = await console.post(f"/staff/requests/{request_id}/done", json_api=True)
    assert again.status == 200 and (await again.json())["ok"] is True
    missing = await console.post("/staff/requests/999/done", json_api=True)
    assert missing.status == 404


async def read_event(response, name, timeout=5.0):
    """The data of the next event called `name` on a server-sent event stream."""
    async def read():
        current = None
        while True:
            line = (await response.content.readline()).decode()
            if not line:
                raise AssertionError("the stream ended")
            if line.startswith("event: "):
                current = line[len("event: "):].strip()
            elif line.startswith("data: ") and current == name:
                return json.loads(line[len("data: "):])
    return await asyncio.wait_for(read(), timeout)


async def test_the_stream_tells_about_an_escalation_made_by_another_process(console, accounts, rows):
    await console.signed_in_as("staff@clinic.example")
    response = await console.client.get("/staff/events")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-store"
    await read_event(response, "ready")
    conversation = rows.conversation("web")  # straight into the database, as the action server does
    rows.escalation(conversation, reason="booking_change")
    data = await read_event(response, "inbox-changed")
    assert data["kind"] == "changed"
    response.close()


async def test_the_stream_relays_in_process_events_with_ids_only(console, console_app, accounts):
    await console.signed_in_as("staff@clinic.example")
    response = await console.client.get("/staff/events")
    await read_event(response, "ready")
    console_app[EVENTS].publish(InboxEvent("message_in", conversation_id=42))
    data = await read_event(response, "inbox-changed")
    assert data == {"kind": "message_in", "conversation_id": 42, "request_id": None, "urgent": False}
    response.close()


async def test_the_stream_notices_a_new_patient_message_and_a_new_request(console, accounts, rows):
    conversation = rows.conversation("web")
    await console.signed_in_as("staff@clinic.example")
    response = await console.client.get("/staff/events")
    await read_event(response, "ready")
    rows.message(conversation, "hello again")
    assert (await read_event(response, "inbox-changed"))["kind"] == "changed"
    rows.request("web:whatever", kind="cancel")
    assert (await read_event(response, "inbox-changed"))["kind"] == "changed"
    response.close()
