"""What a channel needs to write first (proactive care messages), channel-neutral.

Outside WhatsApp's 24-hour customer-care window a business may only send an approved template;
`WhatsAppTemplate` names it as each platform does (Twilio: a Content SID with numbered variables;
Meta's Cloud API: a template name, a language and body parameters). SMS has no window: the text
goes as it is. A deliverer that can write first returns a `SentMessage`, whose provider message id
is how the delivery status callbacks find the row again (bot/care); each callback is read into a
`DeliveryStatus`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional, Tuple


@dataclass(frozen=True)
class WhatsAppTemplate:
    """An approved WhatsApp template and the values of its variables, in order ({{1}}, {{2}}, ...)."""

    twilio_content_sid: Optional[str] = None
    meta_name: Optional[str] = None
    meta_language: str = "en_GB"
    variables: Tuple[str, ...] = ()


@dataclass(frozen=True)
class SentMessage:
    """A message the platform accepted: which platform, and its id for the message there."""

    provider: str
    provider_message_id: Optional[str]


@dataclass(frozen=True)
class DeliveryStatus:
    """What a platform reported about a message it accepted: its id there, the platform's status word
    (Twilio's MessageStatus, Meta's statuses[].status, lower case), its error code and when."""

    provider: str
    provider_message_id: str
    status: str
    error_code: Optional[str]
    at: datetime
