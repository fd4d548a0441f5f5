"""Stand-ins for Twilio's Messages API and Meta's Graph API, and signed webhooks to our server.

Our server sends SMS/WhatsApp replies to TWILIO_API_BASE / WHATSAPP_API_BASE; during the benchmark
those point at `PlatformStub`, which answers like the platforms (201 with a message sid, 200 with a
wamid) and counts what arrived. `twilio_webhook()` and `meta_webhook()` build signed inbound
webhooks the way the platforms do (Twilio's RequestValidator over PUBLIC_BASE_URL + path; Meta's
X-Hub-Signature-256 HMAC of the raw body).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from aiohttp import web

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
        "WHATSAPP_APP_SECRET": META_APP_SECRET, "WHATSAPP_API_BASE": f"{stub_base}/v19.0",
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_ACCESS_TOKEN": META_ACCESS_TOKEN,
        "WHATSAPP_VERIFY_TOKEN": secrets.token_hex(8),
    }


def twilio_webhook(index: int, sender: str, text: str) -> Tuple[str, Dict[str, str], Dict[str, str]]:
    """(path, form, headers) of a signed inbound SMS from `sender`; `index` makes the MessageSid unique."""
    from twilio.request_validator import RequestValidator

    form = {"MessageSid": f"SM{index:032d}", "AccountSid": ACCOUNT_SID, "From": sender, "To": SMS_FROM,
            "Body": text, "NumMedia": "0"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE_URL + TWILIO_PATH, form)
    return TWILIO_PATH, form, {"X-Twilio-Signature": signature}


def meta_webhook(index: int, sender: str, text: str) -> Tuple[str, bytes, Dict[str, str]]:
    """(path, raw body, headers) of a signed WhatsApp Cloud API message from `sender` (E.164)."""
    wa_id = sender.lstrip("+")
    message = {"from": wa_id, "id": f"wamid.bench{index:08d}", "timestamp": str(int(time.time())),
               "type": "text", "text": {"body": text}}
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_NUMBER_ID},
             "contacts": [{"wa_id": wa_id, "profile": {"name": "Bench"}}], "messages": [message]}
    body = json.dumps({"object": "whatsapp_business_account",
                       "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}).encode()
    digest = hmac.new(META_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return META_PATH, body, {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


@dataclass
class Deliveries:
    """How many replies reached each stub API, and when the last one did."""

    twilio: int = 0
    graph: int = 0
    last_at: float = 0.0

    @property
    def total(self) -> int:
        """Replies through either API."""
        return self.twilio + self.graph


class PlatformStub:
    """An aiohttp server on 127.0.0.1 answering like Twilio's and Meta's send APIs."""

    def __init__(self) -> None:
        """Nothing runs until `start()`."""
        self.deliveries = Deliveries()
        self.runner: Optional[web.AppRunner] = None
        self.base = ""

    def app(self) -> web.Application:
        """The two send endpoints."""
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._twilio_message)
        app.router.add_post("/v19.0/{number_id}/messages", self._graph_message)
        return app

    async def start(self, port: int = 0) -> "PlatformStub":
        """Listen on 127.0.0.1 (`port` 0: any free port); `base` is its URL."""
        self.runner = web.AppRunner(self.app(), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        bound = self.runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{bound}"
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def _twilio_message(self, request: web.Request) -> web.Response:
        """Twilio's Messages resource: 201 with a message sid."""
        await request.post()
        self.deliveries.twilio += 1
        self.deliveries.last_at = time.perf_counter()
        return web.json_response({"sid": f"SM{self.deliveries.twilio:032d}", "status": "queued"}, status=201)

    async def _graph_message(self, request: web.Request) -> web.Response:
        """The Graph API's messages endpoint: 200 with a wamid."""
        await request.read()
        self.deliveries.graph += 1
        self.deliveries.last_at = time.perf_counter()
        return web.json_response({"messaging_product": "whatsapp",
                                  "messages": [{"id": f"wamid.out{self.deliveries.graph}"}]})
