"""The staff console's transcript in a real browser: a long conversation opens on its newest
messages, "Earlier messages" loads the pages before them in place (down to the first message),
and live updates keep adding new messages at the bottom; an earlier page opened by its address
keeps its messages and sends a reply's author to the newest ones.

The application runs with a scripted engine (no trained model) in a thread of its own.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Iterator, List, NamedTuple

import pytest

from bot.clinic import staff as staff_accounts
from tests.reports import save_screenshot
from tests.support.clock import START
from tests.support.console_browser import console_server, sign_in

EMAIL, PASSWORD = "jo@clinic.example", "correct horse battery"
MESSAGES = 120


class Console(NamedTuple):
    url: str
    conversation: int
    message_ids: List[int]


@pytest.fixture
def console(settings, session_factory, rows) -> Iterator[Console]:
    """The application on this test's database: a staff account and a conversation of 120 messages."""

    with session_factory.begin() as session:
        staff_accounts.create_staff_user(session, EMAIL, PASSWORD, "staff")
    conversation = rows.conversation()
    rows.escalation(conversation)
    with session_factory.begin() as session:
        ids = [rows.message(conversation, f"message {n}", author="patient" if n % 2 else "bot",
                            at=START + timedelta(seconds=n), session=session) for n in range(1, MESSAGES + 1)]
    with console_server(settings) as url:
        yield Console(url, conversation, ids)


def shown(page) -> List[str]:
    return page.locator("#transcript .msg .msg-text").all_inner_texts()


def numbered(first: int, last: int) -> List[str]:
    return [f"message {n}" for n in range(first, last + 1)]


def test_earlier_messages_load_in_place_and_new_ones_still_arrive(console, page, rows):
    path = f"/staff/conversations/{console.conversation}"
    sign_in(page, console.url, path, EMAIL, PASSWORD)
    assert shown(page) == numbered(71, 120)
    save_screenshot(page, "console-transcript-newest-page")

    page.click("#transcript-earlier")
    page.wait_for_function("() => document.querySelectorAll('#transcript .msg').length === 100")
    assert shown(page) == numbered(21, 120) and page.url == f"{console.url}{path}"  # no page load
    focused = page.evaluate("() => document.activeElement.textContent")
    assert "message 70" in focused  # the newest of the messages just shown
    page.click("#transcript-earlier")
    page.wait_for_function("() => document.querySelectorAll('#transcript .msg').length === 120")
    assert shown(page) == numbered(1, 120)
    assert page.locator("#transcript-earlier").count() == 0  # the start of the conversation
    assert "earlier messages shown" in page.locator("#live-status").inner_text()

    rows.message(console.conversation, "message 121", at=START + timedelta(minutes=10))
    page.locator("#transcript .msg", has_text="message 121").wait_for()
    page.fill("#reply-text", "message 122 from the team")
    page.click("#reply-send")
    page.locator("#transcript .msg", has_text="message 122 from the team").wait_for()
    assert shown(page) == numbered(1, 121) + ["message 122 from the team"]
    save_screenshot(page, "console-transcript-all-pages", full_page=True)
    assert page.js_errors == []


def test_an_earlier_page_keeps_its_messages_and_a_reply_goes_to_the_newest(console, page, rows):
    before = console.message_ids[70]
    path = f"/staff/conversations/{console.conversation}?before={before}"
    sign_in(page, console.url, path, EMAIL, PASSWORD)
    assert shown(page) == numbered(21, 70)
    assert page.locator("#transcript-earlier-note").is_visible()
    save_screenshot(page, "console-transcript-earlier-page", full_page=True)

    rows.message(console.conversation, "message 121", at=START + timedelta(minutes=10))
    page.fill("#note-text", "Checked the history.")
    page.click("#note-add")  # a live redraw: the note appears, the new message stays on the newest page
    page.locator("#notes .note", has_text="Checked the history.").wait_for()
    assert shown(page) == numbered(21, 70)

    page.fill("#reply-text", "We have read it all.")
    page.click("#reply-send")
    page.wait_for_url(f"{console.url}/staff/conversations/{console.conversation}")
    page.locator("#transcript .msg", has_text="We have read it all.").wait_for()
    assert shown(page)[-2:] == ["message 121", "We have read it all."]
    assert page.js_errors == []
