"""The answers themselves: every FAQ answer has a source in the seeds, is short, and makes no promises."""
import re
from pathlib import Path

import pytest
import yaml

from tests.support.phrases import BANNED_PHRASES

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "seeds"
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
TOPICS = yaml.safe_load((ROOT / "knowledge" / "topics.yml").read_text(encoding="utf-8"))
MAX_ANSWER_CHARS = 600


def _normalise(text: str) -> str:
    """Fold white space and typographic quotes so quotes compare with the seeds as written."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(text.split())


def all_response_texts():
    """(response name, text) for every text variation of every response in the domain."""
    for name, variations in DOMAIN["responses"].items():
        for variation in variations:
            if "text" in variation:
                yield name, variation["text"]
            for button in variation.get("buttons", []):
                yield f"{name} (button)", button["title"]


def faq_topics_in_domain():
    """The `<topic>` of every `utter_faq/<topic>` response."""
    return sorted(name.split("/", 1)[1] for name in DOMAIN["responses"] if name.startswith("utter_faq/"))


def test_every_faq_answer_has_a_source():
    assert faq_topics_in_domain(), "no FAQ answers found in domain.yml"
    missing = [topic for topic in faq_topics_in_domain() if not TOPICS["topics"].get(topic, {}).get("sources")]
    assert missing == [], f"answers with no source in knowledge/topics.yml: {missing}"


def test_source_map_names_no_answer_that_does_not_exist():
    assert sorted(TOPICS["topics"]) == faq_topics_in_domain()


@pytest.mark.parametrize("topic", sorted(TOPICS["topics"]) + sorted(TOPICS["other_answers"]))
def test_every_quote_stands_in_its_seed(topic):
    entry = TOPICS["topics"].get(topic) or TOPICS["other_answers"][topic]
    for source in entry["sources"]:
        seed_text = _normalise((SEEDS / source["seed"]).read_text(encoding="utf-8"))
        assert _normalise(source["quote"]) in seed_text, f"{topic}: quote not in {source['seed']}: {source['quote'][:60]}"


@pytest.mark.parametrize("topic", sorted(TOPICS["topics"]))
def test_topic_has_a_button_title_and_question(topic):
    entry = TOPICS["topics"][topic]
    assert 3 <= len(entry["title"]) <= 40
    assert entry["question"].endswith("?")


@pytest.mark.parametrize("name,text", list(all_response_texts()))
def test_no_banned_phrase_in_any_response(name, text):
    found = [p for p in BANNED_PHRASES if re.search(p, text, flags=re.IGNORECASE)]
    assert found == [], f"{name} contains banned phrase(s) {found}"


@pytest.mark.parametrize("name,text", list(all_response_texts()))
def test_every_response_fits_an_sms_conversation(name, text):
    assert len(text) <= MAX_ANSWER_CHARS, f"{name} is {len(text)} characters"


def test_banned_phrase_scan_catches_the_seeds_marketing():
    marketing = "Hair Mesotherapy is a miracle for hair loss, virtually painless. Iran is a good options to do that."
    assert [p for p in BANNED_PHRASES if re.search(p, marketing, flags=re.IGNORECASE)]


def test_where_sources_disagree_the_answer_says_so_and_defers_to_the_clinician():
    answer = DOMAIN["responses"]["utter_faq/sessions_needed"][0]["text"]
    for fact in ("6 to 10", "8 to 12", "two to four weeks", "clinician"):
        assert fact in answer
