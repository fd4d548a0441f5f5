"""Secrets come only from the environment: none in the repository's files, none in Settings' repr."""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path
from typing import List, Set, Tuple

import pytest

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
MAX_BYTES = 2_000_000
SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|api_?key|signing_key|private_key|credential)")
# Something that looks like a secret value, by its shape or by what it is assigned to.
SECRET_PATTERNS = {
    "Twilio account/API key SID": re.compile(r"\b(?:AC|SK)[0-9a-f]{32}\b"),
    "Twilio auth token": re.compile(r"(?i)auth_?token\W{0,4}\s*[:=]\s*[\"']?[0-9a-f]{32}\b"),
    "Stripe-style secret key": re.compile(r"\bsk_(?:live|test)_[0-9A-Za-z]{8,}"),
    "sk- API key": re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),
    "PEM private key or certificate": re.compile(r"-----BEGIN [A-Z0-9 ]+-----"),
    "Meta access token": re.compile(r"\bEAA[A-Za-z0-9]{20,}"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    # password = "...", "token": "...", SECRET_KEY='...' (a literal of 8+ characters without spaces)
    "assignment of a secret literal": re.compile(
        r"(?i)\b\w*(?:password|passwd|secret|token|api_?key|signing_key)\w*[\"']?\s*[:=]\s*[\"']([^\"'\s$%{}<>]{8,})[\"']"),
}
# In configuration files only (.env, YAML, INI, shell): TWILIO_AUTH_TOKEN=abc..., password: abc...
# (a ${VAR} reference is how a secret should appear there).
CONFIG_PATTERNS = {
    "unquoted secret setting": re.compile(
        r"(?im)^\s*(?:export\s+)?[\w.-]*(?:password|passwd|secret|token|api_?key|signing_key)[\w.-]*\s*[:=]"
        r"[ \t]*([A-Za-z0-9_+/=.-]{8,})\s*(?:#.*)?$"),
}
CONFIG_SUFFIXES = (".env", ".example", ".yml", ".yaml", ".ini", ".cfg", ".toml", ".conf", ".sh", ".properties")
# Test fixtures may use values that say they are fake ("...-for-tests", "test-...", "not-a-hash").
FAKE_MARKERS = ("test", "fake", "dummy", "example", "not-a-")
# Other fixtures that look like secrets on purpose: (path, the value). Keep it short.
ALLOWED: List[Tuple[str, str]] = [
    ("tests/bot/console/test_console_auth.py", "SECRET-PATIENT-TEXT-7731"),  # patient text, not a secret
    ("tests/bot/console/test_console_auth.py", "too-short"),
    ("tests/bot/web/conftest.py", "verify-me"),
    ("tests/bot/web/test_webhooks.py", "graph-token"),
    ("tests/bot/web/test_webhooks.py", "verify-me"),
]


