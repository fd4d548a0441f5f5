"""The web chat widget in a real browser against the stub server (tests/e2e/widget_stub_server.py).

What a patient sees and does: opening the chat by keyboard, sending, quick replies, reloads, the
clinic team taking over, untrusted text shown as text, closing with Escape, a lost connection, and
the exact events the widget puts on the wire (the contract the real server implements).
"""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.widget_stub_server import BOT_NOTICE, HTML_BUTTON_TITLE, HTML_MESSAGE, SLOW_REPLY_SECONDS

LAUNCHER = "#clinic-chat-launcher"
PANEL = "#clinic-chat-panel"
INPUT = "#clinic-chat-input"
SEND = "#clinic-chat-send"
LOG = "#clinic-chat-log"
TYPING = "#clinic-chat-typing"
STATUS = "#clinic-chat-status"


def messages(page: Page, author: str):
    return page.locator(f'{LOG} .clinic-chat-msg[data-author="{author}"]')


def stored_session_id(page: Page) -> str | None:
    return page.evaluate("() => localStorage.getItem('clinicChat.sessionId')")


def without_tab(request: dict) -> dict:
    """A session request without the tab's random id."""
    return {key: value for key, value in request.items() if key != "tab"}


def open_chat(page: Page, server) -> str:
    """Load the clinic page, open the widget with a click, wait for a confirmed session; its id."""
    page.goto(server.page_url())
    page.locator(LAUNCHER).click()
    expect(page.locator(SEND)).to_be_enabled()
    session_id = stored_session_id(page)
    assert session_id in server.recorded.issued
    return session_id


def say(page: Page, text: str) -> None:
    page.locator(INPUT).fill(text)
    page.locator(INPUT).press("Enter")


def uttered(server, session_id: str) -> list[dict]:
    return [data for data in server.recorded.of("user_uttered") if data.get("session_id") == session_id]


def test_keyboard_user_opens_chat_sends_with_enter_and_reads_reply(page: Page, stub_server, screenshot):
    page.goto(stub_server.page_url())
    launcher = page.locator(LAUNCHER)
    expect(launcher).to_have_attribute("aria-expanded", "false")
    expect(launcher).to_have_attribute("aria-controls", "clinic-chat-panel")

    for _ in range(10):  # Tab through the clinic's own page until the launcher has focus
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.id") == "clinic-chat-launcher":
            break
    expect(launcher).to_be_focused()
    page.keyboard.press("Enter")

    panel = page.locator(PANEL)
    expect(panel).to_be_visible()
    expect(panel).to_have_attribute("role", "dialog")
    expect(panel).to_have_attribute("aria-label", "Northfield Hair Clinic chat")
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(page.locator(INPUT)).to_be_focused()
    expect(page.locator(SEND)).to_be_enabled()

    # The script came from 127.0.0.1 while the page is on localhost: the widget talks to the script's origin.
    assert page.evaluate("() => location.origin") != stub_server.url
    assert page.evaluate("() => window.ClinicChat.server") == stub_server.url

    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    expect(page.locator(INPUT)).to_have_value("line one\nline two")
    expect(messages(page, "patient")).to_have_count(0)
    page.keyboard.press("Enter")
    expect(messages(page, "patient").last).to_contain_text("line one\nline two")
    expect(page.locator(INPUT)).to_have_value("")

    page.keyboard.type("hello")
    page.keyboard.press("Enter")
    reply = messages(page, "bot").filter(has_text="Hello! How can I help with your treatment?")
    expect(reply).to_have_count(1)
    expect(reply.locator(".clinic-chat-author")).to_have_text("Assistant")
    expect(messages(page, "patient")).to_have_text([re.compile("line one\\s+line two"), re.compile("hello")])

    session_id = stored_session_id(page)
    first = stub_server.recorded.of("session_request")[0]
    assert re.fullmatch(r"[0-9a-f]{32}", first.pop("tab"))  # this tab's own id (verification is bound to it)
    assert first == {"session_id": None, "client": "clinic-widget"}
    assert uttered(stub_server, session_id) == [
        {"message": "line one\nline two", "session_id": session_id},
        {"message": "hello", "session_id": session_id},
    ]
    assert page.js_errors == []
    screenshot(page, "widget-open")


