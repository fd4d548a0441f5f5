"""Consent keywords: whole-message STOP / START / HELP, and the HELP reply."""
from __future__ import annotations

import pytest

from bot.channels.keywords import consent_keyword, help_text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("STOP", "stop"),
        ("stop", "stop"),
        ("  Stop!  ", "stop"),
        ("StopAll", "stop"),
        ("unsubscribe.", "stop"),
        ("cancel", "stop"),
        ("CANCEL", "stop"),
        ("end", "stop"),
        ("Quit?", "stop"),
        ("START", "start"),
        ("yes", "start"),
        ("Unstop", "start"),
        ("help", "help"),
        ("HELP?", "help"),
        ("info", "help"),
        ("cancel my appointment", None),
        ("please stop", None),
        ("stop it", None),
        ("stop all", None),
        ("yes please", None),
        ("help me book", None),
        ("stopped", None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_consent_keyword(text, expected) -> None:
    assert consent_keyword(text) == expected


def test_help_text_says_who_how_to_reach_and_how_to_stop() -> None:
    text = help_text("Northfield Hair Clinic", "+44 20 7946 0321")
    assert "Northfield Hair Clinic" in text
    assert "+44 20 7946 0321" in text
    assert "STOP" in text and "START" in text


def test_help_text_without_phone_still_says_how_to_stop() -> None:
    text = help_text("Northfield Hair Clinic", "")
    assert "call" not in text
    assert "STOP" in text
