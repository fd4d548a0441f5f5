"""Erasing a patient's conversations from a "Delete my data" request: admins only, with a confirm step."""
from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from bot.db.models import (
    Appointment,
    AuditLog,
    Conversation,
    Message,
    Patient,
    StaffRequest,
    TreatmentCourse,
)
from tests.bot.privacy.helpers import add_events, create_events_table, event_senders
from tests.support.clock import START

PHONE = "+447700900123"


@pytest.fixture
def erasure(rows, session_factory, settings):
    """Alex (verified on the web and by SMS) asked to have their data deleted; Sam's chat is unrelated."""
    from bot.db.session import create_db_engine

    with session_factory.begin() as session:
        alex = Patient(clinic_ref="MC-4827", full_name="Alex Morgan", phone_e164=PHONE,
                       date_of_birth=date(1988, 4, 12), created_at=START, updated_at=START)
        session.add(alex)
        session.flush()
        course = TreatmentCourse(patient_id=alex.id, treatment="Hair mesotherapy", planned_sessions=8)
        session.add(course)
        session.flush()
        session.add(Appointment(course_id=course.id, starts_at=START, duration_min=45, status="booked",
                                source_key="MC-4827-1", updated_at=START))
        patient_id = alex.id
    web = rows.conversation("web", "alex-web", owner="bot", patient_id=patient_id)
    rows.message(web, "I'm Alex Morgan, born 12/04/1988")
    sms = rows.conversation("sms", PHONE, patient_id=patient_id)
    rows.message(sms, "please delete my data")
    rows.escalation(sms)
    sam = rows.conversation("web", "sam-web", owner="bot")
    rows.message(sam, "Sam here")
    request_id = rows.request(f"sms:{PHONE}", kind="delete_data", wishes="please delete my data",
                              patient_id=patient_id)
    reschedule = rows.request("web:sam-web", kind="reschedule")
    create_events_table(settings.database_url)
    engine = create_db_engine(settings.database_url)
    for sender in ("web:alex-web", f"sms:{PHONE}", "web:sam-web"):
        add_events(engine, sender, START)
    yield {"patient": patient_id, "web": web, "sms": sms, "sam": sam, "request": request_id,
           "reschedule": reschedule, "events": engine}
    engine.dispose()


def row_of(text: str, request_id: int) -> str:
    row = text[text.index(f'data-request-id="{request_id}"'):]
    return row[:row.index("</tr>")]


async def test_admins_see_erase_and_others_see_who_does_it(console, accounts, erasure):
    await console.signed_in_as("admin@clinic.example")
    _, text = await console.page("/staff")
    row = row_of(text, erasure["request"])
    assert "Delete my data" in row and f'href="/staff/requests/{erasure["request"]}/erase"' in row
    assert "Erase conversations…" in row and "Mark done" not in row
    assert "Mark done" in row_of(text, erasure["reschedule"])
    data = await (await console.client.get("/staff/api/inbox")).json()
    item = next(r for r in data["requests"] if r["id"] == erasure["request"])
    assert data["can_erase"] is True and item["erasable"] is True
    assert item["erase_url"] == f"/staff/requests/{erasure['request']}/erase"
    _, page = await console.page(f"/staff/conversations/{erasure['sms']}")
    assert f'href="/staff/requests/{erasure["request"]}/erase"' in page
    await console.post("/staff/logout")
    for role in ("staff", "clinician"):
        await console.signed_in_as(f"{role}@clinic.example")
        _, text = await console.page("/staff")
        row = row_of(text, erasure["request"])
        assert "An administrator erases the conversations" in row
        assert "/erase" not in row and "Mark done" not in row
        assert (await (await console.client.get("/staff/api/inbox")).json())["can_erase"] is False
        await console.post("/staff/logout")


async def test_only_admins_may_open_or_post_the_erasure(console, accounts, erasure, session_factory):
    for role in ("staff", "clinician"):
        await console.signed_in_as(f"{role}@clinic.example")
        page = await console.client.get(f"/staff/requests/{erasure['request']}/erase", allow_redirects=False)
        assert page.status == 403
        posted = await console.post(f"/staff/requests/{erasure['request']}/erase", {"confirm": "yes"})
        assert posted.status == 403
        await console.post("/staff/logout")
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(Conversation)).scalar_one() == 3
        assert session.get(StaffRequest, erasure["request"]).status == "open"


