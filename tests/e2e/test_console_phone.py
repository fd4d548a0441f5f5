"""The staff console at phone size (390 x 844) in a real browser: inbox, conversation, the whole
patient, canned replies and the audit log scroll no further than the screen is wide, and what is
tapped is at least 44 px tall. And the composer's "/" picker: arrow keys and Enter insert a canned
reply filled in by the server for the conversation.

Screenshots go to a temporary folder; their paths are printed.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest
from playwright.sync_api import expect

from bot.clinic import canned_replies as canned
from bot.clinic import staff as staff_accounts
from tests.bot.console.test_console_conversation import seed_patient
from tests.support.clock import START
from tests.support.console_browser import console_server, sign_in

EMAIL, PASSWORD = "admin@clinic.example", "correct horse battery"
PHONE = {"width": 390, "height": 844}


class Console(NamedTuple):
    url: str
    patient: int
    web: int
    sms: int


@pytest.fixture
def console(settings, session_factory, rows) -> Iterator[Console]:
    """An admin, a verified patient with a web and an SMS conversation (escalated), a canned reply."""

    with session_factory.begin() as session:
        admin = staff_accounts.create_staff_user(session, EMAIL, PASSWORD, "admin").id
        canned.add_reply(session, "Greeting", "Hi {first_name}, this is {clinic_name}.", admin, START)
        canned.add_reply(session, "Call us", "Please call us on {clinic_phone}.", admin, START)
    patient = seed_patient(session_factory)
    web = rows.conversation("web", patient_id=patient, at=START - timedelta(days=1))
    sms = rows.conversation("sms", "+447700900123", patient_id=patient)
    for conversation, channel in ((web, "web"), (sms, "sms")):
        rows.message(conversation, f"A rather long question over {channel} about aftercare and washing hair "
                     "after the session, with a verylongwordwithoutanyspacesthatcouldoverflowthescreen",
                     author="patient")
        rows.message(conversation, "The team will answer.", author="bot")
        rows.escalation(conversation, summary="Asked about washing hair after the session, in some detail.")
    with console_server(settings) as url:
        yield Console(url, patient, web, sms)


SMALL_TAP_TARGETS = """() => Array.from(document.querySelectorAll(
    'button, select, .nav a, .breadcrumb a, input:not([type=hidden]):not([type=checkbox]), a.button'))
  .filter(el => el.offsetParent !== null && !el.closest('.visually-hidden'))
  .map(el => [el.id || el.textContent.trim().slice(0, 30), el.getBoundingClientRect().height])
  .filter(([, height]) => height < 44)"""


def test_every_console_page_fits_a_phone(console, browser, tmp_path: Path):
    context = browser.new_context(viewport=PHONE, locale="en-GB", device_scale_factor=1)
    page = context.new_page()
    errors: list = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in(page, console.url, "/staff", EMAIL, PASSWORD, live=False)
        pages = {"inbox": "/staff", "conversation": f"/staff/conversations/{console.web}",
                 "patient": f"/staff/patients/{console.patient}", "replies": "/staff/replies",
                 "audit": "/staff/audit"}
        for name, path in pages.items():
            page.goto(console.url + path)
            page.wait_for_load_state("networkidle")
            width = page.evaluate("document.documentElement.scrollWidth")
            shot = tmp_path / f"console-phone-{name}.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of {path} at 390x844: {shot}")
            assert width <= PHONE["width"], (path, width)
            assert page.evaluate(SMALL_TAP_TARGETS) == [], path
        page.goto(console.url + "/staff")
        first_row = page.locator("#inbox-rows tr").first
        assert first_row.evaluate("row => getComputedStyle(row).display") == "block"  # a stacked card
        labels = first_row.locator("td").evaluate_all(
            "cells => cells.map(cell => getComputedStyle(cell, '::before').content)")
        assert [label for label in labels if label not in ("none", "normal")][:3] == [
            '"Priority"', '"Patient"', '"Channel"']  # each card's fields named, the select box left bare
        page.goto(console.url + f"/staff/conversations/{console.web}")
        main, side = page.locator(".conversation-main"), page.locator(".conversation-side")
        assert side.bounding_box()["y"] >= main.bounding_box()["y"] + main.bounding_box()["height"] - 1
        assert errors == []
    finally:
        context.close()


def test_slash_opens_the_canned_replies_and_enter_inserts_one_filled_in(console, page, settings):
    sign_in(page, console.url, f"/staff/conversations/{console.sms}", EMAIL, PASSWORD, live=False)
    box = page.locator("#reply-text")
    box.click()
    box.type("Hello. /")
    picker = page.locator("#canned-picker[role=listbox]")
    picker.wait_for(state="visible")
    assert picker.locator("[role=option]").all_inner_texts()[0].startswith("Call us")
    assert box.get_attribute("aria-activedescendant") == picker.locator("[role=option]").first.get_attribute("id")
    box.type("gre")  # filtered as you type
    expect(picker.locator("[role=option]")).to_have_count(1)
    assert picker.locator("[role=option]").inner_text().startswith("Greeting")
    box.press("Backspace")
    box.press("Backspace")
    box.press("Backspace")
    expect(picker.locator("[role=option]")).to_have_count(2)
    box.press("ArrowDown")
    assert picker.locator("[aria-selected=true]").inner_text().startswith("Greeting")
    box.press("Enter")
    expect(box).to_have_value(f"Hello. Hi Alex, this is {settings.clinic.name}.")
    assert picker.is_hidden()
    assert page.js_errors == []
