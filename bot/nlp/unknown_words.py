"""A Rasa NLU component: a message made only of words the assistant never saw is not understood.

DIET classifies with character n-grams, so keyboard mashing or an unknown word ("zxq blorf
wibble") can land on an intent with a confidence above the fallback threshold and get a confident,
wrong answer. This component runs after the FallbackClassifier and predicts `nlu_fallback` (the
"did you mean...?" offer) when every token of a message is an alphabetic word absent from the
training data. A message with a number, a date, a booking reference, a recognised entity or any
known word is left to the classifiers.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Dict, Iterable, List, Optional, Set, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT_TOKENS
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

VOCABULARY_FILE = "vocabulary.json"
# Part of the component's fingerprint: change it when what `train` collects changes.
VOCABULARY_VERSION = "2"


def token_forms(token: Token) -> Set[Text]:
    """The lower-cased text and lemma of a token."""
    forms = {token.text.lower()}
    lemma = token.lemma
    if lemma:
        forms.add(str(lemma).lower())
    return forms


def is_word(token: Token) -> bool:
    """True for a token of letters only (not a number, date, reference or punctuation)."""
    return token.text.isalpha()


def all_unknown_words(tokens: Iterable[Token], vocabulary: Set[Text]) -> bool:
    """True if there is a token and every token but punctuation is a word outside `vocabulary`."""
    tokens = [token for token in tokens if any(char.isalnum() for char in token.text)]
    if not tokens:
        return False
    return all(is_word(token) and not (token_forms(token) & vocabulary) for token in tokens)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class UnknownWordsClassifier(GraphComponent, IntentClassifier):
    """Predicts `nlu_fallback` for messages made only of words never seen in training."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """No options."""
        return {}

    def __init__(self, model_storage: ModelStorage, resource: Resource,
                 vocabulary: Optional[Set[Text]] = None) -> None:
        """Keep where to persist the vocabulary, and the vocabulary once known."""
        self._model_storage = model_storage
        self._resource = resource
        self.vocabulary: Set[Text] = vocabulary or set()

    @classmethod
    def fingerprint_addon(cls, config: Dict[Text, Any]) -> Optional[str]:
        """Retrain when the way the vocabulary is collected changes."""
        return VOCABULARY_VERSION

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "UnknownWordsClassifier":
        """A new, untrained component."""
        return cls(model_storage, resource)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "UnknownWordsClassifier":
        """The component with the vocabulary saved at training time."""
        with model_storage.read_from(resource) as directory:
            words = json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8"))
        return cls(model_storage, resource, set(words))

    def train(self, training_data: TrainingData) -> Resource:
        """Collect every token form of the training examples, and save it with the model."""
        for example in training_data.training_examples:
            for token in example.get(TEXT_TOKENS) or []:
                self.vocabulary |= token_forms(token)
        with self._model_storage.write_to(self._resource) as directory:
            (directory / VOCABULARY_FILE).write_text(json.dumps(sorted(self.vocabulary)), encoding="utf-8")
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        """Predict `nlu_fallback` for each message of unknown words only."""
        for message in messages:
            predicted = message.get(INTENT) or {}
            if predicted.get("name") == DEFAULT_NLU_FALLBACK_INTENT_NAME or message.get(ENTITIES):
                continue
            if not all_unknown_words(message.get(TEXT_TOKENS) or [], self.vocabulary):
                continue
            confidence = predicted.get("confidence", 0.0)
            fallback = {"name": DEFAULT_NLU_FALLBACK_INTENT_NAME, "confidence": confidence}
            message.set(INTENT, fallback, add_to_output=True)
            message.data.setdefault(INTENT_RANKING_KEY, []).insert(0, dict(fallback))
            logger.debug("message of unknown words only: nlu_fallback")
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to training data."""
        return training_data
