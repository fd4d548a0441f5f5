"""Aftercare and preparation answers timed to the patient's own sessions.

Pure functions over `SessionView`s and the clinic profile; no database. Wording rules:
- the session itself is described day first ("yesterday at 10:00", see `timefmt.describe_when`);
- the edge of a window is described time first ("until 10:00 tomorrow", "from 14:00 on
  Wednesday", see `timefmt.describe_moment`); a window edge already passed is "from now";
- at the boundary itself (exactly 48 hours later) the window is over;
- hours are real elapsed hours, so across the March clock change "48 hours after Saturday 10:00"
  is Monday 11:00, and a preparation window is never shorter than the profile says;
- aftercare answers always end with a separate line deferring to the clinician;
- prescribed anticoagulants/antiplatelets (and "blood thinners", which patients use for them)
  are never to be stopped on the bot's say-so; medicines in the "avoid" list come with "if a
  doctor prescribed it, ask your doctor before stopping";
- substances the assistant does not know get "I can't advise on ..." and a pointer to the clinician.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Dict, Iterable, Mapping, Optional

from bot.clinic.bookings import SessionView
from bot.clinic.timefmt import describe_moment, describe_when
from bot.settings import ClinicProfile

CLINICIAN_LINE = "If your clinician gave you different advice, follow theirs."
MAX_SUBSTANCE_CHARS = 60

AFTERCARE_TOPICS = ("washing", "exercise", "sun", "styling")

# What to wait for, inside the window: "... please wait until X before {activity}."
_WAIT_BEFORE = {
    "washing": "washing your hair",
    "exercise": "strenuous exercise (gym, running, swimming)",
    "sun": "spending time in direct sun",
    "styling": "colouring your hair, using harsh chemicals or heat styling",
}
# What is fine again, after the window: "..., so you can {what}."
_FINE_AGAIN = {
    "washing": "wash your hair again — gently, with a mild shampoo",
    "exercise": "go back to strenuous exercise (gym, running, swimming)",
    "sun": "spend time in direct sun again — a hat still helps protect your scalp",
    "styling": "colour your hair, use chemical treatments or heat styling again",
}

BLOOD_THINNING_DEFAULT = (
    "alcohol, aspirin, ibuprofen and other blood-thinning or anti-inflammatory medicines"
)
# Prescribed anticoagulants and antiplatelets (generic and common UK brand names): never stop.
PRESCRIBED_ANTICOAGULANTS = frozenset({
    "warfarin", "coumadin", "apixaban", "eliquis", "rivaroxaban", "xarelto", "dabigatran",
    "pradaxa", "edoxaban", "lixiana", "clopidogrel", "plavix", "heparin", "enoxaparin",
    "clexane", "dalteparin", "fragmin", "ticagrelor", "brilique", "prasugrel", "efient",
    # Said by a patient, "my blood thinners" nearly always means a prescription.
    "blood thinners", "blood thinner", "blood-thinners", "anticoagulants", "anticoagulant",
})
# Things the usual preparation advice covers.
KNOWN_BLOOD_THINNING = frozenset({
    "alcohol", "drinking", "aspirin", "ibuprofen", "nurofen", "advil", "naproxen", "diclofenac",
    "voltarol", "anti-inflammatories", "anti-inflammatory", "anti inflammatories",
    "anti inflammatory", "anti-inflammatory medicines", "nsaid", "nsaids",
})
NOT_MEDICINES = frozenset({"alcohol", "drinking"})


def _window_hours(mapping: Mapping[str, int], key: str) -> int:
    """Hours for `key` from the profile, with a clear error when the profile lacks it."""
    try:
        return int(mapping[key])
    except KeyError as error:
        raise ValueError(f"the clinic profile has no hours for {key!r}") from error


# The general answers in domain.yml state these hours as slots ("{wash_hours} hours"), which the
# session-start action sets from the profile: one source for general and personal answers alike.
GENERAL_ANSWER_HOURS = {
    "wash_hours": ("aftercare_hours", "washing"),
    "exercise_hours": ("aftercare_hours", "exercise"),
    "sun_hours": ("aftercare_hours", "sun"),
    "styling_hours": ("aftercare_hours", "styling"),
    "blood_thinning_hours": ("preparation_hours", "blood_thinning"),
}


def general_answer_hours(profile: ClinicProfile) -> Dict[str, str]:
    """Slot name -> the profile's hours as text ("48"), for the general answers' placeholders."""
    return {
        slot: str(_window_hours(getattr(profile, table), key))
        for slot, (table, key) in GENERAL_ANSWER_HOURS.items()
    }


def aftercare_answer(topic: str, last_session: SessionView, now: datetime, profile: ClinicProfile) -> str:
    """When the patient may wash, exercise, go in the sun or style their hair after their session."""
    if topic not in _WAIT_BEFORE:
        raise ValueError(f"topic must be one of {AFTERCARE_TOPICS}, not {topic!r}")
    hours = _window_hours(profile.aftercare_hours, topic)
    tz = profile.timezone
    started = last_session.starts_at.astimezone(timezone.utc)  # real hours, even across DST
    until = started + timedelta(hours=hours)
    if now < until:
        first = (
            f"Your session was {describe_when(started, now, tz)}, so please wait until "
            f"{describe_moment(until, now, tz)} before {_WAIT_BEFORE[topic]}."
        )
    else:
        first = (
            f"Your last session was {describe_when(started, now, tz)}, more than {hours} hours ago, "
            f"so you can {_FINE_AGAIN[topic]}."
        )
    return f"{first}\n{CLINICIAN_LINE}"


def _mentioned(text: str, vocabulary: Iterable[str]) -> Optional[str]:
    """The longest of `vocabulary`'s terms that `text` is or contains as whole words, else None."""
    padded = " " + re.sub(r"[^a-z0-9-]+", " ", text.lower()) + " "
    found = [term for term in vocabulary if f" {term} " in padded]
    return max(found, key=len) if found else None


