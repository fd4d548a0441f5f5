"""The analytics benchmark's seed and timing on a small PostgreSQL database (the full run seeds 100,000)."""
from __future__ import annotations

import pytest

from bench.analytics import run

pytestmark = pytest.mark.postgres
CONVERSATIONS = 900  # spread evenly over 90 days: 10 a day


def test_the_benchmark_seeds_and_times_every_range(postgres_url) -> None:
    results = run(postgres_url, CONVERSATIONS)
    rows = results["rows"]
    assert rows["conversations"] == CONVERSATIONS
    assert rows["escalations"] == CONVERSATIONS // 7
    # four messages each, and a staff reply to every escalated conversation not divisible by 5
    assert rows["messages"] == 4 * CONVERSATIONS + sum(1 for i in range(7, CONVERSATIONS + 1, 7) if i % 5)
    assert rows["care_messages"] == 2 * (CONVERSATIONS // 10)
    periods = results["periods"]
    assert set(periods) == {"day", "week", "month", "custom_90_days"}
    # today so far plus whole earlier days, 10 conversations a day
    assert 60 - 1 <= periods["week"]["conversations"] <= 70 + 1
    assert 290 - 1 <= periods["month"]["conversations"] <= 300 + 1
    assert all(p["statements"] >= 10 and p["seconds"] > 0 for p in periods.values())
    assert 0 < periods["month"]["escalated"] < periods["month"]["conversations"]
    assert all(isinstance(p["seq_scans"], list) for p in periods.values())
