"""bench/care.py on a small SQLite database: its figures are what happened."""
from __future__ import annotations

import asyncio

from bench.care import measure
from bench.report import care_lines
from tests.support.database import migrate_sqlite_file


async def test_care_bench_plans_and_sends_each_booking_once(tmp_path):
    # In a thread of its own: the bench runs its own event loop, as it does from a shell.
    figures = await asyncio.to_thread(measure, f"sqlite:///{migrate_sqlite_file(tmp_path / 'care.db')}", 40)
    # Per booking: the reminder and check-in scheduled; the preparation message already too late.
    assert (figures["plan"]["created"], figures["plan"]["skipped"]) == (80, 40)
    assert figures["plan_again"]["created"] == 0 and figures["plan_again"]["unchanged"] == 120
    assert figures["send"]["sent"] == 40 and figures["send"]["statements_per_message"] > 1
    assert figures["send_again"]["sent"] == 0 and figures["delivered_once"]
    lines = care_lines({"sqlite": figures})
    assert lines[2].startswith("| sqlite | 40 |")