def test_typing_indicator_shows_until_the_reply(page: Page, stub_server):
    open_chat(page, stub_server)
    typing = page.locator(TYPING)
    expect(typing).to_have_attribute("role", "status")
    expect(typing).to_have_attribute("aria-live", "polite")
    expect(typing).to_be_empty()

    say(page, "slow")
    expect(typing).to_be_visible()
    expect(typing).to_contain_text("typing")
    expect(messages(page, "bot").filter(has_text="Sorry for the wait.")).to_have_count(
        1, timeout=int((SLOW_REPLY_SECONDS + 5) * 1000)
    )
    expect(typing).to_be_empty()
    expect(typing).to_be_hidden()


def test_quick_replies_are_buttons_that_send_their_payload(page: Page, stub_server, screenshot):
    session_id = open_chat(page, stub_server)
    say(page, "buttons")
    replies = page.locator(".clinic-chat-quick-reply")
    expect(replies).to_have_text(["Option A", "Option B"])
    for button in replies.all():
        expect(button).to_be_enabled()
        assert button.evaluate("b => b.tagName") == "BUTTON"

    # Reachable by keyboard: Shift+Tab from the input lands on the last quick reply.
    page.locator(INPUT).focus()
    page.keyboard.press("Shift+Tab")
    expect(replies.nth(1)).to_be_focused()
    screenshot(page, "widget-quick-replies")
    page.keyboard.press("Enter")

    expect(messages(page, "patient").last).to_have_text(re.compile("Option B"))
    expect(messages(page, "bot").filter(has_text="you chose B")).to_have_count(1)
    expect(replies.nth(0)).to_be_disabled()
    expect(replies.nth(1)).to_be_disabled()
    expect(replies.nth(1)).to_have_attribute("data-chosen", "true")
    assert uttered(stub_server, session_id)[-1] == {"message": "/choose_b", "session_id": session_id}
    assert not any(data["message"] == "Option B" for data in uttered(stub_server, session_id))


def test_reload_redraws_the_transcript_and_reuses_the_session(page: Page, stub_server):
    session_id = open_chat(page, stub_server)
    say(page, "hello")
    expect(messages(page, "bot")).to_have_count(1)
    say(page, "buttons")
    page.locator(".clinic-chat-quick-reply", has_text="Option A").click()
    expect(messages(page, "bot").filter(has_text="you chose A")).to_have_count(1)
    before = page.locator(f"{LOG} .clinic-chat-msg").all_inner_texts()
    requests_before = len(stub_server.recorded.of("session_request"))

    page.reload()
    expect(page.locator(PANEL)).to_be_visible()  # it was open: it stays open
    expect(page.locator(f"{LOG} .clinic-chat-msg")).to_have_count(len(before))
    assert page.locator(f"{LOG} .clinic-chat-msg").all_inner_texts() == before
    expect(page.locator(".clinic-chat-quick-reply", has_text="Option A")).to_be_disabled()
    expect(page.locator(SEND)).to_be_enabled()

    stub_server.wait_for(lambda: len(stub_server.recorded.of("session_request")) > requests_before, what="reconnect")
    assert without_tab(stub_server.recorded.of("session_request")[-1]) == {"session_id": session_id, "client": "clinic-widget"}
    assert stub_server.recorded.confirmed[-1] == session_id
    assert stored_session_id(page) == session_id

    say(page, "hello")
    expect(messages(page, "bot").filter(has_text="Hello!")).to_have_count(2)
    assert uttered(stub_server, session_id)[-1] == {"message": "hello", "session_id": session_id}


