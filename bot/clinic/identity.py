"""Channel identity: a phone number the channel verified (Twilio or Meta signature), passed to the
custom actions with an HMAC so that nobody else (a web client, a typed payload) can claim it.

The application signs (sender key, phone) with IDENTITY_SIGNING_KEY; the action server checks the
signature with the same key. The signature binds the phone to one conversation.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any, Mapping, Optional

METADATA_KEY = "channel_identity"


def sign_channel_identity(key: str, sender_key: str, phone_e164: str) -> str:
    """HMAC-SHA256 of "sender_key|phone" with the shared key, hex."""
    message = f"{sender_key}|{phone_e164}".encode("utf-8")
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def channel_identity_metadata(key: str, sender_key: str, phone_e164: str) -> dict:
    """The message metadata the application attaches for a channel-verified sender."""
    return {METADATA_KEY: {"phone": phone_e164, "signature": sign_channel_identity(key, sender_key, phone_e164)}}


def verified_channel_phone(key: Optional[str], sender_key: str, metadata: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The phone number in `metadata` if its signature is valid for this conversation, else None."""
    if not key or not isinstance(metadata, Mapping):
        return None
    identity = metadata.get(METADATA_KEY)
    if not isinstance(identity, Mapping):
        return None
    phone, signature = identity.get("phone"), identity.get("signature")
    if not isinstance(phone, str) or not isinstance(signature, str):
        return None
    expected = sign_channel_identity(key, sender_key, phone)
    return phone if hmac.compare_digest(expected, signature) else None
