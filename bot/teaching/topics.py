"""The FAQ topics staff label with: the retrieval intents `faq/<topic>` and their readable titles.

Read from the source map knowledge/topics.yml (the same titles the "did you mean" buttons show).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional, Tuple

import yaml

from bot.settings import PROJECT_ROOT

TOPICS_FILE = PROJECT_ROOT / "knowledge" / "topics.yml"
FAQ_PREFIX = "faq/"


@dataclass(frozen=True)
class FaqTopic:
    """One FAQ topic: its key (`what_is`), its title ("What mesotherapy is") and its intent."""

    key: str
    title: str

    @property
    def intent(self) -> str:
        """The retrieval intent, "faq/<key>"."""
        return FAQ_PREFIX + self.key


@lru_cache(maxsize=4)
def faq_topics(path: Path = TOPICS_FILE) -> Tuple[FaqTopic, ...]:
    """Every FAQ topic, in the order of the source map (read once per path)."""
    topics = yaml.safe_load(path.read_text(encoding="utf-8"))["topics"]
    return tuple(FaqTopic(key=str(key), title=str(entry["title"])) for key, entry in topics.items())


def topics_by_intent(path: Path = TOPICS_FILE) -> Dict[str, FaqTopic]:
    """Intent -> topic."""
    return {topic.intent: topic for topic in faq_topics(path)}


def topic_of(intent: Optional[str], path: Path = TOPICS_FILE) -> Optional[FaqTopic]:
    """The topic of an intent such as "faq/what_is"; None for anything else."""
    return topics_by_intent(path).get(intent or "")
