"""`python -m bench.care [OUT.json]`: care messages for 10,000 bookings, planned and sent.

Per backend (SQLite always; PostgreSQL when TEST_POSTGRES_URL, or the default local server,
answers), on a fresh migrated database: BENCH_CARE_BOOKINGS (10,000) patients with care consent,
each with one session booked a day ahead; then

- planning: `plan_care` from nothing (seconds, rows, SQL statements), and again (nothing to do);
- sending: `send_due` with a recording deliverer once every reminder is due (seconds, ms and SQL
  statements per message sent), and a second `send_due` (sends nothing); on PostgreSQL a sample
  of POSTGRES_SEND_SAMPLE messages, to keep the whole section within about two minutes.

SQL statements are counted with a `before_cursor_execute` listener on the engine. Writes the
figures as JSON to OUT.json (when given) and prints them. `make bench` runs it in a child process
(bench/__main__.py) and reports it in scale.md.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, Optional

from sqlalchemy import event, insert

from bot.care.plan import plan_care
from bot.care.sender import send_due
from bot.db.models import Appointment, Patient, TreatmentCourse
from bot.settings import Settings
from tests.support.care import RecordingProactiveDeliverer
from tests.support.database import (
    POSTGRES_SERVER_URL,
    fresh_postgres_database,
    migrate_sqlite_file,
    sessions_on,
)

DEFAULT_BOOKINGS = 10_000
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)  # Friday 09:00 in London
BATCH = 1000
POSTGRES_SEND_SAMPLE = 2000  # PostgreSQL plans all the bookings and sends this many (time budget)


class StatementCounter:
    """Counts the SQL statements an engine sends."""

    def __init__(self, engine) -> None:
        """Listen on `engine`."""
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args) -> None:
        self.count += 1


def add_bookings(factory, bookings: int) -> None:
    """`bookings` consenting patients, each with one session booked for tomorrow (spread over an hour)."""
    with factory.begin() as session:
        for start in range(0, bookings, BATCH):
            numbers = range(start, min(start + BATCH, bookings))
            session.execute(insert(Patient), [dict(
                id=n + 1, clinic_ref=f"BN-{n + 1}", full_name=f"Patient {n + 1}", phone_e164=f"+4477009{n:05d}",
                date_of_birth=date(1980, 1, 1), preferred_channel="sms", care_consent=True,
                care_consent_source="bench", care_consent_at=NOW, created_at=NOW, updated_at=NOW) for n in numbers])
            session.execute(insert(TreatmentCourse), [dict(
                id=n + 1, patient_id=n + 1, treatment="Hair mesotherapy", planned_sessions=6) for n in numbers])
            session.execute(insert(Appointment), [dict(
                course_id=n + 1, starts_at=NOW + timedelta(hours=25, seconds=n * 3600 // bookings), duration_min=45,
                status="booked", practitioner="Dr Priya Shah", source_key=f"bench|{n}", updated_at=NOW)
                for n in numbers])


def measure(url: str, bookings: int, send_limit: Optional[int] = None) -> dict:
    """Plan and send on the database at `url` (migrated already); with `send_limit`, send only that
    many (a sample for the per-message figures) and skip the second send."""
    profile = Settings.from_env({"DATABASE_URL": url}).clinic
    with sessions_on(url) as factory:
        add_bookings(factory, bookings)
        counter = StatementCounter(factory.kw["bind"])
        figures: dict = {"bookings": bookings, "send_limit": send_limit}
        for label in ("plan", "plan_again"):
            counter.count = 0
            started = time.perf_counter()
            with factory.begin() as session:
                report = plan_care(session, profile, NOW)
            figures[label] = {"seconds": round(time.perf_counter() - started, 3), "statements": counter.count,
                              "created": report.created, "skipped": report.skipped, "unchanged": report.unchanged}
        deliverer = RecordingProactiveDeliverer()
        send_at = NOW + timedelta(hours=2)  # every reminder is due (24 h before), still in time
        for label in ("send", "send_again") if send_limit is None else ("send",):
            counter.count = 0
            started = time.perf_counter()
            sent = asyncio.run(send_due(factory, deliverer, send_at, send_limit, profile=profile))
            seconds = time.perf_counter() - started
            figures[label] = {"seconds": round(seconds, 3), "sent": sent.sent, "skipped": sent.skipped,
                              "failed": sent.failed, "statements": counter.count,
                              "ms_per_message": round(seconds * 1000 / sent.sent, 3) if sent.sent else None,
                              "statements_per_message": round(counter.count / sent.sent, 2) if sent.sent else None}
        figures["delivered_once"] = len(deliverer.sends) == len({send.external_id for send in deliverer.sends})
    return figures


@contextlib.contextmanager
def postgres_database() -> Iterator[Optional[str]]:
    """A fresh migrated PostgreSQL database, or None when no server answers."""
    import psycopg2

    from bot.db.migrate import upgrade_database

    admin = f"{POSTGRES_SERVER_URL}/postgres"
    try:
        psycopg2.connect(admin, connect_timeout=3).close()
    except psycopg2.OperationalError:
        yield None
        return
    with fresh_postgres_database(admin, "bench_care") as url:
        upgrade_database(url)
        yield url


def run(bookings: int) -> dict:
    """The figures of every available backend."""
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-care-") as scratch:
        path = migrate_sqlite_file(Path(scratch) / "care.db")
        results["sqlite"] = measure(f"sqlite:///{path}", bookings)
    with postgres_database() as url:
        results["postgresql"] = (measure(url, bookings, min(bookings, POSTGRES_SEND_SAMPLE)) if url
                                 else {"skipped": "no PostgreSQL server"})
    return results


def main(argv: list) -> int:
    """Measure, print, and write OUT.json when given."""
    bookings = int(os.environ.get("BENCH_CARE_BOOKINGS", DEFAULT_BOOKINGS))
    results = run(bookings)
    text = json.dumps(results, indent=2)
    if len(argv) > 1:
        Path(argv[1]).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
