"""What one engine turn produced: the replies for the patient and, perhaps, a request for staff.

Rasa's `CollectingOutputChannel` collects dicts: `text` and `buttons` for a reply, `custom` for a
custom action's `json_message`. A custom message may carry a `HandoffRequest`, or a notice that the
patient proved who they are or that the assistant did not understand (NOT_UNDERSTOOD_NOTICE); none is
ever shown to the patient. Importable without loading Rasa.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from bot.channels.messages import Button, OutboundMessage
from bot.clinic.verification import VERIFIED_NOTICE
from bot.conversations.handoff import HandoffRequest
from bot.teaching.notice import NOT_UNDERSTOOD_NOTICE

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineTurn:
    """The bot's replies to one message, and the handoff a custom action asked for (if any)."""

    replies: List[OutboundMessage] = field(default_factory=list)
    handoff: Optional[HandoffRequest] = None
    verified: bool = False  # the patient proved who they are during this turn
    understood: bool = True  # False when the assistant said it did not understand (a fallback)


def to_outbound(raw: Dict[str, Any]) -> Optional[OutboundMessage]:
    """One message collected from Rasa as an `OutboundMessage` (None if it carries nothing to show)."""
    text = str(raw.get("text") or "").strip()
    buttons = tuple(
        Button(title=str(button.get("title", "")), payload=str(button.get("payload", "")))
        for button in raw.get("buttons") or ()
        if button.get("payload")
    )
    if not text and not buttons:
        return None
    return OutboundMessage(text=text, buttons=buttons)


def handoff_in(raw: Dict[str, Any]) -> Optional[HandoffRequest]:
    """The handoff request a collected custom message carries; a malformed one is logged and dropped."""
    try:
        return HandoffRequest.from_custom_message(raw.get("custom"))
    except (TypeError, ValueError) as error:
        logger.error("a custom action sent a malformed handoff request: %s", error)
        return None


def read_turn(collected: Sequence[Dict[str, Any]]) -> EngineTurn:
    """The turn from what Rasa collected: replies in order, and the last handoff request."""
    replies = [message for message in map(to_outbound, collected) if message is not None]
    requests = [request for request in map(handoff_in, collected) if request is not None]
    verified = any(raw.get("custom") == VERIFIED_NOTICE for raw in collected)
    understood = not any(raw.get("custom") == NOT_UNDERSTOOD_NOTICE for raw in collected)
    return EngineTurn(replies=replies, handoff=requests[-1] if requests else None, verified=verified,
                      understood=understood)
