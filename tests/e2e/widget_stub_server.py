"""A stand-in chat server for the widget's browser tests: python-socketio on aiohttp, no Rasa.

It speaks the same events as the real app (Rasa's socket.io channel protocol) and records what the
widget sent, so tests can assert the exact payloads:

- `session_request {session_id}` -> `session_confirm "<id>"`: ids it issued are kept, anything else
  (null, unknown, not a string) is replaced by a fresh `secrets.token_urlsafe` id.
- `user_uttered {message, session_id}` answers by message:
  "hello" -> text; "buttons" -> text with quick_replies (payloads /choose_a, /choose_b);
  "/choose_a" / "/choose_b" -> "you chose A" / "you chose B"; "staff" -> handoff {owner: "staff"} then a
  staff message; "bot" -> handoff {owner: "bot", notice: <server text>}; "html" -> text full of markup;
  "slow" -> text after SLOW_REPLY_SECONDS; "kick" -> the server disconnects the client;
  "transport" -> "transport: websocket|polling"; anything else -> an echo.

Pages: `/` (a clinic page embedding the widget; `?script_host=` loads the script from another origin,
`?title=` sets data-title), `/blank` (no widget, to prepare storage), `/widget.js` (vendored socket.io
client + widget.js, as the real server serves it).

`StubServer` runs it in a background thread with its own event loop, on a free port, so it is
independent of pytest-asyncio's loops: `with StubServer() as server: ... server.url ...`;
`with server.outage(): ...` takes it down (connections dropped and refused) and back up.
`tests.support.background.BackgroundAppServer(make_app)`, which it builds on, does the same for any
aiohttp app (the real one in e2e tests).
Or standalone: `python -m tests.e2e.widget_stub_server --port 8765`.
"""
from __future__ import annotations

import argparse
import asyncio
import html
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import socketio
from aiohttp import web

from tests.support.background import BackgroundAppServer

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parents[2] / "bot" / "static"
VENDOR_JS = STATIC / "vendor" / "socket.io.min.js"
WIDGET_JS = STATIC / "widget" / "widget.js"
SLOW_REPLY_SECONDS = 1.5
HTML_MESSAGE = '<img src=x onerror="window.__clinicChatPwned=1"><b>bold</b> & <script>window.__clinicChatPwned=2</script>'
HTML_BUTTON_TITLE = "<i>italic</i>"
BOT_NOTICE = "The clinic team has handed you back to the assistant."


def widget_bundle() -> str:
    """The socket.io client then the widget, as one script (the vendor's source-map line dropped)."""
    vendor = "\n".join(
        line for line in VENDOR_JS.read_text(encoding="utf-8").splitlines()
        if not line.startswith("//# sourceMappingURL=")
    )
    return f"{vendor}\n;\n{WIDGET_JS.read_text(encoding='utf-8')}"


@dataclass
class Recorded:
    """Everything the stub saw, appended from the server thread, read by tests."""

    events: list[tuple[str, Any]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)

    def of(self, name: str) -> list[Any]:
        return [data for event, data in list(self.events) if event == name]


PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Northfield Hair Clinic</title>
<style>body{{font-family:Georgia,serif;margin:2rem;background:#fafafa;color:#222}}</style></head>
<body>
<header><a href="#main" id="skip">Skip to content</a><h1>Northfield Hair Clinic</h1></header>
<main id="main"><p>Hair mesotherapy, aftercare advice and appointments.</p></main>
<script src="{script_src}" data-title="{title}" defer></script>
</body>
</html>
"""

BLANK = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>blank</title></head><body></body></html>"


def create_app(
    recorded: Recorded, block_websocket: threading.Event | None = None
) -> tuple[web.Application, socketio.AsyncServer]:
    """The aiohttp app and its socket.io server, recording into `recorded`.

    While `block_websocket` is set, WebSocket requests get HTTP 400 (a proxy that only allows
    long-polling), so the widget's fallback to polling can be tested.
    """
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*", logger=False, engineio_logger=False)
    block_websocket = block_websocket or threading.Event()

    @web.middleware
    async def websocket_filter(request: web.Request, handler):
        if block_websocket.is_set() and request.query.get("transport") == "websocket":
            recorded.events.append(("websocket_blocked", None))
            raise web.HTTPBadRequest(text="websocket blocked by the test")
        return await handler(request)

    app = web.Application(middlewares=[websocket_filter])
    sio.attach(app, socketio_path="socket.io")

    async def stop_socketio(app: web.Application) -> None:
        await sio.shutdown()  # python-socketio: before the web server goes

    app.on_shutdown.append(stop_socketio)

    async def page(request: web.Request) -> web.Response:
        host = request.query.get("script_host") or request.host
        title = request.query.get("title", "Northfield Hair Clinic")
        body = PAGE.format(script_src=html.escape(f"http://{host}/widget.js"), title=html.escape(title))
        return web.Response(text=body, content_type="text/html")

    async def blank(request: web.Request) -> web.Response:
        return web.Response(text=BLANK, content_type="text/html")

    async def script(request: web.Request) -> web.Response:
        return web.Response(
            text=widget_bundle(), content_type="application/javascript",
            headers={"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"},
        )

    app.router.add_get("/", page)
    app.router.add_get("/blank", blank)
    app.router.add_get("/widget.js", script)

    async def reply(sid: str, data: dict[str, Any]) -> None:
        recorded.events.append(("bot_uttered", data))
        await sio.emit("bot_uttered", data, to=sid)

    @sio.on("session_request")
    async def session_request(sid: str, data: Any) -> None:
        recorded.events.append(("session_request", data))
        requested = data.get("session_id") if isinstance(data, dict) else None
        if isinstance(requested, str) and requested in recorded.issued:
            session_id = requested
        else:
            session_id = secrets.token_urlsafe(16)
            recorded.issued.append(session_id)
        recorded.confirmed.append(session_id)
        await sio.save_session(sid, {"session_id": session_id})
        await sio.emit("session_confirm", session_id, to=sid)

    @sio.on("user_uttered")
    async def user_uttered(sid: str, data: Any) -> None:
        recorded.events.append(("user_uttered", data))
        message = str(data.get("message", "")) if isinstance(data, dict) else ""
        text = message.strip().lower()
        if text == "hello":
            await reply(sid, {"text": "Hello! How can I help with your treatment?"})
        elif text == "buttons":
            await reply(sid, {
                "text": "Which option?",
                "quick_replies": [
                    {"content_type": "text", "title": "Option A", "payload": "/choose_a"},
                    {"content_type": "text", "title": "Option B", "payload": "/choose_b"},
                ],
            })
        elif text in ("/choose_a", "/choose_b"):
            await reply(sid, {"text": f"you chose {text[-1].upper()}"})
        elif text == "staff":
            recorded.events.append(("handoff", {"owner": "staff"}))
            await sio.emit("handoff", {"owner": "staff"}, to=sid)
            await reply(sid, {"text": "Hi, this is Sam from the clinic.", "author": "staff"})
        elif text == "bot":
            recorded.events.append(("handoff", {"owner": "bot", "notice": BOT_NOTICE}))
            await sio.emit("handoff", {"owner": "bot", "notice": BOT_NOTICE}, to=sid)
        elif text == "html":
            await reply(sid, {
                "text": HTML_MESSAGE,
                "buttons": [{"title": HTML_BUTTON_TITLE, "payload": "/html_button"}],
            })
        elif text == "kick":  # the server ends this client's socket.io session
            await sio.disconnect(sid)
        elif text == "transport":
            await reply(sid, {"text": f"transport: {sio.transport(sid)}"})
        elif text == "slow":
            await asyncio.sleep(SLOW_REPLY_SECONDS)
            await reply(sid, {"text": "Sorry for the wait."})
        else:
            await reply(sid, {"text": f"You said: {message}"})

    return app, sio


class StubServer(BackgroundAppServer):
    """The stub chat server in the background. `recorded` outlives `outage()`, so session ids issued
    before it are still known after it (as in the real server, whose sessions live in the database)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.recorded = Recorded()
        self.block_websocket = threading.Event()
        super().__init__(lambda: create_app(self.recorded, self.block_websocket)[0], host, port)

    def page_url(self, page_host: str = "localhost", path: str = "/", **query: str) -> str:
        """A page on `page_host` (by default another origin than the script's: localhost vs 127.0.0.1)."""
        params = {"script_host": f"{self.host}:{self.port}", **query}
        return f"http://{page_host}:{self.port}{path}?{urlencode(params)}"

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        try:
            return super().wait_for(predicate, timeout, what)
        except AssertionError as error:
            raise AssertionError(f"{error}; events: {self.recorded.events!r}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the widget against the stub chat server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    app, _ = create_app(Recorded())
    print(f"widget test page: http://{args.host}:{args.port}/")
    web.run_app(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
