"""Web chat over socket.io, speaking Rasa's socket.io channel protocol (so rasa-webchat works too).

    client -> session_request {session_id, client?}     server -> session_confirm "<session id>"
    client -> user_uttered {message, session_id}
    server -> bot_uttered {text} or {text, quick_replies: [{content_type, title, payload}]}

`bot_uttered` carries exactly what Rasa's own socket.io channel carries, so an unmodified
rasa-webchat renders it. The clinic's widget says `client: "clinic-widget"` in its session request
and then receives events of our own instead, with what it needs beyond Rasa's format:

    server -> clinic_message {text, quick_replies?, author: "bot" | "staff" | "system", time}
    server -> handoff {owner: "staff" | "bot", notice}
    client -> history_request {before?: message id}
    server -> history {items: [{id, author, text, time, quick_replies?}], more, hidden}
    client -> end_chat {}                  server -> chat_ended {} (to every tab of the chat)

The widget also sends `tab` (a random id it keeps for one browser tab) in its session request. A
verification belongs to the tab that made it and lapses when idle (bot.conversations.router); the
history of a chat in which the patient proved who they are is shown only to that tab while the
verification holds. Elsewhere `hidden` is true and no message is sent: they may hold booking details.

Session ids are issued by the server (unguessable, stored as conversations). A session id the
server never issued is replaced by a new one, so nobody can join another patient's conversation;
a reload with an issued id continues the same conversation. Each socket joins the room named by
its session id, and replies go to that room (every tab of the same session sees them).

With several replicas (REDIS_URL set), python-socketio's Redis manager carries every emit to the
other replicas, so a tab connected to one replica gets the replies to a message another replica
processed. If Redis is unreachable, emits still reach this replica's own sockets.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import secrets
from datetime import date
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo

import socketio
from aiohttp import web

from bot.channels.kinds import ChannelKind
from bot.channels.messages import InboundMessage, OutboundMessage
from bot.clinic.timefmt import clock
from bot.conversations import store
from bot.conversations.router import AddressLimited, ConversationEnded
from bot.conversations.store import ConversationRef
from bot.db.models import Message, utcnow

if TYPE_CHECKING:  # the application's parts, looked up in `_app_parts` at run time
    from sqlalchemy.orm import sessionmaker

    from bot.conversations.router import ConversationRouter
    from bot.settings import Settings
    from bot.web.client_address import ClientAddresses

logger = logging.getLogger(__name__)

SOCKET_PATH = "socket.io"
MAX_EVENT_BYTES = 64 * 1024
FANOUT_CHANNEL = "clinic-webchat"
REDIS_CONNECT_TIMEOUT_SECONDS = 2.0
# The web chat: a session id, not a phone number; replies are allowed at any time.
WEB = ChannelKind("web")


def client_manager(redis_url: Optional[str]) -> Optional[socketio.AsyncRedisManager]:
    """Rooms shared across replicas through Redis pub/sub, or None (one process: in memory)."""
    if not redis_url:
        return None
    return socketio.AsyncRedisManager(
        redis_url, channel=FANOUT_CHANNEL,
        redis_options={"socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS, "socket_keepalive": True},
    )


WIDGET_CLIENT = "clinic-widget"
SESSION_ID_BYTES = 24
SESSION_MAC_CHARS = 22
MAX_SESSION_ID_CHARS = 128
# What `new_session_id` (and earlier versions, which stored ids) can have issued: URL-safe base64 and dots.
_SESSION_ID_SHAPE = re.compile(r"[A-Za-z0-9_.-]{1,%d}" % MAX_SESSION_ID_CHARS)
HISTORY_PAGE = 50
MAX_TAB_ID_CHARS = 64


def _session_mac(key: bytes, token: str) -> str:
    """The signature part of a web session id."""
    digest = hmac.new(key, token.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:SESSION_MAC_CHARS]


def new_session_id(key: bytes) -> str:
    """A new unguessable web session id, signed so that every replica knows this server issued it."""
    token = secrets.token_urlsafe(SESSION_ID_BYTES)
    return f"{token}.{_session_mac(key, token)}"


def is_signed_session_id(key: bytes, session_id: str) -> bool:
    """True if `session_id` is one `new_session_id` made with `key`."""
    token, _, mac = session_id.rpartition(".")
    try:
        return bool(token) and hmac.compare_digest(mac, _session_mac(key, token))
    except (UnicodeEncodeError, TypeError):  # not ASCII: never one of ours
        return False


def widget_room(session_id: str) -> str:
    """The room of the clinic widget's sockets for a session (Rasa-format clients use the session id)."""
    return f"{WIDGET_CLIENT}:{session_id}"


