"""`python -m bot care ...`: the care messages from the command line.

    care preview [--days 7]   plan, then list what is due in the next days (clinic time, kind,
                              patient reference, channel; never a phone number or a text); sends nothing
    care send-due             plan, then send every message due now, once; prints
                              "sent N, skipped M, failed K"

Running `send-due` twice at once, or twice in a row, sends nothing twice (bot/care/sender.py).
It sends through the same platforms as the server (Twilio; Meta's Cloud API when configured).
"""
from __future__ import annotations

import argparse
import asyncio
from datetime import datetime, timedelta
from typing import Callable, Optional

from sqlalchemy.orm import sessionmaker

from bot.care.plan import plan_care, upcoming
from bot.care.sender import SendReport, send_due
from bot.db.models import utcnow
from bot.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `care` subcommands."""
    actions = parser.add_subparsers(dest="care_action", metavar="ACTION", required=True)
    preview = actions.add_parser("preview", help="list what will be sent in the next days (sends nothing)",
                                 description="plan, then list what will be sent in the next days (sends nothing)")
    preview.add_argument("--days", type=float, default=7.0, help="how many days ahead (default 7)")
    actions.add_parser("send-due", help="send every care message due now, once",
                       description="plan, then send every care message due now, once")


def run(args: argparse.Namespace, settings: Settings, factory: sessionmaker,
        clock: Callable[[], datetime] = utcnow) -> int:
    """Run the chosen subcommand."""
    now = clock()
    with factory.begin() as session:
        report = plan_care(session, settings.clinic, now)
    if args.care_action == "preview":
        return preview(factory, settings, now, args.days, report.describe())
    sent = asyncio.run(send_with_platforms(factory, settings, now))
    print(sent.describe())
    return 0


def preview(factory: sessionmaker, settings: Settings, now: datetime, days: float, planned: str) -> int:
    """Print the scheduled messages of the next `days` days."""
    tz = settings.clinic.timezone
    with factory.begin() as session:
        rows = upcoming(session, now, now + timedelta(days=days))
    print(f"planned: {planned}")
    print(f"{len(rows)} care messages due in the next {days:g} days (clinic time, {tz.key}):")
    for row in rows:
        print(f"  {row.due_at.astimezone(tz):%a %Y-%m-%d %H:%M}  {row.kind:<17}  {row.clinic_ref:<12}  {row.channel}")
    return 0


async def send_with_platforms(factory: sessionmaker, settings: Settings, now: datetime) -> SendReport:
    """`send_due` through the real platforms, with one HTTP client for the run."""
    import aiohttp

    from bot.app import register_phone_deliverers
    from bot.care.sender import RouterDeliverers
    from bot.conversations.router import ConversationRouter

    async with aiohttp.ClientSession() as http:
        router = ConversationRouter(settings, factory, NoEngine())
        register_phone_deliverers(router, http, settings)
        return await send_due(factory, RouterDeliverers(router), now, profile=settings.clinic)


class NoEngine:
    """The command line sends without the Rasa model: the router it uses only looks up deliverers."""

    ready = False

    async def respond(self, sender_key: str, text: str, metadata: Optional[dict] = None):  # type: ignore[no-untyped-def]
        """Never called: the command answers no patient."""
        from bot.engine.errors import EngineNotReady

        raise EngineNotReady("no model in `care send-due`")

    async def end_session(self, sender_key: str) -> None:
        """Never called."""
