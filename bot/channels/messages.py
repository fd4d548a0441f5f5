"""The channel-neutral message shapes every adapter reads and writes, and the helpers they share.

An adapter turns its platform's webhook into `InboundMessage`s and renders `OutboundMessage`s
(text plus optional quick-reply `Button`s) in its platform's format. Nothing here knows Rasa.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import List, Literal, Optional, Sequence, Tuple

Channel = Literal["sms", "whatsapp", "web"]

NUMBERED_OPTIONS_PROMPT = "Reply with a number:"
# The columns that keep a platform's message id (messages, inbound_receipts) hold this many characters.
MAX_MESSAGE_ID_CHARS = 128

# What no database text column takes (PostgreSQL refuses NUL; no UTF-8 encodes a lone surrogate,
# which a JSON or UTF-7 decoder can hand us): each becomes U+FFFD.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

_NUMBER_REPLY = re.compile(r"^(?:option\s*|#\s*)?(\d{1,3})\s*[.)]?$")
_BREAKS = (
    re.compile(r"\n[ \t]*\n\s*"),  # paragraph
    re.compile(r"\n\s*"),  # line
    re.compile(r"[.!?…][\"'”’)\]]*\s+"),  # sentence
    re.compile(r"\s+"),  # word
)


class MalformedWebhook(ValueError):
    """A webhook body is not what the platform documents; the message says what is missing."""


class ChannelSendError(Exception):
    """The platform refused or failed to take an outbound message (never carries the text)."""

    def __init__(self, channel: str, status: Optional[int], code: Optional[int] = None, reason: str = ""):
        self.channel = channel
        self.status = status
        self.code = code
        self.reason = reason
        detail = f"HTTP {status}" if status is not None else "no response"
        if code is not None:
            detail += f", error code {code}"
        if reason:
            detail += f", {reason}"
        super().__init__(f"{channel} send failed: {detail}")


@dataclass(frozen=True)
class Button:
    """A quick reply: what the patient sees and what the bot receives when it is chosen."""

    title: str
    payload: str


@dataclass(frozen=True)
class OutboundMessage:
    """One reply to a patient: text and optional quick-reply buttons."""

    text: str
    buttons: Tuple[Button, ...] = ()

    def __post_init__(self) -> None:
        """Accept any sequence of buttons but store a tuple, so the message stays hashable."""
        object.__setattr__(self, "buttons", tuple(self.buttons))


@dataclass(frozen=True)
class InboundMessage:
    """One message from a patient, whatever the channel.

    `sender` is E.164 for sms and whatsapp, the session id for web. `reply_to_payload` is set when
    the platform itself says which button was pressed (e.g. a WhatsApp interactive button reply).
    """

    channel: Channel
    sender: str
    text: Optional[str]
    channel_message_id: Optional[str]
    has_media: bool
    received_at: datetime
    reply_to_payload: Optional[str] = None
    # Web chat: the browser tab that sent it (verification is bound to one tab), and the keyed hash of
    # the client's network address (bot/web/client_address.py: limits per address); None elsewhere.
    client: Optional[str] = None
    client_key: Optional[str] = None
    # Phone channels: the platform it came through ("twilio" or "meta", which must answer it too)
    # and the clinic's number the patient wrote to (E.164).
    provider: Optional[str] = None
    clinic_address: Optional[str] = None

    def __post_init__(self) -> None:
        """Keep the patient's words and the browser tab's id storable, whatever the channel decoded."""
        for name in ("text", "client"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, storable_text(value))


def storable_text(text: str) -> str:
    """`text` with NUL characters and lone surrogates replaced by U+FFFD, so any database keeps it."""
    return _UNSTORABLE.sub("\ufffd", text)


def is_usable_message_id(message_id: str) -> bool:
    """True if a platform's message id can be kept as it is: 1 to 128 printable characters."""
    return 0 < len(message_id) <= MAX_MESSAGE_ID_CHARS and message_id.isprintable()


def _normalise_reply(text: str) -> str:
    """Lower-cased, single-spaced, without trailing full stops or exclamation marks."""
    return " ".join(text.split()).casefold().rstrip(".! ")


def choose_button(text: Optional[str], offered: Sequence[Button]) -> Optional[str]:
    """The payload of the button a typed reply picks ("2", " 2. ", "option 2" or its title), else None.

    A number is read as the option's position in the list first (that is what the numbered prompt
    asks for); otherwise the reply must equal a button's title, ignoring case and spacing.
    """
    if not text or not offered:
        return None
    reply = " ".join(text.split()).casefold()
    match = _NUMBER_REPLY.match(reply)
    if match:
        index = int(match.group(1))
        if 1 <= index <= len(offered):
            return offered[index - 1].payload
    wanted = _normalise_reply(text)
    for button in offered:
        if wanted and _normalise_reply(button.title) == wanted:
            return button.payload
    return None


def numbered_options(buttons: Sequence[Button]) -> str:
    """The buttons as a numbered list under a prompt: "Reply with a number:\\n1. Yes\\n2. No"."""
    lines = [f"{index}. {button.title}" for index, button in enumerate(buttons, start=1)]
    return "\n".join([NUMBERED_OPTIONS_PROMPT, *lines])


def with_numbered_options(message: OutboundMessage) -> str:
    """The message's text followed by its buttons as numbered options (just the text if none)."""
    text = message.text.strip()
    if not message.buttons:
        return text
    options = numbered_options(message.buttons)
    return f"{text}\n\n{options}" if text else options


def _cut_point(text: str, limit: int) -> int:
    """Where to cut `text` (longer than `limit`) so the head fits: the best boundary in reach."""
    window = text[: limit + 1]
    floor = limit // 2
    fallback = 0
    for pattern in _BREAKS:
        cuts = [
            m.end()
            for m in pattern.finditer(window)
            if m.start() > 0 and len(window[: m.end()].rstrip()) <= limit
        ]
        if cuts and cuts[-1] > floor:
            return cuts[-1]
        if cuts and not fallback:
            fallback = cuts[-1]
    return fallback or limit  # a single "word" longer than the limit (a URL, say): hard cut


def split_text(text: str, limit: int) -> List[str]:
    """`text` in parts of at most `limit` characters, cut at paragraph, line, sentence or word ends."""
    parts: List[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut_point(rest, limit)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts
