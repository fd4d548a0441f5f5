"""What the router must know about a channel, asked of the channel itself, never by its name.

Each channel module declares its `ChannelKind` (web chat in bot/web/webchat.py, SMS in
bot/channels/twilio.py, WhatsApp in bot/channels/whatsapp.py), and its deliverers carry it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional


@dataclass(frozen=True)
class ChannelKind:
    """A channel's name and the rules of its medium.

    `phone_numbers`: senders are phone numbers, so STOP/START/HELP apply, an opted-out number is
    sent nothing, the number (signed) tells the custom actions who wrote, and offered buttons are
    numbered options a patient answers with a digit. `confirms_stop`: the platform does not
    confirm an opt-out itself, so the patient hears it from us. `reply_window`: free-form replies
    are allowed only this long after the patient's last message (`window_closed` says what to do).
    """

    name: str
    phone_numbers: bool = False
    confirms_stop: bool = False
    reply_window: Optional[timedelta] = None
    window_closed: str = ""

    def within_reply_window(self, last_patient_message_at: Optional[datetime], now: datetime) -> bool:
        """True while a free-form reply may be sent (always, on a channel without a window)."""
        if self.reply_window is None:
            return True
        if last_patient_message_at is None:
            return False
        return now - last_patient_message_at < self.reply_window

    def refusal(self, last_patient_message_at: Optional[datetime], now: datetime) -> Optional[str]:
        """Why a staff member's free-form reply cannot be sent now, or None if it can."""
        if self.within_reply_window(last_patient_message_at, now):
            return None
        return self.window_closed
