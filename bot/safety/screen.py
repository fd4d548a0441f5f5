"""The clinical red-flag screen: runs on every patient message before the bot chooses a reply.

    screen = RedFlagScreen.load(nlp)          # once, at start-up (nlp: the project's spaCy pipeline)
    result = screen.check("my lips are swelling up")
    result.kind, result.categories            # "emergency", ("allergy",)

What it looks for, and every word it knows, is in `redflags.yml` (clinician-reviewed); how it reads
a message is described at the top of that file. It favours recall: when a message might describe a
red flag it says so. Plain Python over spaCy (tokeniser, lookup lemmatizer, `PhraseMatcher` on
lemmas and on lower-case text, `Matcher` for token patterns); no Rasa, no I/O after `load`.

`check` keeps all of its working state in local variables; the screen's own attributes are built in
`load` and only read afterwards, so one screen can serve concurrent calls.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, cast

from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.pipeline import Lemmatizer
from spacy.tokens import Doc

from bot.safety.spelling import Speller
from bot.safety.vocabulary import (
    CATEGORIES,
    DEFAULT_VOCABULARY,
    SEVERITIES,
    Group,
    Rule,
    Vocabulary,
    load_vocabulary,
)

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_VOCABULARY", "Finding", "RedFlagScreen", "ScreenResult", "NO_FLAG", "RED_FLAG_KINDS"]

RED_FLAG_KINDS = ("emergency", "urgent")
KINDS = ("emergency", "urgent", "after_effect")
_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}  # emergency first
_MAX_CHUNK_CHARS = 5000
# Punctuation glued between letters ("swolen!!no", "fever,chills", "red+swollen", "lips.help").
_GLUED = re.compile(r"(?<=[^\W\d_])([!?.,;:+&/]+)(?=[^\W\d_])")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00b4": "'"})
_SENTENCE_PUNCT = set(".!?;\u2026")
_LIST_FILLERS = frozenset({"a", "an", "any", "other", "even", "some", "the", "my"})
_BE_FORMS = frozenset({"is", "are", "am", "was", "were", "'s", "'re", "'m", "s", "re", "m", "be", "been"})
_FUTURE_STARTS = frozenset({"will", "would", "could", "might", "may", "shall", "can"})


@dataclass(frozen=True)
class ScreenResult:
    """What the screen found in one message: the most severe kind and every red-flag category."""

    kind: Optional[str]          # "emergency" | "urgent" | "after_effect" | None
    categories: Tuple[str, ...]  # from: allergy, breathing, infection, bleeding, severe_pain,
                                 # skin_damage, faint, after_effect

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS} or None, got {self.kind!r}")
        unknown = [c for c in self.categories if c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown}")

    @property
    def is_red_flag(self) -> bool:
        """Emergency or urgent: the patient must be told to get help now."""
        return self.kind in RED_FLAG_KINDS


NO_FLAG = ScreenResult(kind=None, categories=())


@dataclass(frozen=True)
class Finding:
    """One rule that fired: which, how severe, and where (token offsets, never the text)."""

    rule: str
    severity: str
    categories: Tuple[str, ...]
    start: int
    end: int


@dataclass(frozen=True)
class _Span:
    group: str
    start: int
    end: int

    def contains(self, other: "_Span") -> bool:
        return (self.start <= other.start and other.end <= self.end
                and (self.end - self.start) > (other.end - other.start))

    def gap(self, other: "_Span") -> int:
        """Words between two spans (negative when they overlap)."""
        return max(self.start, other.start) - min(self.end, other.end)


class _Message:
    """One analysed message: tokens, breaks and the spans of every group (per call, never shared)."""

    def __init__(self, doc: Doc, spans: List[_Span], vocabulary: Vocabulary):
        self.n = len(doc)
        self.lower = [t.lower_ for t in doc]
        self.lemma = [t.lemma_ for t in doc]
        breaks = vocabulary.breaks
        self.hard = [False] * self.n     # ends a sentence or a clause
        self.soft = [False] * self.n     # ends a negation (",", "and", ...)
        self.sentence_id = [0] * self.n
        self.clause_id = [0] * self.n
        self.segment_id = [0] * self.n   # between sentence/clause breaks and commas: for questions
        sentence = clause = segment = 0
        for i, token in enumerate(doc):
            low = self.lower[i]
            is_sentence = (low in breaks.sentence or (token.is_space and "\n" in token.text)
                           or (bool(low) and all(ch in _SENTENCE_PUNCT for ch in low)))
            is_clause = low in breaks.clause
            if (is_clause and low == "-" and 0 < i < len(doc) - 1 and not doc[i - 1].whitespace_
                    and not token.whitespace_ and doc[i - 1].is_alpha and doc[i + 1].is_alpha):
                is_clause = False  # a hyphen inside a word ("greyish-blue", "light-headed"), not a dash
            self.sentence_id[i], self.clause_id[i], self.segment_id[i] = sentence, clause, segment
            if is_sentence:
                sentence += 1
            if is_sentence or is_clause:
                clause += 1
                self.hard[i] = True
            if is_sentence or is_clause or low in (",", ":"):
                segment += 1
            if low in breaks.soft:
                self.soft[i] = True
        self.groups: Dict[str, List[_Span]] = {}
        self.starts: Dict[int, List[_Span]] = {}   # negatable spans (symptoms, qualifiers) by start
        self.places: List[_Span] = []
        self.place_end: Dict[int, int] = {}        # start -> end of the longest place span there
        for span in spans:
            self.groups.setdefault(span.group, []).append(span)
            kind = vocabulary.groups[span.group].kind
            if kind in ("symptom", "qualifier"):
                self.starts.setdefault(span.start, []).append(span)
            elif kind == "place":
                self.places.append(span)
                self.place_end[span.start] = max(self.place_end.get(span.start, 0), span.end)
        self.place_tokens = {i for span in self.places for i in range(span.start, span.end)}
        self.segments: Dict[int, List[int]] = {}   # segment id -> its token indices
        for i, segment in enumerate(self.segment_id):
            self.segments.setdefault(segment, []).append(i)

    def spans(self, group: str) -> List[_Span]:
        return self.groups.get(group, [])


class RedFlagScreen:
    """Screens patient messages for clinical red flags and expected after-effects."""

    def __init__(self, nlp: Language, vocabulary: Vocabulary, speller: Speller):
        """Use `RedFlagScreen.load`; this builds the matchers from an already checked vocabulary."""
        self._nlp = nlp
        self._vocabulary = vocabulary
        self._speller = speller
        self._lemmatizer = nlp.get_pipe("lemmatizer") if "lemmatizer" in nlp.pipe_names else None
        self._typos = dict(vocabulary.typos)
        self._lemma_matcher = PhraseMatcher(nlp.vocab, attr="LEMMA")
        self._lower_matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self._token_matcher = Matcher(nlp.vocab)
        for group in vocabulary.groups.values():
            docs = [self._analyse(term, fuzzy=False) for term in group.terms]
            if docs:
                matcher = self._lower_matcher if group.match == "lower" else self._lemma_matcher
                matcher.add(group.name, docs)
            if group.exact:
                exact = [self._analyse(term, fuzzy=False) for term in group.exact]
                self._lower_matcher.add(group.name, exact)
            if group.patterns:
                self._token_matcher.add(group.name, [[dict(token) for token in p] for p in group.patterns])
        self._group_of = {nlp.vocab.strings.add(name): name for name in vocabulary.groups}
        self._cue_terms = {name: frozenset(group.terms) for name, group in vocabulary.groups.items()
                           if group.kind == "cue"}

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(cls, nlp: Language, vocabulary_path: Path = DEFAULT_VOCABULARY) -> "RedFlagScreen":
        """Read the vocabulary and build the matchers over `nlp` (the project's pipeline, loaded once
        at start-up; only its tokenizer and lemmatizer are used)."""
        vocabulary = load_vocabulary(vocabulary_path)
        speller = Speller(
            typos=vocabulary.typos,
            targets=_fuzzy_targets(vocabulary),
            is_english=_english_words(nlp),
            never_correct=vocabulary.never_correct,
            min_length=vocabulary.fuzzy_min_length,
        )
        screen = cls(nlp, vocabulary, speller)
        logger.info("red-flag screen loaded: %d groups, %d rules, %d typo targets",
                    len(vocabulary.groups), len(vocabulary.rules), len(speller.targets))
        return screen

    @property
    def vocabulary(self) -> Vocabulary:
        return self._vocabulary

    # ------------------------------------------------------------------ public API
    def check(self, text: str) -> ScreenResult:
        """Screen one message. Never raises on odd input; an empty message is no red flag."""
        return self._result(self.findings(text))

    def findings(self, text: str) -> Tuple[Finding, ...]:
        """Every rule that fired (for tests, tuning and the staff console; never log the text)."""
        if not text or not text.strip():
            return ()
        found: List[Finding] = []
        for chunk in _chunks(text):
            found.extend(self._findings(self._message(chunk)))
        return tuple(found)

    # ------------------------------------------------------------------ analysis
    def _analyse(self, text: str, fuzzy: bool = True) -> Doc:
        """Lower-case, split glued punctuation, fix typos, then tokenise and lemmatise."""
        prepared = _GLUED.sub(r" \1 ", text.translate(_QUOTES)).lower()
        words: List[str] = []
        spaces: List[bool] = []
        for token in self._nlp.tokenizer(prepared):
            fixed = self._speller.correct(token.text) if fuzzy else self._typos.get(token.text, token.text)
            parts = fixed.split() if not token.is_space else [token.text]
            if not parts:
                continue
            words.extend(parts)
            spaces.extend([True] * (len(parts) - 1) + [bool(token.whitespace_)])
        doc = Doc(self._nlp.vocab, words=words, spaces=spaces)
        if self._lemmatizer is not None:
            doc = self._lemmatizer(doc)
        else:
            for token in doc:
                token.lemma_ = token.lower_
        return doc

    def _message(self, text: str) -> _Message:
        doc = self._analyse(text.rstrip() + "\n")  # a final line break ends the last sentence
        raw: Set[_Span] = set()
        for matcher in (self._lemma_matcher, self._lower_matcher, self._token_matcher):
            for match_id, start, end in matcher(doc):
                raw.add(_Span(self._group_of[match_id], start, end))
        return _Message(doc, _filter_spans(raw, self._vocabulary.groups), self._vocabulary)

    # ------------------------------------------------------------------ rules
    def _findings(self, msg: _Message) -> List[Finding]:
        cues = self._negation_cues(msg)
        covering: Dict[int, List[int]] = {}  # token -> the negation cues whose scope covers it
        for cue, is_no in cues.items():
            for token in self._negation_scope(msg, cue, is_no):
                covering.setdefault(token, []).append(cue)
        found = []
        for rule in self._vocabulary.rules:
            for anchor, combo in self._candidates(msg, rule):
                if self._blocked(msg, rule, anchor):
                    continue
                if any(not self._negated(msg, spans, covering, cues) for spans in combo) \
                        and not self._suppressed(msg, rule, anchor):
                    severity = rule.severity
                    if self._settled_later(msg, anchor, cues):
                        # "felt dizzy in the chair but was fine after": over. An emergency symptom
                        # that has settled ("I fainted but I'm fine now") still needs the clinic today.
                        if severity != "emergency":
                            continue
                        severity = "urgent"
                    found.append(Finding(rule.id, severity, rule.categories, anchor.start, anchor.end))
        return found

    def _candidates(self, msg: _Message, rule: Rule) -> Iterable[Tuple[_Span, Iterable[Tuple[_Span, ...]]]]:
        """(anchor, possible span combinations) for each symptom term the rule is about."""
        if rule.any:
            for name in rule.any:
                for anchor in msg.spans(name):
                    yield anchor, ((anchor,),)
            return
        window = rule.window if rule.window is not None else self._vocabulary.settings.window
        for anchor in msg.spans(rule.all[0]):
            options = []
            for name in rule.all[1:]:
                near = [s for s in msg.spans(name)
                        if s != anchor and (s.start, s.end) != (anchor.start, anchor.end)
                        and _together(msg, rule.scope, window, anchor, s)]
                if not near:
                    break
                options.append(near)
            else:
                yield anchor, ((anchor, *rest) for rest in product(*options))

    def _blocked(self, msg: _Message, rule: Rule, anchor: _Span) -> bool:
        """An `unless` group close to the symptom stops the rule."""
        window = rule.window if rule.window is not None else self._vocabulary.settings.window
        return any(_together(msg, "clause", window, anchor, s)
                   for name in rule.unless for s in msg.spans(name))

    # ------------------------------------------------------------------ negation
    def _negation_cues(self, msg: _Message) -> Dict[int, bool]:
        """Token index of each negation cue -> whether it is "no" (noun-phrase scope)."""
        negation = self._vocabulary.negation
        pseudo = {i for span in msg.spans("pseudo_negation") for i in range(span.start, span.end)}
        cues: Dict[int, bool] = {}
        for i in range(msg.n):
            is_no = msg.lower[i] in negation.no_cues
            if not is_no and msg.lemma[i] not in negation.cues and msg.lower[i] not in negation.cues:
                continue
            if i in pseudo:
                continue
            if is_no:
                nxt = msg.lower[i + 1] if i + 1 < msg.n else ""
                if not nxt or not any(ch.isalnum() for ch in nxt) or nxt in negation.no_interjection_before:
                    continue  # "no, my lips are swelling" / "no my face is swollen"
                after_place = msg.place_end.get(i + 1)
                if after_place is not None and after_place < msg.n \
                        and msg.lower[after_place] in negation.no_interjection_verbs:
                    continue  # "no lips are puffy"
            cues[i] = is_no
        return cues

    def _negation_scope(self, msg: _Message, cue: int, is_no: bool) -> FrozenSet[int]:
        """Tokens a negation cue covers: forward to the first symptom inside its clause (qualifiers on
        the way included: "not a lot of bleeding"), then along a list of symptoms joined by or/nor,
        and by commas/"and" only when nothing but symptoms follows ("no fever, chills or pus")."""
        groups = self._vocabulary.groups
        settings = self._vocabulary.settings
        limit = settings.no_window if is_no else settings.negation_window
        covered: Set[int] = set()
        list_fillers = self._vocabulary.negation.list_fillers

        def take(i: int) -> Tuple[int, bool]:
            """Cover the spans starting at i; return where they end and whether one is a symptom."""
            spans = msg.starts[i]
            for span in spans:
                covered.update(range(span.start, span.end))
            return max(s.end for s in spans), any(groups[s.group].kind == "symptom" for s in spans)

        stop_verbs = self._vocabulary.negation.stop_verbs
        i, steps, found_symptom = cue + 1, 0, False
        while i < msg.n and steps < limit and not found_symptom:
            if msg.hard[i] or msg.soft[i]:
                return frozenset(covered)
            if msg.lemma[i] in stop_verbs or msg.lower[i] in stop_verbs:
                # "can't get it to stop bleeding", "nothing stops the bleeding": the negation is of the
                # stopping, so the symptom goes on
                return frozenset(covered)
            if i in msg.starts:
                i, found_symptom = take(i)
            else:
                i = msg.place_end.get(i, i + 1)  # "none of the injection points are oozing"
            steps += 1
        if not found_symptom:
            return frozenset(covered)
        while i < msg.n:
            low = msg.lower[i]
            if i in msg.place_tokens and i not in msg.starts:  # "I don't have swollen lips or a fever"
                i += 1
            elif low in ("or", "nor"):
                j = i + 1
                while j < msg.n and (msg.lower[j] in _LIST_FILLERS or msg.lower[j] in list_fillers):
                    j += 1  # "no rash or any hives", "I haven't fainted or felt dizzy"
                if j not in msg.starts:
                    break
                i, _ = take(j)
            elif low in ("and", ",", "&"):
                end = i + 1
                while end < msg.n and not (msg.hard[end] or msg.soft[end]):
                    end += 1
                symptoms = {t for k in range(i + 1, end) for span in msg.starts.get(k, [])
                            if groups[span.group].kind == "symptom" for t in range(span.start, span.end)}
                list_words = self._vocabulary.breaks.list_words
                if not symptoms or not all(t in symptoms or msg.lower[t] in list_words
                                           for t in range(i + 1, end)):
                    break
                covered.update(symptoms)
                i = end
            else:
                break
        return frozenset(covered)

    def _negated(self, msg: _Message, spans: Sequence[_Span], covering: Mapping[int, List[int]],
                 cues: Mapping[int, bool]) -> bool:
        """Negated or settled: a cue outside these spans covers one of them, or the symptom has
        stopped/gone down."""
        groups = self._vocabulary.groups
        for span in spans:
            if not groups[span.group].negatable:
                continue
            for token in range(span.start, span.end):
                for cue in covering.get(token, ()):
                    # "can't breathe", "won't stop": a negation inside the finding's own words is part
                    # of the symptom, not a denial of it
                    if not any(s.start <= cue < s.end for s in spans) and not self._imminent(msg, span):
                        return True
        return any(self._resolved(msg, span, cues)
                   for span in spans if groups[span.group].kind == "symptom")

    def _imminent(self, msg: _Message, span: _Span) -> bool:
        """"I haven't fainted but I feel like I'm about to": a later clause of the sentence takes the
        denied symptom up again with its verb left out (`imminent`), and names no other symptom."""
        groups = self._vocabulary.groups
        for cue in msg.spans("imminent"):
            if (cue.start < span.end or msg.sentence_id[cue.start] != msg.sentence_id[span.start]
                    or msg.clause_id[cue.start] == msg.clause_id[span.start]):
                continue
            if not any(groups[s.group].kind == "symptom" and s.group != span.group
                       and span.end <= s.start < cue.start
                       for spans in msg.starts.values() for s in spans):
                return True
        return False

    def _settled_later(self, msg: _Message, anchor: _Span, cues: Mapping[int, bool]) -> bool:
        """The clause right after the symptom's says it is over ("felt dizzy during the session but
        was fine after", "I bled a bit. It stopped quickly"): a `resolved` cue near the start of the
        next clause, with no other symptom before it, not negated ("but it hasn't stopped") and not
        come back ("but it stopped and then started again")."""
        groups = self._vocabulary.groups
        settings = self._vocabulary.settings
        clause = msg.clause_id[anchor.start]
        for resolved in msg.spans("resolved"):
            if msg.clause_id[resolved.start] != clause + 1 or resolved.start < anchor.end:
                continue
            start = resolved.start
            while start > 0 and msg.clause_id[start - 1] == clause + 1:
                start -= 1
            if resolved.start - start > settings.resolved_window:
                continue
            if any(cue in cues for cue in range(max(start, resolved.start - 3), resolved.end)):
                continue  # "but it hasn't gone down"
            if any(groups[s.group].kind == "symptom" and s.group != anchor.group
                   and anchor.end <= s.start < resolved.start
                   for spans in msg.starts.values() for s in spans):
                continue  # "dizzy earlier but the bleeding has stopped": about something else
            rest = [i for i in range(resolved.end, msg.n) if msg.clause_id[i] == clause + 1]
            if any(msg.lower[i] in self._cue_terms["recurred"] for i in rest) or any(
                    s.start in rest for s in msg.spans("worse")):
                continue  # "... but it stopped and then started again"
            return True
        return False

    def _resolved(self, msg: _Message, span: _Span, cues: Mapping[int, bool]) -> bool:
        window = self._vocabulary.settings.resolved_window
        for resolved in msg.spans("resolved"):
            if msg.clause_id[resolved.start] != msg.clause_id[span.start]:
                continue
            after = span.end <= resolved.start and resolved.start - span.end <= window
            before = resolved.end <= span.start and span.start - resolved.end <= 1 \
                and msg.lower[resolved.start] in self._cue_terms["resolved_before"]
            if not (after or before):
                continue
            # "hasn't gone down": a negation right before the "gone down" undoes it
            if any(cue in cues for cue in range(resolved.start - 3, resolved.start)):
                continue
            return True
        return False

    # ------------------------------------------------------------------ questions and hypotheticals
    def _suppressed(self, msg: _Message, rule: Rule, anchor: _Span) -> bool:
        """The sentence asks about the treatment in general (or "what if") and reports nothing."""
        settings = self._vocabulary.settings
        sentence = msg.sentence_id[anchor.start]

        def in_sentence(name: str) -> List[_Span]:
            return [s for s in msg.spans(name) if msg.sentence_id[s.start] == sentence]

        happening_now = bool(in_sentence("now"))
        if not happening_now:
            clause = msg.clause_id[anchor.start]
            # "how would I know if ...", "I'm prone to ..."; "what if my lips swell" (but not "what do
            # I do if my lips are swelling")
            groups = ("hypothetical",) if self._progressive(msg, anchor) else ("hypothetical", "conditional")
            for hypothetical in (s for name in groups for s in in_sentence(name)):
                if (hypothetical.end <= anchor.start
                        and anchor.start - hypothetical.end <= settings.hypothetical_window
                        and msg.clause_id[hypothetical.start] == clause):
                    return True
            for history in in_sentence("history"):  # "a bad reaction to fillers years ago"
                if msg.clause_id[history.start] == clause and abs(history.gap(anchor)) <= settings.window:
                    return True
        first = self._first_word(msg, anchor)
        # "will my scalp go red?", "can my lips swell?": about the future, so "my" reports nothing
        reports = in_sentence("now") if first in _FUTURE_STARTS else in_sentence("report")
        if self._reported(msg, anchor, reports):
            return False
        question = first in self._vocabulary.breaks.question_starts or (
            not rule.flag_in_questions and self._short_question(msg, anchor))
        possibility = bool(in_sentence("possibility")) or any(
            # "can you faint from it?", "is it possible to pass out?": a general "you"
            generic.end <= anchor.start and anchor.start - generic.end <= 2
            for generic in in_sentence("generic_question"))
        if rule.flag_in_questions:
            return question and possibility
        return question or possibility

    @staticmethod
    def _progressive(msg: _Message, anchor: _Span) -> bool:
        """"my lips are swelling", "it is bleeding": happening now, even after an "if"."""
        for i in range(anchor.start, anchor.end):
            if msg.lower[i].endswith("ing") and any(
                    msg.lemma[j] == "be" or msg.lower[j] in _BE_FORMS for j in range(max(0, i - 2), i)):
                return True
        return False

    def _reported(self, msg: _Message, anchor: _Span, reports: List[_Span]) -> bool:
        if reports:
            return True
        before = anchor.start - 1
        while before >= 0 and msg.lower[before] in self._cue_terms["intensifier"]:
            before -= 1
        if before >= 0 and msg.lower[before] in self._cue_terms["determiner"]:
            # "the bleeding", "this rash": a particular one, so a report; but not in questions such as
            # "how long does the redness last?" or "will the pain get worse?"
            return self._first_word(msg, anchor) not in self._vocabulary.breaks.question_starts
        return False

    def _first_word(self, msg: _Message, anchor: _Span) -> str:
        """The first real word of the anchor's segment, greetings and fillers skipped."""
        fillers = self._vocabulary.breaks.fillers
        segment = msg.segments[msg.segment_id[anchor.start]]
        for k, i in enumerate(segment):
            if msg.hard[i]:
                continue
            low = msg.lower[i]
            if low in fillers or not any(ch.isalpha() for ch in low):
                continue
            if (low in self._vocabulary.breaks.question_starts and k + 1 < len(segment)
                    and msg.lemma[segment[k + 1]] == "not"
                    and not any("?" in msg.lower[j] for j in segment)):
                return "i"  # "can't get it to stop bleeding", "doesn't stop": "I can't ...", no question
            return low
        return ""

    @staticmethod
    def _short_question(msg: _Message, anchor: _Span) -> bool:
        """"pain?", "bruising?", "hurt much?": a few words ending in a question mark."""
        tokens = msg.segments[msg.segment_id[anchor.start]]
        words = [i for i in tokens if any(ch.isalnum() for ch in msg.lower[i])]
        return len(words) <= 3 and "?" in msg.lower[tokens[-1]]

    # ------------------------------------------------------------------ result
    @staticmethod
    def _result(findings: Iterable[Finding]) -> ScreenResult:
        findings = list(findings)
        red = [f for f in findings if f.severity in RED_FLAG_KINDS]
        if red:
            kind = min((f.severity for f in red), key=_SEVERITY_RANK.__getitem__)
            present = {c for f in red for c in f.categories}
            return ScreenResult(kind=kind, categories=tuple(c for c in CATEGORIES if c in present))
        if findings:
            return ScreenResult(kind="after_effect", categories=("after_effect",))
        return NO_FLAG


