"""The server's on-call pager: every CHECK_SECONDS, page the urgent cases nobody took in time.

Added to `app.cleanup_ctx` by `bot.app.create_app`; it runs only when the clinic profile names an
`on_call_phone`. Every replica runs it; `claim_pages` makes each page go out once. The claim is
committed before the SMS is sent; an SMS Twilio refuses releases the claim so the next run tries
again (a replica that dies between the two loses that one page: the console's own alerts remain).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import AsyncIterator, Awaitable, Callable, List

from aiohttp import web
from sqlalchemy.orm import sessionmaker

from bot.alerts.on_call import claim_pages, page_text, release_page
from bot.appkeys import HTTP_CLIENT, SESSION_FACTORY, SETTINGS
from bot.channels import twilio
from bot.channels.messages import ChannelSendError
from bot.channels.twilio import TwilioDeliverer
from bot.db.models import utcnow
from bot.settings import Settings

logger = logging.getLogger(__name__)

CHECK_SECONDS = 30.0
FIRST_DELAY_SECONDS = 10.0

# Sends one text to one phone number (TwilioDeliverer.send_text).
SendText = Callable[[str, str], Awaitable[str]]


def _claim(session_factory: sessionmaker, settings: Settings, now: datetime) -> List[int]:
    """Claim the due pages in one transaction (blocking)."""
    with session_factory.begin() as session:
        return claim_pages(session, settings.clinic, now)


def _release(session_factory: sessionmaker, escalation_id: int, now: datetime, reason: str) -> None:
    """Release one claim in its own transaction (blocking)."""
    with session_factory.begin() as session:
        release_page(session, escalation_id, now, reason)


async def page_once(session_factory: sessionmaker, settings: Settings, send_text: SendText,
                    clock: Callable[[], datetime] = utcnow) -> int:
    """Claim the due pages and text the on-call phone once for each; how many were sent."""
    now = clock()
    loop = asyncio.get_running_loop()
    claimed = await loop.run_in_executor(None, _claim, session_factory, settings, now)
    text = page_text(settings.clinic.name, settings.twilio.public_base_url)
    sent = 0
    for escalation_id in claimed:
        try:
            await send_text(settings.clinic.on_call_phone, text)
        except ChannelSendError as error:
            logger.error("on-call SMS for escalation %d not sent (%s); trying again later", escalation_id, error)
            await loop.run_in_executor(None, _release, session_factory, escalation_id, now, str(error))
        else:
            sent += 1
            logger.info("on-call phone paged for urgent escalation %d", escalation_id)
    return sent


async def page_periodically(app: web.Application, send_text: SendText, interval_seconds: float,
                            first_delay_seconds: float, clock: Callable[[], datetime]) -> None:
    """Page, then wait `interval_seconds`, until cancelled."""
    await asyncio.sleep(first_delay_seconds)
    while True:
        try:
            await page_once(app[SESSION_FACTORY], app[SETTINGS], send_text, clock)
        except Exception as error:  # a database outage must not stop the next runs
            logger.error("on-call paging failed: %s", type(error).__name__)
        await asyncio.sleep(interval_seconds)


def periodic_paging(
    interval_seconds: float = CHECK_SECONDS, first_delay_seconds: float = FIRST_DELAY_SECONDS,
    clock: Callable[[], datetime] = utcnow,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context running the on-call pager while the application runs (when a phone is set)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        if not settings.clinic.on_call_phone:
            yield
            return
        sender = TwilioDeliverer(app[HTTP_CLIENT], settings.twilio, twilio.SMS)
        task = asyncio.ensure_future(page_periodically(app, sender.send_text, interval_seconds,
                                                       first_delay_seconds, clock))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context
