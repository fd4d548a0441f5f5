"""What the scale-out tests talk to the replicas with: a web chat client (python-socketio, polling),
a staff console browser (cookies and CSRF), signed Twilio / Meta webhooks, and database reads.
"""
from __future__ import annotations

import asyncio
import functools
import html
import json
import re
import uuid
from typing import Any, Dict, List, Optional, Tuple, Union

import aiohttp
import socketio
import yaml
from sqlalchemy import select, text

from bot.clinic.aftercare import general_answer_hours
from bot.db.models import Conversation, Escalation, InboundReceipt, Message
from bot.settings import ClinicProfile
from tests.support import signers
from tests.support.processes import ROOT

REPLY_SECONDS = 30
PUBLIC_BASE_URL = "https://bot.clinic.example"
TWILIO_AUTH_TOKEN = "twilio-auth-token-for-scale-tests"
TWILIO_ACCOUNT_SID = "AC" + "5" * 32
WHATSAPP_APP_SECRET = "meta-app-secret-for-scale-tests"
TRANSCRIPT_ITEM = re.compile(
    r'<li class="msg msg-\w+" data-author="(\w+)" data-message-id="(\d+)">'
    r'.*?<div class="msg-text">(.*?)</div>', re.S)
# Canonical questions (knowledge/topics.yml) and the FAQ topic whose answer the patient must see.
QUESTIONS = [
    ("session_length", "How long does one session take?"),
    ("history", "Who invented mesotherapy?"),
    ("pain", "Does mesotherapy hurt?"),
    ("downtime", "Is there any downtime after mesotherapy?"),
    ("results_timeline", "When will I see results from mesotherapy?"),
    ("prp", "What is the difference between PRP and mesotherapy?"),
]
# How long a tab listens for a duplicate after the replies it expected.
QUIET_SECONDS = 0.7
CSRF = re.compile(r'name="csrf[-_]token" (?:content|value)="([^"]+)"')


# ---- web chat --------------------------------------------------------------------------------

class ChatClient:
    """One browser tab of the web widget: a socket.io client recording every event it receives.

    Polling transport only: python-engineio's websocket client needs aiohttp 3.10 (we pin 3.9).
    """

    def __init__(self, label: str = "tab") -> None:
        self.label = label
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: "asyncio.Queue[Tuple[str, Any]]" = asyncio.Queue()
        for name in ("session_confirm", "clinic_message", "handoff"):
            self.sio.on(name, self._recorder(name))
        self.session_id: Optional[str] = None

    def _recorder(self, name: str):
        """A handler that queues (name, data)."""
        async def record(data=None):
            await self.events.put((name, data))
        return record

    async def connect(self, base_url: str, session_id: Optional[str] = None) -> str:
        """Connect, send session_request and return the confirmed session id."""
        await self.sio.connect(base_url, socketio_path="socket.io", transports=["polling"],
                               wait_timeout=REPLY_SECONDS)
        await self.sio.emit("session_request", {"session_id": session_id, "client": "clinic-widget"})
        name, data = await self.next_event()
        assert name == "session_confirm", f"{self.label}: expected session_confirm, got {name} {data}"
        self.session_id = data
        return data

    async def say(self, message: str) -> None:
        """What the patient types."""
        await self.sio.emit("user_uttered", {"message": message, "session_id": self.session_id})

    async def next_event(self, seconds: float = REPLY_SECONDS) -> Tuple[str, Any]:
        """The next event, waiting up to `seconds`."""
        try:
            return await asyncio.wait_for(self.events.get(), seconds)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.label}: no event within {seconds} s") from None

    async def replies(self, count: int, seconds: float = REPLY_SECONDS) -> List[dict]:
        """The next `count` clinic_message payloads (other events are skipped)."""
        found: List[dict] = []
        while len(found) < count:
            name, data = await self.next_event(seconds)
            if name == "clinic_message":
                found.append(data)
        return found

    async def quiet_for(self, seconds: float) -> List[Tuple[str, Any]]:
        """Every event that arrives within `seconds` (a check that nothing more came)."""
        extra = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                extra.append(await asyncio.wait_for(self.events.get(), left))
            except asyncio.TimeoutError:
                break
        return extra

    async def close(self) -> None:
        """Leave at once (do not wait for the pending long-poll); fine on a dead server too."""
        self.sio.eio.reconnection = False
        try:
            await asyncio.wait_for(self.sio.eio.disconnect(abort=True), 5)
        except Exception:  # the server may be gone (a killed replica)
            pass
        tasks = [t for t in (self.sio.eio.read_loop_task, self.sio.eio.write_loop_task) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.sio.eio.http is not None and not self.sio.eio.http.closed:
            await self.sio.eio.http.close()


class Tabs:
    """Opens chat tabs for a test and closes every one of them afterwards."""

    def __init__(self) -> None:
        self.open: List[ChatClient] = []

    async def connect(self, base_url: str, session_id: Optional[str] = None,
                      label: str = "tab") -> ChatClient:
        """A new tab connected to `base_url` with a confirmed session."""
        tab = ChatClient(label)
        self.open.append(tab)
        await tab.connect(base_url, session_id)
        return tab

    async def close_all(self) -> None:
        """Close every tab."""
        for tab in self.open:
            await tab.close()


# ---- staff console ---------------------------------------------------------------------------

class ConsoleBrowser:
    """A staff member's browser on the console: one cookie jar for every replica (same host)."""

    def __init__(self) -> None:
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                          timeout=aiohttp.ClientTimeout(total=REPLY_SECONDS))
        self.csrf = ""

    async def page(self, url: str) -> Tuple[int, str]:
        """GET a page (redirects not followed); remembers its CSRF token."""
        async with self.http.get(url, allow_redirects=False) as response:
            body = await response.text()
        found = CSRF.search(body)
        if found:
            self.csrf = found.group(1)
        return response.status, body

    async def login(self, base_url: str, email: str, password: str) -> None:
        """Sign in through the login form; the session cookie is then valid on every replica."""
        await self.page(f"{base_url}/staff/login")
        async with self.http.post(f"{base_url}/staff/login", allow_redirects=False, data={
                "email": email, "password": password, "csrf_token": self.csrf, "next": "/staff"}) as response:
            assert response.status == 303, f"login refused: {response.status} {await response.text()}"
        status, _ = await self.page(f"{base_url}/staff")
        assert status == 200

    async def transcript(self, base_url: str, conversation_id: int) -> List[Tuple[str, str]]:
        """(author, text) of every message on the conversation page, in order."""
        status, body = await self.page(f"{base_url}/staff/conversations/{conversation_id}")
        assert status == 200, f"conversation page: HTTP {status}"
        return [(author, html.unescape(message).strip())
                for author, _, message in TRANSCRIPT_ITEM.findall(body)]

    async def post(self, url: str, data: Optional[dict] = None) -> int:
        """POST a console form with the CSRF token; the status (303 is success)."""
        async with self.http.post(url, data={**(data or {}), "csrf_token": self.csrf},
                                  allow_redirects=False) as response:
            return response.status

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.http.close()


