"""The router's own messages: short, plain, and free of the banned promotional phrases."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from bot.channels.keywords import help_text
from bot.conversations.replies import Replies
from bot.settings import Settings
from tests.support.phrases import BANNED_PHRASES

CLINIC = Settings.from_env({}).clinic
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


def every_reply():
    replies = Replies(CLINIC)
    yield "disclaimer", replies.disclaimer().text
    yield "too_long", replies.too_long(2500, 2000).text
    yield "slow_down", replies.slow_down().text
    yield "media_only", replies.media_only().text
    yield "starting_up", replies.starting_up().text
    yield "apology", replies.apology(NOW).text
    yield "opted_out", replies.opted_out().text
    yield "opted_in", replies.opted_in().text
    yield "staff_joined", replies.staff_joined_notice()
    yield "staff_left", replies.staff_left_notice()
    yield "handed_back", replies.handed_back().text
    yield "help", help_text(CLINIC.name, CLINIC.phone)


@pytest.mark.parametrize("name,text", list(every_reply()))
def test_router_reply_has_no_banned_phrase_and_fits_an_sms(name, text):
    assert [p for p in BANNED_PHRASES if re.search(p, text, flags=re.IGNORECASE)] == []
    assert 0 < len(text) <= 600


def test_disclaimer_is_one_short_line_with_the_privacy_notice():
    text = Replies(CLINIC).disclaimer().text
    assert "\n" not in text and len(text) <= 200
    assert "automated" in text and "not medical advice" in text and CLINIC.privacy_notice_url in text


def test_apology_says_a_person_will_reply_and_when():
    text = Replies(CLINIC).apology(NOW).text
    assert "clinic team" in text and ("open" in text or "closed" in text)
