"""The audit log in the console (admins only): every staff action recorded, pages, CSV export."""
from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select

from bot.clinic import audit
from bot.db.models import AuditLog
from tests.support.clock import START

AUDIT_ROW = re.compile(r'<tr class="audit-row" data-audit-id="(\d+)" data-action="([\w_]+)">')


async def test_every_staff_action_is_audited_with_who_and_when(console, accounts, rows, session_factory, clock):
    conversation = rows.conversation("web")
    rows.message(conversation, "Hello")
    rows.escalation(conversation)
    request_id = rows.request("web:x", kind="cancel")
    await console.login("admin@clinic.example", "wrong password here")
    await console.signed_in_as("admin@clinic.example")
    await console.page(f"/staff/conversations/{conversation}")
    await console.post(f"/staff/conversations/{conversation}/assign")
    await console.post(f"/staff/conversations/{conversation}/reply", {"text": "Hi"})
    await console.post(f"/staff/conversations/{conversation}/notes", {"text": "note"})
    await console.post(f"/staff/conversations/{conversation}/hand-back")
    await console.post(f"/staff/requests/{request_id}/done")
    assert (await console.client.get("/staff/audit.csv")).status == 200
    await console.post("/staff/logout")
    with session_factory() as session:
        rows_ = session.execute(select(AuditLog).where(AuditLog.actor_type == "staff")).scalars().all()
    actions = {r.action for r in rows_}
    assert {"login_failed", "login", "transcript_viewed", "assign", "reply", "note_added", "hand_back",
            "staff_request_done", "requests_viewed", "audit_exported", "logout"} <= actions
    admin = str(accounts["admin"])
    assert all(r.actor_id == admin for r in rows_)
    assert all(r.at is not None for r in rows_)
    console_rows = [r for r in rows_ if r.action in ("login", "transcript_viewed", "note_added", "logout")]
    assert all(r.at == clock.now for r in console_rows)


async def test_the_audit_page_is_paginated_and_filterable(console, accounts, session_factory):
    with session_factory.begin() as session:
        for number in range(25):
            audit.record(session, actor_type="bot", actor_id=None, action="escalation_opened",
                         subject_type="conversation", subject_id=number, detail={"reason": "fallback"}, now=START)
    await console.signed_in_as("admin@clinic.example")
    _, first = await console.page("/staff/audit")
    ids = [int(i) for i, _ in AUDIT_ROW.findall(first)]
    assert len(ids) == 10 and ids == sorted(ids, reverse=True)  # newest first, 10 a page in the test
    assert 'rel="next"' in first and 'rel="prev"' not in first
    _, second = await console.page("/staff/audit?page=2")
    second_ids = [int(i) for i, _ in AUDIT_ROW.findall(second)]
    assert second_ids and max(second_ids) < min(ids) and 'rel="prev"' in second
    _, filtered = await console.page("/staff/audit?action=login")
    assert {a for _, a in AUDIT_ROW.findall(filtered)} == {"login"}
    assert "admin@clinic.example" in filtered


async def test_the_csv_export_has_every_row_and_is_itself_audited(console, accounts, session_factory):
    with session_factory.begin() as session:
        for _ in range(2500):  # more than one batch
            audit.record(session, actor_type="system", actor_id=None, action="demo_seeded", now=START)
        audit.record(session, actor_type="patient", actor_id="=HYPERLINK(1)", action="opted_out", now=START)
    await console.signed_in_as("admin@clinic.example")
    response = await console.client.get("/staff/audit.csv")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-')
    assert response.headers["Cache-Control"] == "no-store"
    table = list(csv.reader(io.StringIO(await response.text())))
    assert table[0] == ["id", "at_utc", "actor_type", "actor_id", "actor_email", "action", "subject_type",
                        "subject_id", "detail"]
    with session_factory() as session:
        total = session.execute(select(AuditLog)).scalars().all()
        exported = session.execute(select(AuditLog).where(AuditLog.action == "audit_exported")).scalars().one()
    assert len(table) - 1 == len(total)
    assert table[-1][5] == "audit_exported" and table[-1][3] == str(accounts["admin"])
    assert table[-1][4] == "admin@clinic.example"
    assert exported.detail == {"up_to_id": exported.id}
    assert any(row[3] == "'=HYPERLINK(1)" for row in table[1:])  # no formulas in a spreadsheet