# ---------------------------------------------------------------------- helpers
def _together(msg: _Message, scope: str, window: int, a: _Span, b: _Span) -> bool:
    """Two spans close enough for an `all` rule: same clause (or sentence) and within the window."""
    if scope == "message":
        return True
    if scope == "sentence":
        return msg.sentence_id[a.start] == msg.sentence_id[b.start] and a.gap(b) <= window * 2
    return msg.clause_id[a.start] == msg.clause_id[b.start] and a.gap(b) <= window


def _filter_spans(spans: Set[_Span], groups: Mapping[str, Group]) -> List[_Span]:
    """Drop spans inside a longer span of a swallowing group ("blood" in "blood test"), and cue
    spans inside a longer symptom term ("stopped" in "hasn't stopped")."""
    ordered = sorted(spans, key=lambda s: (s.start, -(s.end - s.start), s.group))
    swallowers = [s for s in ordered if groups[s.group].swallow]
    ignored = [s for s in ordered if s.group == "ignore"]
    terms = [s for s in ordered if groups[s.group].kind != "cue"]
    kept = []
    for span in ordered:
        if any(big.contains(span) for big in swallowers):
            continue
        if span.group != "ignore" and any(big.start <= span.start and span.end <= big.end for big in ignored):
            continue  # "bloods", "blood test": not bleeding
        if span.group == "resolved" and any(big.contains(span) for big in terms):
            continue
        kept.append(span)
    return kept


