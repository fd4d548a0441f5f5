"""The server's periodic purge: `retention.purge_expired()` every PURGE_INTERVAL_HOURS.

Added to `app.cleanup_ctx` by `bot.app.create_app`. The first run waits `first_delay_seconds`
after start-up (the server answers first; a test application never lives that long); each run
happens in a worker thread, in one transaction, and logs counts only. A failed run is logged and
tried again at the next interval. PURGE_INTERVAL_HOURS=0 turns it off (then run
`python -m bot purge` from cron, or leave it on in one replica only; running it in several at
once is harmless, only wasteful).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import AsyncIterator, Callable

from aiohttp import web
from sqlalchemy.orm import sessionmaker

from bot.appkeys import SESSION_FACTORY, SETTINGS
from bot.db.models import utcnow
from bot.privacy.retention import PurgeReport, purge_expired

logger = logging.getLogger(__name__)

FIRST_DELAY_SECONDS = 120.0


def purge_once(session_factory: sessionmaker, retention_days: int,
               clock: Callable[[], datetime] = utcnow) -> PurgeReport:
    """One purge in one transaction (blocking)."""
    with session_factory.begin() as session:
        return purge_expired(session, now=clock(), retention_days=retention_days)


async def purge_periodically(app: web.Application, interval_seconds: float, first_delay_seconds: float,
                             clock: Callable[[], datetime] = utcnow) -> None:
    """Purge, then wait `interval_seconds`, until cancelled."""
    await asyncio.sleep(first_delay_seconds)
    loop = asyncio.get_running_loop()
    while True:
        settings = app[SETTINGS]
        try:
            report = await loop.run_in_executor(None, purge_once, app[SESSION_FACTORY],
                                                settings.retention_days, clock)
        except Exception as error:  # a database outage must not stop the next runs
            logger.error("retention purge failed: %s", type(error).__name__)
        else:
            logger.info("retention purge (%d days): %s", settings.retention_days, report.describe())
        await asyncio.sleep(interval_seconds)


def periodic_purge(
    first_delay_seconds: float = FIRST_DELAY_SECONDS, clock: Callable[[], datetime] = utcnow
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context running the purge every PURGE_INTERVAL_HOURS while the application runs."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        hours = app[SETTINGS].purge_interval_hours
        if hours <= 0:
            yield
            return
        task = asyncio.ensure_future(purge_periodically(app, hours * 3600.0, first_delay_seconds, clock))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context
