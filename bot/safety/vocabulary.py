"""The red-flag vocabulary: `redflags.yml` beside this module, read and checked explicitly.

Nothing is read at import time; `load_vocabulary()` returns a frozen `Vocabulary` or raises
`VocabularyError` naming the entry that is wrong, so a clinician's edit that breaks the file fails
loudly at start-up (and in the tests) instead of silently screening less.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Hashable, Mapping, Optional, Set, Tuple

import yaml

DEFAULT_VOCABULARY = Path(__file__).resolve().parent / "redflags.yml"

SEVERITIES = ("emergency", "urgent", "after_effect")
CATEGORIES = ("allergy", "breathing", "infection", "bleeding", "severe_pain", "skin_damage", "faint",
              "after_effect")
GROUP_KINDS = ("symptom", "qualifier", "place", "cue")
MATCH_ATTRS = ("lemma", "lower")
SCOPES = ("clause", "sentence", "message")
# Cue groups the screen itself reads; every vocabulary must define them.
REQUIRED_CUE_GROUPS = ("pseudo_negation", "ignore", "hypothetical", "conditional", "history", "possibility",
                       "report", "now", "resolved", "determiner", "resolved_before", "recurred", "intensifier")


class VocabularyError(ValueError):
    """The vocabulary file is malformed; the message says where."""


@dataclass(frozen=True)
class ScreenSettings:
    """Distances, in words, that the screen works with."""

    window: int = 6
    negation_window: int = 5
    no_window: int = 4
    resolved_window: int = 5
    hypothetical_window: int = 8


@dataclass(frozen=True)
class Group:
    """Words and phrases that mean one thing ("swelling", "face_parts")."""

    name: str
    kind: str
    match: str
    terms: Tuple[str, ...]
    exact: Tuple[str, ...]
    patterns: Tuple[Tuple[Mapping[str, Any], ...], ...]
    fuzzy: bool
    swallow: bool

    @property
    def negatable(self) -> bool:
        """Symptoms and qualifiers can be negated ("no fever", "not spreading"); places cannot."""
        return self.kind in ("symptom", "qualifier")


@dataclass(frozen=True)
class Rule:
    """What a combination of groups means: a category and a severity."""

    id: str
    categories: Tuple[str, ...]
    severity: str
    any: Tuple[str, ...]
    all: Tuple[str, ...]
    unless: Tuple[str, ...]
    scope: str
    window: Optional[int]
    flag_in_questions: bool


@dataclass(frozen=True)
class Breaks:
    """Tokens that end sentences, clauses and negations."""

    sentence: frozenset
    clause: frozenset
    soft: frozenset
    list_words: frozenset
    fillers: frozenset
    question_starts: frozenset


@dataclass(frozen=True)
class Negation:
    """Negation cues (as lemmas) and the words before which "no" is an interjection."""

    cues: frozenset
    no_cues: frozenset
    no_interjection_before: frozenset
    no_interjection_verbs: frozenset
    # a negation that reaches one of these before its symptom negates the stopping, not the symptom:
    # "can't get it to stop bleeding" (lemmas)
    stop_verbs: frozenset = frozenset()
    # words a negated "or"-list may skip: "I haven't fainted or felt dizzy"
    list_fillers: frozenset = frozenset()


@dataclass(frozen=True)
class Vocabulary:
    """Everything `redflags.yml` says, checked."""

    version: int
    settings: ScreenSettings
    typos: Mapping[str, str]
    fuzzy_min_length: int
    never_correct: frozenset
    breaks: Breaks
    negation: Negation
    groups: Mapping[str, Group]
    rules: Tuple[Rule, ...]


def _strings(value: Any, where: str) -> Tuple[str, ...]:
    """A list of strings (YAML may give numbers or booleans: "no" is quoted in the file)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        raise VocabularyError(f"{where}: expected a list, got {type(value).__name__}")
    out = []
    for item in value:
        if isinstance(item, bool) or item is None or isinstance(item, (dict, list)):
            raise VocabularyError(f"{where}: {item!r} is not a word (quote yes/no/on/off in YAML)")
        out.append(str(item))
    return tuple(out)


def _lowered(value: Any, where: str) -> frozenset:
    return frozenset(s.lower() for s in _strings(value, where))


def _group(name: str, raw: Any) -> Group:
    where = f"groups.{name}"
    if not isinstance(raw, dict):
        raise VocabularyError(f"{where}: expected a mapping with kind and terms")
    kind = raw.get("kind", "symptom")
    if kind not in GROUP_KINDS:
        raise VocabularyError(f"{where}.kind: {kind!r} is not one of {GROUP_KINDS}")
    match = raw.get("match", "lemma")
    if match not in MATCH_ATTRS:
        raise VocabularyError(f"{where}.match: {match!r} is not one of {MATCH_ATTRS}")
    terms = tuple(t.strip() for t in _strings(raw.get("terms"), f"{where}.terms") if t.strip())
    exact = tuple(t.strip() for t in _strings(raw.get("exact"), f"{where}.exact") if t.strip())
    patterns = []
    for index, pattern in enumerate(raw.get("patterns") or []):
        if not isinstance(pattern, list) or not all(isinstance(t, dict) for t in pattern) or not pattern:
            raise VocabularyError(f"{where}.patterns[{index}]: expected a list of spaCy token patterns")
        patterns.append(tuple(pattern))
    if not terms and not exact and not patterns:
        raise VocabularyError(f"{where}: no terms")
    unknown = set(raw) - {"kind", "match", "terms", "exact", "patterns", "fuzzy", "swallow"}
    if unknown:
        raise VocabularyError(f"{where}: unknown keys {sorted(unknown)}")
    return Group(name=name, kind=kind, match=match, terms=terms, exact=exact, patterns=tuple(patterns),
                 fuzzy=bool(raw.get("fuzzy", False)), swallow=bool(raw.get("swallow", False)))


