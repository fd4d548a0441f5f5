"""A Rasa NLU featurizer: the all-MiniLM-L6-v2 sentence embedding of every message.

Adds one dense sentence-level feature (384 numbers, unit length) to the `text` of each message.
The encoder runs on ONNX Runtime (`bot.nlp.encoder`); training data is encoded in length-sorted batches.
The files are checked against their pinned hashes when the component loads.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlp.encoder import DEFAULT_THREADS, SentenceEncoder
from bot.nlp.encoder_files import DEFAULT_DIR, FILE_SHA256

logger = logging.getLogger(__name__)

# One encoder per process and directory: loading it twice would double its ~90 MB of weights.
_encoders: Dict[Path, SentenceEncoder] = {}


def shared_encoder(directory: Path, threads: int = DEFAULT_THREADS) -> SentenceEncoder:
    """The process's encoder for `directory`, loaded on first use."""
    directory = directory.resolve()
    if directory not in _encoders:
        _encoders[directory] = SentenceEncoder(directory, threads)
    return _encoders[directory]


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds the MiniLM sentence embedding as a dense sentence feature of `text`."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """`model_path`: the checked encoder directory (relative to the working directory);
        `threads`: ONNX Runtime's threads for one batch."""
        return {**DenseFeaturizer.get_default_config(), "model_path": str(DEFAULT_DIR), "batch_size": 64,
                "threads": DEFAULT_THREADS}

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        """Keep the configuration; the encoder loads on first use."""
        super().__init__(name, config)
        self.model_path = Path(self._config["model_path"])
        self.batch_size = int(self._config["batch_size"])
        self.threads = int(self._config["threads"])

    @classmethod
    def fingerprint_addon(cls, config: Dict[Text, Any]) -> Optional[str]:
        """The pinned weights' hash: the same path with other weights must not reuse the cache."""
        return FILE_SHA256["model.safetensors"]

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SentenceEmbeddingFeaturizer":
        """A featurizer for this graph node."""
        return cls(config, execution_context.node_name)

    @property
    def encoder(self) -> SentenceEncoder:
        """The shared, hash-checked encoder."""
        return shared_encoder(self.model_path, self.threads)

    def _add_features(self, messages: List[Message]) -> None:
        """Encode the messages that have text, in batches, and attach the vectors."""
        with_text = [m for m in messages if m.get(TEXT)]
        if not with_text:
            return
        vectors = self.encoder.encode([m.get(TEXT) for m in with_text], batch_size=self.batch_size)
        for message, vector in zip(with_text, vectors):
            message.add_features(Features(vector[np.newaxis, :], FEATURE_TYPE_SENTENCE, TEXT,
                                          self._identifier))

    def process(self, messages: List[Message]) -> List[Message]:
        """Featurize incoming messages."""
        self._add_features(messages)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurize every training example in one batched pass."""
        self._add_features(training_data.training_examples)
        return training_data

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Nothing to check before training; the files' hashes are checked when the encoder loads."""
