"""Each channel declares its rules; the router reads them from the channel's kind."""
import ast
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.channels.twilio import SMS
from bot.channels.whatsapp import WHATSAPP
from bot.web.webchat import WEB

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
ROUTER = Path(__file__).resolve().parents[3] / "bot" / "conversations" / "router.py"


def test_phone_channels_take_consent_keywords_and_the_web_does_not():
    assert (WEB.phone_numbers, SMS.phone_numbers, WHATSAPP.phone_numbers) == (False, True, True)


def test_only_whatsapp_needs_us_to_confirm_stop():
    assert (WEB.confirms_stop, SMS.confirms_stop, WHATSAPP.confirms_stop) == (False, False, True)


@pytest.mark.parametrize("ago, refused", [(timedelta(hours=23, minutes=59), False), (timedelta(hours=24), True),
                                          (None, True)])
def test_whatsapp_refuses_free_form_replies_outside_its_24_hour_window(ago, refused):
    last = NOW - ago if ago is not None else None
    refusal = WHATSAPP.refusal(last, NOW)
    assert (refusal is not None) is refused
    if refused:
        assert "approved template" in refusal


@pytest.mark.parametrize("kind", [WEB, SMS])
def test_web_and_sms_have_no_reply_window(kind):
    assert kind.refusal(NOW - timedelta(days=30), NOW) is None and kind.refusal(None, NOW) is None


def test_the_router_names_no_channel():
    """Channel names in the router would mean a channel's rules live outside its module."""
    names = {WEB.name, SMS.name, WHATSAPP.name}
    literals = [node.value for node in ast.walk(ast.parse(ROUTER.read_text(encoding="utf-8")))
                if isinstance(node, ast.Constant) and node.value in names]
    assert literals == []
