"""The analytics page in a real browser: a clinician signs in, picks dates, and sees the charts drawn
(inline SVG, nothing refused by the strict CSP) beside tables of the same figures; the CSV link works.

The application runs with a scripted engine and a fixed clock (20 Nov 2026) in a thread of its own,
on the known rows of tests/support/analytics.py.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Iterator, List
from zoneinfo import ZoneInfo

import pytest

from bot.clinic import staff as staff_accounts
from tests.reports import save_screenshot
from tests.support.analytics import TIMEZONE, seed_known_figures
from tests.support.clock import START
from tests.support.console_browser import console_server

EMAIL, PASSWORD = "dr.lee@clinic.example", "correct horse battery"


@pytest.fixture
def console_url(settings, session_factory) -> Iterator[str]:
    """The application on this test's database, with a clinician's account and the known rows."""

    with session_factory.begin() as session:
        staff_accounts.create_staff_user(session, EMAIL, PASSWORD, "clinician")
    seed_known_figures(session_factory)
    settings = dataclasses.replace(settings, clinic=dataclasses.replace(settings.clinic, timezone=ZoneInfo(TIMEZONE)))
    with console_server(settings, now=START) as url:
        yield url


def test_a_clinician_picks_dates_and_sees_charts_and_tables(console_url, page):
    refused: List[str] = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(f"{console_url}/staff/login?next=/staff")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/staff$"))
    page.click("nav >> text=Analytics")
    page.wait_for_url(re.compile(r"/staff/analytics$"))
    page.fill("#analytics-from", "2026-11-18")
    page.fill("#analytics-to", "2026-11-20")
    page.click("form[aria-label='Custom dates'] button[type=submit]")
    page.wait_for_url(re.compile(r"from=2026-11-18&to=2026-11-20"))
    assert page.inner_text("#fig-conversations") == "6"
    assert page.inner_text("#fig-escalated") == "5" and page.inner_text("#fig-fallback") == "2"
    bars = page.locator("#chart-conversations rect.chart-bar")
    assert bars.count() == 3
    heights = [bars.nth(n).bounding_box()["height"] for n in range(3)]
    assert heights[0] > heights[2] > heights[1] > 0  # 3, 1 and 2 conversations
    for chart in ("chart-escalations", "chart-red-flags", "chart-not-understood", "chart-care"):
        assert page.locator(f"#{chart}").is_visible(), chart
    fill = page.eval_on_selector("#chart-conversations rect.chart-bar", "e => getComputedStyle(e).fill")
    assert fill not in ("", "none", "rgb(0, 0, 0)")  # coloured by console.css, not an inline style
    save_screenshot(page, "console-analytics")
    with page.expect_download() as download:
        page.click("#analytics-csv")
    assert download.value.suggested_filename == "analytics-2026-11-18-2026-11-20.csv"
    assert refused == []
