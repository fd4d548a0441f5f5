"""Meta's WhatsApp Cloud API: the subscription handshake, signed webhooks, replies and sending.

Meta calls GET with `hub.mode`, `hub.verify_token` and `hub.challenge` once to subscribe, then
POSTs JSON (`object: whatsapp_business_account`, `entry[].changes[].value.messages[]` or
`.statuses[]`) signed in `X-Hub-Signature-256` with the app secret. Replies go to the Graph API
`/{phone-number-id}/messages`; free-form replies are allowed only within 24 hours of the patient's
last message (the customer care window), after that only approved templates.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import aiohttp

from bot.channels.kinds import ChannelKind
from bot.channels.messages import (
    ChannelSendError,
    InboundMessage,
    MalformedWebhook,
    OutboundMessage,
    is_usable_message_id,
    with_numbered_options,
)
from bot.channels.proactive import DeliveryStatus, SentMessage, WhatsAppTemplate
from bot.clinic.bookings import normalise_phone

if TYPE_CHECKING:  # what the router hands its deliverers
    from bot.conversations.store import ConversationRef

__all__ = [
    "WHATSAPP",
    "ChannelSendError",
    "CloudApiDeliverer",
    "MalformedWebhook",
    "WhatsAppConfig",
    "is_valid_signature",
    "parse_statuses",
    "parse_webhook",
    "render_whatsapp",
    "send_whatsapp",
    "verify_subscription",
]

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://graph.facebook.com/v19.0"
SIGNATURE_PREFIX = "sha256="
MAX_REPLY_BUTTONS = 3
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
INTERACTIVE_BODY_LIMIT = 1024
TEXT_BODY_LIMIT = 4096  # the Cloud API's limit for a text message's body
CUSTOMER_CARE_WINDOW = timedelta(hours=24)
SEND_TIMEOUT = aiohttp.ClientTimeout(total=10)
# Message types whose content the assistant cannot read: the router answers "text only, please".
MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker", "location", "contacts"})
CAPTIONED_TYPES = frozenset({"image", "video", "document"})
_NO_DEFAULT_REGION = "ZZ"
PROVIDER = "meta"

# STOP on WhatsApp is ours to confirm (Twilio confirms an SMS opt-out itself, Meta does nothing).
WHATSAPP = ChannelKind(
    "whatsapp", phone_numbers=True, confirms_stop=True, reply_window=CUSTOMER_CARE_WINDOW,
    window_closed="WhatsApp allows free-form replies only within 24 hours of the patient's last message: "
                  "send an approved template message instead (or call the patient)")


@dataclass(frozen=True)
class WhatsAppConfig:
    """The webhook's verify token and app secret, and what sending needs."""

    verify_token: str = field(repr=False)
    app_secret: str = field(repr=False)
    api_base: str = DEFAULT_API_BASE
    phone_number_id: str = ""
    access_token: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "WhatsAppConfig":
        """The WhatsApp Cloud API settings from environment variables (see .env.example)."""
        return cls(
            verify_token=env.get("WHATSAPP_VERIFY_TOKEN", ""),
            app_secret=env.get("WHATSAPP_APP_SECRET", ""),
            api_base=env.get("WHATSAPP_API_BASE") or DEFAULT_API_BASE,
            phone_number_id=env.get("WHATSAPP_PHONE_NUMBER_ID", ""),
            access_token=env.get("WHATSAPP_ACCESS_TOKEN", ""),
        )


def verify_subscription(config: WhatsAppConfig, query: Mapping[str, str]) -> Optional[str]:
    """The hub.challenge to echo when Meta's subscription request carries our verify token, else None."""
    if query.get("hub.mode") != "subscribe" or not config.verify_token:
        return None
    given = (query.get("hub.verify_token") or "").encode("utf-8")
    if not hmac.compare_digest(given, config.verify_token.encode("utf-8")):
        return None
    return query.get("hub.challenge") or None


