"""Webhooks for SMS and WhatsApp: Twilio (`/webhooks/twilio`) and Meta's Cloud API (`/webhooks/whatsapp`).

Each webhook checks the platform's signature (403 otherwise; Twilio's body must first be the UTF-8
form Twilio posts, 415 or 400 otherwise), stores the message with its receipt in one transaction (a
redelivery is a no-op), answers at once, and leaves the reply to a background task that sends it
through the platform's API. If the message cannot be stored (the database is down), the webhook
answers 503 so the platform delivers it again.

Delivery statuses of the care messages we wrote first come to `/webhooks/twilio/status`
(Twilio's StatusCallback, signed like its messages) and inside the Cloud API webhook
(`statuses`); they are recorded on the care message (bot/care/status.py). A status callback we
cannot read or whose message is not a care message is acknowledged and changes nothing (so the
platform does not retry it forever); a database error answers 503 as for messages.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Awaitable, Dict, List, Sequence

from aiohttp import web

from bot.appkeys import BACKGROUND_TASKS, ROUTER, SETTINGS
from bot.care.status import record_delivery_status
from bot.channels import twilio, whatsapp
from bot.channels.messages import InboundMessage, MalformedWebhook
from bot.channels.proactive import DeliveryStatus
from bot.conversations.router import Accepted, ConversationRouter

logger = logging.getLogger(__name__)

TWIML = "application/xml"
TWILIO_FORM = "application/x-www-form-urlencoded"  # what Twilio posts, always in UTF-8
UTF8_CHARSETS = ("utf-8", "utf8")


def run_in_background(app: web.Application, work: Awaitable) -> None:
    """Run `work` after the response; the application waits for it on shutdown."""
    tasks = app[BACKGROUND_TASKS]
    task = asyncio.ensure_future(work)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def accept_all(router: ConversationRouter, messages: Sequence[InboundMessage]) -> List[Accepted]:
    """Store every message of one webhook; a database error becomes 503 (deliver again)."""
    try:
        return [accepted for accepted in map(router.accept, messages) if accepted is not None]
    except Exception as error:
        logger.error("webhook message not stored: %s", type(error).__name__)
        raise web.HTTPServiceUnavailable(text="temporarily unable to store the message; please retry",
                                         headers={"Retry-After": "30"}) from error


def record_statuses(router: ConversationRouter, statuses: Sequence[DeliveryStatus]) -> int:
    """Record the delivery statuses on their care messages, in one transaction; how many were of
    care messages. A database error becomes 503 (report again)."""
    if not statuses:
        return 0
    try:
        with router.sessions.begin() as session:
            return sum(record_delivery_status(session, status.provider, status.provider_message_id, status.status,
                                              status.error_code, status.at) for status in statuses)
    except Exception as error:
        logger.error("delivery status not recorded: %s", type(error).__name__)
        raise web.HTTPServiceUnavailable(text="temporarily unable to record the status; please retry",
                                         headers={"Retry-After": "30"}) from error


async def process_all(router: ConversationRouter, accepted: Sequence[Accepted]) -> None:
    """Reply to the accepted messages one after another (they may be from the same patient)."""
    for item in accepted:
        await router.process_safely(item)


async def read_twilio_form(request: web.Request) -> Dict[str, str]:
    """The posted fields (a repeated field keeps its last value): 415 for anything but a UTF-8 form,
    which is all Twilio posts, and 400 when the body is not UTF-8."""
    if request.content_type != TWILIO_FORM or (request.charset or "utf-8").lower() not in UTF8_CHARSETS:
        raise web.HTTPUnsupportedMediaType(text=f"expected {TWILIO_FORM} in UTF-8")
    try:
        fields = await request.post()
    except UnicodeDecodeError as error:
        raise web.HTTPBadRequest(text="the form is not UTF-8") from error
    return {key: str(value) for key, value in fields.items()}


async def twilio_webhook(request: web.Request) -> web.Response:
    """An SMS or WhatsApp message from Twilio: check, store, answer empty TwiML, reply later."""
    config = request.app[SETTINGS].twilio
    form = await read_twilio_form(request)
    if not twilio.is_valid_signature(config, request.path_qs, form, request.headers.get("X-Twilio-Signature")):
        logger.warning("Twilio webhook refused: missing or wrong signature")
        raise web.HTTPForbidden(text="invalid signature")
    try:
        inbound = twilio.parse_inbound(form)
    except MalformedWebhook as error:
        raise web.HTTPBadRequest(text=str(error)) from error
    router = request.app[ROUTER]
    accepted = accept_all(router, [inbound])
    if accepted:
        run_in_background(request.app, process_all(router, accepted))
    return web.Response(text=twilio.EMPTY_TWIML, content_type=TWIML)


async def twilio_status(request: web.Request) -> web.Response:
    """A delivery status from Twilio's StatusCallback: check the signature, record it, answer 204."""
    config = request.app[SETTINGS].twilio
    form = {key: str(value) for key, value in (await request.post()).items()}
    if not twilio.is_valid_signature(config, request.path_qs, form, request.headers.get("X-Twilio-Signature")):
        logger.warning("Twilio status callback refused: missing or wrong signature")
        raise web.HTTPForbidden(text="invalid signature")
    try:
        status = twilio.parse_status(form, received_at=request.app[ROUTER].clock())
    except MalformedWebhook as error:
        logger.warning("Twilio status callback ignored: %s", error)
        return web.Response(status=204)
    record_statuses(request.app[ROUTER], [status])
    return web.Response(status=204)


async def whatsapp_verify(request: web.Request) -> web.Response:
    """Meta's subscription handshake: echo hub.challenge when the verify token matches."""
    config = request.app[SETTINGS].whatsapp
    challenge = whatsapp.verify_subscription(config, request.query)
    if challenge is None:
        raise web.HTTPForbidden(text="verify token does not match")
    return web.Response(text=challenge)


async def whatsapp_webhook(request: web.Request) -> web.Response:
    """Messages and delivery statuses from the WhatsApp Cloud API."""
    config = request.app[SETTINGS].whatsapp
    raw = await request.read()
    if not whatsapp.is_valid_signature(config, raw, request.headers.get("X-Hub-Signature-256")):
        logger.warning("WhatsApp webhook refused: missing or wrong signature")
        raise web.HTTPForbidden(text="invalid signature")
    try:
        payload = json.loads(raw)
        messages = whatsapp.parse_webhook(payload)
    # json.JSONDecodeError is a ValueError; nesting deeper than Python's recursion limit is a RecursionError.
    except (ValueError, RecursionError, MalformedWebhook) as error:
        raise web.HTTPBadRequest(text=f"malformed WhatsApp webhook: {error}") from error
    router = request.app[ROUTER]
    # Statuses first: recording one again is harmless, while a 503 after the messages were
    # accepted would leave them unanswered (their redelivery is a duplicate).
    statuses = whatsapp.parse_statuses(payload, received_at=router.clock())
    record_statuses(router, statuses)
    accepted = accept_all(router, messages)
    if accepted:
        run_in_background(request.app, process_all(router, accepted))
    return web.json_response({"received": len(messages), "statuses": len(statuses)})


def setup_webhooks(app: web.Application) -> None:
    """Add the webhook routes."""
    app.router.add_post("/webhooks/twilio", twilio_webhook, name="twilio_webhook")
    app.router.add_post(twilio.STATUS_PATH, twilio_status, name="twilio_status")
    app.router.add_get("/webhooks/whatsapp", whatsapp_verify, name="whatsapp_verify")
    app.router.add_post("/webhooks/whatsapp", whatsapp_webhook, name="whatsapp_webhook")

