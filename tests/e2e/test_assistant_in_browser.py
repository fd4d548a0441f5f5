"""The real assistant in a real browser: `python -m bot run` (trained model, action server, SQLite,
demo clinic), the project's widget on the demo page, and the staff console in a second window.

A patient chats, reports a red flag, asks for a person; a staff member signs in, sees the
conversation appear without reloading, reads it, answers, hands back; the bot answers again.
Screenshots go to results/screenshots/.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

from tests.reports import save_screenshot
from tests.support.ports import free_ports
from tests.support.processes import ManagedProcess, stopping

READY_SECONDS = 240
REPLY_MS = 30_000
DEMO_LOGIN = re.compile(r"demo login (\S+) / ([^\s)]+)")


class LiveAssistant(NamedTuple):
    url: str
    staff_email: str
    staff_password: str
    log: Path


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, trained_model) -> Iterator[LiveAssistant]:
    """`python -m bot run` on free ports with a fresh SQLite database, as `make run` starts it."""
    folder = tmp_path_factory.mktemp("live")
    port, action_port = free_ports(2)
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{folder / 'clinic.db'}", HOST="127.0.0.1", PORT=str(port),
               ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook", LOG_LEVEL="INFO",
               TF_CPP_MIN_LOG_LEVEL="2")
    log = folder / "run.log"
    with stopping(ManagedProcess("`python -m bot run`", [sys.executable, "-m", "bot", "run"], env, log)) as process:
        url = f"http://127.0.0.1:{port}"
        try:
            process.wait_until_answering(f"{url}/healthz", READY_SECONDS)
        except RuntimeError as error:
            pytest.fail(str(error))
        login = DEMO_LOGIN.search(log.read_text())
        assert login, "make run must print the demo staff login"
        yield LiveAssistant(url, login.group(1), login.group(2), log)


def open_chat(page, url: str) -> None:
    page.goto(f"{url}/")
    page.click("#clinic-chat-launcher")
    page.wait_for_selector("#clinic-chat-send:not([disabled])", timeout=REPLY_MS)  # session confirmed


def say(page, text: str) -> None:
    page.fill("#clinic-chat-input", text)
    page.press("#clinic-chat-input", "Enter")


def wait_for_message(page, author: str, pattern: str) -> str:
    """The text of the first message by `author` matching `pattern` (waits for it)."""
    locator = page.locator(f'.clinic-chat-msg[data-author="{author}"]', has_text=re.compile(pattern, re.I))
    locator.first.wait_for(timeout=REPLY_MS)
    return locator.first.inner_text()


def test_patient_sees_the_disclaimer_an_answer_and_urgent_guidance(assistant, page):
    open_chat(page, assistant.url)
    say(page, "how many sessions will I need?")
    wait_for_message(page, "bot", "automated assistant")
    wait_for_message(page, "bot", "clinician")
    say(page, "my lips are swelling up and my throat feels tight")
    urgent = wait_for_message(page, "bot", "999")
    assert "call 999" in urgent.lower()
    save_screenshot(page, "widget-urgent-reply")
    assert page.js_errors == []


def test_patient_asks_for_a_person_staff_answer_and_hand_back(assistant, browser, page):
    staff = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB").new_page()
    staff.set_default_timeout(REPLY_MS)
    staff.goto(f"{assistant.url}/staff")
    staff.fill("#email", assistant.staff_email)
    staff.fill("#password", assistant.staff_password)
    staff.click("button[type=submit]")
    staff.wait_for_url(re.compile(r"/staff/?(\?.*)?$"))
    rows_before = staff.locator("tr.inbox-row").count()

    open_chat(page, assistant.url)
    say(page, "I want to speak to a human please")
    wait_for_message(page, "bot", "team")

    staff.locator("tr.inbox-row").nth(rows_before).wait_for()  # appears without a reload
    save_screenshot(staff, "console-inbox", full_page=True)
    # The red flag of the other test is urgent, at the top; this one asked for a person.
    staff.locator('tr.inbox-row[data-priority="normal"] a').first.click()
    staff.wait_for_selector('#transcript .msg[data-author="patient"]')
    assert "speak to a human" in staff.locator("#transcript").inner_text()

    say(page, "are you still there?")
    staff.locator("#transcript .msg", has_text="are you still there?").wait_for()  # live transcript
    staff.fill("#reply-text", "Hello, this is the clinic team. How can we help?")
    staff.click("#reply-send")
    wait_for_message(page, "staff", "clinic team. How can we help")
    save_screenshot(staff, "console-conversation", full_page=True)
    save_screenshot(page, "widget-staff-reply")

    staff.once("dialog", lambda dialog: dialog.accept())  # "Resolve and hand back?"
    staff.click("#hand-back")
    wait_for_message(page, "system", "handed you back")
    bot_messages = page.locator('.clinic-chat-msg[data-author="bot"]')
    before = bot_messages.count()
    say(page, "how long does a session take?")
    page.wait_for_function(
        "n => document.querySelectorAll('.clinic-chat-msg[data-author=\"bot\"]').length > n", arg=before,
        timeout=REPLY_MS)
    assert re.search(r"minute|hour", bot_messages.last.inner_text(), re.I)
    assert page.js_errors == []
    staff.context.close()
