"""Alerts in every signed-in console: the urgent cases waiting (ids and a count, no patient detail),
the controls for desktop notifications and the sound, and urgent rows longest-waiting first."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.alerts.waiting import urgent_waiting
from bot.clinic.inbox import list_inbox
from bot.db.models import AuditLog
from tests.support.clock import START


def urgent(rows, minutes_ago: int, **changes) -> tuple:
    conversation = rows.conversation("sms", f"+4477009001{minutes_ago:02d}")
    rows.message(conversation, "My scalp is badly swollen", at=START - timedelta(minutes=minutes_ago))
    escalation = rows.escalation(conversation, reason="red_flag", priority="urgent",
                                 at=START - timedelta(minutes=minutes_ago), summary="Possible allergic reaction",
                                 **changes)
    return conversation, escalation


def audit_rows(session_factory) -> int:
    with session_factory() as session:
        return session.execute(select(func.count(AuditLog.id))).scalar_one()


async def test_the_alerts_count_only_urgent_cases_nobody_took(console, accounts, rows, session_factory):
    newer_conversation, newer = urgent(rows, 2)
    older_conversation, older = urgent(rows, 9)
    urgent(rows, 20, status="assigned", assigned_to=accounts["staff"])
    urgent(rows, 30, status="resolved")
    rows.escalation(rows.conversation(), at=START - timedelta(hours=1))  # normal, waiting
    await console.signed_in_as("staff@clinic.example")
    before = audit_rows(session_factory)
    response = await console.client.get("/staff/api/alerts")
    assert response.status == 200
    assert await response.json() == {"urgent_waiting": 2, "cases": [
        {"escalation_id": older, "url": f"/staff/conversations/{older_conversation}"},
        {"escalation_id": newer, "url": f"/staff/conversations/{newer_conversation}"},
    ]}
    text = await response.text()
    for detail in ("swollen", "allergic", "+44", "red_flag"):
        assert detail not in text
    assert audit_rows(session_factory) == before  # no patient data read: nothing to audit


async def test_the_alerts_need_a_signed_in_session(console):
    response = await console.client.get("/staff/api/alerts")
    assert response.status == 401


async def test_every_signed_in_page_has_the_alert_controls_hidden_until_the_script_runs(console, accounts):
    _, login = await console.page("/staff/login")
    assert "alert-controls" not in login  # nobody to alert yet
    await console.signed_in_as("admin@clinic.example")
    for path in ("/staff", "/staff/teach", "/staff/analytics", "/staff/audit"):
        response, text = await console.page(path)
        assert response.status == 200, path
        assert '<div class="alert-controls" id="alert-controls" hidden>' in text
        assert 'id="alerts-enable" hidden>' in text  # asked for only when staff click it
        assert 'id="alerts-mute" aria-pressed="false"' in text


async def test_urgent_rows_come_first_longest_waiting_first(accounts, rows, session_factory):
    old_normal = rows.escalation(rows.conversation(), at=START - timedelta(hours=3))
    _, new_urgent = urgent(rows, 1)
    _, oldest_urgent = urgent(rows, 45)
    _, middle_urgent = urgent(rows, 10)
    _, taken_urgent = urgent(rows, 60, status="assigned", assigned_to=accounts["staff"])
    with session_factory() as session:
        order = [item.escalation_id for item in list_inbox(session)]
        assert order == [oldest_urgent, middle_urgent, new_urgent, taken_urgent, old_normal]
        assert [w.escalation_id for w in urgent_waiting(session)] == [oldest_urgent, middle_urgent, new_urgent]
