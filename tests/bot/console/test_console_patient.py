"""The whole patient: identity (phone masked, date of birth for clinicians and admins), bookings,
care messages and one timeline of every conversation on every channel; audited; 404 and 400."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from bot.clinic.inbox import TRANSCRIPT_PAGE_MESSAGES
from bot.db.models import AuditLog
from tests.bot.console.test_console_conversation import seed_patient
from tests.support.clock import START

LINES = re.compile(r'data-message-id="(\d+)" data-channel="(\w+)"')


def seed_two_channels(rows, patient_id):
    """A web and an SMS conversation of the patient, interleaved in time, and one of someone else."""
    web = rows.conversation("web", patient_id=patient_id, at=START - timedelta(days=2))
    sms = rows.conversation("sms", "+447700900123", patient_id=patient_id, at=START - timedelta(days=1))
    other = rows.conversation("web")
    ids = [
        rows.message(web, "Web question", author="patient", at=START - timedelta(days=2)),
        rows.message(sms, "SMS question", author="patient", at=START - timedelta(days=1)),
        rows.message(web, "Web answer", author="bot", at=START - timedelta(hours=5)),
        rows.message(sms, "SMS answer", author="staff", at=START - timedelta(hours=1)),
    ]
    rows.message(other, "Someone else entirely", author="patient")
    return web, sms, ids


def viewed(session_factory):
    with session_factory() as session:
        return [(r.actor_id, r.subject_type, r.subject_id, r.detail) for r in session.execute(
            select(AuditLog).where(AuditLog.action == "patient_viewed").order_by(AuditLog.id)).scalars()]


async def test_the_patient_page_shows_every_channel_in_one_timeline(console, accounts, rows, session_factory):
    patient_id = seed_patient(session_factory)
    web, sms, ids = seed_two_channels(rows, patient_id)
    await console.signed_in_as("staff@clinic.example")
    response, page = await console.page(f"/staff/patients/{patient_id}")
    assert response.status == 200
    assert LINES.findall(page) == [(str(ids[0]), "web"), (str(ids[1]), "sms"), (str(ids[2]), "web"),
                                   (str(ids[3]), "sms")]
    assert "Someone else entirely" not in page
    assert f'href="/staff/conversations/{web}"' in page and f'href="/staff/conversations/{sms}"' in page
    assert "Alex Morgan" in page and "MC-4827" in page
    assert "+•••••••••123" in page and "+447700900123" not in page
    assert "12 April 1988" not in page and 'id="dob-hidden"' in page
    assert 'id="upcoming-sessions"' in page and 'id="past-sessions"' in page
    [(actor, subject, subject_id, detail)] = viewed(session_factory)
    assert (actor, subject, subject_id) == (str(accounts["staff"]), "patient", str(patient_id))
    assert detail == {"messages": 4, "conversations": 2, "care_messages": 0, "date_of_birth": False}


async def test_clinicians_see_the_date_of_birth(console, accounts, rows, session_factory):
    patient_id = seed_patient(session_factory)
    await console.signed_in_as("clinician@clinic.example")
    _, page = await console.page(f"/staff/patients/{patient_id}")
    assert '<dd id="identity-dob">12 April 1988</dd>' in page
    assert viewed(session_factory)[0][3]["date_of_birth"] is True


async def test_the_timeline_is_paged_like_a_transcript(console, accounts, rows, session_factory):
    patient_id = seed_patient(session_factory)
    web, sms, first = seed_two_channels(rows, patient_id)
    more = [rows.message(sms if n % 2 else web, f"Later {n}", author="patient", at=START + timedelta(minutes=n))
            for n in range(TRANSCRIPT_PAGE_MESSAGES)]
    ids = first + more
    await console.signed_in_as("staff@clinic.example")
    _, newest = await console.page(f"/staff/patients/{patient_id}")
    assert [int(i) for i, _ in LINES.findall(newest)] == ids[-TRANSCRIPT_PAGE_MESSAGES:]
    oldest_shown = ids[-TRANSCRIPT_PAGE_MESSAGES]
    assert f'href="/staff/patients/{patient_id}?before={oldest_shown}"' in newest
    _, earlier = await console.page(f"/staff/patients/{patient_id}?before={oldest_shown}")
    assert [int(i) for i, _ in LINES.findall(earlier)] == ids[:-TRANSCRIPT_PAGE_MESSAGES]
    assert 'id="timeline-newest"' in earlier and 'id="timeline-earlier"' not in earlier
    assert viewed(session_factory)[-1][3]["before_message_id"] == oldest_shown


async def test_unknown_and_malformed_patient_ids(console, accounts, session_factory):
    await console.signed_in_as("staff@clinic.example")
    assert (await console.client.get("/staff/patients/999")).status == 404
    assert (await console.client.get("/staff/patients/99999999999")).status == 404
    assert (await console.client.get("/staff/patients/abc")).status == 400
    assert (await console.client.get("/staff/patients/1?before=x")).status == 400
    assert viewed(session_factory) == []


async def test_the_conversation_page_links_the_patient_once_verified(console, accounts, rows, session_factory):
    patient_id = seed_patient(session_factory)
    verified = rows.conversation("web", patient_id=patient_id)
    unverified = rows.conversation("web")
    await console.signed_in_as("staff@clinic.example")
    _, page = await console.page(f"/staff/conversations/{verified}")
    assert f'href="/staff/patients/{patient_id}"' in page
    _, page = await console.page(f"/staff/conversations/{unverified}")
    assert "/staff/patients/" not in page


async def test_the_patient_page_needs_a_sign_in(client, session_factory):
    patient_id = seed_patient(session_factory)
    response = await client.get(f"/staff/patients/{patient_id}", allow_redirects=False)
    assert response.status in (302, 303)
    assert viewed(session_factory) == []
