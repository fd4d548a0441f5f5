"""The clinic lexicon: the versioned YAML files beside this module, one per entity label.

Each file maps a canonical name to the ways patients write it. The pipeline builder turns
them into EntityRuler patterns; custom actions use `canonical_name` to map what spaCy found
("nurofen") back to the canonical name ("ibuprofen").
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import yaml

LEXICON_DIR = Path(__file__).resolve().parent / "lexicon"
LABELS = ("medicine", "treatment", "symptom", "body_part")


def load_lexicon(directory: Path = LEXICON_DIR) -> Dict[str, Dict[str, List[str]]]:
    """Read every label's file: {label: {canonical: [variants]}}."""
    lexicon: Dict[str, Dict[str, List[str]]] = {}
    for label in LABELS:
        raw = yaml.safe_load((directory / f"{label}.yml").read_text(encoding="utf-8")) or {}
        lexicon[label] = {str(name): [str(v) for v in variants] for name, variants in raw.items()}
    return lexicon


def load_normalisation(directory: Path = LEXICON_DIR) -> Dict[str, List[str]]:
    """Lemma normalisation: {canonical lemma: [variants patients type]}."""
    raw = yaml.safe_load((directory / "normalise.yml").read_text(encoding="utf-8")) or {}
    return {str(lemma): [str(v) for v in variants] for lemma, variants in raw.items()}


def iter_variants(lexicon: Dict[str, Dict[str, List[str]]]) -> Iterator[Tuple[str, str, str]]:
    """Yield (label, canonical, variant) for every variant, the canonical name included."""
    for label, entries in lexicon.items():
        for canonical, variants in entries.items():
            for variant in dict.fromkeys([canonical, *variants]):
                yield label, canonical, variant


@lru_cache(maxsize=1)
def _variant_index() -> Dict[Tuple[str, str], str]:
    """(label, lower-cased variant) -> canonical name, read once per process."""
    return {
        (label, " ".join(variant.lower().split())): canonical
        for label, canonical, variant in iter_variants(load_lexicon())
    }


def canonical_name(label: str, text: str) -> Optional[str]:
    """The canonical name for `text` found as entity `label`, or None if it is not in the lexicon."""
    return _variant_index().get((label, " ".join(text.lower().split())))
