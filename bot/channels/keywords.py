"""Carrier consent keywords (STOP / START / HELP) and the HELP reply.

A keyword counts only as the whole message: "Stop", " STOP! " and "cancel." are keywords;
"cancel my appointment" and "please stop" are not. The lists are the standard US carrier / CTIA
set that Twilio's default opt-out handling also recognises.

"start" includes YES, so a plain "yes" is also an answer to a yes/no question: treat "start" as
an opt-in only for a patient who has opted out, and as ordinary text otherwise.
"""
from __future__ import annotations

from typing import Literal, Optional

ConsentKeyword = Literal["stop", "start", "help"]

STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

_TRAILING_PUNCTUATION = ".,!?;:…'\"’”)"


def consent_keyword(text: Optional[str]) -> Optional[ConsentKeyword]:
    """The consent keyword ("stop", "start" or "help") the whole message is, else None."""
    if not text:
        return None
    word = text.strip().rstrip(_TRAILING_PUNCTUATION).strip().upper()
    if word in STOP_KEYWORDS:
        return "stop"
    if word in START_KEYWORDS:
        return "start"
    if word in HELP_KEYWORDS:
        return "help"
    return None


def help_text(clinic_name: str, clinic_phone: str) -> str:
    """The reply to HELP: who is writing, how to reach a person, and how to stop messages."""
    name = clinic_name.strip() or "the clinic"
    lines = [f"This is the automated assistant of {name}."]
    if clinic_phone.strip():
        lines.append(f"To speak to the team, call {clinic_phone.strip()}.")
    else:
        lines.append("To speak to the team, contact the clinic directly.")
    lines.append("Reply STOP to stop messages, START to receive them again.")
    return " ".join(lines)
