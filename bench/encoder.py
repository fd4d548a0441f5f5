"""The sentence encoder alone: load time, time per message, and the memory it adds to a Rasa process.

    .venv/bin/python -m bench.encoder OUT.json

Runs as its own process. It first imports what a Rasa server already holds (TensorFlow, Rasa's
NLU), reads VmRSS, then loads the hash-checked MiniLM encoder (bot/nlp/encoder.py) and encodes
the held-out messages (tests/nlu/heldout.yml) one at a time, as a server does, in PASSES passes
(per-pass p50/p99; the figure is the median over passes), then all of them in one batched call,
as training does. Memory: VmRSS after the passes minus before the load (what the encoder keeps)
and VmHWM minus that baseline (the peak while loading). Goals (the understanding issue): at most
10 ms p50 per message and at most 200 MB added.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from bench.stats import summary_ms

ROOT = Path(__file__).resolve().parent.parent
PASSES = 3
P50_GOAL_MS = 10.0
ADDED_MB_GOAL = 200.0


def status_mb(field: str) -> float:
    """A VmRSS / VmHWM line of /proc/self/status in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise KeyError(field)


def heldout_texts() -> list:
    """The held-out messages' texts (labels unused)."""
    from bench.nlu import heldout_pairs

    return [text for text, _ in heldout_pairs()]


def measure() -> dict:
    """Every figure of the module docstring."""
    import rasa.nlu.featurizers.dense_featurizer.dense_featurizer  # noqa: F401  what a server holds
    import tensorflow  # noqa: F401

    from bot.nlp.encoder import SentenceEncoder
    from bot.nlp.encoder_files import DEFAULT_DIR

    texts = heldout_texts()
    baseline_mb = status_mb("VmRSS")
    started = time.perf_counter()
    encoder = SentenceEncoder(ROOT / DEFAULT_DIR)
    load_seconds = round(time.perf_counter() - started, 2)
    for text in texts[:20]:
        encoder.encode([text])
    passes = []
    for _ in range(PASSES):
        seconds = []
        for text in texts:
            started = time.perf_counter()
            encoder.encode([text])
            seconds.append(time.perf_counter() - started)
        passes.append(summary_ms(seconds))
    started = time.perf_counter()
    encoder.encode(texts)
    batched = time.perf_counter() - started
    return {
        "messages": len(texts), "passes": passes, "load_seconds": load_seconds,
        "p50_ms": statistics.median(p["p50"] for p in passes),
        "p99_ms": statistics.median(p["p99"] for p in passes),
        "batched_messages_per_second": round(len(texts) / batched, 1),
        "baseline_rss_mb": baseline_mb,
        "added_rss_mb": round(status_mb("VmRSS") - baseline_mb, 1),
        "added_peak_mb": round(status_mb("VmHWM") - baseline_mb, 1),
        "goals": {"p50_ms": P50_GOAL_MS, "added_mb": ADDED_MB_GOAL},
    }


def main(argv: list) -> int:
    """Measure and write OUT.json."""
    sys.path.insert(0, str(ROOT))
    figures = measure()
    Path(argv[1]).write_text(json.dumps(figures, indent=2))
    print(json.dumps({k: v for k, v in figures.items() if k != "passes"}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
