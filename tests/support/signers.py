"""Inbound webhooks signed the way each platform signs them, so our verification sees real signatures.

- Twilio: X-Twilio-Signature, Twilio's own `RequestValidator` over the public URL Twilio called
  (PUBLIC_BASE_URL + path and query) and the posted form.
- Meta (WhatsApp Cloud API): X-Hub-Signature-256, "sha256=" + the HMAC-SHA256 of the raw body with
  the app secret.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Dict, Mapping


def twilio_signature(auth_token: str, url: str, form: Mapping[str, str]) -> str:
    """The X-Twilio-Signature Twilio sends when it posts `form` to `url`."""
    from twilio.request_validator import RequestValidator

    return RequestValidator(auth_token).compute_signature(url, form)


def twilio_headers(auth_token: str, url: str, form: Mapping[str, str]) -> Dict[str, str]:
    """The signature header of a Twilio webhook posting `form` to `url`."""
    return {"X-Twilio-Signature": twilio_signature(auth_token, url, form)}


def meta_signature(app_secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 Meta sends with `body`."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def meta_headers(app_secret: str, body: bytes) -> Dict[str, str]:
    """The headers of a Cloud API webhook posting `body`: its signature and the JSON content type."""
    return {"X-Hub-Signature-256": meta_signature(app_secret, body), "Content-Type": "application/json"}
