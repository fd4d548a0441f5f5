"""How fast the trained model answers in-process, and how much memory it holds (no server at all).

`python -m bench.inprocess OUT.json` loads the model with Rasa's `load_agent` (in-memory tracker
store) beside the action server on a throw-away SQLite database, then measures: model load time;
NLU parse time per message over the held-out set; whole-turn time per FAQ message (parse,
policies, response), both as the first message of a new conversation (`faq_turn_ms`, which also
runs action_session_start, as before) and as turns 1-10 of conversations opened with a warm-up
"hello" (`faq_turn_ongoing_ms`, the same shape of turn as the web workload's); peak resident
memory. It runs as its own process so the benchmark's client process never holds TensorFlow.
"""
from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench.stats import summary_ms

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "clinic.tar.gz"
PASSES = 3
ONGOING_TURNS = 10  # turns per conversation for faq_turn_ongoing_ms (Rasa's turns slow as a tracker grows)


def resident_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports KB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


async def timed_turns(agent, texts, sender_for) -> list:
    """Seconds per `agent.handle_text` call, the sender of text i being `sender_for(i)`."""
    times = []
    for index, text in enumerate(texts):
        begin = time.perf_counter()
        await agent.handle_text(text, sender_id=sender_for(index))
        times.append(time.perf_counter() - begin)
    return times


async def measure(action_url: str, passes: int = PASSES) -> dict:
    """Load the model, then time parses and FAQ turns over the held-out questions."""
    from rasa.core.agent import load_agent
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.endpoints import EndpointConfig

    from tests.nlu.evaluation import heldout_examples

    started = time.perf_counter()
    endpoints = AvailableEndpoints(action=EndpointConfig(url=action_url))
    agent = await load_agent(model_path=str(MODEL), endpoints=endpoints)
    load_seconds = time.perf_counter() - started
    texts = [text for text, _ in heldout_examples()]
    faq_texts = [text for text, intent in heldout_examples() if intent.startswith("faq/")]
    await agent.parse_message("warm up")
    parse_times = []
    for _ in range(passes):
        for text in texts:
            begin = time.perf_counter()
            await agent.parse_message(text)
            parse_times.append(time.perf_counter() - begin)
    new_conversation = await timed_turns(agent, faq_texts * passes, lambda index: f"bench-{index}")
    ongoing = []
    for run in range(passes):
        for start in range(0, len(faq_texts), ONGOING_TURNS):
            sender = f"bench-ongoing-{run}-{start}"
            await agent.handle_text("hello", sender_id=sender)
            ongoing += await timed_turns(agent, faq_texts[start:start + ONGOING_TURNS], lambda index, sender=sender: sender)
    return {"model_load_seconds": round(load_seconds, 2), "nlu_parse_ms": summary_ms(parse_times),
            "faq_turn_ms": summary_ms(new_conversation), "faq_turn_ongoing_ms": summary_ms(ongoing),
            "peak_resident_mb": resident_mb()}


def main(argv=None) -> int:
    """Measure with an action server beside this process; write the figures as JSON to argv[0].

    BENCH_INPROCESS_PASSES (default 3) is how many times the question sets are gone through.
    """
    argv = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, str(ROOT))
    from bot.db.migrate import upgrade_database
    from bot.logging_setup import configure_logging
    from bot.runner import action_server
    from bot.settings import Settings
    from tests.support.ports import free_port

    # As our server does: left alone, Rasa's structlog renders every debug event to stdout, which
    # costs a good part of a turn and would make the in-process baseline look slow.
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    with tempfile.TemporaryDirectory(prefix="bench-inprocess-") as scratch:
        database_url = f"sqlite:///{scratch}/bench.db"
        upgrade_database(database_url)
        action_url = f"http://127.0.0.1:{free_port()}/webhook"
        settings = Settings.from_env({**os.environ, "DATABASE_URL": database_url,
                                      "ACTION_ENDPOINT_URL": action_url})
        with action_server(settings):
            passes = int(os.environ.get("BENCH_INPROCESS_PASSES") or PASSES)
            figures = asyncio.run(measure(settings.action_endpoint_url, passes))
    Path(argv[0]).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
