"""A Rasa NLU classifier: one regularised linear model over every intent and FAQ topic.

Replaces DIET and the ResponseSelector. Its classes are the intents, with the retrieval intent
split into its topics (`faq/pain`, `faq/cost`, ... next to `greet`, `out_of_scope`), so an FAQ
answer competes directly with "that's out of scope" or "when is my next session" instead of
being chosen inside the FAQ after a separate intent decision.

Features, per message, each block scaled to unit length so that none dominates by its size:
  - every sparse sentence feature (the word and character n-gram CountVectorsFeaturizers, the
    RegexFeaturizer), counts damped with log(1 + n);
  - every dense sentence feature (the MiniLM embedding of `bot.nlp.sentence_features`), times
    `dense_weight`.
Training is multinomial logistic regression (L-BFGS, `fit_softmax`), seconds on 2 cores.
Only the weights are saved (numpy arrays, no pickle).

Output is in Rasa's own format: `intent` and `intent_ranking` (an intent's confidence is its best
class's probability), and for the retrieval intent a `response_selector` entry like the
ResponseSelector's, so the `utter_faq` rules, the FallbackClassifier and `rasa test` work as before.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import (
    RESPONSE_SELECTOR_PREDICTION_KEY,
    RESPONSE_SELECTOR_PROPERTY_NAME,
    RESPONSE_SELECTOR_RANKING_KEY,
    RESPONSE_SELECTOR_RESPONSES_KEY,
    RESPONSE_SELECTOR_RETRIEVAL_INTENTS,
    RESPONSE_SELECTOR_UTTER_ACTION_KEY,
)
from rasa.shared.nlu.constants import (
    FEATURE_TYPE_SENTENCE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "weights.npz"
LAYOUT_FILE = "layout.json"
# Part of the fingerprint: change it when features or training change in a way config does not show.
CLASSIFIER_VERSION = "1"


@dataclass(frozen=True)
class Block:
    """One feature block: where it comes from, its width and whether it is sparse."""

    origin: str
    width: int
    sparse: bool


def sentence_blocks(message: Message) -> Dict[Tuple[str, bool], Any]:
    """The message's sentence-level `text` features, keyed by (origin, is_sparse)."""
    blocks = {}
    for feature in message.features:
        if feature.attribute == TEXT and feature.type == FEATURE_TYPE_SENTENCE:
            blocks[(str(feature.origin), feature.is_sparse())] = feature.features
    return blocks


def _unit_rows(matrix: Any) -> Any:
    """Scale every row to unit L2 length (zero rows stay zero); sparse stays sparse."""
    if scipy.sparse.issparse(matrix):
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return scipy.sparse.diags(1.0 / norms) @ matrix
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def design_matrix(messages: Sequence[Message], layout: Sequence[Block], dense_weight: float) -> scipy.sparse.csr_matrix:
    """The classifier's input rows for `messages`, block by block in `layout` order."""
    columns = []
    for block in layout:
        rows = []
        for message in messages:
            value = sentence_blocks(message).get((block.origin, block.sparse))
            if value is None:
                rows.append(scipy.sparse.csr_matrix((1, block.width)) if block.sparse
                            else np.zeros((1, block.width), dtype=np.float32))
            else:
                rows.append(value)
        if block.sparse:
            matrix = scipy.sparse.vstack([scipy.sparse.csr_matrix(r) for r in rows]).astype(np.float32)
            matrix = _unit_rows(matrix.log1p())
        else:
            matrix = scipy.sparse.csr_matrix(_unit_rows(np.vstack(rows).astype(np.float32)) * dense_weight)
        columns.append(matrix)
    return scipy.sparse.hstack(columns, format="csr")


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def class_label(message: Message, retrieval_intents: Sequence[str]) -> Optional[str]:
    """`faq/<topic>` for a retrieval-intent example, the intent for others, None if unlabelled."""
    intent = message.get(INTENT)
    if not intent:
        return None
    if intent in retrieval_intents and message.get(INTENT_RESPONSE_KEY):
        return str(message.get(INTENT_RESPONSE_KEY))
    return str(intent)


def class_weights(targets: np.ndarray, classes: int, mode: Optional[str]) -> np.ndarray:
    """Per-example weights: "balanced" gives every class the same total weight (as scikit-learn)."""
    if mode != "balanced":
        return np.ones(len(targets))
    counts = np.bincount(targets, minlength=classes).astype(np.float64)
    return (len(targets) / (classes * counts))[targets]