def _rule(index: int, raw: Any, groups: Mapping[str, Group]) -> Rule:
    where = f"rules[{index}]"
    if not isinstance(raw, dict) or "id" not in raw:
        raise VocabularyError(f"{where}: expected a mapping with an id")
    where = f"rules[{index}] ({raw['id']})"
    unknown = set(raw) - {"id", "category", "severity", "any", "all", "unless", "scope", "window",
                          "in_questions"}
    if unknown:
        raise VocabularyError(f"{where}: unknown keys {sorted(unknown)}")
    categories = _strings(raw.get("category"), f"{where}.category")
    if not categories or any(c not in CATEGORIES for c in categories):
        raise VocabularyError(f"{where}.category: {categories!r} must be from {CATEGORIES}")
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        raise VocabularyError(f"{where}.severity: {severity!r} is not one of {SEVERITIES}")
    if (severity == "after_effect") != (categories == ("after_effect",)):
        raise VocabularyError(f"{where}: severity after_effect goes with category after_effect only")
    any_ = _strings(raw.get("any"), f"{where}.any")
    all_ = _strings(raw.get("all"), f"{where}.all")
    if bool(any_) == bool(all_):
        raise VocabularyError(f"{where}: give exactly one of any/all")
    if all_ and len(all_) < 2:
        raise VocabularyError(f"{where}.all: needs at least two groups")
    unless = _strings(raw.get("unless"), f"{where}.unless")
    for name in (*any_, *all_, *unless):
        if name not in groups:
            raise VocabularyError(f"{where}: unknown group {name!r}")
    for name in (*any_, *all_[:1]):
        if groups[name].kind not in ("symptom",):
            raise VocabularyError(f"{where}: the first group ({name}) must be a symptom group")
    scope = raw.get("scope", "clause")
    if scope not in SCOPES:
        raise VocabularyError(f"{where}.scope: {scope!r} is not one of {SCOPES}")
    window = raw.get("window")
    if window is not None and (not isinstance(window, int) or window < 0):
        raise VocabularyError(f"{where}.window: expected a whole number")
    in_questions = raw.get("in_questions", "suppress")
    if in_questions not in ("flag", "suppress"):
        raise VocabularyError(f"{where}.in_questions: expected flag or suppress")
    return Rule(id=str(raw["id"]), categories=categories, severity=severity, any=any_, all=all_,
                unless=unless, scope=scope, window=window, flag_in_questions=in_questions == "flag")


def parse_vocabulary(raw: Any) -> Vocabulary:
    """Check a parsed `redflags.yml` and turn it into a `Vocabulary`."""
    if not isinstance(raw, dict):
        raise VocabularyError("the vocabulary file must be a mapping")
    settings_raw = raw.get("settings") or {}
    try:
        settings = ScreenSettings(**{k: int(v) for k, v in settings_raw.items()})
    except (TypeError, ValueError) as error:
        raise VocabularyError(f"settings: {error}") from error
    text = raw.get("text") or {}
    typos_raw = text.get("typos") or {}
    if not isinstance(typos_raw, dict):
        raise VocabularyError("text.typos: expected a mapping of misspelling: correction")
    typos = {str(k).lower(): str(v).lower() for k, v in typos_raw.items()}
    fuzzy = text.get("fuzzy") or {}
    breaks_raw = raw.get("breaks") or {}
    breaks = Breaks(**{field: _lowered(breaks_raw.get(field), f"breaks.{field}")
                       for field in ("sentence", "clause", "soft", "list_words", "fillers",
                                     "question_starts")})
    negation_raw = raw.get("negation") or {}
    negation = Negation(**{field: _lowered(negation_raw.get(field), f"negation.{field}")
                           for field in ("cues", "no_cues", "no_interjection_before",
                                         "no_interjection_verbs", "stop_verbs", "list_fillers")})
    groups_raw = raw.get("groups")
    if not isinstance(groups_raw, dict) or not groups_raw:
        raise VocabularyError("groups: expected a mapping of group name to terms")
    groups = {str(name): _group(str(name), body) for name, body in groups_raw.items()}
    for name in REQUIRED_CUE_GROUPS:
        if name not in groups:
            raise VocabularyError(f"groups: the screen needs a {name!r} group")
    rules_raw = raw.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise VocabularyError("rules: expected a list")
    rules = tuple(_rule(i, body, groups) for i, body in enumerate(rules_raw))
    ids = [r.id for r in rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise VocabularyError(f"rules: duplicate ids {duplicates}")
    return Vocabulary(
        version=int(raw.get("version", 1)),
        settings=settings,
        typos=typos,
        fuzzy_min_length=int(fuzzy.get("min_length", 4)),
        never_correct=_lowered(fuzzy.get("never_correct"), "text.fuzzy.never_correct"),
        breaks=breaks,
        negation=negation,
        groups=groups,
        rules=rules,
    )


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice is an error (a second `fever:` group
    would otherwise silently replace the first)."""


def _mapping_without_duplicates(
    loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False
) -> Dict[Hashable, Any]:
    seen: Set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise VocabularyError(f"line {key_node.start_mark.line + 1}: {key!r} is given twice")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def load_vocabulary(path: Path = DEFAULT_VOCABULARY) -> Vocabulary:
    """Read and check the vocabulary file."""
    try:
        raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506
    except FileNotFoundError as error:
        raise VocabularyError(f"no such vocabulary file: {path}") from error
    except yaml.YAMLError as error:
        raise VocabularyError(f"{path}: not valid YAML: {error}") from error
    return parse_vocabulary(raw)

