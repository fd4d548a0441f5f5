"""The analytics page and its JSON and CSV (clinicians and admins): the figures of the known rows
of tests/support/analytics.py, each worked out by hand; roles; bad ranges; the view audited."""
from __future__ import annotations

import csv
import dataclasses
import io
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.db.models import AuditLog
from tests.support.analytics import TIMEZONE, seed_known_figures

PERIOD = "from=2026-11-18&to=2026-11-20"  # the clock says 20 Nov 2026, 11:00 in Paris


@pytest.fixture
def settings(settings):
    """The console's settings with the clinic in Paris, as the known rows expect."""
    return dataclasses.replace(settings, clinic=dataclasses.replace(settings.clinic, timezone=ZoneInfo(TIMEZONE)))


@pytest.fixture
def known(session_factory):
    return seed_known_figures(session_factory)


def cell(html: str, element_id: str) -> str:
    """The text of the element with this id."""
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert found, element_id
    return found.group(1).strip()


def row_cells(html: str, attribute: str, value: str) -> list:
    """The cells of the table row marked data-<attribute>="<value>"."""
    found = re.search(rf'<tr data-{attribute}="{value}">(.*?)</tr>', html, re.S)
    assert found, value
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", found.group(1))]


async def test_the_page_shows_the_hand_worked_figures(console, accounts, known) -> None:
    await console.signed_in_as("clinician@clinic.example")
    response, html = await console.page(f"/staff/analytics?range=custom&{PERIOD}")
    assert response.status == 200
    assert cell(html, "fig-conversations") == "6"
    assert cell(html, "fig-contained") == "1"  # c1 only
    assert "(16.7%) handled by the assistant alone" in html
    assert cell(html, "fig-escalated") == "5"
    assert row_cells(html, "reason", "asked_for_person") == ["Asked for a person", "2", "33.3%"]
    assert row_cells(html, "reason", "red_flag") == ["Urgent symptom (red flag)", "3", "50.0%"]
    assert row_cells(html, "reason", "fallback") == ["The assistant could not answer", "0", "0.0%"]
    assert cell(html, "fig-red-flags") == "3"
    assert row_cells(html, "category", "allergy") == ["Allergic reaction", "1"]
    assert row_cells(html, "category", "faint") == ["Fainting or dizziness", "1"]
    assert row_cells(html, "category", "uncategorised") == ["Category not recorded", "1"]
    assert cell(html, "fig-fallback") == "2"
    assert "of 8 patient messages (25.0%)" in html
    assert re.sub(r"<[^>]+>", " ", re.search(r'id="fig-first-response">(.*?)</tr>', html, re.S).group(1)).split() \
        == ["First", "staff", "reply", "3", "5", "min", "10", "min"]
    assert re.sub(r"<[^>]+>", " ", re.search(r'id="fig-resolution">(.*?)</tr>', html, re.S).group(1)).split() \
        == ["Resolution", "3", "20", "min", "30", "min"]
    assert [row_cells(html, "care", o)[1] for o in ("due", "sent", "delivered", "failed", "replied")] \
        == ["5", "3", "2", "1", "2"]


async def test_the_charts_are_inline_svg_with_titles_and_tables(console, accounts, known) -> None:
    await console.signed_in_as("admin@clinic.example")
    _, html = await console.page(f"/staff/analytics?{PERIOD}")
    charts = re.findall(r'<svg class="chart" id="([\w-]+)"[^>]*role="img"', html)
    assert charts == ["chart-conversations", "chart-escalations", "chart-red-flags", "chart-not-understood",
                      "chart-care"]
    assert "<title>18 Nov: 3</title>" in html and "<title>20 Nov: 2</title>" in html  # the bars per day
    assert 'id="chart-conversations-desc">18 Nov: 3; 19 Nov: 1; 20 Nov: 2</desc>' in html
    assert len(re.findall(r"<table id=\"table-", html)) == 6
    assert " style=" not in html and "<script>" not in html  # the CSP allows neither