def test_unknown_session_id_is_replaced_by_the_servers_and_old_transcript_dropped(page: Page, stub_server):
    page.goto(stub_server.page_url(path="/blank"))
    page.evaluate("""() => {
        localStorage.setItem('clinicChat.sessionId', 'never-issued-by-this-server');
        sessionStorage.setItem('clinicChat.transcript', JSON.stringify({
            v: 1, session_id: 'never-issued-by-this-server', owner: 'bot',
            items: [{author: 'bot', text: 'message from a conversation the server does not know'}]}));
    }""")
    page.goto(stub_server.page_url())
    page.locator(LAUNCHER).click()
    expect(page.locator(SEND)).to_be_enabled()

    assert {"session_id": "never-issued-by-this-server", "client": "clinic-widget"} in map(
        without_tab, stub_server.recorded.of("session_request"))
    new_id = stored_session_id(page)
    assert new_id != "never-issued-by-this-server"
    assert new_id in stub_server.recorded.issued
    expect(messages(page, "bot")).to_have_count(0)
    expect(messages(page, "system")).to_have_text(["A new conversation has started."])
    stored = page.evaluate("() => sessionStorage.getItem('clinicChat.transcript')")
    assert "does not know" not in stored and new_id in stored

    say(page, "hello")
    expect(messages(page, "bot")).to_have_count(1)
    assert uttered(stub_server, new_id) == [{"message": "hello", "session_id": new_id}]


def test_staff_handoff_shows_notice_and_clinic_team_label(page: Page, stub_server, screenshot):
    open_chat(page, stub_server)
    say(page, "staff")
    expect(messages(page, "system")).to_have_text(["A member of the clinic team has joined the conversation."])
    staff = messages(page, "staff")
    expect(staff).to_have_count(1)
    expect(staff.locator(".clinic-chat-author")).to_have_text("Clinic team")
    expect(staff).to_contain_text("Hi, this is Sam from the clinic.")
    expect(page.locator("#clinic-chat-subtitle")).to_have_text("You are chatting with the clinic team")
    screenshot(page, "widget-staff-handoff")

    say(page, "bot")  # the server's own notice text wins over the widget's default
    expect(messages(page, "system").last).to_have_text(BOT_NOTICE)
    expect(page.locator("#clinic-chat-subtitle")).to_have_text("You are chatting with the assistant")


def test_no_typing_indicator_while_the_clinic_team_has_the_conversation(page: Page, stub_server):
    open_chat(page, stub_server)
    say(page, "staff")
    expect(messages(page, "staff")).to_have_count(1)
    say(page, "are you there?")
    page.wait_for_timeout(300)
    expect(page.locator(TYPING)).to_be_empty()


def test_older_buttons_are_disabled_once_a_new_message_arrives(page: Page, stub_server, screenshot):
    session_id = open_chat(page, stub_server)
    say(page, "buttons")
    old = page.locator(".clinic-chat-quick-reply")
    expect(old).to_have_count(2)
    say(page, "hello")
    expect(messages(page, "bot").filter(has_text="Hello!")).to_have_count(1)
    for button in old.all():
        expect(button).to_be_disabled()
        expect(button).not_to_have_attribute("data-chosen", "true")
    screenshot(page, "widget-stale-buttons")
    page.reload()  # still disabled when redrawn from storage
    for button in page.locator(".clinic-chat-quick-reply").all():
        expect(button).to_be_disabled()
    assert "/choose_a" not in [data["message"] for data in uttered(stub_server, session_id)]


def test_the_input_is_large_enough_that_ios_does_not_zoom(page: Page, stub_server):
    open_chat(page, stub_server)
    size = page.locator(INPUT).evaluate("node => parseFloat(getComputedStyle(node).fontSize)")
    assert size >= 16


def test_markup_from_the_server_is_shown_as_text(page: Page, stub_server):
    session_id = open_chat(page, stub_server)
    say(page, "html")
    reply = messages(page, "bot").last
    expect(reply.locator(".clinic-chat-bubble")).to_have_text(HTML_MESSAGE)
    assert reply.locator("img, b, script, i").count() == 0
    button = reply.locator(".clinic-chat-quick-reply")
    expect(button).to_have_text(HTML_BUTTON_TITLE)
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__clinicChatPwned") is None

    # Reloading redraws it from storage, still as text.
    page.reload()
    expect(messages(page, "bot").last.locator(".clinic-chat-bubble")).to_have_text(HTML_MESSAGE)
    assert page.locator(f"{LOG} img, {LOG} b, {LOG} script, {LOG} i").count() == 0
    assert page.evaluate("() => window.__clinicChatPwned") is None
    assert uttered(stub_server, session_id)[-1]["message"] == "html"


