"""The labelled examples as Rasa NLU training data, in a file for a clinician to review.

The file holds `version: "3.1"` and `nlu:` with one `- intent: faq/<topic>` block per topic (in the
order of knowledge/topics.yml), each example once, its personal details replaced by placeholders
(bot.teaching.scrub). The "new topic needed" examples follow as comments, with their notes.

It is never written inside data/: `rasa train` reads every file under data/, so an export there
would be trained on before anyone reviewed it. The default is var/teaching/nlu_from_staff.yml.
"""
from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from bot.settings import PROJECT_ROOT
from bot.teaching.queue import ExampleItem
from bot.teaching.scrub import scrub
from bot.teaching.topics import faq_topics, topics_by_intent

DEFAULT_EXPORT_PATH = PROJECT_ROOT / "var" / "teaching" / "nlu_from_staff.yml"
TRAINED_DATA_DIR = PROJECT_ROOT / "data"
# Rasa reads "[text](entity)", "[text]{...}" and "[text][...]" as entity annotations.
_ANNOTATION = re.compile(r"\]([({\[])")
HEADER = """\
# Patient messages labelled by staff in the console ("Teach the assistant"), as Rasa NLU data.
# Written by `python -m bot export-nlu` on {when}; NOT training data yet.
# A clinician reviews every example below and moves the right ones into the matching file in
# data/nlu/ (an example under the wrong topic teaches the assistant a wrong answer).
# Phone numbers, emails, dates and booking references were replaced by [phone], [email], [date]
# and [reference].
"""


class ExportPathRefused(ValueError):
    """The export would land where Rasa trains from (data/)."""


def training_line(text: str) -> str:
    """One example as a single clean line: scrubbed, control characters and annotations defused."""
    cleaned = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    cleaned = " ".join(scrub(cleaned).split())
    return _ANNOTATION.sub(r"] \1", cleaned)


def _has_words(line: str) -> bool:
    """True if something is left besides placeholders and punctuation."""
    return bool(re.search(r"[^\W\d_]", re.sub(r"\[(phone|email|date|reference)\]", "", line)))


def group_examples(examples: Sequence[ExampleItem]) -> Tuple[Dict[str, List[str]], List[Tuple[str, str]],
                                                             List[Tuple[str, List[str]]]]:
    """Lines per intent (each text once), "new topic needed" lines with their notes, and texts
    staff put under more than one topic (left out of the data: a clinician decides)."""
    intents_of: "OrderedDict[str, Tuple[str, List[str]]]" = OrderedDict()
    new_topics: List[Tuple[str, str]] = []
    for example in examples:
        line = training_line(example.text)
        if not _has_words(line):
            continue
        if example.intent is None:
            new_topics.append((line, " ".join((example.note or "").split())))
            continue
        key = line.casefold()
        _, intents = intents_of.setdefault(key, (line, []))
        if example.intent not in intents:
            intents.append(example.intent)
    by_intent: Dict[str, List[str]] = {}
    conflicts: List[Tuple[str, List[str]]] = []
    for line, intents in intents_of.values():
        if len(intents) == 1:
            by_intent.setdefault(intents[0], []).append(line)
        else:
            conflicts.append((line, intents))
    return by_intent, new_topics, conflicts


def nlu_yaml(examples: Sequence[ExampleItem], now: datetime) -> str:
    """The export file's text for these labelled examples."""
    by_intent, new_topics, conflicts = group_examples(examples)
    titles = {intent: topic.title for intent, topic in topics_by_intent().items()}
    lines = [HEADER.format(when=f"{now:%Y-%m-%d %H:%M} UTC"), 'version: "3.1"', ""]
    ordered = [topic.intent for topic in faq_topics() if topic.intent in by_intent]
    retired = [(line, intent) for intent, texts in by_intent.items() if intent not in titles for line in texts]
    lines.append("nlu:" if ordered else "nlu: []")
    for intent in ordered:
        lines.append(f"# {titles[intent]}")
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend(f"    - {line}" for line in by_intent[intent])
    if new_topics:
        lines += ["", "# New topic needed (no FAQ answer fits yet; a clinician decides whether to write one):"]
        lines += [f"#   - {line}" + (f"  (note: {note})" if note else "") for line, note in new_topics]
    if retired:
        lines += ["", "# Labelled with a topic that is no longer in knowledge/topics.yml (left out above):"]
        lines += [f"#   - {line}  ({intent})" for line, intent in retired]
    if conflicts:
        lines += ["", "# Labelled with different topics by staff (left out above; a clinician decides):"]
        lines += [f"#   - {line}  ({', '.join(intents)})" for line, intents in conflicts]
    return "\n".join(lines) + "\n"


def check_export_path(path: Path) -> Path:
    """The path made absolute; ExportPathRefused if it is inside data/ (where Rasa trains from)."""
    resolved = path.expanduser().resolve()
    if resolved == TRAINED_DATA_DIR or TRAINED_DATA_DIR in resolved.parents:
        raise ExportPathRefused(f"{path} is inside {TRAINED_DATA_DIR}, which `rasa train` reads: "
                                "write the export elsewhere and move reviewed examples into data/nlu/")
    return resolved


def write_export(path: Path, examples: Sequence[ExampleItem], now: datetime) -> Path:
    """Write the export file (its folder made if needed); the path written."""
    target = check_export_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(nlu_yaml(examples, now), encoding="utf-8")
    return target
