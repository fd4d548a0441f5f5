"""`python -m bench`: how fast the trained model answers in-process, and how much memory it holds.

Measures: model load time; NLU parse time per message and whole-turn time per message (parse,
policies, response; FAQ turns, which need no action server) over the held-out questions; resident
memory. The action server runs beside it (session start is a custom action) on a throw-away
SQLite database. Writes bench/results/model.json and prints a table.
"""
from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MODEL = ROOT / "models" / "clinic.tar.gz"
PASSES = 3


def percentile(values, fraction):
    """The value below which `fraction` of the sorted values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def summary_ms(seconds):
    """p50, p95, p99 and mean in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50": round(percentile(ms, 0.50), 2), "p95": round(percentile(ms, 0.95), 2),
            "p99": round(percentile(ms, 0.99), 2), "mean": round(statistics.mean(ms), 2)}


def resident_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports KB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


async def measure(action_url: str) -> dict:
    """Load the model, then time parses and FAQ turns over the held-out questions."""
    sys.path.insert(0, str(ROOT))
    from rasa.core.agent import load_agent
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.endpoints import EndpointConfig
    from tests.nlu.test_heldout import heldout_examples

    started = time.perf_counter()
    agent = await load_agent(model_path=str(MODEL), endpoints=AvailableEndpoints(action=EndpointConfig(url=action_url)))
    load_seconds = time.perf_counter() - started
    texts = [text for text, _ in heldout_examples()]
    faq_texts = [text for text, intent in heldout_examples() if intent.startswith("faq/")]
    await agent.parse_message("warm up")
    parse_times, turn_times = [], []
    for _ in range(PASSES):
        for text in texts:
            begin = time.perf_counter()
            await agent.parse_message(text)
            parse_times.append(time.perf_counter() - begin)
    for index, text in enumerate(faq_texts * PASSES):
        begin = time.perf_counter()
        await agent.handle_text(text, sender_id=f"bench-{index}")
        turn_times.append(time.perf_counter() - begin)
    return {"model_load_seconds": round(load_seconds, 2), "nlu_parse_ms": summary_ms(parse_times),
            "faq_turn_ms": summary_ms(turn_times), "peak_resident_mb": resident_mb()}


def main() -> int:
    """Run the benchmark, write the figures and print them."""
    if not MODEL.exists():
        print(f"no model at {MODEL}: run `make train`", file=sys.stderr)
        return 1
    from bot.db.migrate import upgrade_database
    from bot.runner import action_server
    from bot.settings import Settings

    with tempfile.TemporaryDirectory() as scratch:
        database_url = f"sqlite:///{scratch}/bench.db"
        upgrade_database(database_url)
        settings = Settings.from_env({**os.environ, "DATABASE_URL": database_url,
                                      "ACTION_ENDPOINT_URL": "http://127.0.0.1:5056/webhook"})
        with action_server(settings):
            figures = asyncio.run(measure(settings.action_endpoint_url))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "model.json").write_text(json.dumps(figures, indent=2))
    print(f"model load: {figures['model_load_seconds']} s; peak resident memory: {figures['peak_resident_mb']} MB")
    for name in ("nlu_parse_ms", "faq_turn_ms"):
        row = figures[name]
        print(f"{name:14} n={row['n']:4}  p50 {row['p50']:7.2f}  p95 {row['p95']:7.2f}  p99 {row['p99']:7.2f}  mean {row['mean']:7.2f}")
    print(f"written to {RESULTS / 'model.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
