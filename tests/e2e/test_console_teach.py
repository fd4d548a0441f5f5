"""Teach the assistant in a real browser: "Flag for teaching" on a patient message (the server's
and one the live transcript added), then label one by its topic title and dismiss the other.

The application runs with a scripted engine (no trained model) in a thread of its own.
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Iterator, NamedTuple
from urllib.parse import quote

import pytest
from sqlalchemy import select

from bot.clinic import staff as staff_accounts
from bot.db.models import TrainingExample
from tests.reports import save_screenshot
from tests.support.clock import START
from tests.support.console_browser import console_server

EMAIL, PASSWORD = "jo@clinic.example", "correct horse battery"


class Console(NamedTuple):
    url: str
    conversation: int


@pytest.fixture
def console(settings, session_factory, rows) -> Iterator[Console]:
    """The application on this test's database: a staff account and a short conversation."""

    with session_factory.begin() as session:
        staff_accounts.create_staff_user(session, EMAIL, PASSWORD, "staff")
    conversation = rows.conversation()
    rows.message(conversation, "can I dye my hair the week after", at=START)
    rows.message(conversation, "Sorry, I'm not sure I understood.", author="bot", at=START)
    with console_server(settings) as url:
        yield Console(url, conversation)


def test_flag_then_label_by_title_and_dismiss(console, page, rows, session_factory):
    path = f"/staff/conversations/{console.conversation}"
    page.goto(f"{console.url}/staff/login?next={quote(path)}")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(path) + "$"))
    page.wait_for_selector("#live-status:has-text('Live')")
    assert page.locator("#transcript .msg-bot .msg-flag").count() == 0

    first = page.locator("#transcript .msg", has_text="can I dye my hair")
    first.get_by_role("button", name="Flag for teaching").click()
    first.get_by_text("In the teaching queue").wait_for()
    rows.message(console.conversation, "and what about swimming", at=START + timedelta(minutes=1))
    second = page.locator("#transcript .msg", has_text="and what about swimming")
    second.get_by_role("button", name="Flag for teaching").click()  # drawn by the live transcript
    second.get_by_text("In the teaching queue").wait_for()
    with session_factory() as session:
        assert session.execute(select(TrainingExample.text).order_by(TrainingExample.id)).scalars().all() == [
            "can I dye my hair the week after", "and what about swimming"]

    page.get_by_role("link", name="Teach the assistant").click()
    page.wait_for_url(re.compile(r"/staff/teach$"))
    examples = page.locator(".teach-example")
    assert examples.count() == 2
    dye = examples.filter(has_text="can I dye my hair")
    dye.get_by_label("Topic", exact=True).select_option(label="Looking after your hair")
    dye.get_by_role("button", name="Save the label").click()
    page.locator(".flash-info", has_text="Labelled as “Looking after your hair”.").wait_for()
    assert page.locator(".teach-example").count() == 1
    save_screenshot(page, "console-teach-queue")
    page.locator(".teach-example", has_text="swimming").get_by_role("button", name="Dismiss").click()
    page.locator("#teach-empty").wait_for()
    page.get_by_role("link", name="Labelled").click()
    assert "Labelled as Looking after your hair" in page.locator(".teach-example").inner_text()
    with session_factory() as session:
        assert session.execute(select(TrainingExample.status, TrainingExample.intent)
                               .order_by(TrainingExample.id)).all() == [("labelled", "faq/hair_care"),
                                                                        ("dismissed", None)]
    assert page.js_errors == []
