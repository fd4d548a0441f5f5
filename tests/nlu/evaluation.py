"""Test support for the NLU sets: the label the assistant acted on, and the texts it trained on."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


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
