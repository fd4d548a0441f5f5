"""The console's timings and limits, and the application keys it keeps its state under.

Tests replace `app[CONSOLE_OPTIONS]` after `create_app()` (before the client starts) to move the
clock or poll faster; nothing reads the options before the first request.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from aiohttp import web

from bot.clinic.inbox import TRANSCRIPT_PAGE_CHARS, TRANSCRIPT_PAGE_MESSAGES
from bot.clinic.login_failures import DEFAULT_POLICY, LoginPolicy
from bot.db.models import utcnow


@dataclass(frozen=True)
class ConsoleOptions:
    """Session lifetime, lockout, live-update timings, page sizes and the clock."""

    idle_timeout: timedelta = timedelta(minutes=30)       # no request for this long -> signed out
    session_lifetime: timedelta = timedelta(hours=12)     # signed out after this, active or not
    login_policy: LoginPolicy = DEFAULT_POLICY  # failed sign-ins per account and address, per address
    poll_seconds: float = 2.0        # how often the database is checked for other processes' changes
    heartbeat_seconds: float = 15.0  # a comment line on the event stream keeps proxies from closing it
    stream_seconds: float = 300.0    # the stream then ends; the browser reconnects (and is re-checked)
    audit_page_size: int = 50
    transcript_page_messages: int = TRANSCRIPT_PAGE_MESSAGES  # a transcript page: at most this many messages
    transcript_page_chars: int = TRANSCRIPT_PAGE_CHARS        # and about this much text
    clock: Callable[[], datetime] = field(default=utcnow)


CONSOLE_OPTIONS = web.AppKey("console_options", ConsoleOptions)
# Set when the application shuts down: open event streams end at once.
CONSOLE_STOPPING = web.AppKey("console_stopping", asyncio.Event)