def tracked_files() -> List[str]:
    """The repository's files: tracked, and new ones not ignored (what the next commit may hold)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, check=True, capture_output=True).stdout
    return [name for name in listing.decode("utf-8").split("\0") if name]


def scan(path: str, text: str) -> Tuple[List[Tuple[str, str, str]], Set[Tuple[str, str]]]:
    """What in `text` looks like a secret: (path, kind, matched text) not allowed, and the ALLOWED entries used."""
    found, used = [], set()
    patterns = dict(SECRET_PATTERNS)
    name = Path(path).name
    if name.endswith(CONFIG_SUFFIXES) or name.startswith(".env") or name in ("Makefile", "run"):
        patterns.update(CONFIG_PATTERNS)
    for kind, pattern in patterns.items():
        for match in pattern.finditer(text):
            matched = match.group(0).strip()
            allowed = {(path, value) for allowed_path, value in ALLOWED if allowed_path == path and value in matched}
            if allowed:
                used |= allowed
            elif not (path.startswith("tests/") and any(marker in matched.lower() for marker in FAKE_MARKERS)):
                found.append((path, kind, matched))
    return found, used


def findings(path: str, text: str) -> List[Tuple[str, str, str]]:
    """What in `text` looks like a secret and is not allowed."""
    return scan(path, text)[0]


def test_the_scanner_finds_what_it_should():
    samples = {
        "AC" + "0123456789abcdef" * 2: "Twilio account/API key SID",
        "TWILIO_AUTH_TOKEN=" + "a" * 32: "Twilio auth token",
        "key = 'sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc'": "Stripe-style secret key",
        "-----BEGIN " + "RSA PRIVATE KEY-----": "PEM private key or certificate",
        "token = 'EAA" + "GmZCpsBAKZAkZA8ZBZCxyz12345'": "Meta access token",
        'password = "' + 'hunter2hunter2"': "assignment of a secret literal",
    }
    for sample, kind in samples.items():
        assert kind in {k for _, k, _ in findings("sample.py", sample)}, sample
    for sample in ("WHATSAPP_APP_SECRET=" + "f00dfeedbeef", "  password: " + "hunter2hunter2"):
        assert [k for _, k, _ in findings(".env.production", sample)] == ["unquoted secret setting"], sample
    assert findings(".env.example", "TWILIO_AUTH_TOKEN=\nREDIS_PASSWORD=${REDIS_PASSWORD}") == []
    for harmless in ('password = os.environ["DB_PASSWORD"]', "password: ${REDIS_PASSWORD}", "TWILIO_AUTH_TOKEN=",
                     'session_secret: str = field(default="", repr=False)', 'PASSWORD = "correct horse battery"',
                     "token = csrf_token(session)"):
        assert findings("sample.py", harmless) == [], harmless


def test_no_secrets_in_the_repository():
    problems, used = [], set()
    for path in tracked_files():
        file = ROOT / path
        if not file.is_file() or file.stat().st_size > MAX_BYTES:
            continue
        data = file.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        found, allowed = scan(path, data.decode("utf-8", errors="replace"))
        problems += found
        used |= allowed
    assert problems == [], "\n".join(f"{path}: {kind}: {matched[:60]}" for path, kind, matched in problems)
    # The allowlist stays honest: an entry no longer needed is removed.
    assert set(ALLOWED) <= used, set(ALLOWED) - used
    assert findings("bot/channels/twilio.py", 'AUTH_TOKEN = "fake-looking-but-not-in-tests"')  # tests/ only


def secret_fields_of(config) -> list:
    """The names of a settings dataclass's fields that look secret."""
    return [f.name for f in dataclasses.fields(config) if SECRET_NAME.search(f.name)]


def with_secret_values(config, prefix: str):
    """`config` with every secret-looking field set to a recognisable value; (config, values)."""
    values = {name: f"value-of-{prefix}{name.replace('_', '-')}-0123456789" for name in secret_fields_of(config)}
    return dataclasses.replace(config, **values), values


def test_settings_repr_hides_every_secret_field():
    base = Settings.from_env({"DATABASE_URL": "postgresql://clinic:database-pass-word@db.internal:5432/clinic",
                              "REDIS_URL": "redis://:redis-pass-word@cache.internal:6379/0"})
    assert {"identity_signing_key", "session_secret"} <= set(secret_fields_of(base))
    assert {"auth_token"} <= set(secret_fields_of(base.twilio))
    assert {"verify_token", "app_secret", "access_token"} <= set(secret_fields_of(base.whatsapp))
    twilio, twilio_values = with_secret_values(base.twilio, "twilio-")
    whatsapp, whatsapp_values = with_secret_values(base.whatsapp, "whatsapp-")
    settings, values = with_secret_values(dataclasses.replace(base, twilio=twilio, whatsapp=whatsapp), "")
    values = {**values, **{f"twilio.{k}": v for k, v in twilio_values.items()},
              **{f"whatsapp.{k}": v for k, v in whatsapp_values.items()}}
    shown = repr(settings)
    for name, value in values.items():
        assert value not in shown, name
        assert f"{name.split('.')[-1]}=" not in shown, name
    assert "database-pass-word" not in shown and "redis-pass-word" not in shown
    assert "postgresql://clinic:***@db.internal:5432/clinic" in shown  # the rest stays readable
    assert "account_sid=" in shown and "retention_days=365" in shown
    assert str(settings) == shown
    # The same values are what the log redaction is given.
    assert set(values.values()) | {"database-pass-word", "redis-pass-word"} <= set(settings.secret_values())