async def test_the_confirmation_page_says_what_goes_and_what_stays(console, accounts, erasure):
    await console.signed_in_as("admin@clinic.example")
    response, text = await console.page(f"/staff/requests/{erasure['request']}/erase")
    assert response.status == 200
    assert "Alex Morgan (MC-4827)" in text and "Delete my data" in text
    assert '<li data-key="conversations"><strong>2</strong>' in text
    assert '<li data-key="messages"><strong>2</strong>' in text
    assert '<li data-key="events"><strong>2</strong>' in text
    assert "1 of these conversations still wait for the team" in text
    assert "bookings" in text and 'name="confirm" value="yes" required' in text
    assert f'action="/staff/requests/{erasure["request"]}/erase"' in text
    missing = await console.client.get("/staff/requests/999/erase", allow_redirects=False)
    assert missing.status == 404
    wrong_kind = await console.client.get(f"/staff/requests/{erasure['reschedule']}/erase", allow_redirects=False)
    assert wrong_kind.status == 303 and wrong_kind.headers["Location"] == "/staff"


async def test_nothing_is_erased_without_the_confirmation(console, accounts, erasure, session_factory):
    await console.signed_in_as("admin@clinic.example")
    back = f"/staff/requests/{erasure['request']}/erase"
    response = await console.post(back)
    assert response.status == 303 and response.headers["Location"] == back
    _, text = await console.page(back)
    assert "tick the box to confirm" in text
    as_json = await console.post(back, {"confirm": "no"}, json_api=True)
    assert as_json.status == 422 and (await as_json.json())["ok"] is False
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(Conversation)).scalar_one() == 3
    assert len(event_senders(erasure["events"])) == 3


async def test_confirmed_erasure_removes_conversations_and_events_and_keeps_bookings(
        console, accounts, erasure, session_factory, clock):
    await console.signed_in_as("admin@clinic.example")
    await console.page(f"/staff/requests/{erasure['request']}/erase")
    response = await console.post(f"/staff/requests/{erasure['request']}/erase", {"confirm": "yes"})
    assert response.status == 303 and response.headers["Location"] == "/staff"
    _, text = await console.page("/staff")
    assert "Erased 2 conversation(s): 2 messages and 2 assistant memory entries." in text
    assert f'data-request-id="{erasure["request"]}"' not in text  # done: off the open list
    with session_factory() as session:
        assert set(session.execute(select(Conversation.id)).scalars()) == {erasure["sam"]}
        assert set(session.execute(select(Message.conversation_id)).scalars()) == {erasure["sam"]}
        assert session.get(Patient, erasure["patient"]) is not None
        assert session.execute(select(func.count()).select_from(Appointment)).scalar_one() == 1
        request = session.get(StaffRequest, erasure["request"])
        assert (request.status, request.done_by, request.done_at) == ("done", accounts["admin"], clock.now)
        erased = session.execute(select(AuditLog).where(AuditLog.action == "data_erased")).scalar_one()
    assert event_senders(erasure["events"]) == {"web:sam-web": 1}
    assert (erased.actor_id, erased.subject_type, erased.subject_id) == (
        str(accounts["admin"]), "patient", str(erasure["patient"]))
    assert erased.detail["conversation_ids"] == [erasure["web"], erasure["sms"]]
    assert erased.detail["messages"] == 2 and erased.detail["events"] == 2
    assert not any(word in json.dumps(erased.detail) for word in ("Alex", "1988", "7700", "delete my data"))
    gone = await console.client.get(f"/staff/conversations/{erasure['sms']}", allow_redirects=False)
    assert gone.status == 404
    again = await console.post(f"/staff/requests/{erasure['request']}/erase", {"confirm": "yes"}, json_api=True)
    assert again.status == 409 and "already done" in (await again.json())["error"]
    # The audit page shows the erasure (ids and counts).
    _, audit_page = await console.page("/staff/audit?action=data_erased")
    assert "data_erased" in audit_page and "Alex" not in audit_page


async def test_mark_done_does_not_close_a_delete_data_request(console, accounts, erasure, session_factory):
    await console.signed_in_as("admin@clinic.example")
    response = await console.post(f"/staff/requests/{erasure['request']}/done", json_api=True)
    assert response.status == 409 and "Erase conversations" in (await response.json())["error"]
    form = await console.post(f"/staff/requests/{erasure['request']}/done", {"next": "/staff"})
    assert form.status == 303
    with session_factory() as session:
        assert session.get(StaffRequest, erasure["request"]).status == "open"
    ok = await console.post(f"/staff/requests/{erasure['reschedule']}/done", json_api=True)
    assert ok.status == 200
