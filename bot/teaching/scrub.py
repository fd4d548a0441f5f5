"""Personal details taken out of a patient's words before they become training data.

Emails, dates (of birth, or any with a year), booking references (the clinic's PREFIX-NUMBER shape,
such as MC-4827) and phone numbers become "[email]", "[date]", "[reference]" and "[phone]". The date
and phone shapes are the log redaction's (bot.logging_setup), so both agree on what is personal.
"""
from __future__ import annotations

import re

from bot.logging_setup import DATE_PATTERNS, PHONE_CANDIDATE, PHONE_DIGITS

EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# MC-4827, mc4827, AB/123456: letters, an optional separator, then at least three digits.
BOOKING_REFERENCE = re.compile(r"(?<![\w@])[A-Za-z]{1,6}[-_./]?\d{3,12}(?![\w])")


def _phone(match: "re.Match[str]") -> str:
    """"[phone]" when the match holds as many digits as a phone number; else the match itself."""
    digits = sum(ch.isdigit() for ch in match.group(0))
    return "[phone]" if PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1] else match.group(0)


def scrub(text: str) -> str:
    """`text` with emails, dates, booking references and phone numbers replaced by placeholders."""
    text = EMAIL.sub("[email]", text)
    for pattern in DATE_PATTERNS:
        text = pattern.sub("[date]", text)
    text = BOOKING_REFERENCE.sub("[reference]", text)
    return PHONE_CANDIDATE.sub(_phone, text)
