"""The typo layer: fix the way patients type symptom words before the matchers see them.

Three steps, each on one lower-cased word: the vocabulary's whole-word corrections ("puss" -> "pus",
"tempreture" -> "temperature"); squeezing letters held down ("swollennnn", "bleeeeding"); and, for
words that are not English words at all, a correction to the symptom word one typing slip away
(one letter missing, extra or wrong, or two neighbours swapped: "swolen", "breating", "tounge").
Standard library only; everything is built once in `Speller.__init__` and read-only afterwards.
"""
from __future__ import annotations

import re
from typing import Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional

_REPEATS = re.compile(r"([a-z])\1{2,}")
_WORD = re.compile(r"^[a-z]+$")


def within_one_edit(a: str, b: str) -> bool:
    """True when `a` and `b` differ by at most one insertion, deletion, substitution or swap of
    two neighbouring letters (optimal string alignment distance <= 1)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]])
    if la > lb:
        a, b, la, lb = b, a, lb, la
    # b is one letter longer: skipping one letter of b must give a.
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


class Speller:
    """Corrects single lower-cased words; immutable after construction, so safe across threads."""

    def __init__(self, typos: Mapping[str, str], targets: Iterable[str], is_english: Callable[[str], bool],
                 never_correct: FrozenSet[str] = frozenset(), min_length: int = 4,
                 target_min_length: int = 5):
        self._typos = dict(typos)
        self._is_english = is_english
        self._never_correct = frozenset(never_correct)
        self._min_length = min_length
        by_length: Dict[int, List[str]] = {}
        for word in sorted(set(targets)):
            if len(word) >= target_min_length and _WORD.match(word):
                by_length.setdefault(len(word), []).append(word)
        self._targets = {length: tuple(words) for length, words in by_length.items()}
        self._target_set = frozenset(w for words in self._targets.values() for w in words)

    @property
    def targets(self) -> FrozenSet[str]:
        """The words the fuzzy step corrects towards."""
        return self._target_set

    def is_known(self, word: str) -> bool:
        """An English word (or one of ours): never corrected by the fuzzy step."""
        return word in self._target_set or word in self._never_correct or self._is_english(word)

    def correct(self, word: str) -> str:
        """The corrected form of one lower-cased word (may be several words, e.g. "pass out")."""
        fixed = self._typos.get(word)
        if fixed is not None:
            return fixed
        if not _WORD.match(word):
            return word
        if _REPEATS.search(word):
            squeezed = self._squeeze(word)
            if squeezed != word:
                return self.correct(squeezed)
        if len(word) < self._min_length or self.is_known(word):
            return word
        return self._nearest(word) or word

    def _squeeze(self, word: str) -> str:
        """Letters typed three or more times: keep two ("swollennn" -> "swollenn"), or one if that is
        a known word ("sooo" -> "so")."""
        two = _REPEATS.sub(r"\1\1", word)
        one = _REPEATS.sub(r"\1", word)
        for candidate in (two, one):
            if candidate in self._typos or self.is_known(candidate):
                return candidate
        return two

    def _nearest(self, word: str) -> Optional[str]:
        """The target one edit away, preferring the commonest slips: a letter left out ("swolen"),
        then two letters swapped ("breathign"), a wrong letter, and an extra letter ("feaver")."""
        length = len(word)
        same = [t for t in self._targets.get(length, ()) if within_one_edit(word, t)]
        ranked = (
            [t for t in self._targets.get(length + 1, ()) if within_one_edit(word, t)]
            + [t for t in same if sorted(t) == sorted(word)]
            + [t for t in same if sorted(t) != sorted(word)]
            + [t for t in self._targets.get(length - 1, ()) if within_one_edit(word, t)]
        )
        return ranked[0] if ranked else None

