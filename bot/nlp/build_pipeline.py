"""Build the project's own spaCy pipeline: blank English, lookup lemmatizer, clinic EntityRuler.

No pretrained pipeline can be downloaded here, so we build one from the lexicon files and
save it where Rasa's SpacyNLP finds it (`config.yml`: `model: models/spacy/clinic_en`).

    python -m bot.nlp.build_pipeline --out models/spacy/clinic_en
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Dict, List, Optional, cast

import spacy
from spacy.language import Language
from spacy.pipeline import EntityRuler, Lemmatizer

from bot.nlp.lexicon import iter_variants, load_lexicon, load_normalisation

logger = logging.getLogger(__name__)
PIPELINE_NAME = "clinic_en"
PIPELINE_VERSION = "1.0.0"


def entity_patterns(lexicon: Dict[str, Dict[str, List[str]]], nlp: Language) -> List[dict]:
    """One token pattern per variant, matched on lower-cased text, with the canonical name as id."""
    patterns = []
    for label, canonical, variant in iter_variants(lexicon):
        tokens = [{"LOWER": token.lower_} for token in nlp.make_doc(variant)]
        patterns.append({"label": label, "pattern": tokens, "id": canonical})
    return patterns


def add_normalised_lemmas(nlp: Language, normalisation: Dict[str, List[str]]) -> int:
    """Point each variant at its canonical lemma in the lookup table (as typed, and capitalised)."""
    lemmatizer = cast(Lemmatizer, nlp.get_pipe("lemmatizer"))  # get_pipe is typed as any component
    table = lemmatizer.lookups.get_table("lemma_lookup")
    added = 0
    for lemma, variants in normalisation.items():
        for variant in variants:
            for form in {variant, variant.lower(), variant.capitalize(), variant.upper()}:
                table.set(form, lemma)
                added += 1
    return added


def build_pipeline(lexicon_dir: Optional[Path] = None) -> Language:
    """Blank English with a lookup lemmatizer (spacy-lookups-data, plus the clinic's normalisation)
    and the clinic EntityRuler."""
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    ruler = cast(EntityRuler, nlp.add_pipe("entity_ruler", config={"overwrite_ents": True}))
    lexicon = load_lexicon(lexicon_dir) if lexicon_dir is not None else load_lexicon()
    nlp.initialize()
    normalisation = load_normalisation(lexicon_dir) if lexicon_dir is not None else load_normalisation()
    add_normalised_lemmas(nlp, normalisation)
    ruler.add_patterns(entity_patterns(lexicon, nlp))
    nlp.meta["name"] = PIPELINE_NAME
    nlp.meta["version"] = PIPELINE_VERSION
    nlp.meta["description"] = "Blank English, lookup lemmatizer and the clinic lexicon EntityRuler."
    return nlp


def main() -> None:
    """Build and save the pipeline to --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("models/spacy") / PIPELINE_NAME)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    nlp = build_pipeline()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(args.out)
    ruler = cast(EntityRuler, nlp.get_pipe("entity_ruler"))
    logger.info("saved spaCy pipeline %s with %d patterns to %s", PIPELINE_NAME, len(ruler.patterns),
                args.out)


if __name__ == "__main__":
    main()
