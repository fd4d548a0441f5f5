"""NLU comparison: the project's featurizers run once, then classifier variants fit in memory.

    .venv/bin/python -m bench.nlu [--sets heldout,blind] [--out bench/results/nlu.json]

Runs Rasa's own components (SpacyNLP, tokenizer, regex and count-vector featurizers, the MiniLM
featurizer) outside a Rasa training so that many classifier settings can be compared on the
same features: sparse n-grams alone against n-grams + embeddings, regularisation, dense weight,
and the fallback threshold. Accuracy is over `faq/<topic>` labels and over every label, per set.
Tune on `heldout` (tests/nlu/heldout.yml); `blind` (tests/blind/messages.yml) is reported, never
tuned on.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
BLIND = ROOT / "tests" / "blind" / "messages.yml"


def blind_pairs(path: Path = BLIND) -> List[Tuple[str, str]]:
    """(text, label) pairs of the blind set."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [(str(item["text"]), str(item["label"])) for item in data["messages"]]


def heldout_pairs(path: Path = HELDOUT) -> List[Tuple[str, str]]:
    """(text, label) pairs of the held-out set."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    pairs = []
    for block in data["nlu"]:
        for line in block["examples"].splitlines():
            text = line.strip().lstrip("-").strip()
            if text:
                pairs.append((text, block["intent"]))
    return pairs


class Featurizers:
    """The configured featurizers of config.yml, trained on the training data."""

    def __init__(self, with_dense: bool = True) -> None:
        """Build and train every featurizer on `data/` (once)."""
        from rasa.engine.graph import ExecutionContext, GraphSchema
        from rasa.engine.storage.local_model_storage import LocalModelStorage
        from rasa.engine.storage.resource import Resource
        from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
        from rasa.nlu.featurizers.sparse_featurizer.regex_featurizer import RegexFeaturizer
        from rasa.nlu.tokenizers.spacy_tokenizer import SpacyTokenizer
        from rasa.nlu.utils.spacy_utils import SpacyNLP
        from rasa.shared.importers.importer import TrainingDataImporter

        from bot.nlp.sentence_features import SentenceEmbeddingFeaturizer

        self._scratch = tempfile.TemporaryDirectory()
        storage = LocalModelStorage(Path(self._scratch.name))
        config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]
        by_name = defaultdict(list)
        for item in config:
            by_name[item["name"].rsplit(".", 1)[-1]].append({k: v for k, v in item.items() if k != "name"})

        def context(name: str):
            return ExecutionContext(GraphSchema({}), node_name=name)

        spacy_config = {**SpacyNLP.get_default_config(), **by_name["SpacyNLP"][0]}
        spacy_config["model"] = str(ROOT / spacy_config["model"])
        self.spacy = SpacyNLP.create(spacy_config, storage, Resource("spacy"), context("spacy"))
        self.spacy_model = self.spacy.provide()
        self.tokenizer = SpacyTokenizer.create(SpacyTokenizer.get_default_config(), storage,
                                               Resource("tok"), context("tok"))
        importer = TrainingDataImporter.load_from_dict(domain_path=str(ROOT / "domain.yml"),
                                                       training_data_paths=[str(ROOT / "data")])
        self.training_data = importer.get_nlu_data()
        self._prepare(self.training_data.training_examples, training=True)
        self.trainable = []
        regex = RegexFeaturizer.create({**RegexFeaturizer.get_default_config(), **by_name["RegexFeaturizer"][0]},
                                       storage, Resource("regex"), context("regex"))
        regex.train(self.training_data)
        self.trainable.append(regex)
        for index, options in enumerate(by_name["CountVectorsFeaturizer"]):
            featurizer = CountVectorsFeaturizer.create({**CountVectorsFeaturizer.get_default_config(), **options},
                                                       storage, Resource(f"cvf{index}"), context(f"cvf{index}"))
            featurizer.train(self.training_data)
            self.trainable.append(featurizer)
        for featurizer in self.trainable:
            featurizer.process_training_data(self.training_data)
        self.dense = None
        if with_dense:
            options = by_name["SentenceEmbeddingFeaturizer"][0]
            options["model_path"] = str(ROOT / options["model_path"])
            self.dense = SentenceEmbeddingFeaturizer.create(
                {**SentenceEmbeddingFeaturizer.get_default_config(), **options}, storage, Resource("dense"),
                context("dense"))
            started = time.perf_counter()
            self.dense.process_training_data(self.training_data)
            self.dense_training_seconds = time.perf_counter() - started
        self.storage = storage

    def _prepare(self, messages, training: bool = False):
        """spaCy docs and tokens."""
        from rasa.shared.nlu.training_data.training_data import TrainingData

        data = TrainingData(training_examples=list(messages))
        self.spacy.process_training_data(data, self.spacy_model)
        self.tokenizer.process_training_data(data)
        return data

    def messages(self, texts: Sequence[str]):
        """Messages for `texts` with every feature, as at prediction time."""
        from rasa.shared.nlu.constants import TEXT
        from rasa.shared.nlu.training_data.message import Message

        messages = [Message(data={TEXT: text}) for text in texts]
        self.spacy.process(messages, self.spacy_model)
        self.tokenizer.process(messages)
        for featurizer in self.trainable:
            featurizer.process(messages)
        if self.dense is not None:
            self.dense.process(messages)
        return messages


def train_classifier(featurizers: Featurizers, **config):
    """A LinearIntentClassifier trained on the featurized training data."""
    return train_classifier_on(featurizers, featurizers.training_data, **config)


def train_classifier_on(featurizers: Featurizers, training_data, **config):
    """A LinearIntentClassifier trained on `training_data` (already featurized)."""
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.resource import Resource

    from bot.nlp.linear_classifier import LinearIntentClassifier

    name = f"clf{time.perf_counter_ns()}"
    classifier = LinearIntentClassifier.create({**LinearIntentClassifier.get_default_config(), **config},
                                               featurizers.storage, Resource(name),
                                               ExecutionContext(GraphSchema({}), node_name=name))
    started = time.perf_counter()
    classifier.train(training_data)
    return classifier, time.perf_counter() - started


def flat_predictions(classifier, messages) -> List[Tuple[str, float]]:
    """(flat label, confidence) for each message: faq/<topic> where the intent is faq."""
    labels = classifier.labels
    out = []
    for row in classifier.probabilities(messages):
        best = int(np.argmax(row))
        out.append((labels[best], float(row[best])))
    return out


def score(pairs: Sequence[Tuple[str, str]], predictions: Sequence[Tuple[str, float]], threshold: float = 0.0) -> Dict:
    """FAQ-topic and all-label accuracy; below `threshold` the answer is the fallback (wrong)."""
    hits, totals, confusions = Counter(), Counter(), defaultdict(Counter)
    for (_, expected), (label, confidence) in zip(pairs, predictions):
        got = label if confidence >= threshold else "nlu_fallback"
        totals[expected] += 1
        hits[expected] += got == expected
        if got != expected:
            confusions[expected][got] += 1
    faq = [t for t in totals if t.startswith("faq/")]
    return {
        "faq_accuracy": round(sum(hits[t] for t in faq) / max(1, sum(totals[t] for t in faq)), 4),
        "all_accuracy": round(sum(hits.values()) / max(1, sum(totals.values())), 4),
        "per_label": {t: {"accuracy": round(hits[t] / totals[t], 3), "n": totals[t],
                          "confused_with": dict(confusions[t])} for t in sorted(totals)},
    }


def time_per_message(featurizers: Featurizers, classifier, texts: Sequence[str]) -> Dict[str, float]:
    """p50 / p99 milliseconds of featurizing + classifying one message at a time."""
    timings = []
    for text in texts:
        started = time.perf_counter()
        classifier.process(featurizers.messages([text]))
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {"p50_ms": round(statistics.median(timings), 2),
            "p99_ms": round(timings[min(len(timings) - 1, int(0.99 * len(timings)))], 2)}


def fallback_outcomes(classifier, messages, ambiguity: float) -> List[Tuple[str, float, bool]]:
    """(flat label, confidence, ambiguous) per message, as the FallbackClassifier sees the intents."""
    labels = classifier.labels
    out = []
    for row in classifier.probabilities(messages):
        best_by_intent: Dict[str, float] = {}
        for label, probability in zip(labels, row):
            intent = label.split("/", 1)[0]
            best_by_intent[intent] = max(best_by_intent.get(intent, 0.0), float(probability))
        top = sorted(best_by_intent.values(), reverse=True) + [0.0]
        best = int(np.argmax(row))
        out.append((labels[best], float(row[best]), top[0] - top[1] < ambiguity))
    return out


def cross_validated_threshold(featurizers: Featurizers, folds: int = 5, ambiguity: float = 0.08,
                              seed: int = 0) -> Dict:
    """The FallbackClassifier threshold that k-fold cross-validation on the training data favours.

    Each example is predicted by a classifier trained without its fold. An answer given counts +1
    when right and -1 when wrong; a fallback ("did you mean ...?") counts 0: a confident wrong
    answer is worse for a patient than a question back. The threshold with the best total wins.
    (The n-gram vocabularies are fitted once on all the data, a small leak that favours the
    sparse features slightly; the sentence embeddings are pretrained and leak nothing.)
    """
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlp.linear_classifier import class_label

    examples = list(featurizers.training_data.intent_examples)
    retrieval = list(featurizers.training_data.retrieval_intents)
    order = np.random.default_rng(seed).permutation(len(examples))
    outcomes: List[Tuple[bool, float, bool]] = []
    for fold in range(folds):
        test_index = set(order[fold::folds].tolist())
        train = TrainingData(training_examples=[m for i, m in enumerate(examples) if i not in test_index],
                             responses=featurizers.training_data.responses)
        tested = [examples[i] for i in sorted(test_index)]
        classifier, _ = train_classifier_on(featurizers, train)
        for message, (label, confidence, ambiguous) in zip(tested, fallback_outcomes(classifier, tested, ambiguity)):
            outcomes.append((label == class_label(message, retrieval), confidence, ambiguous))
    table = []
    for threshold in np.arange(0.05, 0.96, 0.05):
        answered = [(right, c) for right, c, ambiguous in outcomes if c >= threshold and not ambiguous]
        right = sum(1 for r, _ in answered if r)
        table.append({"threshold": round(float(threshold), 2), "utility": right - (len(answered) - right),
                      "answered_right": right, "answered_wrong": len(answered) - right,
                      "fallbacks": len(outcomes) - len(answered)})
    best = max(table, key=lambda row: (row["utility"], -row["threshold"]))
    return {"folds": folds, "examples": len(outcomes), "ambiguity_threshold": ambiguity,
            "best_threshold": best["threshold"], "table": table}


def main() -> None:
    """Compare sparse-only and sparse + dense on the held-out (and blind) sets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="heldout")
    parser.add_argument("--grid", action="store_true", help="also try C and dense_weight values")
    parser.add_argument("--cv", action="store_true", help="cross-validate the fallback threshold")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "nlu.json")
    args = parser.parse_args()
    sets = {"heldout": heldout_pairs(), "blind": blind_pairs()}
    sets = {name: sets[name] for name in args.sets.split(",")}
    featurizers = Featurizers(with_dense=True)
    messages = {name: featurizers.messages([t for t, _ in pairs]) for name, pairs in sets.items()}
    report = {"dense_featurizing_training_seconds": round(featurizers.dense_training_seconds, 2),
              "training_examples": len(featurizers.training_data.intent_examples), "variants": {}}
    variants = {"sparse": {"dense_weight": 0.0}, "sparse+dense": {}}
    if args.grid:
        for c in (3.0, 10.0, 30.0):
            for w in (0.5, 1.0, 1.5, 2.0):
                variants[f"C={c},w={w}"] = {"C": c, "dense_weight": w}
        variants["unbalanced"] = {"class_weight": None}
    for name, config in variants.items():
        classifier, seconds = train_classifier(featurizers, **config)
        entry = {"config": config, "train_seconds": round(seconds, 2)}
        for set_name, pairs in sets.items():
            predictions = flat_predictions(classifier, messages[set_name])
            entry[set_name] = score(pairs, predictions)
        report["variants"][name] = entry
        print(name, {k: (v["faq_accuracy"], v["all_accuracy"]) for k, v in entry.items() if isinstance(v, dict) and "faq_accuracy" in v},
              f"train {seconds:.1f}s", flush=True)
    if args.cv:
        report["fallback_cross_validation"] = cv = cross_validated_threshold(featurizers)
        print("fallback threshold by 5-fold cross-validation:", cv["best_threshold"], flush=True)
        for row in cv["table"]:
            print("  ", row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
