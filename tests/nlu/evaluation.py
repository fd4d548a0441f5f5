"""Test support for the NLU sets: the held-out examples, the label the assistant acted on, and the
texts it trained on."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"


def heldout_examples():
    """(text, expected intent) pairs of tests/nlu/heldout.yml; FAQ examples carry the full name, e.g. faq/pain."""
    data = yaml.safe_load(HELDOUT.read_text(encoding="utf-8"))
    for block in data["nlu"]:
        for line in block["examples"].splitlines():
            text = line.strip().lstrip("-").strip()
            if text:
                yield text, block["intent"]


def training_texts():
    """Every training example of data/nlu, lower-cased with white space folded."""
    texts = set()
    for path in (ROOT / "data" / "nlu").glob("*.yml"):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []):
            for line in block.get("examples", "").splitlines():
                texts.add(" ".join(line.strip().lstrip("-").lower().split()))
    return texts


def predicted_label(parse):
    """The full intent the assistant acted on: faq/<topic> for FAQ answers."""
    intent = parse["intent"]["name"]
    if intent == "faq":
        selected = parse.get("response_selector", {}).get("faq", {}).get("response", {})
        return selected.get("intent_response_key") or "faq"
    return intent


async def evaluate(agent, examples):
    """Accuracy of `agent` on (text, expected label) pairs: FAQ topics, every label, and per label."""
    from collections import Counter, defaultdict

    hits, totals, confusions = Counter(), Counter(), defaultdict(Counter)
    for text, expected in examples:
        got = predicted_label(await agent.parse_message(text))
        totals[expected] += 1
        hits[expected] += got == expected
        if got != expected:
            confusions[expected][got] += 1
    faq = [t for t in totals if t.startswith("faq/")]
    return {
        "n": sum(totals.values()),
        "faq_accuracy": sum(hits[t] for t in faq) / sum(totals[t] for t in faq),
        "all_accuracy": sum(hits.values()) / sum(totals.values()),
        "per_label": {t: {"accuracy": round(hits[t] / totals[t], 3), "n": totals[t],
                          "confused_with": dict(confusions[t])} for t in sorted(totals)},
    }