def _normalised_substance(substance: Optional[str]) -> Optional[str]:
    """The substance as typed, trimmed and shortened; None for nothing."""
    if substance is None:
        return None
    text = " ".join(substance.split())[:MAX_SUBSTANCE_CHARS].strip()
    return text or None


def classify_substance(substance: Optional[str]) -> Optional[str]:
    """What a patient named: "prescribed" (never advise stopping), "avoid", "unknown"; None if nothing."""
    text = _normalised_substance(substance)
    if text is None:
        return None
    if _mentioned(text, PRESCRIBED_ANTICOAGULANTS):
        return "prescribed"
    return "avoid" if _mentioned(text, KNOWN_BLOOD_THINNING) else "unknown"


def preparation_answer(
    substance: Optional[str], next_session: SessionView, now: datetime, profile: ClinicProfile
) -> str:
    """What to avoid before the next session, and from when; never tells anyone to stop a prescription."""
    tz = profile.timezone
    when = describe_when(next_session.starts_at, now, tz)
    name = _normalised_substance(substance)
    key = name.lower() if name else None
    kind = classify_substance(name)

    if kind == "prescribed":
        assert key is not None  # only a named substance is classified
        prescribed = _mentioned(key, PRESCRIBED_ANTICOAGULANTS)
        shown = name if key == prescribed else prescribed  # "my apixaban tablets" -> "apixaban"
        return (
            f"Please do not stop {shown} on your own. Tell your doctor and the clinic before your "
            f"session, which is {when}; they will decide together what is safe."
        )
    if kind == "unknown":
        return f"I can't advise on {name}. Please ask your clinician before your session, which is {when}."

    hours = _window_hours(profile.preparation_hours, "blood_thinning")
    start = next_session.starts_at.astimezone(timezone.utc) - timedelta(hours=hours)
    what = BLOOD_THINNING_DEFAULT if name is None else name
    if now >= start:
        period = "from now until your session"
    else:
        period = f"from {describe_moment(start, now, tz)}"
    text = f"Your session is {when}, so please avoid {what} {period}."
    if key is None:
        text += " If a doctor prescribed any of these for you, ask your doctor before stopping."
    elif not _mentioned(key, NOT_MEDICINES):
        text += " If a doctor prescribed it for you, ask your doctor before stopping."
    return f"{text}\n{CLINICIAN_LINE}"


def aftercare_window_end(topic: str, session_start: datetime, profile: ClinicProfile) -> datetime:
    """When `topic` (washing, exercise, sun, styling) is fine again after a session started then (UTC;
    real elapsed hours, as `aftercare_answer` counts them)."""
    if topic not in _WAIT_BEFORE:
        raise ValueError(f"topic must be one of {AFTERCARE_TOPICS}, not {topic!r}")
    hours = _window_hours(profile.aftercare_hours, topic)
    return session_start.astimezone(timezone.utc) + timedelta(hours=hours)


def preparation_window_start(session_start: datetime, profile: ClinicProfile) -> datetime:
    """When the patient should start avoiding blood-thinning things before a session (UTC; real
    elapsed hours, as `preparation_answer` counts them)."""
    hours = _window_hours(profile.preparation_hours, "blood_thinning")
    return session_start.astimezone(timezone.utc) - timedelta(hours=hours)
