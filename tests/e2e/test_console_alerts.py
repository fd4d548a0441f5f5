"""Urgent-case alerts in a real browser: the title badge counts the urgent cases nobody took, a new
one raises a desktop notification (permission granted by the browser context, the button hidden
then) and a tone, which the mute button silences (and remembers); nothing names the patient.

`window.Notification` and `AudioContext.prototype.createOscillator` are wrapped by an init script
to record what the page asked for. The application runs with a scripted engine in a thread of its own.
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Iterator, NamedTuple

import pytest

from bot.clinic import staff as staff_accounts
from tests.reports import save_screenshot
from tests.support.clock import START
from tests.support.console_browser import console_server, sign_in

EMAIL, PASSWORD = "jo@clinic.example", "correct horse battery"
TITLE = re.compile(r"^Inbox · .* staff console$")

RECORDER = """
(() => {
  window.__notifications = [];
  window.__tones = 0;
  const Real = window.Notification;
  function Recorded(title, options) {
    window.__notifications.push({ title: title, body: (options || {}).body || "", tag: (options || {}).tag || "" });
    this.close = function () {};
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = (callback) => Real.requestPermission(callback);
  window.Notification = Recorded;
  const Context = window.AudioContext || window.webkitAudioContext;
  if (Context) {
    const create = Context.prototype.createOscillator;
    Context.prototype.createOscillator = function () { window.__tones += 1; return create.call(this); };
  }
})();
"""


class Console(NamedTuple):
    url: str


@pytest.fixture
def console(settings, session_factory) -> Iterator[Console]:
    """The application on this test's database, with one staff account."""

    with session_factory.begin() as session:
        staff_accounts.create_staff_user(session, EMAIL, PASSWORD, "staff")
    with console_server(settings) as url:
        yield Console(url)


def urgent_case(rows, phone: str, minutes_ago: int = 0) -> int:
    conversation = rows.conversation("sms", phone)
    rows.message(conversation, "My lips are swelling", at=START - timedelta(minutes=minutes_ago))
    rows.escalation(conversation, reason="red_flag", priority="urgent", at=START - timedelta(minutes=minutes_ago),
                    summary="Possible allergic reaction")
    return conversation


def notifications(page) -> list:
    return page.evaluate("() => window.__notifications")


def test_a_new_urgent_case_badges_the_title_notifies_and_sounds_unless_muted(console, page, rows):
    page.context.grant_permissions(["notifications"], origin=console.url)
    page.add_init_script(RECORDER)
    urgent_case(rows, "+447700900101", minutes_ago=20)  # already waiting: counted, not announced
    sign_in(page, console.url, "/staff", EMAIL, PASSWORD)
    page.wait_for_function("() => document.title.startsWith('(1) ')")
    assert TITLE.match(page.title()[len("(1) "):])
    assert page.locator("#alert-controls").is_visible()
    assert not page.locator("#alerts-enable").is_visible()  # granted already: nothing to ask
    assert page.locator("#alerts-mute").get_attribute("aria-pressed") == "false"
    assert notifications(page) == []

    conversation = urgent_case(rows, "+447700900102")
    page.wait_for_function("() => document.title.startsWith('(2) ')")
    page.wait_for_function("() => window.__notifications.length === 1")
    [note] = notifications(page)
    assert note["title"] == "Urgent case waiting"
    assert "urgent case is waiting" in note["body"]
    for detail in ("+44", "swelling", "allergic", "lips"):
        assert detail not in note["title"] + note["body"]
    assert page.evaluate("() => window.__tones") == 2  # two short beeps
    page.locator(f'tr.inbox-row.urgent[data-conversation-id="{conversation}"]').wait_for()  # the table too
    save_screenshot(page, "console-urgent-alert")

    page.click("#alerts-mute")
    assert page.locator("#alerts-mute").get_attribute("aria-pressed") == "true"
    page.reload()  # the choice is remembered
    page.wait_for_selector("#live-status:has-text('Live')")
    assert page.locator("#alerts-mute").get_attribute("aria-pressed") == "true"
    page.wait_for_function("() => document.title.startsWith('(2) ')")
    urgent_case(rows, "+447700900103")
    page.wait_for_function("() => document.title.startsWith('(3) ')")
    page.wait_for_function("() => window.__notifications.length === 1")  # this page's recorder is new
    assert page.evaluate("() => window.__tones") == 0  # muted
    assert page.js_errors == []


def test_the_badge_follows_on_other_pages_and_permission_is_asked_only_from_the_button(console, page, rows):
    page.add_init_script(RECORDER)
    sign_in(page, console.url, "/staff", EMAIL, PASSWORD)
    assert page.evaluate("() => Notification.permission") == "default"  # nothing asked on load
    assert page.locator("#alerts-enable").is_visible()
    page.goto(f"{console.url}/staff/teach")
    page.wait_for_function("() => !document.getElementById('alert-controls').hidden")
    assert not page.title().startswith("(")
    page.wait_for_timeout(500)  # the stream is open
    urgent_case(rows, "+447700900104")
    page.wait_for_function("() => document.title.startsWith('(1) ')")
    assert notifications(page) == []  # not allowed: only the badge (and the tone)
    assert page.js_errors == []