def bot_uttered_payload(message: OutboundMessage) -> Dict[str, Any]:
    """One reply exactly as Rasa's socket.io channel sends it: text, and quick replies if any."""
    payload: Dict[str, Any] = {"text": message.text}
    if message.buttons:
        payload["quick_replies"] = [
            {"content_type": "text", "title": button.title, "payload": button.payload}
            for button in message.buttons
        ]
    return payload


def clinic_message_payload(message: OutboundMessage, author: str, time: str) -> Dict[str, Any]:
    """One reply for the clinic widget: Rasa's fields plus who wrote it and when (clinic time)."""
    return {**bot_uttered_payload(message), "author": author, "time": time}


def unavailable_text(clinic_phone: str) -> str:
    """What a web patient sees when the message could not even be stored (database down)."""
    return ("Sorry, we can't take messages right now because of a technical problem, and your last message "
            f"was not received. Please try again in a few minutes, or call the clinic on {clinic_phone}.")


class WebDeliverer:
    """Sends replies and owner notices to the sockets of a web conversation (every tab)."""

    kind = WEB

    def __init__(self, sio: socketio.AsyncServer, clinic_timezone: ZoneInfo) -> None:
        """Emit through `sio`; message times are shown in the clinic's time zone."""
        self.sio = sio
        self.timezone = clinic_timezone

    async def send(self, conversation: ConversationRef, replies: Sequence[OutboundMessage], author: str) -> None:
        """Each reply as `bot_uttered` to Rasa-format clients and as `clinic_message` to the widget."""
        time = clock(utcnow(), self.timezone)
        for reply in replies:
            await self.sio.emit("bot_uttered", bot_uttered_payload(reply), room=conversation.external_id)
            await self.sio.emit("clinic_message", clinic_message_payload(reply, author, time),
                                room=widget_room(conversation.external_id))

    async def typing(self, conversation: ConversationRef) -> None:
        """A `typing` event to the widget: the clinic team is writing a reply (it shows for a few seconds)."""
        await self.sio.emit("typing", {"who": "staff"}, room=widget_room(conversation.external_id))

    async def notify_owner(self, conversation: ConversationRef, owner: str, notice: str) -> None:
        """A `handoff` event to the widget: staff took the conversation (owner "staff") or left it."""
        await self.sio.emit("handoff", {"owner": owner, "notice": notice}, room=widget_room(conversation.external_id))


