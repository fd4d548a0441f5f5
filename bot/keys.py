"""Keys the application derives from its one secret, one per purpose.

SESSION_SECRET (the staff console's cookie key) is the application's secret; every other key the
application process needs (signing web chat session ids, naming client addresses) is an HMAC of it
with the purpose's name, so one setting, shared by all replicas, is enough and no two purposes share
a key. Without SESSION_SECRET, one random secret is drawn per process: everything still works on
one server, and what those keys signed lapses when it restarts.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from bot.settings import Settings

WEB_SESSION_IDS = "web-session-ids"
CLIENT_ADDRESSES = "client-addresses"


def application_secret(settings: Settings) -> bytes:
    """SESSION_SECRET's bytes, or a fresh random secret when it is not set."""
    configured = settings.session_secret.strip()
    return configured.encode("utf-8") if configured else secrets.token_bytes(32)


def derive_key(secret: bytes, purpose: str) -> bytes:
    """The key for one purpose (HMAC-SHA256 of its name under the application secret)."""
    return hmac.new(secret, purpose.encode("utf-8"), hashlib.sha256).digest()
