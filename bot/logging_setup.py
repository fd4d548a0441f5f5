"""Logging for the whole process, configured in one place (`python -m bot` calls it from main()).

- The standard library's root logger at LOG_LEVEL, one handler (stderr by default) with a
  `RedactingFilter`: phone-number-like and date-like text, and the values of the secret settings,
  become "[redacted]" in every record that reaches it, whichever logger it came from (defence in
  depth: the application never logs message text or personal data at INFO or above).
- Rasa's structlog is routed through the standard library: nothing below LOG_LEVEL is even
  rendered, and the `rasa` loggers stay at WARNING unless LOG_LEVEL=DEBUG. (Left alone, structlog
  prints every debug event to stdout, and Rasa's debug events carry the patient's words and slots.)
- Libraries' chatter (Rasa, rasa_sdk, APScheduler, Sanic, TensorFlow, absl, ...) at WARNING, and
  TensorFlow/absl at ERROR; Python warnings go through the same handler (and its redaction).
"""
from __future__ import annotations

import logging
import os
import re
import sys
from typing import Iterable, Optional, Sequence, TextIO

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "[redacted]"
# Loggers of libraries that are chatty at INFO; at WARNING unless LOG_LEVEL=DEBUG.
LIBRARY_LOGGERS = ("rasa", "rasa_sdk", "apscheduler", "sanic", "urllib3", "matplotlib", "h5py", "PIL",
                   "filelock", "kafka", "pika", "botocore", "socketio", "engineio", "asyncio",
                   "alembic.runtime.plugins", "py.warnings")
# Loggers whose warnings are noise too (TensorFlow's start-up chatter); always at ERROR.
NOISY_LOGGERS = ("tensorflow", "absl")
SECRET_MIN_CHARS = 6

_MONTHS = (r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
           r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?")
DATE_PATTERNS = (
    # 12/04/1988, 12-04-88, 12.4.1988 (one separator, used twice)
    re.compile(r"(?<!\d)\d{1,2}([./-])\d{1,2}\1(?:\d{4}|\d{2})(?!\d)"),
    # 12 04 1988
    re.compile(r"(?<!\d)\d{1,2}\s\d{1,2}\s\d{4}(?!\d)"),
    # 1988-04-12, 1988/4/12
    re.compile(r"(?<!\d)\d{4}([./-])\d{1,2}\1\d{1,2}(?!\d)"),
    # 12 April 1988, 12th of Apr, 1988
    re.compile(rf"(?<!\d)\d{{1,2}}(?:st|nd|rd|th)?\s*(?:of\s+)?(?:{_MONTHS})\.?,?\s*"
               rf"(?:\d{{4}}|'?\d{{2}})(?!\d)", re.IGNORECASE),
    # April 12, 1988 / April 12th 1988
    re.compile(rf"\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:\d{{4}}|'?\d{{2}})(?!\d)",
               re.IGNORECASE),
)
# A run of digits with the separators people write in phone numbers; redacted when it holds
# 9 to 15 digits (UK numbers have 10 or 11, E.164 at most 15).
PHONE_CANDIDATE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d\s().\-/]{6,}\d(?!\w)")
PHONE_DIGITS = (9, 15)


def _phone(match: "re.Match[str]") -> str:
    """The match redacted if it has as many digits as a phone number."""
    digits = sum(ch.isdigit() for ch in match.group(0))
    return REDACTED if PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1] else match.group(0)


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """`text` with secrets, date-like and phone-number-like parts replaced by "[redacted]"."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in DATE_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return PHONE_CANDIDATE.sub(_phone, text)


class RedactingFilter(logging.Filter):
    """A handler filter that redacts the message, the traceback and the stack of every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        """Also redact these exact values (secret settings); very short ones are ignored."""
        super().__init__()
        self.secrets = tuple(sorted({s for s in secrets if s and len(s) >= SECRET_MIN_CHARS}, key=len,
                                    reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drop it."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the formatter's problem, not ours
            return True
        cleaned = redact(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


class _ClinicHandler(logging.StreamHandler):
    """The handler `configure_logging` installs (so a second call replaces it, not adds another)."""


def level_number(level: str) -> int:
    """The numeric level for a name like "INFO" (INFO for an unknown name)."""
    value = logging.getLevelName(str(level).strip().upper())
    return value if isinstance(value, int) else logging.INFO


def configure_structlog(level: int) -> None:
    """Rasa's structlog through the standard library: filtered by `level` and by the stdlib logger's level."""
    import structlog

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.processors.UnicodeDecoder(),
            structlog.processors.KeyValueRenderer(key_order=["event"], drop_missing=True),
        ],
        context_class=dict,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Not cached: the configuration applies to loggers Rasa created at import time, and a
        # later call (tests) takes effect at once.
        cache_logger_on_first_use=False,
    )


def configure_logging(level: str = "INFO", *, stream: Optional[TextIO] = None,
                      secrets: Iterable[str] = ()) -> logging.Handler:
    """Configure the process's logging at `level`; the handler it installed (on `stream`, stderr by default).

    Calling it again replaces the handler it installed before; handlers installed by others
    (pytest's log capture, say) are left alone.
    """
    number = level_number(level)
    debug = number <= logging.DEBUG
    # Read by TensorFlow when it loads (and by the child processes we start): errors only.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("LOG_LEVEL_LIBRARIES", "WARNING")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _ClinicHandler):
            root.removeHandler(handler)
            handler.close()
    handler = _ClinicHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter(secrets))
    root.addHandler(handler)
    root.setLevel(number)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else max(number, logging.WARNING))
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.captureWarnings(True)
    configure_structlog(number)
    return handler
