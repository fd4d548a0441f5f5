"""Messages of unknown words only become nlu_fallback; anything the assistant knows is left alone."""
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlp.unknown_words import UnknownWordsClassifier


def tokens(text, lemmas=None):
    """Whitespace tokens, with optional lemmas by word."""
    found, start = [], 0
    for word in text.split():
        start = text.index(word, start)
        token = Token(word, start, lemma=(lemmas or {}).get(word, word.lower()))
        found.append(token)
        start += len(word)
    return found


def example(text, lemmas=None):
    """A training example with its tokens."""
    msg = Message(data={"text": text, "intent": "faq"})
    msg.set("text_tokens", tokens(text, lemmas))
    return msg


def message(text, intent="faq", confidence=0.9, entities=None, lemmas=None):
    msg = Message(data={"text": text, "intent": {"name": intent, "confidence": confidence},
                        "intent_ranking": [{"name": intent, "confidence": confidence}]})
    msg.set("text_tokens", tokens(text, lemmas))
    if entities:
        msg.set("entities", entities)
    return msg


@pytest.fixture
def trained(tmp_path):
    storage = LocalModelStorage(tmp_path)
    resource = Resource("unknown_words")
    component = UnknownWordsClassifier.create({}, storage, resource, ExecutionContext(None))
    examples = [example("does mesotherapy hurt"), example("how many sessions do i need"),
                example("can i wash my hair"), example("MC-4827")]
    component.train(TrainingData(training_examples=examples))
    return UnknownWordsClassifier.load({}, storage, resource, ExecutionContext(None))


def predicted(component, msg):
    component.process([msg])
    return msg.get("intent")["name"]


def test_only_unknown_words_fall_back_keeping_the_classifier_confidence(trained):
    msg = message("zxq blorf wibble", confidence=0.37)
    assert predicted(trained, msg) == "nlu_fallback"
    assert msg.get("intent")["confidence"] == 0.37
    assert msg.get("intent_ranking")[0]["name"] == "nlu_fallback"
    assert msg.get("intent_ranking")[1]["name"] == "faq"


@pytest.mark.parametrize("text", ["does it hurt", "WASH", "Hurt?", "12/04/1988", "MC-4827", "zxq 1988"])
def test_a_known_word_a_number_or_a_reference_is_left_to_the_classifiers(trained, text):
    assert predicted(trained, message(text)) == "faq"


def test_a_recognised_entity_is_left_to_the_classifiers(trained):
    msg = message("finasteride", entities=[{"entity": "medicine", "value": "finasteride"}])
    assert predicted(trained, msg) == "faq"


def test_a_lemma_seen_in_training_counts_as_known(trained):
    assert predicted(trained, message("washing", lemmas={"washing": "wash"})) == "faq"


def test_punctuation_does_not_make_a_message_known(trained):
    assert predicted(trained, message("zxq blorf ?!")) == "nlu_fallback"
    assert predicted(trained, message("?")) == "faq"


def test_an_existing_fallback_is_not_doubled(trained):
    msg = message("zxq blorf", intent="nlu_fallback", confidence=0.35)
    trained.process([msg])
    assert [r["name"] for r in msg.get("intent_ranking")] == ["nlu_fallback"]
