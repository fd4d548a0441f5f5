"""Twilio SMS and WhatsApp-through-Twilio: check and parse the webhook, render and send replies.

Twilio posts `application/x-www-form-urlencoded` fields (From, To, Body, MessageSid, NumMedia, ...)
and signs them in `X-Twilio-Signature` over the public URL it called (query string included) plus
the sorted fields; WhatsApp numbers carry a "whatsapp:" prefix. The webhook answers `EMPTY_TWIML`
at once; replies go out later through the Messages REST resource (`send_twilio`).
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Dict, List, Literal, Mapping, Optional, Sequence

import aiohttp
from twilio.request_validator import RequestValidator

from bot.channels.kinds import ChannelKind
from bot.channels.messages import (
    ChannelSendError,
    InboundMessage,
    MalformedWebhook,
    OutboundMessage,
    is_usable_message_id,
    split_text,
    with_numbered_options,
)
from bot.channels.proactive import DeliveryStatus, SentMessage, WhatsAppTemplate
from bot.channels.whatsapp import WHATSAPP
from bot.clinic.bookings import normalise_phone

if TYPE_CHECKING:  # what the router hands its deliverers
    from bot.conversations.store import ConversationRef

__all__ = [
    "EMPTY_TWIML",
    "SMS",
    "SMS_BODY_LIMIT",
    "ChannelSendError",
    "MalformedWebhook",
    "TwilioConfig",
    "TwilioDeliverer",
    "is_valid_signature",
    "parse_inbound",
    "parse_status",
    "render_sms",
    "send_twilio",
]

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
SMS_BODY_LIMIT = 1600  # Twilio's limit for one message body (it sends it as up to 10 segments)
SEND_TIMEOUT = aiohttp.ClientTimeout(total=10)
STATUS_PATH = "/webhooks/twilio/status"  # where Twilio posts the delivery status of what we wrote first
WHATSAPP_PREFIX = "whatsapp:"
# Twilio always sends E.164 ("+44..."); an unknown region makes anything else unparseable.
_NO_DEFAULT_REGION = "ZZ"

TwilioChannel = Literal["sms", "whatsapp"]
DEFAULT_API_BASE = "https://api.twilio.com"
PROVIDER = "twilio"
# Twilio handles STOP/START/HELP on SMS itself (and confirms them); we record them too.
SMS = ChannelKind("sms", phone_numbers=True)


@dataclass(frozen=True)
class TwilioConfig:
    """Twilio credentials, the public base URL Twilio calls, and the sending numbers."""

    account_sid: str
    auth_token: str = field(repr=False)
    api_base: str = DEFAULT_API_BASE
    public_base_url: str = ""
    from_sms: str = ""
    from_whatsapp: str = ""
    messaging_service_sid: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "TwilioConfig":
        """The Twilio settings from environment variables (see .env.example)."""
        return cls(
            account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
            auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            api_base=env.get("TWILIO_API_BASE") or DEFAULT_API_BASE,
            public_base_url=env.get("PUBLIC_BASE_URL", ""),
            from_sms=env.get("TWILIO_SMS_FROM", ""),
            from_whatsapp=env.get("TWILIO_WHATSAPP_FROM", ""),
            messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID", ""),
        )


def public_url(config: TwilioConfig, path_qs: str) -> str:
    """The URL Twilio called: PUBLIC_BASE_URL (behind any proxy) plus the path and query string."""
    return f"{config.public_base_url.rstrip('/')}/{path_qs.lstrip('/')}"


def is_valid_signature(
    config: TwilioConfig, path_qs: str, form: Mapping[str, str], signature_header: Optional[str]
) -> bool:
    """True when `X-Twilio-Signature` matches the URL and form fields under our auth token."""
    if not signature_header:
        return False
    if not config.auth_token or not config.public_base_url:
        logger.warning("Twilio signature not checkable: TWILIO_AUTH_TOKEN or PUBLIC_BASE_URL is unset")
        return False
    validator = RequestValidator(config.auth_token)
    return bool(validator.validate(public_url(config, path_qs), form, signature_header))


def _media_count(form: Mapping[str, str]) -> int:
    """NumMedia as a number (0 when absent or not a number)."""
    try:
        return int(form.get("NumMedia") or 0)
    except ValueError:
        return 0


def parse_inbound(form: Mapping[str, str], *, received_at: Optional[datetime] = None) -> InboundMessage:
    """The patient's message in a Twilio webhook; MalformedWebhook if From or MessageSid is missing."""
    raw_from = (form.get("From") or "").strip()
    message_sid = (form.get("MessageSid") or "").strip()
    if not raw_from:
        raise MalformedWebhook("Twilio webhook has no From field")
    if not message_sid:
        raise MalformedWebhook("Twilio webhook has no MessageSid field")
    if not is_usable_message_id(message_sid):
        raise MalformedWebhook("Twilio webhook MessageSid is not a message id (too long or unprintable)")
    sender = normalise_phone(raw_from, _NO_DEFAULT_REGION)
    if sender is None:
        raise MalformedWebhook("Twilio webhook From is not an E.164 phone number")
    channel: TwilioChannel = "whatsapp" if raw_from.lower().startswith(WHATSAPP_PREFIX) else "sms"
    return InboundMessage(
        channel=channel,
        sender=sender,
        text=(form.get("Body") or "").strip() or None,
        channel_message_id=message_sid,
        has_media=_media_count(form) > 0,
        received_at=received_at or datetime.now(timezone.utc),
        reply_to_payload=(form.get("ButtonPayload") or "").strip() or None,  # WhatsApp quick reply
        provider=PROVIDER,
        clinic_address=normalise_phone(form.get("To") or "", _NO_DEFAULT_REGION),
    )


