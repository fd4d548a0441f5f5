"""The staff console at `/staff`: sign in, the inbox of escalated conversations, a conversation's
transcript with reply / notes / assign / hand back, staff requests, and the audit log (admins).

`setup_console(app)` adds the routes, the session cookie, the security middleware and the live
update watcher to the one application (bot.app calls it). The heavy imports happen there, so
the `staff` command of the CLI can import `bot.console.cli` without loading the application.
"""
from __future__ import annotations

from aiohttp import web


def setup_console(app: web.Application) -> None:
    """Add the staff console to `app` (see bot/console/setup.py)."""
    from bot.console.setup import setup

    setup(app)