def is_valid_signature(config: WhatsAppConfig, raw_body: bytes, header: Optional[str]) -> bool:
    """True when `X-Hub-Signature-256` is "sha256=" + HMAC-SHA256(app secret, raw body)."""
    if not header or not config.app_secret:
        return False
    header = header.strip()
    if header[: len(SIGNATURE_PREFIX)].lower() != SIGNATURE_PREFIX:
        return False
    given = header[len(SIGNATURE_PREFIX):].strip().lower().encode("utf-8", "replace")
    expected = hmac.new(config.app_secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), given)


def _dict(value: Any) -> Dict[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> List[Any]:
    """`value` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def _text(value: Any) -> Optional[str]:
    """A stripped non-empty string, or None."""
    return (value.strip() or None) if isinstance(value, str) else None


def _change_values(payload: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    """The `value` of every "messages" change in every entry."""
    for entry in _list(payload.get("entry")):
        for change in _list(_dict(entry).get("changes")):
            change = _dict(change)
            if change.get("field", "messages") == "messages":
                yield _dict(change.get("value"))


def _sender(raw_from: Any) -> Optional[str]:
    """E.164 from the webhook's "from" (digits without "+"), or None if it is not a phone number."""
    digits = _text(raw_from)
    if digits is None or not digits.lstrip("+").isdigit():
        return None
    return normalise_phone(f"+{digits.lstrip('+')}", _NO_DEFAULT_REGION)


def _sent_at(raw_timestamp: Any) -> datetime:
    """The message's Unix timestamp as an aware UTC datetime (now if absent or odd)."""
    try:
        return datetime.fromtimestamp(int(raw_timestamp), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(timezone.utc)


def _content(raw: Dict[str, Any]) -> Optional[Tuple[Optional[str], Optional[str], bool]]:
    """(text, pressed button id, has media) of one message, or None for types we ignore."""
    kind = raw.get("type")
    if not isinstance(kind, str):  # a list or an object is no type we know (nor hashable)
        return None
    if kind == "text":
        return _text(_dict(raw.get("text")).get("body")), None, False
    if kind == "interactive":
        interactive = _dict(raw.get("interactive"))
        reply_kind = interactive.get("type")
        if reply_kind in ("button_reply", "list_reply"):
            reply = _dict(interactive.get(reply_kind))
            return _text(reply.get("title")), _text(reply.get("id")), False
        return None
    if kind == "button":  # a quick-reply button of a template message
        button = _dict(raw.get("button"))
        return _text(button.get("text")), _text(button.get("payload")), False
    if kind in MEDIA_TYPES:
        caption = _text(_dict(raw.get(kind)).get("caption")) if kind in CAPTIONED_TYPES else None
        return caption, None, True
    return None


def _parse_message(raw: Any) -> Optional[InboundMessage]:
    """One entry of value.messages[] as an InboundMessage, or None when we ignore it."""
    raw = _dict(raw)
    content = _content(raw)
    if content is None:
        logger.debug("WhatsApp message of type %r ignored", raw.get("type"))
        return None
    sender, message_id = _sender(raw.get("from")), _text(raw.get("id"))
    if sender is None or message_id is None or not is_usable_message_id(message_id):
        logger.warning("WhatsApp message without a usable sender or id ignored (type %r)", raw.get("type"))
        return None
    text, payload, has_media = content
    return InboundMessage(
        channel="whatsapp",
        sender=sender,
        text=text,
        channel_message_id=message_id,
        has_media=has_media,
        received_at=_sent_at(raw.get("timestamp")),
        reply_to_payload=payload,
    )


def parse_webhook(payload: Any) -> List[InboundMessage]:
    """The patients' messages in a webhook body; statuses and unknown shapes give none."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise MalformedWebhook("WhatsApp webhook body is not a whatsapp_business_account object")
    if not isinstance(payload.get("entry"), list):
        raise MalformedWebhook("WhatsApp webhook body has no entry list")
    messages = []
    for value in _change_values(payload):
        number = _sender(_dict(value.get("metadata")).get("display_phone_number"))
        for raw in _list(value.get("messages")):
            message = _parse_message(raw)
            if message is not None:
                messages.append(dataclasses.replace(message, provider=PROVIDER, clinic_address=number))
    return messages


def _parse_status(raw: Any, received_at: datetime) -> Optional[DeliveryStatus]:
    """One entry of value.statuses[] (id, status, timestamp, errors[].code), or None without an id
    or a status."""
    raw = _dict(raw)
    message_id, status = _text(raw.get("id")), _text(raw.get("status"))
    if message_id is None or status is None:
        logger.warning("WhatsApp status without an id or a status ignored")
        return None
    codes = [_dict(error).get("code") for error in _list(raw.get("errors"))]
    code = next((str(c) for c in codes if isinstance(c, (int, str)) and not isinstance(c, bool) and str(c)), None)
    at = _sent_at(raw.get("timestamp")) if raw.get("timestamp") is not None else received_at
    return DeliveryStatus(provider=PROVIDER, provider_message_id=message_id, status=status.lower(),
                          error_code=code, at=at)


def parse_statuses(payload: Any, *, received_at: Optional[datetime] = None) -> List[DeliveryStatus]:
    """The delivery statuses in a webhook body (entry[].changes[].value.statuses[]); those without
    an id or a status are left out. The body's shape is checked by `parse_webhook`."""
    now = received_at or datetime.now(timezone.utc)
    statuses = []
    for value in _change_values(_dict(payload)):
        for raw in _list(value.get("statuses")):
            status = _parse_status(raw, now)
            if status is not None:
                statuses.append(status)
    return statuses


def _button_title(title: str) -> str:
    """A button title cut to WhatsApp's 20 characters."""
    return title.strip()[:BUTTON_TITLE_LIMIT].rstrip()


def _fits_reply_buttons(message: OutboundMessage) -> bool:
    """True when WhatsApp's reply-button message can carry this message unchanged in meaning."""
    buttons = message.buttons
    titles = [_button_title(button.title) for button in buttons]
    ids = [button.payload for button in buttons]
    return (
        1 <= len(buttons) <= MAX_REPLY_BUTTONS
        and len(message.text.strip()) <= INTERACTIVE_BODY_LIMIT
        and all(titles) and len(set(titles)) == len(titles)
        and all(0 < len(payload) <= BUTTON_ID_LIMIT for payload in ids) and len(set(ids)) == len(ids)
    )


def render_whatsapp(message: OutboundMessage) -> Dict[str, Any]:
    """The Graph API body (no "to"): reply buttons for 1-3 buttons, else text with numbered options."""
    base: Dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    if not _fits_reply_buttons(message):
        text = {"preview_url": False, "body": with_numbered_options(message)}
        return {**base, "type": "text", "text": text}
    buttons = [
        {"type": "reply", "reply": {"id": button.payload, "title": _button_title(button.title)}}
        for button in message.buttons
    ]
    interactive = {
        "type": "button",
        "body": {"text": message.text.strip() or "Please choose:"},
        "action": {"buttons": buttons},
    }
    return {**base, "type": "interactive", "interactive": interactive}


async def _json_or_none(response: aiohttp.ClientResponse) -> Any:
    """The response's JSON body, or None when it has none."""
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None


def _message_id(payload: Any) -> Optional[str]:
    """messages[0].id of a Graph API send response."""
    first = _list(_dict(payload).get("messages"))[:1]
    return _text(_dict(first[0]).get("id")) if first else None


async def _post_message(session: aiohttp.ClientSession, config: WhatsAppConfig, body: Dict[str, Any]) -> str:
    """POST one Graph API message body; the WhatsApp message id (wamid) it returns.

    ChannelSendError (with Meta's error code) when the Graph API refuses it or cannot be reached."""
    if not config.phone_number_id or not config.access_token:
        raise ChannelSendError("whatsapp", None, reason="phone number id or access token not configured")
    url = f"{config.api_base.rstrip('/')}/{config.phone_number_id}/messages"
    headers = {"Authorization": f"Bearer {config.access_token}"}
    try:
        async with session.post(url, json=body, headers=headers, timeout=SEND_TIMEOUT) as response:
            payload = await _json_or_none(response)
            status = response.status
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        logger.warning("WhatsApp send failed: %s", type(error).__name__)
        raise ChannelSendError("whatsapp", None, reason=type(error).__name__) from error
    if not 200 <= status < 300:
        code = _dict(_dict(payload).get("error")).get("code")
        code = code if isinstance(code, int) else None
        logger.warning("WhatsApp send refused: HTTP %s, error code %s", status, code)
        raise ChannelSendError("whatsapp", status, code)
    message_id = _message_id(payload)
    if message_id is None:
        raise ChannelSendError("whatsapp", status, reason="Graph API response has no message id")
    logger.debug("WhatsApp message accepted: %s", message_id)
    return message_id


def _recipient(to_e164: str) -> str:
    """The Graph API's "to": the number's digits, without "+"."""
    return to_e164.strip().lstrip("+")


async def send_whatsapp(
    session: aiohttp.ClientSession, config: WhatsAppConfig, to_e164: str, message: OutboundMessage
) -> str:
    """Send one message through the Cloud API; the WhatsApp message id (wamid) it returns."""
    return await _post_message(session, config, {**render_whatsapp(message), "to": _recipient(to_e164)})


def render_template(to_e164: str, template: WhatsAppTemplate, kind: str = "this message") -> Dict[str, Any]:
    """The Graph API body of an approved template: its name, language and body parameters in order.

    ChannelSendError when the template has no name for the Cloud API (none was configured)."""
    if not template.meta_name:
        raise ChannelSendError("whatsapp", None, reason=f"no approved template configured for {kind}")
    content: Dict[str, Any] = {"name": template.meta_name, "language": {"code": template.meta_language}}
    if template.variables:
        parameters = [{"type": "text", "text": value} for value in template.variables]
        content["components"] = [{"type": "body", "parameters": parameters}]
    return {"messaging_product": "whatsapp", "to": _recipient(to_e164), "type": "template", "template": content}


def render_proactive_text(to_e164: str, text: str) -> Dict[str, Any]:
    """The Graph API body of a text we write first (inside the customer care window).

    ChannelSendError for a text the Cloud API would refuse (empty, or over 4,096 characters)."""
    body = text.strip()
    if not body:
        raise ChannelSendError("whatsapp", None, reason="the message is empty")
    if len(body) > TEXT_BODY_LIMIT:
        raise ChannelSendError("whatsapp", None, reason=f"the message is longer than {TEXT_BODY_LIMIT} characters")
    return {**render_whatsapp(OutboundMessage(body)), "to": _recipient(to_e164)}


class CloudApiDeliverer:
    """Sends WhatsApp replies through Meta's Graph API (reply buttons where the bot offers choices)."""

    kind = WHATSAPP
    provider = PROVIDER

    def __init__(self, http: aiohttp.ClientSession, config: WhatsAppConfig) -> None:
        """Send with the application's HTTP client and the Cloud API settings."""
        self.http = http
        self.config = config

    async def send(self, conversation: ConversationRef, replies: Sequence[OutboundMessage], author: str) -> None:
        """One Graph API message per reply, to the conversation's phone number."""
        for reply in replies:
            await send_whatsapp(self.http, self.config, conversation.external_id, reply)

    async def send_proactive(self, conversation: ConversationRef, text: str, template: Optional[WhatsAppTemplate],
                             *, kind: str = "this message") -> SentMessage:
        """Write first: the approved `template` (name, language, body parameters), or `text` as a
        text message when no template is given (within the customer care window).

        Delivery statuses arrive in the same webhook as messages (`parse_statuses`). The Cloud API
        has no idempotency key for sending: a message is sent once because the caller claims it
        before sending (the care outbox, bot/care), not because Meta would drop a repeat.
        ChannelSendError (with Meta's error code) when it is refused; `kind` names what was to be
        sent in the reason when no approved template is configured for the Cloud API."""
        to = conversation.external_id
        body = render_template(to, template, kind) if template is not None else render_proactive_text(to, text)
        message_id = await _post_message(self.http, self.config, body)
        return SentMessage(provider=PROVIDER, provider_message_id=message_id)

    async def notify_owner(self, conversation: ConversationRef, owner: str, notice: str) -> None:
        """Nothing: on WhatsApp the handoff and hand-back are ordinary messages."""