# ---- webhooks --------------------------------------------------------------------------------

def new_phone() -> str:
    """A UK mobile number nobody else in the run uses (not a demo patient's)."""
    return f"+4477009{uuid.uuid4().int % 10**5:05d}"


def sms_form(body: str, sid: str, sender: str) -> Dict[str, str]:
    """An inbound SMS as Twilio posts it."""
    return {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": TWILIO_ACCOUNT_SID, "From": sender,
            "To": "+447700900999", "Body": body, "NumMedia": "0"}


def twilio_headers(form: Dict[str, str]) -> Dict[str, str]:
    """X-Twilio-Signature over the public URL Twilio calls."""
    return signers.twilio_headers(TWILIO_AUTH_TOKEN, f"{PUBLIC_BASE_URL}/webhooks/twilio", form)


async def post_sms(http: aiohttp.ClientSession, base_url: str,
                   form: Dict[str, str]) -> Tuple[int, Dict[str, str]]:
    """Deliver a signed Twilio webhook; (status, headers)."""
    async with http.post(f"{base_url}/webhooks/twilio", data=form, headers=twilio_headers(form)) as response:
        await response.read()
        return response.status, dict(response.headers)


def whatsapp_body(message_text: str, message_id: str, sender: str) -> bytes:
    """A Cloud API webhook with one text message."""
    message = {"from": sender.lstrip("+"), "id": message_id, "timestamp": "1795000000", "type": "text",
               "text": {"body": message_text}}
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1234567890"},
             "contacts": [{"wa_id": sender.lstrip("+"), "profile": {"name": "Pat"}}], "messages": [message]}
    return json.dumps({"object": "whatsapp_business_account",
                       "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}).encode()


async def post_whatsapp(http: aiohttp.ClientSession, base_url: str, body: bytes) -> int:
    """Deliver a signed Cloud API webhook; the status."""
    headers = signers.meta_headers(WHATSAPP_APP_SECRET, body)
    async with http.post(f"{base_url}/webhooks/whatsapp", data=body, headers=headers) as response:
        await response.read()
        return response.status


# ---- what is stored --------------------------------------------------------------------------

class WebConversation:
    """A web chat's conversation: its row exists only once the patient has written, so its id is looked
    up when first needed (`int(...)`, or in an f-string), not when the tab connects."""

    def __init__(self, sessions, session_id: str) -> None:
        self.sessions, self.session_id = sessions, session_id
        self._id: Optional[int] = None

    def __int__(self) -> int:
        if self._id is None:
            self._id = conversation_id(self.sessions, "web", self.session_id)
        return self._id

    def __format__(self, spec: str) -> str:
        return format(int(self), spec)


ConversationKey = Union[int, WebConversation]


def web_conversation(sessions, session_id: str) -> WebConversation:
    """The conversation of a web session, looked up once the patient has written."""
    return WebConversation(sessions, session_id)


def conversation_id(sessions, channel: str, external_id: str) -> int:
    """The id of the stored conversation of this sender."""
    with sessions() as session:
        return session.execute(select(Conversation.id).where(
            Conversation.channel == channel, Conversation.external_id == external_id)).scalar_one()


def stored_messages(sessions, conversation: ConversationKey) -> List[Tuple[str, str, str]]:
    """(direction, author, text) of the conversation's messages, in order."""
    with sessions() as session:
        return [tuple(row) for row in session.execute(
            select(Message.direction, Message.author, Message.text)
            .where(Message.conversation_id == int(conversation)).order_by(Message.id))]


def owner_of(sessions, conversation: ConversationKey) -> str:
    """Who owns the conversation: "bot" or "staff"."""
    with sessions() as session:
        return session.get(Conversation, int(conversation)).owner


def escalations_of(sessions, conversation: ConversationKey) -> List[Tuple[str, str]]:
    """(reason, status) of the conversation's escalations, oldest first."""
    with sessions() as session:
        return [tuple(row) for row in session.execute(
            select(Escalation.reason, Escalation.status).where(Escalation.conversation_id == int(conversation))
            .order_by(Escalation.id))]


def receipts(sessions, channel: str, message_id: str) -> int:
    """How many receipts are stored for this platform message id."""
    with sessions() as session:
        return len(session.execute(select(InboundReceipt.id).where(
            InboundReceipt.channel == channel, InboundReceipt.channel_message_id == message_id)).all())


def turn_in_progress(redis_port: int, sender_key: str) -> bool:
    """True while a replica holds Rasa's conversation lock for this sender (RedisLockStore's key)."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_port, socket_timeout=1)
    try:
        return bool(client.exists(f"lock:{sender_key}"))
    finally:
        client.close()


def tracker_events(sessions, sender_key: str) -> List[str]:
    """Rasa's tracker events for this sender in order, as "type name" (e.g. "action action_listen")."""
    with sessions() as session:
        rows = session.execute(text(
            "SELECT type_name, coalesce(action_name, intent_name, '') FROM events WHERE sender_id = :sender "
            "ORDER BY id"), {"sender": sender_key})
        return [f"{kind} {name}".strip() for kind, name in rows]


def tracker_user_texts(sessions, sender_key: str) -> List[str]:
    """The text of every `user` event in Rasa's tracker (the `events` table), in order."""
    with sessions() as session:
        rows = session.execute(text(
            "SELECT data FROM events WHERE sender_id = :sender AND type_name = 'user' ORDER BY id"),
            {"sender": sender_key}).scalars()
        return [json.loads(row).get("text") for row in rows]


# ---- what the patient should see -------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def faq_answer(topic: str) -> str:
    """The answer to an FAQ topic as sent: domain.yml's `utter_faq/<topic>` with clinic.yml's hours filled in."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    hours = general_answer_hours(ClinicProfile.load(ROOT / "clinic.yml", {}))
    return domain["responses"][f"utter_faq/{topic}"][0]["text"].format_map(hours)


def replies_to(sessions, conversation: ConversationKey, question: str) -> List[str]:
    """The stored outbound texts that follow the patient's latest message `question`."""
    messages = stored_messages(sessions, conversation)
    last = max(index for index, (direction, _, said) in enumerate(messages)
               if direction == "in" and said == question)
    following = []
    for direction, _, said in messages[last + 1:]:
        if direction == "in":
            break
        following.append(said)
    return following


async def exchange(tab: ChatClient, sessions, conversation: ConversationKey, question: str) -> List[str]:
    """Send `question`; every reply the tab receives for it (as many as were stored, in order).

    The router stores a turn's replies before it delivers them, so once the first reply arrives the
    database says how many more to wait for.
    """
    await tab.say(question)
    first = await tab.replies(1)
    stored = replies_to(sessions, conversation, question)
    rest = await tab.replies(max(len(stored) - 1, 0))
    return [reply["text"] for reply in first + rest]


def graph_text(message: dict) -> str:
    """The text of a Graph API message (plain text, or an interactive message's body)."""
    if message.get("type") == "interactive":
        return message["interactive"]["body"]["text"]
    return message["text"]["body"]


async def eventually(condition, seconds: float = REPLY_SECONDS, what: str = "condition"):
    """`condition()`'s first truthy value, polled on the event loop until `seconds` pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not (value := condition()):
        assert loop.time() < deadline, f"{what}: not within {seconds} s"
        await asyncio.sleep(0.05)
    return value
