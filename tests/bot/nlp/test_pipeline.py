"""The project's spaCy pipeline: built from the lexicon, saved, and loaded the way Rasa's SpacyNLP loads it."""
import pytest
import spacy

from bot.nlp.build_pipeline import build_pipeline
from bot.nlp.lexicon import canonical_name


@pytest.fixture(scope="module")
def nlp(tmp_path_factory):
    path = tmp_path_factory.mktemp("spacy") / "clinic_en"
    build_pipeline().to_disk(path)
    return spacy.load(path, disable=["parser"])  # as rasa.nlu.utils.spacy_utils.SpacyNLP does


def entities(nlp, text):
    return [(e.text, e.label_, e.ent_id_) for e in nlp(text).ents]


def test_pipeline_is_blank_english_with_lemmatizer_and_ruler(nlp):
    assert nlp.lang == "en" and nlp.pipe_names == ["lemmatizer", "entity_ruler"]


def test_brand_names_are_found_as_their_medicine(nlp):
    assert entities(nlp, "can i take Nurofen before my session") == [("Nurofen", "medicine", "ibuprofen")]
    assert canonical_name("medicine", "Nurofen") == "ibuprofen"


def test_symptoms_and_body_parts(nlp):
    found = entities(nlp, "my lips are swollen and my throat feels tight")
    assert ("lips", "body_part", "lips") in found and ("swollen", "symptom", "swelling") in found
    assert ("throat", "body_part", "throat") in found


def test_longest_match_wins(nlp):
    assert entities(nlp, "do i need a blood test first") == [("blood test", "treatment", "blood test")]


def test_lookup_lemmas_and_clinic_normalisation(nlp):
    lemmas = [t.lemma_ for t in nlp("u said the jabs hurts and my appt is tmrw what are the perks")]
    assert lemmas == ["you", "say", "the", "injection", "pain", "and", "my", "appointment", "be", "tomorrow",
                      "what", "be", "the", "benefit"]
    assert [t.lemma_ for t in nlp("bruises swollen")] == ["bruise", "swell"]  # spacy-lookups-data itself
