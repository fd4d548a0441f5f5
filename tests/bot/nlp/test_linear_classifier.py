"""The linear intent + FAQ-topic classifier: Rasa's output format, save and load, the fallback after it."""
import numpy as np
import pytest
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlp.linear_classifier import LinearIntentClassifier

VOCABULARY = ["hello", "hi", "hurt", "pain", "price", "cost", "weather", "rain"]
LABELS = {"hello": "greet", "hi": "greet", "hurt": "faq/pain", "pain": "faq/pain",
          "price": "faq/cost_general", "cost": "faq/cost_general", "weather": "out_of_scope", "rain": "out_of_scope"}


def featurized(text, label=None):
    """A message with a sparse bag of words and a dense vector, as the featurizers would leave it."""
    data = {TEXT: text}
    if label:
        data[INTENT] = label.split("/")[0]
        if "/" in label:
            data[INTENT_RESPONSE_KEY] = label
    message = Message(data=data)
    counts = np.array([[text.split().count(word) for word in VOCABULARY]], dtype=np.float32)
    message.add_features(Features(scipy.sparse.coo_matrix(counts), FEATURE_TYPE_SENTENCE, TEXT, "cvf"))
    dense = np.zeros((1, 4), dtype=np.float32)
    known = [LABELS[word] for word in text.split() if word in LABELS]
    if known:
        dense[0, sorted(set(LABELS.values())).index(known[0])] = 1.0
    message.add_features(Features(dense, FEATURE_TYPE_SENTENCE, TEXT, "minilm"))
    return message


@pytest.fixture
def storage(tmp_path):
    return LocalModelStorage(tmp_path)


def context():
    return ExecutionContext(GraphSchema({}), node_name="classifier")


@pytest.fixture
def trained(storage):
    examples = [featurized(f"{word} " * repeat + "please", LABELS[word]) for word in VOCABULARY for repeat in (1, 2, 3)]
    data = TrainingData(training_examples=examples,
                        responses={"utter_faq/pain": [{"text": "Most people feel mild discomfort."}],
                                   "utter_faq/cost_general": [{"text": "Prices vary."}]})
    classifier = LinearIntentClassifier.create(LinearIntentClassifier.get_default_config(), storage,
                                               Resource("classifier"), context())
    classifier.train(data)
    return classifier


def test_faq_topics_are_classes_and_answers_come_in_rasa_format(trained):
    [message] = trained.process([featurized("does it hurt")])
    assert message.get(INTENT)["name"] == "faq"
    selected = message.get("response_selector")["faq"]["response"]
    assert selected["intent_response_key"] == "faq/pain"
    assert selected["utter_action"] == "utter_faq/pain"
    assert selected["responses"] == [{"text": "Most people feel mild discomfort."}]
    assert message.get("response_selector")["all_retrieval_intents"] == ["faq"]
    ranking = message.get("response_selector")["faq"]["ranking"]
    assert ranking[0]["intent_response_key"] == "faq/pain" and len(ranking) == 2


def test_other_intents_compete_with_faq_topics(trained):
    [weather] = trained.process([featurized("weather today")])
    [greeting] = trained.process([featurized("hello there")])
    assert weather.get(INTENT)["name"] == "out_of_scope"
    assert greeting.get(INTENT)["name"] == "greet"
    names = [entry["name"] for entry in weather.get("intent_ranking")]
    assert names.count("faq") == 1 and set(names) == {"greet", "faq", "out_of_scope"}


def test_intent_confidence_is_its_best_class_probability(trained):
    [message] = trained.process([featurized("pain")])
    probabilities = dict(zip(trained.labels, trained.probabilities([featurized("pain")])[0]))
    assert message.get(INTENT)["confidence"] == pytest.approx(probabilities["faq/pain"])


def test_saved_and_loaded_classifier_predicts_the_same(trained, storage):
    loaded = LinearIntentClassifier.load(LinearIntentClassifier.get_default_config(), storage,
                                         Resource("classifier"), context())
    probe = [featurized("price cost"), featurized("hi rain")]
    assert np.allclose(loaded.probabilities(probe), trained.probabilities(probe))


def test_a_message_without_features_is_unsure_and_falls_back(trained, storage):
    [message] = trained.process([Message(data={TEXT: "zzz"})])
    assert message.get(INTENT)["confidence"] < 0.5
    fallback = FallbackClassifier.create({**FallbackClassifier.get_default_config(), "threshold": 0.5},
                                         storage, Resource("fallback"), context())
    [message] = fallback.process([message])
    assert message.get(INTENT)["name"] == "nlu_fallback"


def test_training_needs_two_intents(storage):
    data = TrainingData(training_examples=[featurized("hello", "greet"), featurized("hi", "greet")])
    classifier = LinearIntentClassifier.create(LinearIntentClassifier.get_default_config(), storage,
                                               Resource("one"), context())
    with pytest.raises(ValueError, match="two intents"):
        classifier.train(data)
