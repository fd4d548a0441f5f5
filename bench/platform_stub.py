"""The benchmark's platform credentials, and signed webhooks to our server.

Our server sends SMS/WhatsApp replies to TWILIO_API_BASE / WHATSAPP_API_BASE; during the benchmark
those point at `tests.support.platforms.PlatformStub` (the stub the tests use), which answers like
the platforms and counts what arrived. `twilio_webhook()` and `meta_webhook()` build signed inbound
webhooks the way the platforms do, with the signers of tests/support/signers.py.
"""
from __future__ import annotations

import json
import secrets
import time
from typing import Dict, Tuple

from tests.support.platforms import graph_base
from tests.support.signers import meta_headers, twilio_headers

ACCOUNT_SID = "AC" + "b" * 32
TWILIO_TOKEN = secrets.token_hex(16)  # throw-away credentials, one set per benchmark run
META_APP_SECRET = secrets.token_hex(16)
META_ACCESS_TOKEN = secrets.token_hex(16)
PHONE_NUMBER_ID = "1234567890"
PUBLIC_BASE_URL = "https://bench.clinic.example"
SMS_FROM = "+447700900999"
TWILIO_PATH = "/webhooks/twilio"
META_PATH = "/webhooks/whatsapp"


def platform_env(stub_base: str) -> Dict[str, str]:
    """The settings that make our server accept signed webhooks and send replies to the stub."""
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "TWILIO_API_BASE": stub_base,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL, "TWILIO_SMS_FROM": SMS_FROM,
        "WHATSAPP_APP_SECRET": META_APP_SECRET, "WHATSAPP_API_BASE": graph_base(stub_base),
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_ACCESS_TOKEN": META_ACCESS_TOKEN,
        "WHATSAPP_VERIFY_TOKEN": secrets.token_hex(8),
    }


def twilio_webhook(index: int, sender: str, text: str) -> Tuple[str, Dict[str, str], Dict[str, str]]:
    """(path, form, headers) of a signed inbound SMS from `sender`; `index` makes the MessageSid unique."""
    form = {"MessageSid": f"SM{index:032d}", "AccountSid": ACCOUNT_SID, "From": sender, "To": SMS_FROM,
            "Body": text, "NumMedia": "0"}
    return TWILIO_PATH, form, twilio_headers(TWILIO_TOKEN, PUBLIC_BASE_URL + TWILIO_PATH, form)


def meta_webhook(index: int, sender: str, text: str) -> Tuple[str, bytes, Dict[str, str]]:
    """(path, raw body, headers) of a signed WhatsApp Cloud API message from `sender` (E.164)."""
    wa_id = sender.lstrip("+")
    message = {"from": wa_id, "id": f"wamid.bench{index:08d}", "timestamp": str(int(time.time())),
               "type": "text", "text": {"body": text}}
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_NUMBER_ID},
             "contacts": [{"wa_id": wa_id, "profile": {"name": "Bench"}}], "messages": [message]}
    body = json.dumps({"object": "whatsapp_business_account",
                       "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}).encode()
    return META_PATH, body, meta_headers(META_APP_SECRET, body)
