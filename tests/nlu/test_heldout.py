"""Held-out NLU evaluation: examples the model never trained on (tests/nlu/heldout.yml).

The build fails below 90% accuracy on the FAQ topics (retrieval intent + response selector).
Training is seeded and repeatable on the same machine for the same data, config and lexicon.
Per-topic figures are written to results/heldout_nlu.json.
"""
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.nlu.evaluation import evaluate, heldout_examples, training_texts
from tests.reports import reports_dir

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[2]
REPORT = reports_dir() / "heldout_nlu.json"
MIN_FAQ_ACCURACY = 0.95
MIN_EXAMPLES_PER_TOPIC = 5


def test_heldout_set_is_never_trained_on():
    trained = training_texts()
    leaked = [text for text, _ in heldout_examples() if " ".join(text.lower().split()) in trained]
    assert leaked == []


def test_every_faq_topic_has_heldout_examples():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    topics = {name.replace("utter_", "", 1) for name in domain["responses"] if name.startswith("utter_faq/")}
    counts = Counter(intent for _, intent in heldout_examples())
    assert {t: counts[t] for t in topics if counts[t] < MIN_EXAMPLES_PER_TOPIC} == {}


async def test_heldout_accuracy(trained_model):
    from rasa.core.agent import load_agent

    agent = await load_agent(model_path=str(trained_model))
    result = await evaluate(agent, heldout_examples())
    faq_accuracy, all_accuracy = result["faq_accuracy"], result["all_accuracy"]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({
        "faq_accuracy": round(faq_accuracy, 4), "faq_minimum": MIN_FAQ_ACCURACY, "all_intents_accuracy": round(all_accuracy, 4),
        "per_intent": result["per_label"],
    }, indent=2))
    print(f"\nheld-out accuracy: FAQ topics {faq_accuracy:.3f}, "
          f"all intents {all_accuracy:.3f} -> {REPORT}")
    assert faq_accuracy >= MIN_FAQ_ACCURACY, f"FAQ held-out accuracy {faq_accuracy:.3f} < {MIN_FAQ_ACCURACY}"
