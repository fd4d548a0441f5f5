"""The server's care messages: plan and send what is due every CARE_INTERVAL_SECONDS.

Added to `app.cleanup_ctx` by `bot.app.create_app`, after the router (it sends through the
router's deliverers, `RouterDeliverers`). The first run waits `first_delay_seconds` after start-up;
planning runs in a worker thread (it reads every upcoming booking), sending on the event loop (each
database step is one short transaction). A failed run is logged (its kind only) and tried again at
the next interval. Several replicas may all run it: the outbox's claims make each message go once
(bot/care/sender.py). CARE_INTERVAL_SECONDS=0 turns it off.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import AsyncIterator, Callable

from aiohttp import web
from sqlalchemy.orm import sessionmaker

from bot.appkeys import ROUTER, SESSION_FACTORY, SETTINGS
from bot.care.plan import PlanReport, plan_care
from bot.care.sender import RouterDeliverers, SendReport, send_due
from bot.db.models import utcnow
from bot.settings import ClinicProfile

logger = logging.getLogger(__name__)

FIRST_DELAY_SECONDS = 30.0


def plan_once(session_factory: sessionmaker, profile: ClinicProfile, now: datetime) -> PlanReport:
    """One planning pass in one transaction (blocking)."""
    with session_factory.begin() as session:
        return plan_care(session, profile, now)


async def care_once(app: web.Application, clock: Callable[[], datetime] = utcnow) -> SendReport:
    """Plan (in a worker thread), then send what is due through the router's deliverers."""
    settings = app[SETTINGS]
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, plan_once, app[SESSION_FACTORY], settings.clinic, clock())
    return await send_due(app[SESSION_FACTORY], RouterDeliverers(app[ROUTER]), clock(), profile=settings.clinic)


async def care_periodically(app: web.Application, interval_seconds: float, first_delay_seconds: float,
                            clock: Callable[[], datetime] = utcnow) -> None:
    """Plan and send, then wait `interval_seconds`, until cancelled."""
    await asyncio.sleep(first_delay_seconds)
    while True:
        try:
            await care_once(app, clock)
        except Exception as error:  # a database outage must not stop the next runs
            logger.error("care messages run failed: %s", type(error).__name__)
        await asyncio.sleep(interval_seconds)


def periodic_care(
    first_delay_seconds: float = FIRST_DELAY_SECONDS, clock: Callable[[], datetime] = utcnow
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context running the care messages every CARE_INTERVAL_SECONDS while the app runs."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        seconds = app[SETTINGS].care_interval_seconds
        if seconds <= 0:
            yield
            return
        task = asyncio.ensure_future(care_periodically(app, seconds, first_delay_seconds, clock))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context
