"""`python -m bench.inbox`: how fast the inbox's page is at 100,000 conversations on PostgreSQL.

Seeds a fresh database with the analytics benchmark's rows (bench/analytics.py: INBOX_CONVERSATIONS
conversations, default 100,000, over 90 days; one in seven escalated, one in five of those still
waiting), then times `bot.clinic.inbox.inbox_page` (best of three) for the views and filters staff
use: the open inbox's first and tenth page, urgent only, unassigned, a channel with unverified
patients, the resolved list, a search by reference, and a message-text search that matches nothing
(the worst case: every recent patient message is read). The plans' sequential scans of the big
tables are listed per case, as in bench/analytics.py.

Needs a PostgreSQL server (TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432). Writes
bench/results/inbox.json and prints it. `make bench` runs it and judges every case against the goal
(under 300 ms); it also runs on its own.
"""
from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any, Dict

from sqlalchemy.engine import Engine

from bench.analytics import DEFAULT_CONVERSATIONS, captured_statements, seed, seq_scans
from bot.clinic.inbox import InboxFilter, inbox_page

REPEATS = 3
CASES = {
    "open_page_1": (InboxFilter(), 1),
    "open_page_10": (InboxFilter(), 10),
    "urgent": (InboxFilter(priority="urgent"), 1),
    "unassigned": (InboxFilter(assignee="unassigned"), 1),
    "sms_not_verified": (InboxFilter(channel="sms", verified=False), 1),
    "resolved": (InboxFilter(status="resolved"), 1),
    "search_reference": (InboxFilter(status="all", search="BENCH-17"), 1),
    "search_text_no_match": (InboxFilter(status="all", search="no message says this"), 1),
}


def time_case(session_factory: Any, engine: Engine, filters: InboxFilter, page: int, now: datetime) -> Dict:
    """Best-of-REPEATS seconds for one page, how many rows matched and the plans' sequential scans."""
    timings = []
    for _ in range(REPEATS):
        with captured_statements(engine) as statements, session_factory() as session:
            started = time.perf_counter()
            found = inbox_page(session, filters, me=1, now=now, page=page)
            timings.append(time.perf_counter() - started)
    return {"seconds": round(min(timings), 4), "statements": len(statements), "matching": found.total,
            "rows": len(found.items), "seq_scans": seq_scans(engine, statements)}


def run(database_url: str, conversations: int = DEFAULT_CONVERSATIONS) -> dict:
    """Migrate, seed and time on `database_url` (an empty PostgreSQL database); the results."""
    from bot.db.migrate import upgrade_database
    from bot.db.session import create_db_engine, make_session_factory

    upgrade_database(database_url)
    engine = create_db_engine(database_url)
    try:
        now = datetime.now(timezone.utc)
        counts = seed(engine, conversations, now)
        factory = make_session_factory(engine)
        results = {name: time_case(factory, engine, filters, page, now) for name, (filters, page) in CASES.items()}
    finally:
        engine.dispose()
    return {"rows": counts, "cases": results}


def main() -> int:
    """Run on a fresh database next to TEST_POSTGRES_URL's; write bench/results/inbox.json."""
    from bench.servers import ROOT
    from tests.support.database import POSTGRES_SERVER_URL, fresh_postgres_database

    conversations = int(os.environ.get("INBOX_CONVERSATIONS", DEFAULT_CONVERSATIONS))
    with fresh_postgres_database(f"{POSTGRES_SERVER_URL}/postgres", "bench_inbox") as url:
        results = run(url, conversations)
    out = ROOT / "bench" / "results" / "inbox.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