def parse_status(form: Mapping[str, str], *, received_at: Optional[datetime] = None) -> DeliveryStatus:
    """A status callback's MessageSid, MessageStatus and ErrorCode; MalformedWebhook without the first two."""
    message_sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    if not message_sid:
        raise MalformedWebhook("Twilio status callback has no MessageSid field")
    if not status:
        raise MalformedWebhook("Twilio status callback has no MessageStatus field")
    return DeliveryStatus(provider=PROVIDER, provider_message_id=message_sid, status=status,
                          error_code=(form.get("ErrorCode") or "").strip() or None,
                          at=received_at or datetime.now(timezone.utc))


def _join_short(parts: Sequence[str], limit: int) -> List[str]:
    """Consecutive parts joined by a blank line as long as the result stays within `limit`."""
    joined: List[str] = []
    for part in parts:
        if joined and len(joined[-1]) + 2 + len(part) <= limit:
            joined[-1] = f"{joined[-1]}\n\n{part}"
        else:
            joined.append(part)
    return joined


def render_sms(messages: Sequence[OutboundMessage]) -> List[str]:
    """Message bodies of at most 1,600 characters; buttons become numbered options."""
    pieces = [
        piece for message in messages for piece in split_text(with_numbered_options(message), SMS_BODY_LIMIT)
    ]
    return _join_short(pieces, SMS_BODY_LIMIT)


def _with_prefix(number: str) -> str:
    """The number with exactly one "whatsapp:" prefix."""
    number = number.strip()
    return number if number.lower().startswith(WHATSAPP_PREFIX) else f"{WHATSAPP_PREFIX}{number}"


def _addresses(config: TwilioConfig, channel: str, to_e164: str, reply_from: Optional[str] = None) -> dict:
    """To and the sender: From (the configured number, else the clinic number the patient wrote to)
    or MessagingServiceSid; ChannelSendError when there is no sender or no account."""
    if channel == "whatsapp":
        recipient = _with_prefix(to_e164)
        number = config.from_whatsapp or reply_from or ""
        sender = _with_prefix(number) if number else ""
    elif channel == "sms":
        recipient, sender = to_e164.strip(), (config.from_sms or reply_from or "").strip()
    else:
        raise ValueError(f"Twilio cannot send on channel {channel!r}")
    if not config.account_sid or not config.auth_token:
        raise ChannelSendError(channel, None, reason="Twilio account not configured")
    if not sender and config.messaging_service_sid:
        return {"To": recipient, "MessagingServiceSid": config.messaging_service_sid}
    if not sender:
        raise ChannelSendError(channel, None, reason="sending number not configured (set the number or a Messaging Service SID)")
    return {"To": recipient, "From": sender}


async def _json_or_none(response: aiohttp.ClientResponse) -> Any:
    """The response's JSON body, or None when it has none."""
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None


def _messages_url(config: TwilioConfig) -> str:
    """The account's Messages resource."""
    return f"{config.api_base.rstrip('/')}/2010-04-01/Accounts/{config.account_sid}/Messages.json"


async def _create_message(session: aiohttp.ClientSession, config: TwilioConfig, channel: str,
                          form: Mapping[str, str]) -> str:
    """POST one message (addresses and content in `form`) to the Messages resource; its SID.

    ChannelSendError (with Twilio's error code) when Twilio refuses or cannot be reached."""
    auth = aiohttp.BasicAuth(config.account_sid, config.auth_token)
    try:
        async with session.post(_messages_url(config), data=dict(form), auth=auth, timeout=SEND_TIMEOUT) as response:
            payload = await _json_or_none(response)
            status = response.status
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        logger.warning("Twilio %s send failed: %s", channel, type(error).__name__)
        raise ChannelSendError(channel, None, reason=type(error).__name__) from error
    payload = payload if isinstance(payload, dict) else {}
    if not 200 <= status < 300:
        code = payload.get("code") if isinstance(payload.get("code"), int) else None
        logger.warning("Twilio %s send refused: HTTP %s, error code %s", channel, status, code)
        raise ChannelSendError(channel, status, code)
    sid = payload.get("sid")
    if not isinstance(sid, str) or not sid:
        raise ChannelSendError(channel, status, reason="Twilio response has no message sid")
    logger.debug("Twilio %s message accepted: %s", channel, sid)
    return sid