def _chunks(text: str) -> Iterable[str]:
    """Very long messages in pieces of at most ~5000 characters, split at line breaks or spaces."""
    while len(text) > _MAX_CHUNK_CHARS:
        cut = max(text.rfind("\n", 0, _MAX_CHUNK_CHARS), text.rfind(" ", 0, _MAX_CHUNK_CHARS))
        cut = cut if cut > 0 else _MAX_CHUNK_CHARS
        yield text[:cut]
        text = text[cut:]
    yield text


def _fuzzy_targets(vocabulary: Vocabulary) -> List[str]:
    """Single words of the groups marked `fuzzy: true`."""
    return sorted({word.lower() for group in vocabulary.groups.values() if group.fuzzy
                   for term in (*group.terms, *group.exact) for word in term.split()})


def _english_words(nlp: Language) -> Callable[[str], bool]:
    """Is this an English word? WordNet's word list (from spacy-lookups-data, a pinned dependency)
    plus every form the pipeline's lookup lemmatizer knows."""
    words: Set[str] = set()
    table = None
    if "lemmatizer" in nlp.pipe_names:
        lookups = cast(Lemmatizer, nlp.get_pipe("lemmatizer")).lookups  # get_pipe is typed as any component
        if lookups.has_table("lemma_lookup"):
            table = lookups.get_table("lemma_lookup")
            words.update(str(v).lower() for v in table.values())
    try:
        from spacy.lookups import load_lookups

        index = load_lookups(lang="en", tables=["lemma_index"]).get_table("lemma_index")
        for entries in index.values():
            words.update(w.lower() for w in entries if "_" not in w)
    except (ImportError, ValueError, KeyError, OSError) as error:  # spacy-lookups-data missing
        logger.warning("red-flag screen: no English word list (%s); typo correction is more eager", error)
    frozen = frozenset(words)
    if table is None:
        return frozen.__contains__
    return lambda word: word in frozen or word in table
