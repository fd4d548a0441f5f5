"""The inbox in a real browser: a receptionist searches and filters (the rows redraw without a reload,
the address keeps the query), ticks spam rows and resolves them at once; nothing refused by the CSP.
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Iterator, List

import pytest
from playwright.sync_api import expect

from bot.clinic import staff as staff_accounts
from tests.reports import save_screenshot
from tests.support.clock import START
from tests.support.console_browser import console_server
from tests.support.rows import Rows

EMAIL, PASSWORD = "jo@clinic.example", "correct horse battery"


@pytest.fixture
def seeded(session_factory) -> dict:
    """A verified patient's SMS chat and three anonymous urgent web chats full of spam."""
    with session_factory.begin() as session:
        staff_accounts.create_staff_user(session, EMAIL, PASSWORD, "staff")
    rows = Rows(session_factory)
    alex = rows.patient()
    verified = rows.conversation("sms", "+447700900123", patient_id=alex)
    rows.message(verified, "Is it normal that my scalp is red?", at=START - timedelta(minutes=20))
    rows.escalation(verified, at=START - timedelta(minutes=20),
                    summary="verified patient; recent topics: ask_wash_hair, request_human")
    spam = []
    for number in range(3):
        conversation = rows.conversation("web")
        rows.message(conversation, f"cheap pills {number} click here", at=START - timedelta(minutes=5))
        rows.escalation(conversation, reason="red_flag", priority="urgent", at=START - timedelta(minutes=5))
        spam.append(conversation)
    return {"verified": verified, "spam": spam}


@pytest.fixture
def console_url(settings, session_factory, seeded) -> Iterator[str]:
    """The application on this test's database with the seeded rows."""

    with console_server(settings, now=START) as url:
        yield url


def test_search_filter_and_resolve_spam_in_bulk(console_url, seeded, page):
    refused: List[str] = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{console_url}/staff/login?next=/staff")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/staff$"))
    rows = page.locator("#inbox-rows tr.inbox-row")
    assert rows.count() == 4
    assert page.locator("#inbox-rows .unread-dot").count() == 4
    verified_row = page.locator(f'tr[data-conversation-id="{seeded["verified"]}"]')
    assert "Washing hair after a session; Asked for a person" in verified_row.inner_text()
    assert "Is it normal that my scalp is red?" in verified_row.inner_text()

    page.fill("#filter-q", "alex")
    page.press("#filter-q", "Enter")
    page.wait_for_url(re.compile(r"q=alex"))
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-conversation-id") == str(seeded["verified"])

    page.fill("#filter-q", "")
    page.select_option("#filter-priority", "urgent")
    page.wait_for_url(re.compile(r"priority=urgent"))
    expect(rows).to_have_count(3)
    assert page.inner_text("#inbox-total").startswith("3 matching")
    save_screenshot(page, "console-inbox-filtered")

    for conversation in seeded["spam"][:2]:
        page.check(f'tr[data-conversation-id="{conversation}"] input[type=checkbox]')
    page.click("#bulk-resolve-button")
    expect(rows).to_have_count(1)
    assert "Resolved 2 conversations" in page.inner_text("#flash")
    assert rows.first.get_attribute("data-conversation-id") == str(seeded["spam"][2])
    assert refused == []