async def send_twilio(
    session: aiohttp.ClientSession, config: TwilioConfig, channel: str, to_e164: str, body: str,
    reply_from: Optional[str] = None,
) -> str:
    """Send one SMS or WhatsApp message through Twilio's Messages resource; its message SID.

    `reply_from` is the clinic number the patient wrote to, used when no sender is configured."""
    addresses = _addresses(config, channel, to_e164, reply_from)
    return await _create_message(session, config, channel, {**addresses, "Body": body})


def content_variables(template: WhatsAppTemplate) -> str:
    """The template's variables as Twilio's ContentVariables: a JSON object {"1": ..., "2": ...}."""
    numbered = {str(number): value for number, value in enumerate(template.variables, start=1)}
    return json.dumps(numbered, ensure_ascii=False, separators=(",", ":"))


def proactive_form(config: TwilioConfig, channel: str, text: str, template: Optional[WhatsAppTemplate],
                   kind: str) -> Dict[str, str]:
    """What a message we write first carries besides its addresses: the Body (SMS, or WhatsApp
    without a template) or the template's ContentSid and ContentVariables, and the StatusCallback.

    ChannelSendError, before any request, for a WhatsApp template without a Content SID or a
    text Twilio would refuse (empty, or longer than one message may be)."""
    form: Dict[str, str] = {}
    if channel == "whatsapp" and template is not None:
        if not template.twilio_content_sid:
            raise ChannelSendError(channel, None, reason=f"no approved template configured for {kind}")
        form["ContentSid"] = template.twilio_content_sid
        if template.variables:
            form["ContentVariables"] = content_variables(template)
    else:
        body = text.strip()
        if not body:
            raise ChannelSendError(channel, None, reason="the message is empty")
        if len(body) > SMS_BODY_LIMIT:
            raise ChannelSendError(channel, None, reason=f"the message is longer than {SMS_BODY_LIMIT} characters")
        form["Body"] = body
    if config.public_base_url:
        form["StatusCallback"] = public_url(config, STATUS_PATH)
    else:
        logger.warning("no delivery statuses from Twilio: PUBLIC_BASE_URL is unset")
    return form


class TwilioDeliverer:
    """Sends SMS and WhatsApp replies through Twilio's Messages API."""

    provider = PROVIDER

    def __init__(self, http: aiohttp.ClientSession, config: TwilioConfig, kind: ChannelKind = SMS) -> None:
        """Send on `kind` (SMS, or WHATSAPP through Twilio) with the application's HTTP client."""
        if kind not in (SMS, WHATSAPP):
            raise ValueError(f"Twilio cannot send on channel {kind.name!r}")
        self.http = http
        self.config = config
        self.kind = kind

    async def send(self, conversation: ConversationRef, replies: Sequence[OutboundMessage], author: str) -> None:
        """Each rendered body (long texts split, buttons numbered) as one Twilio message."""
        for body in render_sms(replies):
            await send_twilio(self.http, self.config, self.kind.name, conversation.external_id, body,
                              reply_from=conversation.clinic_address)

    async def send_proactive(self, conversation: ConversationRef, text: str, template: Optional[WhatsAppTemplate],
                             *, kind: str = "this message") -> SentMessage:
        """Write first: SMS as plain text; WhatsApp as the approved `template` (its ContentSid and
        ContentVariables), or as plain text when no template is given (within the reply window).

        Twilio's delivery statuses come back to STATUS_PATH (bot/web/webhooks.py). Twilio's
        Messages API has no idempotency key: a message is sent once because the caller claims it
        before sending (the care outbox, bot/care), not because Twilio would drop a repeat.
        ChannelSendError (with Twilio's error code) when it is refused; `kind` names what was to
        be sent in the reason when no approved template is configured for Twilio."""
        channel = self.kind.name
        form = proactive_form(self.config, channel, text, template, kind)
        addresses = _addresses(self.config, channel, conversation.external_id, conversation.clinic_address)
        sid = await _create_message(self.http, self.config, channel, {**addresses, **form})
        return SentMessage(provider=PROVIDER, provider_message_id=sid)

    async def send_text(self, to_e164: str, text: str) -> str:
        """Send `text` as one plain message to a number that is not a patient conversation (the
        clinic's on-call phone); its message SID. ChannelSendError when Twilio refuses it."""
        body = text.strip()
        if not body or len(body) > SMS_BODY_LIMIT:
            raise ChannelSendError(self.kind.name, None, reason="the message is empty or too long")
        addresses = _addresses(self.config, self.kind.name, to_e164)
        return await _create_message(self.http, self.config, self.kind.name, {**addresses, "Body": body})

    async def notify_owner(self, conversation: ConversationRef, owner: str, notice: str) -> None:
        """Nothing: on SMS the handoff and hand-back are ordinary messages."""