def fit_softmax(matrix: scipy.sparse.csr_matrix, dense_columns: np.ndarray, targets: np.ndarray, classes: int,
                C: float, sample_weight: np.ndarray, max_iter: int) -> Tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression, scikit-learn's objective (C * weighted log loss + ||W||^2 / 2),
    minimised with L-BFGS. The dense columns are multiplied as a dense array and the sparse ones as
    CSR, which is several times faster than one sparse matrix holding both."""
    from scipy.optimize import minimize

    sparse_columns = np.setdiff1d(np.arange(matrix.shape[1]), dense_columns)
    sparse_part = matrix[:, sparse_columns].tocsr().astype(np.float64)
    sparse_t = sparse_part.T.tocsr()
    dense_part = np.asarray(matrix[:, dense_columns].todense(), dtype=np.float64)
    n_sparse, n_dense = sparse_part.shape[1], dense_part.shape[1]
    onehot = np.zeros((len(targets), classes))
    onehot[np.arange(len(targets)), targets] = 1.0
    scale = C * sample_weight[:, None]

    def unpack(theta: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        ws = theta[: n_sparse * classes].reshape(n_sparse, classes)
        wd = theta[n_sparse * classes: (n_sparse + n_dense) * classes].reshape(n_dense, classes)
        return ws, wd, theta[(n_sparse + n_dense) * classes:]

    def loss_and_gradient(theta: np.ndarray) -> Tuple[float, np.ndarray]:
        ws, wd, b = unpack(theta)
        scores = sparse_part @ ws + dense_part @ wd + b
        scores -= scores.max(axis=1, keepdims=True)
        log_probabilities = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
        loss = -np.sum(scale * onehot * log_probabilities) + 0.5 * (np.sum(ws * ws) + np.sum(wd * wd))
        residual = scale * (np.exp(log_probabilities) - onehot)
        gradient = np.concatenate([(sparse_t @ residual + ws).ravel(), (dense_part.T @ residual + wd).ravel(),
                                   residual.sum(axis=0)])
        return loss, gradient

    start = np.zeros((n_sparse + n_dense + 1) * classes)
    result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter, "gtol": 1e-4})
    ws, wd, bias = unpack(result.x)
    weights = np.zeros((classes, matrix.shape[1]), dtype=np.float32)
    weights[:, sparse_columns] = ws.T
    weights[:, dense_columns] = wd.T
    return weights, bias.astype(np.float32)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class LinearIntentClassifier(GraphComponent, IntentClassifier):
    """Multinomial logistic regression over sparse n-grams and dense sentence embeddings."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Regularisation, the dense block's weight, class weighting and output sizes."""
        return {
            "C": 10.0,
            "dense_weight": 1.0,
            "class_weight": "balanced",
            "max_iter": 100,
            "ranking_length": 10,
            "retrieval_intents": ["faq"],
        }

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 layout: Sequence[Block] = (), labels: Sequence[str] = (),
                 weights: Optional[np.ndarray] = None, bias: Optional[np.ndarray] = None,
                 responses: Optional[Dict[str, list]] = None) -> None:
        """A classifier, trained if `weights` are given."""
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.layout = list(layout)
        self.labels = list(labels)
        self.weights = weights
        self.bias = bias
        self.responses = responses or {}

    @classmethod
    def fingerprint_addon(cls, config: Dict[Text, Any]) -> Optional[str]:
        """Retrain when the classifier's code changes in a way its config does not show."""
        return CLASSIFIER_VERSION

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "LinearIntentClassifier":
        """A new, untrained classifier."""
        return cls(config, model_storage, resource)

    # ------------------------------------------------------------------ training
    def train(self, training_data: TrainingData) -> Resource:
        """Fit the model on every labelled example and save its weights."""
        retrieval = list(self.config["retrieval_intents"])
        examples = [(m, label) for m in training_data.intent_examples if (label := class_label(m, retrieval))]
        self.labels = sorted({label for _, label in examples})
        if len(self.labels) < 2:
            raise ValueError("LinearIntentClassifier needs at least two intents to train")
        self.layout = self._layout_of([m for m, _ in examples])
        matrix = design_matrix([m for m, _ in examples], self.layout, float(self.config["dense_weight"]))
        targets = np.array([self.labels.index(label) for _, label in examples])
        self.weights, self.bias = fit_softmax(
            matrix, self._dense_columns(), targets, len(self.labels), float(self.config["C"]),
            class_weights(targets, len(self.labels), self.config["class_weight"]), int(self.config["max_iter"]))
        self.responses = {name: value for name, value in training_data.responses.items()
                          if name.split("/")[0] in {f"utter_{r}" for r in retrieval}}
        logger.info("trained on %d examples, %d classes, %d features", matrix.shape[0], len(self.labels),
                    matrix.shape[1])
        self.persist()
        return self._resource

    def _dense_columns(self) -> np.ndarray:
        """The design matrix's columns that belong to dense blocks."""
        columns: List[int] = []
        start = 0
        for block in self.layout:
            if not block.sparse:
                columns.extend(range(start, start + block.width))
            start += block.width
        return np.array(columns, dtype=np.int64)

    @staticmethod
    def _layout_of(messages: Sequence[Message]) -> List[Block]:
        """Every sentence feature block seen in training, in a stable order."""
        widths: Dict[Tuple[str, bool], int] = {}
        for message in messages:
            for (origin, sparse), value in sentence_blocks(message).items():
                widths[(origin, sparse)] = value.shape[1]
        return [Block(origin, widths[(origin, sparse)], sparse) for origin, sparse in sorted(widths)]

    def persist(self) -> None:
        """Save weights (npz) and layout, labels and responses (json)."""
        with self._model_storage.write_to(self._resource) as directory:
            weights, bias = self._trained()
            np.savez(directory / WEIGHTS_FILE, weights=weights, bias=bias)
            (directory / LAYOUT_FILE).write_text(json.dumps({
                "layout": [block.__dict__ for block in self.layout],
                "labels": self.labels,
                "responses": self.responses,
            }), encoding="utf-8")

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "LinearIntentClassifier":
        """The classifier saved at training time."""
        with model_storage.read_from(resource) as directory:
            arrays = np.load(directory / WEIGHTS_FILE)
            saved = json.loads((directory / LAYOUT_FILE).read_text(encoding="utf-8"))
            weights, bias = arrays["weights"], arrays["bias"]
        layout = [Block(**block) for block in saved["layout"]]
        return cls(config, model_storage, resource, layout, saved["labels"], weights, bias, saved["responses"])

    # ------------------------------------------------------------------ prediction
    def probabilities(self, messages: Sequence[Message]) -> np.ndarray:
        """Class probabilities (len(messages), len(labels))."""
        weights, bias = self._trained()
        matrix = design_matrix(messages, self.layout, float(self.config["dense_weight"]))
        return softmax(np.asarray(matrix @ weights.T) + bias)

    def _trained(self) -> Tuple[np.ndarray, np.ndarray]:
        """The weights and bias; ValueError before training."""
        if self.weights is None or self.bias is None:
            raise ValueError("LinearIntentClassifier is not trained")
        return self.weights, self.bias

    def process(self, messages: List[Message]) -> List[Message]:
        """Set `intent`, `intent_ranking` and the retrieval intents' `response_selector`."""
        if self.weights is None or not messages:
            return messages
        for message, row in zip(messages, self.probabilities(messages)):
            self._set_intent(message, row)
            for retrieval_intent in self.config["retrieval_intents"]:
                self._set_response(message, row, retrieval_intent)
        return messages

    def _set_intent(self, message: Message, row: np.ndarray) -> None:
        """The best class's intent; each intent ranked by its best class."""
        best: Dict[str, float] = {}
        for label, probability in zip(self.labels, row):
            intent = label.split("/", 1)[0]
            best[intent] = max(best.get(intent, 0.0), float(probability))
        ranking = sorted(best.items(), key=lambda item: -item[1])
        message.set(INTENT, {INTENT_NAME_KEY: ranking[0][0], PREDICTED_CONFIDENCE_KEY: ranking[0][1]},
                    add_to_output=True)
        message.set(INTENT_RANKING_KEY, [
            {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: confidence}
            for name, confidence in ranking[: int(self.config["ranking_length"])]
        ], add_to_output=True)

    def _set_response(self, message: Message, row: np.ndarray, retrieval_intent: str) -> None:
        """The best `<retrieval_intent>/<topic>` in the ResponseSelector's output format."""
        prefix = retrieval_intent + "/"
        topics = [(label, float(p)) for label, p in zip(self.labels, row) if label.startswith(prefix)]
        if not topics:
            return
        total = sum(p for _, p in topics) or 1.0
        topics = sorted(((label, p / total) for label, p in topics), key=lambda item: -item[1])
        top, confidence = topics[0]
        utter_action = f"utter_{top}"
        properties = message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {}
        properties[RESPONSE_SELECTOR_RETRIEVAL_INTENTS] = list(self.config["retrieval_intents"])
        properties[retrieval_intent] = {
            RESPONSE_SELECTOR_PREDICTION_KEY: {
                RESPONSE_SELECTOR_RESPONSES_KEY: self.responses.get(utter_action, []),
                PREDICTED_CONFIDENCE_KEY: confidence,
                INTENT_RESPONSE_KEY: top,
                RESPONSE_SELECTOR_UTTER_ACTION_KEY: utter_action,
            },
            RESPONSE_SELECTOR_RANKING_KEY: [
                {"id": index, PREDICTED_CONFIDENCE_KEY: p, INTENT_RESPONSE_KEY: label}
                for index, (label, p) in enumerate(topics[: int(self.config["ranking_length"])])
            ],
        }
        message.set(RESPONSE_SELECTOR_PROPERTY_NAME, properties, add_to_output=True)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to training data."""
        return training_data