class WebChat:
    """The socket.io server and its event handlers, bound to the application's router."""

    def __init__(self, app: web.Application, allowed_origins: Any,
                 client_manager: Optional[socketio.AsyncManager] = None, *, session_key: bytes) -> None:
        """Create the socket.io server at /socket.io and attach it to `app`; session ids are signed
        with `session_key` (the same on every replica)."""
        self.app = app
        self.session_key = session_key
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp", cors_allowed_origins=allowed_origins, client_manager=client_manager,
            max_http_buffer_size=MAX_EVENT_BYTES, logger=False, engineio_logger=False,
        )
        self.sio.attach(app, socketio_path=SOCKET_PATH)
        # python-socketio passes every argument a client emits: the handlers read the first, if any.
        self.sio.on("connect", self.on_connect)
        self.sio.on("session_request", self.on_session_request)
        self.sio.on("user_uttered", self.on_user_uttered)
        self.sio.on("history_request", self.on_history_request)
        self.sio.on("end_chat", self.on_end_chat)
        app.on_shutdown.append(self._shutdown)  # type: ignore[arg-type]  # aiohttp 3.9 vs aiosignal 1.4

    async def _shutdown(self, app: web.Application) -> None:
        """Close every socket, stop socket.io's background task and the Redis listener (which never
        ends by itself and would hold the shutdown for aiohttp's whole grace period)."""
        await self.sio.shutdown()
        listener = getattr(self.sio.manager, "thread", None)
        if isinstance(listener, asyncio.Task) and not listener.done():
            listener.cancel()

    def _app_parts(self) -> Tuple[Settings, sessionmaker, ConversationRouter]:
        """(settings, session factory, router) of the running application."""
        from bot.appkeys import ROUTER, SESSION_FACTORY, SETTINGS

        return self.app[SETTINGS], self.app[SESSION_FACTORY], self.app[ROUTER]

    def _client_addresses(self) -> ClientAddresses:
        """The application's client-address resolver (trusted proxies, keyed names)."""
        from bot.appkeys import CLIENT_ADDRESSES

        return self.app[CLIENT_ADDRESSES]

    async def on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        """Accept every connection, noting the keyed client address (the limits count per address);
        nothing is shared until a session is confirmed."""
        request = environ.get("aiohttp.request")
        client_key = self._client_addresses().key_of_request(request) if request is not None else None
        await self.sio.save_session(sid, {"client_key": client_key})
        logger.debug("web socket %s connected", sid)

    def _confirmed_session(self, requested: Optional[str]) -> str:
        """The requested id if the server issued it and the patient has not ended that chat, else a
        new one. Nothing is stored until the patient's first message (bot.conversations.router)."""
        if not requested or not _SESSION_ID_SHAPE.fullmatch(requested):
            # Not one of ours, and not even looked up: a lone surrogate or a NUL would make the database refuse it.
            return new_session_id(self.session_key)
        _, sessions, _ = self._app_parts()
        with sessions() as session:
            stored = store.find_by_sender(session, WEB.name, requested)
            if stored is not None:
                return requested if stored.ended_at is None else new_session_id(self.session_key)
        return requested if is_signed_session_id(self.session_key, requested) else new_session_id(self.session_key)

    async def say_to_socket(self, sid: str, text: str) -> None:
        """A system line to one socket, in the format that socket's client reads."""
        session = await self.sio.get_session(sid)
        if session.get("widget"):
            time = clock(utcnow(), self._app_parts()[0].clinic.timezone)
            await self.sio.emit("clinic_message", clinic_message_payload(OutboundMessage(text), "system", time),
                                to=sid)
        else:
            await self.sio.emit("bot_uttered", {"text": text}, to=sid)

    async def on_session_request(self, sid: str, data: Any = None, *ignored: Any) -> None:
        """Confirm (or issue) the session id and join its room (the widget's own, or Rasa's)."""
        requested = data.get("session_id") if isinstance(data, dict) else None
        widget = isinstance(data, dict) and data.get("client") == WIDGET_CLIENT
        tab = data.get("tab") if widget and isinstance(data.get("tab"), str) else None
        tab = tab if tab and len(tab) <= MAX_TAB_ID_CHARS else None
        old = await self.sio.get_session(sid)
        try:
            session_id = self._confirmed_session(requested if isinstance(requested, str) else None)
        except Exception as error:  # the database is down: say so, do not crash the socket
            settings, _, _ = self._app_parts()
            logger.error("web session could not be confirmed: %s", type(error).__name__)
            await self.sio.save_session(sid, {"widget": widget, "client_key": old.get("client_key")})
            await self.say_to_socket(sid, unavailable_text(settings.clinic.phone))
            return
        if old.get("room"):
            await self.sio.leave_room(sid, old["room"])
        room = widget_room(session_id) if widget else session_id
        await self.sio.save_session(sid, {"session_id": session_id, "widget": widget, "room": room, "tab": tab,
                                          "client_key": old.get("client_key")})
        await self.sio.enter_room(sid, room)
        await self.sio.emit("session_confirm", session_id, to=sid)

    async def on_user_uttered(self, sid: str, data: Any = None, *ignored: Any) -> None:
        """A patient message: route it (replies come back through `WebDeliverer`)."""
        settings, _, router = self._app_parts()
        session = await self.sio.get_session(sid)
        session_id = session.get("session_id")
        if not session_id:
            await self.say_to_socket(sid, "Please reload the page to start a chat.")
            return
        text = data.get("message") if isinstance(data, dict) else None
        if not isinstance(text, str):
            return
        inbound = InboundMessage(channel="web", sender=session_id, text=text, channel_message_id=None,
                                 has_media=False, received_at=utcnow(), client=session.get("tab"),
                                 client_key=session.get("client_key"))
        try:
            accepted = router.accept(inbound)
        except AddressLimited as limited:  # nothing stored; a red flag still gets the urgent guidance
            logger.warning("web message refused: client address over its %s limit", limited.limit)
            await self.say_to_socket(sid, router.address_refusal(text, limited).text)
            return
        except ConversationEnded:
            await self.say_to_socket(sid, "This chat has ended. Reload the page to start a new one.")
            await self.sio.emit("chat_ended", {}, to=sid)
            return
        except Exception as error:  # nothing was stored: tell the patient plainly
            logger.error("web message could not be stored: %s", type(error).__name__)
            await self.say_to_socket(sid, unavailable_text(settings.clinic.phone))
            return
        if accepted is not None:
            await router.process_safely(accepted)


    async def on_history_request(self, sid: str, data: Any = None, *ignored: Any) -> None:
        """A page of the chat's stored messages, newest last; none where they may be private."""
        settings, sessions, router = self._app_parts()
        session = await self.sio.get_session(sid)
        session_id = session.get("session_id")
        if not session_id or not session.get("widget"):
            return
        before = data.get("before") if isinstance(data, dict) else None
        before = before if isinstance(before, int) and not isinstance(before, bool) and 0 < before < 2**31 else None
        now = utcnow()
        owner, private, items, more = "bot", False, [], False
        try:
            with sessions() as db:
                conversation = store.find_by_sender(db, WEB.name, session_id)
                if conversation is not None:
                    ref = ConversationRef.of(conversation)
                    owner = ref.owner
                    private = store.ever_verified(db, conversation) and not router.verification_holds(
                        ref, session.get("tab"), now)
                    rows, more = ([], False) if private else store.history_page(db, ref.id, before, HISTORY_PAGE)
                    today = now.astimezone(settings.clinic.timezone).date()
                    items = [history_item(row, settings.clinic.timezone, today) for row in rows]
        except Exception as error:  # the database is down: the widget keeps what it shows
            logger.error("web history not read: %s", type(error).__name__)
            return
        if not items and not private and before is None:
            items = [self._welcome_item()]
        await self.sio.emit("history", {"items": items, "more": more, "hidden": private, "before": before,
                                        "owner": owner}, to=sid)

    def _welcome_item(self) -> Dict[str, Any]:
        """A new chat's first screen: the disclaimer and the clinic's starter questions as buttons
        (their payload is the question, read as plain words). It is stored as the conversation's first
        message when the patient first writes (bot.conversations.router); until then nothing is."""
        settings, _, router = self._app_parts()
        welcome = router.replies.welcome()
        item: Dict[str, Any] = {"id": None, "author": "bot", "text": welcome.text,
                                "time": clock(utcnow(), settings.clinic.timezone)}
        if welcome.buttons:
            item["quick_replies"] = bot_uttered_payload(welcome)["quick_replies"]
        return item

    async def on_end_chat(self, sid: str, data: Any = None, *ignored: Any) -> None:
        """The patient ended the chat: verification over, the session id retired, every tab told."""
        _, _, router = self._app_parts()
        session = await self.sio.get_session(sid)
        session_id = session.get("session_id")
        if not session_id:
            return
        try:
            await router.end_chat(WEB.name, session_id)
        except Exception as error:
            logger.error("web chat not ended: %s", type(error).__name__)
            await self.say_to_socket(sid, "Sorry, the chat could not be ended. Please close this browser tab.")
            return
        await self.sio.emit("chat_ended", {}, room=widget_room(session_id))
        await self.sio.emit("chat_ended", {}, room=session_id)


def history_item(message: Message, timezone: ZoneInfo, today: date) -> Dict[str, Any]:
    """One stored message for the widget's history, its time in the clinic's time zone."""
    local = message.created_at.astimezone(timezone)
    time = clock(message.created_at, timezone) if local.date() == today else local.strftime("%d %b, %H:%M")
    item: Dict[str, Any] = {"id": message.id, "author": message.author, "text": message.text, "time": time}
    if message.buttons:
        item["quick_replies"] = [{"content_type": "text", "title": b["title"], "payload": b["payload"]}
                                 for b in message.buttons]
    return item
