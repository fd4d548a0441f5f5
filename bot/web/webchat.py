"""Web chat over socket.io, speaking Rasa's socket.io channel protocol (so rasa-webchat works too).

    client -> session_request {session_id}     server -> session_confirm "<session id>"
    client -> user_uttered {message, session_id}
    server -> bot_uttered {text, quick_replies?: [{content_type, title, payload}], author}
    server -> handoff {owner: "staff" | "bot", notice}

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
import logging
from typing import Any, Dict, Optional, Sequence

import socketio
from aiohttp import web

from bot.channels.kinds import ChannelKind
from bot.channels.messages import InboundMessage, OutboundMessage
from bot.conversations import store
from bot.conversations.store import ConversationRef
from bot.db.models import utcnow

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


def bot_uttered_payload(message: OutboundMessage, author: str) -> Dict[str, Any]:
    """One reply in Rasa's socket.io format, with who wrote it."""
    payload: Dict[str, Any] = {"text": message.text, "author": author}
    if message.buttons:
        payload["quick_replies"] = [
            {"content_type": "text", "title": button.title, "payload": button.payload}
            for button in message.buttons
        ]
    return payload


def unavailable_payload(clinic_phone: str) -> Dict[str, Any]:
    """What a web patient sees when the message could not even be stored (database down)."""
    return {"author": "system", "text": (
        "Sorry, we can't take messages right now because of a technical problem, and your last message "
        f"was not received. Please try again in a few minutes, or call the clinic on {clinic_phone}.")}


class WebDeliverer:
    """Sends replies and owner notices to the socket.io room of a web conversation."""

    kind = WEB

    def __init__(self, sio: socketio.AsyncServer) -> None:
        """Emit through `sio`."""
        self.sio = sio

    async def send(self, conversation: ConversationRef, replies: Sequence[OutboundMessage], author: str) -> None:
        """One `bot_uttered` event per reply, to every socket of the session."""
        for reply in replies:
            await self.sio.emit("bot_uttered", bot_uttered_payload(reply, author), room=conversation.external_id)

    async def notify_owner(self, conversation: ConversationRef, owner: str, notice: str) -> None:
        """A `handoff` event: staff joined (owner "staff") or left (owner "bot")."""
        await self.sio.emit("handoff", {"owner": owner, "notice": notice}, room=conversation.external_id)


class WebChat:
    """The socket.io server and its event handlers, bound to the application's router."""

    def __init__(self, app: web.Application, allowed_origins: Any, client_manager=None) -> None:
        """Create the socket.io server at /socket.io and attach it to `app`."""
        self.app = app
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp", cors_allowed_origins=allowed_origins, client_manager=client_manager,
            max_http_buffer_size=MAX_EVENT_BYTES, logger=False, engineio_logger=False,
        )
        self.sio.attach(app, socketio_path=SOCKET_PATH)
        self.sio.on("connect", self.on_connect)
        self.sio.on("session_request", self.on_session_request)
        self.sio.on("user_uttered", self.on_user_uttered)
        app.on_shutdown.append(self._shutdown)

    async def _shutdown(self, app: web.Application) -> None:
        """Close every socket, stop socket.io's background task and the Redis listener (which never
        ends by itself and would hold the shutdown for aiohttp's whole grace period)."""
        await self.sio.shutdown()
        listener = getattr(self.sio.manager, "thread", None)
        if isinstance(listener, asyncio.Task) and not listener.done():
            listener.cancel()

    def _app_parts(self):
        """(settings, session factory, router) of the running application."""
        from bot.appkeys import ROUTER, SESSION_FACTORY, SETTINGS

        return self.app[SETTINGS], self.app[SESSION_FACTORY], self.app[ROUTER]

    async def on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        """Accept every connection; nothing is shared until a session is confirmed."""
        logger.debug("web socket %s connected", sid)

    def _confirmed_session(self, requested: Optional[str]) -> str:
        """The requested id if the server issued it, else a new one."""
        _, sessions, _ = self._app_parts()
        with sessions.begin() as session:
            if store.is_issued_web_session(session, requested):
                return str(requested)
            return store.issue_web_session(session, utcnow())

    async def on_session_request(self, sid: str, data: Any = None) -> None:
        """Confirm (or issue) the session id and join its room."""
        requested = data.get("session_id") if isinstance(data, dict) else None
        try:
            session_id = self._confirmed_session(requested if isinstance(requested, str) else None)
        except Exception as error:  # the database is down: say so, do not crash the socket
            settings, _, _ = self._app_parts()
            logger.error("web session could not be confirmed: %s", type(error).__name__)
            await self.sio.emit("bot_uttered", unavailable_payload(settings.clinic.phone), to=sid)
            return
        old = await self.sio.get_session(sid)
        if old.get("session_id") and old["session_id"] != session_id:
            await self.sio.leave_room(sid, old["session_id"])
        await self.sio.save_session(sid, {"session_id": session_id})
        await self.sio.enter_room(sid, session_id)
        await self.sio.emit("session_confirm", session_id, to=sid)

    async def on_user_uttered(self, sid: str, data: Any = None) -> None:
        """A patient message: route it (replies come back through `WebDeliverer`)."""
        settings, _, router = self._app_parts()
        session = await self.sio.get_session(sid)
        session_id = session.get("session_id")
        if not session_id:
            await self.sio.emit("bot_uttered", {"author": "system", "text": "Please reload the page to start a chat."},
                                to=sid)
            return
        text = data.get("message") if isinstance(data, dict) else None
        if not isinstance(text, str):
            return
        inbound = InboundMessage(channel=WEB.name, sender=session_id, text=text, channel_message_id=None,
                                 has_media=False, received_at=utcnow())
        try:
            accepted = router.accept(inbound)
        except Exception as error:  # nothing was stored: tell the patient plainly
            logger.error("web message could not be stored: %s", type(error).__name__)
            await self.sio.emit("bot_uttered", unavailable_payload(settings.clinic.phone), to=sid)
            return
        if accepted is not None:
            await router.process_safely(accepted)
