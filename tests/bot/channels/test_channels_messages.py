"""Shared message shapes: choose_button, numbered options and word-safe splitting."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.channels.messages import (
    Button,
    ChannelSendError,
    InboundMessage,
    OutboundMessage,
    choose_button,
    split_text,
    with_numbered_options,
)

YES_NO = (Button("Yes", "/affirm"), Button("No", "/deny"))
SLOTS = (
    Button("Tue 10:00", "/choose_slot{\"slot\":\"a\"}"),
    Button("Wed 14:30", "/choose_slot{\"slot\":\"b\"}"),
    Button("Talk to the team", "/human_handoff"),
)


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("1", "/affirm"),
        ("2", "/deny"),
        (" 2. ", "/deny"),
        ("2)", "/deny"),
        ("option 2", "/deny"),
        ("Option 1", "/affirm"),
        ("#1", "/affirm"),
        ("yes", "/affirm"),
        ("YES", "/affirm"),
        ("  No.  ", "/deny"),
        ("3", None),
        ("0", None),
        ("option 7", None),
        ("maybe", None),
        ("yes please", None),
        ("", None),
        (None, None),
    ],
)
def test_choose_button_yes_no(reply, expected) -> None:
    assert choose_button(reply, YES_NO) == expected


def test_choose_button_matches_longer_titles_and_positions() -> None:
    assert choose_button("talk to the   TEAM", SLOTS) == "/human_handoff"
    assert choose_button("wed 14:30", SLOTS) == '/choose_slot{"slot":"b"}'
    assert choose_button("3", SLOTS) == "/human_handoff"


def test_choose_button_without_offered_buttons_is_none() -> None:
    assert choose_button("1", ()) is None


def test_outbound_message_stores_buttons_as_tuple() -> None:
    message = OutboundMessage("Book?", [Button("Yes", "/affirm")])  # type: ignore[arg-type]
    assert message.buttons == (Button("Yes", "/affirm"),)
    assert hash(message)


def test_numbered_options_follow_the_text() -> None:
    assert with_numbered_options(OutboundMessage("Shall I book it?", YES_NO)) == (
        "Shall I book it?\n\nReply with a number:\n1. Yes\n2. No"
    )
    assert with_numbered_options(OutboundMessage("", YES_NO)) == "Reply with a number:\n1. Yes\n2. No"
    assert with_numbered_options(OutboundMessage("  Just text. ")) == "Just text."


def test_split_text_prefers_sentence_ends_and_never_cuts_words() -> None:
    sentence = "Mesotherapy sessions are usually spaced two weeks apart. "
    text = sentence * 10
    parts = split_text(text, 200)
    assert all(len(part) <= 200 for part in parts)
    assert all(part.endswith("apart.") for part in parts)
    assert " ".join(parts) == text.strip()


def test_split_text_hard_cuts_only_a_single_overlong_word() -> None:
    url = "https://clinic.example/" + "x" * 300
    parts = split_text(f"See {url} today", 100)
    assert parts[0] == "See"
    assert all(len(part) <= 100 for part in parts)
    assert "".join(parts[1:-1]) + parts[-1].removesuffix(" today") == url


def test_channel_send_error_message_has_status_and_code_only() -> None:
    error = ChannelSendError("sms", 400, 21211)
    assert str(error) == "sms send failed: HTTP 400, error code 21211"
    assert (error.status, error.code) == (400, 21211)


def test_inbound_text_and_tab_keep_no_nul_or_lone_surrogate() -> None:
    """Found by tests/fuzz: a JSON or UTF-7 decoder hands us lone surrogates and a form NULs, which
    no database (or no PostgreSQL) stores; the rest of the text is kept as it is."""
    message = InboundMessage(channel="web", sender="s", text="hi \ud83d there\x00 \U0001F600",
                             channel_message_id=None, has_media=False, received_at=datetime.now(timezone.utc),
                             client="tab-\udc00")
    assert message.text == "hi \ufffd there\ufffd \U0001F600" and message.client == "tab-\ufffd"