def test_escape_closes_and_returns_focus_to_launcher(page: Page, stub_server):
    open_chat(page, stub_server)
    expect(page.locator(INPUT)).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator(PANEL)).to_be_hidden()
    expect(page.locator(LAUNCHER)).to_have_attribute("aria-expanded", "false")
    expect(page.locator(LAUNCHER)).to_be_focused()

    page.keyboard.press("Enter")  # and the launcher opens it again
    expect(page.locator(PANEL)).to_be_visible()
    page.locator("#clinic-chat-close").click()
    expect(page.locator(PANEL)).to_be_hidden()
    expect(page.locator(LAUNCHER)).to_be_focused()


def test_lost_connection_shows_reconnecting_and_blocks_sending_until_back(page: Page, stub_server):
    session_id = open_chat(page, stub_server)
    with stub_server.outage():
        expect(page.locator(STATUS)).to_have_text("Reconnecting…")
        expect(page.locator(SEND)).to_be_disabled()
        page.locator(INPUT).fill("are you there")
        page.locator(INPUT).press("Enter")
        expect(messages(page, "patient")).to_have_count(0)  # nothing shown as sent while offline
        expect(page.locator(INPUT)).to_have_value("are you there")  # the draft is kept
        page.wait_for_timeout(1500)  # a few refused reconnection attempts
    expect(page.locator(SEND)).to_be_enabled(timeout=15_000)
    expect(page.locator(STATUS)).to_be_empty()
    assert stored_session_id(page) == session_id
    page.locator(INPUT).press("Enter")
    expect(messages(page, "bot").filter(has_text="You said: are you there")).to_have_count(1)
    assert uttered(stub_server, session_id)[-1] == {"message": "are you there", "session_id": session_id}


def test_reconnects_by_itself_when_the_server_ends_the_socket(page: Page, stub_server):
    session_id = open_chat(page, stub_server)
    say(page, "kick")  # python-socketio's sio.disconnect(sid): socket.io does not retry on its own
    stub_server.wait_for(
        lambda: {"session_id": session_id, "client": "clinic-widget"} in map(
            without_tab, stub_server.recorded.of("session_request")),
        what="the widget to reconnect with its session id",
    )
    expect(page.locator(SEND)).to_be_enabled()
    say(page, "hello")
    expect(messages(page, "bot").filter(has_text="Hello!")).to_have_count(1)
    assert stored_session_id(page) == session_id


def test_falls_back_to_long_polling_when_websockets_are_blocked(page: Page, stub_server):
    stub_server.block_websocket.set()
    try:
        open_chat(page, stub_server)
        say(page, "transport")
        expect(messages(page, "bot").last).to_have_text(re.compile("transport: polling"))
        assert stub_server.recorded.of("websocket_blocked")
    finally:
        stub_server.block_websocket.clear()


def test_input_is_limited_to_2000_characters_and_says_so_on_long_paste(page: Page, stub_server):
    open_chat(page, stub_server)
    field = page.locator(INPUT)
    expect(field).to_have_attribute("maxlength", "2000")
    expect(page.locator("label[for='clinic-chat-input']")).to_have_text("Type your message")
    field.evaluate("""(input) => {
        const data = new DataTransfer();
        data.setData('text/plain', 'x'.repeat(2500));
        input.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
    }""")
    assert len(field.input_value()) == 2000
    expect(page.locator("#clinic-chat-limit")).to_contain_text("up to 2000 characters")
    field.press("Enter")
    expect(messages(page, "patient")).to_have_count(1)
    expect(page.locator("#clinic-chat-limit")).to_be_empty()


def test_log_is_a_polite_live_region(page: Page, stub_server):
    open_chat(page, stub_server)
    log = page.locator(LOG)
    expect(log).to_have_attribute("role", "log")
    expect(log).to_have_attribute("aria-live", "polite")
    # No styles leak onto the clinic's page: everything the widget adds is under its own root.
    assert page.evaluate("""() => [...document.getElementById('clinic-chat-style').sheet.cssRules]
        .filter(rule => rule.selectorText)
        .every(rule => rule.selectorText.split(',').every(s => s.trim().startsWith('.clinic-chat-')))""")
