"""Prove who a patient is before talking about their bookings.

Web chat: clinic reference plus date of birth (`verify_by_reference`). SMS and WhatsApp: the
sender's phone number, signed by the router (bot.clinic.identity) and looked up by the session-start
action (`bookings.find_patient_by_phone`).

Locking, checked before anything is compared so that a locked reference cannot be verified even
with the right details:
- a conversation with MAX_FAILED_ATTEMPTS mismatches (ever) is locked;
- a typed reference with MAX_FAILED_ATTEMPTS mismatches in the last LOCK_WINDOW, from any
  conversations, is locked until older mismatches leave the window. The lock is per reference as
  typed (normalised), whether or not a patient has it, so an invented reference locks exactly like
  a real one and "locked" says nothing about which references exist. (A lock per patient would add
  nothing: a patient's attempts are exactly those with their reference; and it would lock only real
  references.)
Refused ("locked") tries are recorded but do not count as mismatches, so a reference that keeps
being tried while locked is not locked for longer.

No enumeration: an unknown reference and a wrong date of birth give the same outcome, the same
`attempts_left` (the fewer left of the conversation's and the reference's) and no patient id, after
the same queries (the patient lookup, the date parsing and one count run whatever was typed). What
was typed is never stored or logged: an attempt holds ids, the outcome, the time and the reference's
keyed hash (`reference_hash`, HMAC-SHA256 with `reference_lock_key`), the only way attempts from
different conversations are counted together.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Optional, Tuple

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.clinic import audit
from bot.clinic.bookings import normalise_reference
from bot.clinic.escalations import get_or_create_conversation
from bot.db.models import Patient, VerificationAttempt

logger = logging.getLogger(__name__)

# The custom message the verification action sends when a patient proves who they are, so the
# router can bind the verification to the browser tab that did it (never shown to the patient).
VERIFIED_NOTICE = {"identity": "verified"}
MAX_FAILED_ATTEMPTS = 5
LOCK_WINDOW = timedelta(hours=1)
OLDEST_AGE_YEARS = 130
# The reference lock's hashing key is derived from a configured secret with this label, so it is
# never the secret itself; with no secret configured, from DEFAULT_REFERENCE_SECRET instead.
REFERENCE_KEY_LABEL = b"clinic verification: reference lock v1"
DEFAULT_REFERENCE_SECRET = "no IDENTITY_SIGNING_KEY or SESSION_SECRET configured"
REFERENCE_HASH_CHARS = 32

# (day, month, year as typed: two or four digits)
DateParts = Tuple[int, int, str]
MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3,
    "apr": 4, "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7,
    "aug": 8, "august": 8, "sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10,
    "nov": 11, "november": 11, "dec": 12, "december": 12,
}
_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_NUMERIC_DAY_FIRST = re.compile(r"^(\d{1,2})[-/. ](\d{1,2})[-/. ](\d{2}|\d{4})$")
_DAY_MONTH_NAME = re.compile(r"^(\d{1,2})[ -]?([a-z]+)\.?[ -]?(\d{2}|\d{4})$")
_MONTH_NAME_DAY = re.compile(r"^([a-z]+)\.?[ -]?(\d{1,2})[ -](\d{2}|\d{4})$")
_WORD_EDGE_PUNCTUATION = "!?;:\"'()[]"
_LONGEST_DATE_WORDS = 3  # "9 march 1987", "march 9 1987", "09 03 1987"
# A booking reference typed where the date of birth was asked: the clinic's PREFIX-NUMBER shape
# (bookings.normalise_reference), after an optional lead-in such as "my ref is" or "sorry, it's".
_CANONICAL_REFERENCE = re.compile(r"^([A-Z]{1,6})-(\d{1,12})$")
_REFERENCE_LEAD_IN = re.compile(
    r"^(?:(?:sorry|oops|actually|no|ok|okay|try|it['\u2019]?s|it is|is|my|the|a|new|different|other|booking|"
    r"ref|reference|number|no\.)[\s,:]+)+", re.IGNORECASE)
# Never a reference prefix: a month ("march 9", "jan 1990") or a word that comes with a date ("born 1987").
_NOT_REFERENCE_PREFIXES = frozenset(MONTHS) | {
    "dob", "born", "birth", "birthday", "bday", "year", "yr", "in", "on", "its", "it", "is", "was", "age",
    "aged", "im", "i", "am", "me", "my", "the", "day", "date", "no", "nr", "num", "ref", "about", "around"}


@dataclass(frozen=True)
class VerificationResult:
    """The outcome of one identity check; `patient_id` is set only when verified."""

    outcome: str  # "verified" | "mismatch" | "locked"
    patient_id: Optional[int]
    attempts_left: int


def _clean_date_text(text: str) -> str:
    """Lower-case, drop ordinals ("14th"), "of", commas, punctuation round words ("dob:", "1987.")
    and repeated spaces."""
    cleaned = (text or "").strip().lower().replace(",", " ")
    cleaned = re.sub(r"(\d+)(st|nd|rd|th)\b", r"\1", cleaned)
    cleaned = re.sub(r"\b(of|the)\b", " ", cleaned)
    words = (re.sub(r"(?<=\d)\.$", "", word.strip(_WORD_EDGE_PUNCTUATION)) for word in cleaned.split())
    return " ".join(word for word in words if word)


def _full_year(year_text: str, month: int, day: int, today: date) -> Optional[int]:
    """Four-digit year; a two-digit one is the latest century that puts the date in the past."""
    year = int(year_text)
    if len(year_text) == 4:
        return year
    for candidate in ((today.year // 100) * 100 + year, (today.year // 100 - 1) * 100 + year):
        try:
            if date(candidate, month, day) <= today:
                return candidate
        except ValueError:
            continue
    return None


def _split_date(text: str) -> Optional[DateParts]:
    """(day, month, year text) from one of the accepted shapes, or None."""
    match = _ISO.match(text)
    if match:
        return int(match.group(3)), int(match.group(2)), match.group(1)
    match = _NUMERIC_DAY_FIRST.match(text)
    if match:
        return int(match.group(1)), int(match.group(2)), match.group(3)
    match = _DAY_MONTH_NAME.match(text)
    if match and match.group(2) in MONTHS:
        return int(match.group(1)), MONTHS[match.group(2)], match.group(3)
    match = _MONTH_NAME_DAY.match(text)
    if match and match.group(1) in MONTHS:
        return int(match.group(2)), MONTHS[match.group(1)], match.group(3)
    return None


def parse_date_of_birth(text: str, today: date) -> Optional[date]:
    """A date of birth from what a patient typed, or None if it is not a real past date.

    Accepts 14/03/1985, 14-03-1985, 14.03.1985, 14 03 1985 (always day first), 1985-03-14,
    14 March 1985, 14th of March 1985, 14 Mar 85, March 14 1985, March 14th, 1985, Mar. 14, 1985,
    also with other words round the date ("my dob is 14 March 1985", "born 14.03.1985"). A
    two-digit year is put in the century that makes the date past. Future dates, impossible
    dates, dates more than 130 years ago and texts naming two different dates give None.
    """
    words = _clean_date_text(text).split()
    found = set()
    for size in range(min(_LONGEST_DATE_WORDS, len(words)), 0, -1):
        for start in range(len(words) - size + 1):
            born = _date_from_parts(_split_date(" ".join(words[start:start + size])), today)
            if born is not None:
                found.add(born)
    # One date, whatever words are round it ("my dob is 9 March 1987", "born 09.03.1987"); two
    # different ones ("9/3/87 or 10/3/87") are not read as either.
    return found.pop() if len(found) == 1 else None


def _date_from_parts(parts: Optional[DateParts], today: date) -> Optional[date]:
    """The real past date that (day, month, year text) names, or None."""
    if parts is None:
        return None
    day, month, year_text = parts
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    year = _full_year(year_text, month, day, today)
    if year is None:
        return None
    try:
        born = date(year, month, day)
    except ValueError:
        return None
    if born > today or born.year < today.year - OLDEST_AGE_YEARS:
        return None
    return born


def reference_in(text: str) -> Optional[str]:
    """The booking reference in `text` ("MC-7315", "mc 7315", "my ref is MC7315"), normalised, or
    None when the text is not shaped like one. Says nothing about whether the reference exists."""
    compact = _REFERENCE_LEAD_IN.sub("", (text or "").strip().rstrip(".!?"))
    if not compact or len(compact) > 40:
        return None
    match = _CANONICAL_REFERENCE.match(normalise_reference(compact))
    if match is None or match.group(1).lower() in _NOT_REFERENCE_PREFIXES:
        return None
    return match.group(0)


def reference_lock_key(identity_signing_key: str, session_secret: str) -> bytes:
    """The key of the reference hashes: HMAC-SHA256 of REFERENCE_KEY_LABEL under IDENTITY_SIGNING_KEY,
    else SESSION_SECRET, else DEFAULT_REFERENCE_SECRET.

    Stable for every process given the same configuration, so action servers that share a database
    count the same reference's attempts together. With neither secret set, anyone who reads the
    database can test guesses of the hashed references.
    """
    secret = identity_signing_key or session_secret or DEFAULT_REFERENCE_SECRET
    return hmac.new(secret.encode("utf-8"), REFERENCE_KEY_LABEL, hashlib.sha256).digest()


def reference_hash(key: bytes, reference_text: str) -> str:
    """The keyed hash (32 hex characters) of a typed reference, normalised first ("mc 4827" is
    "MC-4827")."""
    reference = normalise_reference(reference_text).encode("utf-8")
    return hmac.new(key, reference, hashlib.sha256).hexdigest()[:REFERENCE_HASH_CHARS]


def _mismatches_so_far(session: Session, conversation_id: int, hashed_reference: str, now: datetime) -> Tuple[int, int]:
    """(mismatches in this conversation ever, mismatches of this reference in the last LOCK_WINDOW),
    in one query."""
    in_conversation = VerificationAttempt.conversation_id == conversation_id
    of_reference = and_(VerificationAttempt.reference_hash == hashed_reference,
                        VerificationAttempt.attempted_at > now - LOCK_WINDOW)
    query = select(
        func.count(VerificationAttempt.id).filter(in_conversation),
        func.count(VerificationAttempt.id).filter(of_reference),
    ).where(VerificationAttempt.outcome == "mismatch", or_(in_conversation, of_reference))
    conversation_count, reference_count = session.execute(query).one()
    return conversation_count, reference_count


def _is_locked(mismatches: Tuple[int, int]) -> bool:
    """True when the conversation, or the reference within LOCK_WINDOW, has used up its attempts."""
    return max(mismatches) >= MAX_FAILED_ATTEMPTS


def _date_of_birth_on_record(session: Session, reference: str) -> Tuple[Optional[int], Optional[date]]:
    """(patient id, date of birth) of the patient with this normalised reference, or (None, None);
    one indexed lookup whatever the reference is (an empty one too)."""
    row = session.execute(
        select(Patient.id, Patient.date_of_birth).where(Patient.clinic_ref == reference)
    ).one_or_none()
    return (row.id, row.date_of_birth) if row is not None else (None, None)


def verify_by_reference(
    session: Session, sender_key: str, reference_text: str, dob_text: str, now: datetime, reference_key: bytes
) -> VerificationResult:
    """Check a clinic reference and date of birth; record the attempt and an audit row.

    `sender_key` is Rasa's "<channel>:<id>" of the conversation the patient writes in (its row is
    created if this is the first thing stored about it); `reference_key` is `reference_lock_key(...)`
    of the configuration. The same work is done whether the reference exists, is locked or neither.
    """
    conversation_id = get_or_create_conversation(session, sender_key, now).id
    reference = normalise_reference(reference_text)
    hashed_reference = reference_hash(reference_key, reference)
    patient_id, on_record = _date_of_birth_on_record(session, reference)
    born = parse_date_of_birth(dob_text, now.date())
    matches = born is not None and on_record is not None and born == on_record
    mismatches = _mismatches_so_far(session, conversation_id, hashed_reference, now)
    if _is_locked(mismatches):
        outcome = "locked"
    else:
        outcome = "verified" if matches else "mismatch"

    session.add(
        VerificationAttempt(
            conversation_id=conversation_id,
            patient_id=patient_id,
            reference_hash=hashed_reference,
            succeeded=outcome == "verified",
            outcome=outcome,
            attempted_at=now,
        )
    )
    session.flush()
    used = max(mismatches) + (1 if outcome == "mismatch" else 0)
    attempts_left = 0 if outcome == "locked" else max(MAX_FAILED_ATTEMPTS - used, 0)
    action = {"verified": "verification_succeeded", "mismatch": "verification_failed"}.get(
        outcome, "verification_locked"
    )
    audit.record(
        session,
        actor_type="patient",
        actor_id=patient_id if outcome == "verified" else None,
        action=action,
        subject_type="patient" if patient_id is not None else None,
        subject_id=patient_id,
        detail={"attempts_left": attempts_left},
        now=now,
    )
    logger.info("identity check by reference: %s (%d attempts left)", outcome, attempts_left)
    return VerificationResult(
        outcome=outcome,
        patient_id=patient_id if outcome == "verified" else None,
        attempts_left=attempts_left,
    )