async def test_json_and_csv_carry_the_same_figures(console, accounts, known) -> None:
    await console.signed_in_as("clinician@clinic.example")
    response = await console.client.get(f"/staff/analytics.json?{PERIOD}")
    assert response.status == 200
    data = await response.json()
    assert data["range"] == {"name": "custom", "title": "Custom dates", "from": "2026-11-18", "to": "2026-11-20",
                             "timezone": "Europe/Paris", "from_utc": "2026-11-17T23:00:00+00:00",
                             "to_utc": "2026-11-20T23:00:00+00:00"}
    assert data["conversations"] == {"total": 6, "by_day": [
        {"date": "2026-11-18", "conversations": 3}, {"date": "2026-11-19", "conversations": 1},
        {"date": "2026-11-20", "conversations": 2}]}
    assert data["contained"] == {"conversations": 1, "rate": 1 / 6}
    reasons = {r["reason"]: (r["title"], r["conversations"]) for r in data["escalations"]["by_reason"]}
    assert reasons["asked_for_person"] == ("Asked for a person", 2) and reasons["red_flag"][1] == 3
    assert data["escalations"]["conversations"] == 5
    assert {c["category"]: c["escalations"] for c in data["red_flags"]["by_category"] if c["escalations"]} \
        == {"allergy": 1, "breathing": 1, "faint": 1}
    assert (data["red_flags"]["total"], data["red_flags"]["uncategorised"]) == (3, 1)
    understood = data["not_understood"]
    assert (understood["patient_messages"], understood["fallback_turns"], understood["rate"]) == (8, 2, 0.25)
    assert [d["fallback_turns"] for d in understood["by_day"]] == [2, 0, 0]
    assert data["first_response"] == {"count": 3, "p50_seconds": 300, "p90_seconds": 600}
    assert data["resolution"] == {"count": 3, "p50_seconds": 1200, "p90_seconds": 1800}
    assert data["care_messages"] == {"due": 5, "sent": 3, "delivered": 2, "failed": 1, "replied": 2}

    response = await console.client.get(f"/staff/analytics.csv?{PERIOD}")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(await response.text())))
    assert table[0] == ["figure", "item", "title", "value"]
    values = {(figure, item): value for figure, item, _, value in table[1:]}
    assert values[("conversations", "2026-11-18")] == "3" and values[("conversations", "total")] == "6"
    assert values[("contained", "conversations")] == "1"
    assert values[("escalations_by_reason", "red_flag")] == "3"
    assert values[("escalation_rate_by_reason", "asked_for_person")] == str(2 / 6)
    assert values[("red_flags_by_category", "breathing")] == "1"
    assert values[("red_flags_by_category", "uncategorised")] == "1"
    assert values[("not_understood", "rate")] == "0.25"
    assert (values[("first_response", "p50_seconds")], values[("resolution", "p90_seconds")]) == ("300.0", "1800.0")
    assert values[("care_messages", "replied")] == "2"


async def test_staff_are_refused_and_strangers_must_sign_in(console, accounts, known) -> None:
    for path in ("/staff/analytics.json?range=week", "/staff/analytics.csv?range=week"):
        response = await console.client.get(path, allow_redirects=False)
        assert response.status in (302, 401), path
    assert (await console.client.get("/staff/analytics.json", allow_redirects=False)).status == 401
    await console.signed_in_as("staff@clinic.example")
    _, inbox = await console.page("/staff")
    assert 'href="/staff/analytics"' not in inbox
    for path in ("/staff/analytics", "/staff/analytics.json", "/staff/analytics.csv?range=day"):
        response = await console.client.get(path, allow_redirects=False)
        assert response.status == 403, path
        assert "6" not in await response.text()


async def test_clinicians_see_the_link(console, accounts) -> None:
    await console.signed_in_as("clinician@clinic.example")
    _, inbox = await console.page("/staff")
    assert 'href="/staff/analytics"' in inbox
    response, html = await console.page("/staff/analytics")  # the last 7 days by default
    assert response.status == 200 and "Last 7 days" in html


@pytest.mark.parametrize("query", [
    "range=year", "from=2026-11-20&to=2026-11-18", "from=2026-11-18", "from=18/11/2026&to=2026-11-20",
    "from=2026-11-18&to=2026-11-21", "range=week&from=2026-11-18&to=2026-11-20", "from=2025-01-01&to=2026-11-20",
])
async def test_a_bad_range_is_400(console, accounts, query) -> None:
    await console.signed_in_as("admin@clinic.example")
    response, html = await console.page(f"/staff/analytics?{query}")
    assert response.status == 400 and 'id="analytics-error"' in html
    response = await console.client.get(f"/staff/analytics.json?{query}")
    assert response.status == 400 and (await response.json())["ok"] is False
    assert (await console.client.get(f"/staff/analytics.csv?{query}")).status == 400


async def test_each_view_is_audited_with_its_range_and_no_patient_data(console, accounts, known,
                                                                       session_factory) -> None:
    await console.signed_in_as("clinician@clinic.example")
    await console.page("/staff/analytics?range=month")
    await console.client.get(f"/staff/analytics.json?{PERIOD}")
    await console.client.get("/staff/analytics.csv?range=day")
    with session_factory() as session:
        entries = session.execute(select(AuditLog).where(AuditLog.action == "analytics_viewed")
                                  .order_by(AuditLog.id)).scalars().all()
    assert [(e.actor_id, e.subject_type, e.detail) for e in entries] == [
        (str(accounts["clinician"]), "analytics", {"range": "month", "from": "2026-10-22", "to": "2026-11-20",
                                                   "format": "page"}),
        (str(accounts["clinician"]), "analytics", {"range": "custom", "from": "2026-11-18", "to": "2026-11-20",
                                                   "format": "json"}),
        (str(accounts["clinician"]), "analytics", {"range": "day", "from": "2026-11-20", "to": "2026-11-20",
                                                   "format": "csv"}),
    ]
