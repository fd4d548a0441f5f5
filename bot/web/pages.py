"""Public pages: the demo clinic page at `/`, the embeddable `/widget.js`, and `/healthz`."""
from __future__ import annotations

import functools
from pathlib import Path

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import text

from bot.appkeys import ENGINE, SESSION_FACTORY, SETTINGS

STATIC_ROOT = Path(__file__).resolve().parent.parent / "static"
WIDGET_PARTS = (STATIC_ROOT / "vendor" / "socket.io.min.js", STATIC_ROOT / "widget" / "widget.js")


@functools.lru_cache(maxsize=1)
def widget_bytes() -> bytes:
    """The socket.io client and the widget as one script (read on first use, then kept)."""
    return b"\n;\n".join(_without_source_map(part.read_bytes()) for part in WIDGET_PARTS)


def _without_source_map(script: bytes) -> bytes:
    """Drop `//# sourceMappingURL=` lines (the maps are not served)."""
    return b"\n".join(line for line in script.split(b"\n") if not line.startswith(b"//# sourceMappingURL="))


async def widget_script(request: web.Request) -> web.Response:
    """The one script a clinic pastes into its site."""
    return web.Response(body=widget_bytes(), content_type="application/javascript",
                        charset="utf-8", headers={"Cache-Control": "public, max-age=300",
                                                  "Access-Control-Allow-Origin": "*"})


@aiohttp_jinja2.template("demo.html")
async def demo_page(request: web.Request) -> dict:
    """A demo clinic website with the chat widget on it."""
    clinic = request.app[SETTINGS].clinic
    return {"clinic": clinic}


async def healthz(request: web.Request) -> web.Response:
    """200 once the model is loaded and the database answers; 503 (with what is missing) before."""
    problems = []
    if not request.app[ENGINE].ready:
        problems.append("model loading")
    try:
        with request.app[SESSION_FACTORY]() as session:
            session.execute(text("SELECT 1"))
    except Exception as error:
        problems.append(f"database unavailable ({type(error).__name__})")
    if problems:
        return web.json_response({"status": "starting" if problems == ["model loading"] else "unavailable",
                                  "problems": problems}, status=503)
    return web.json_response({"status": "ok"})


def setup_pages(app: web.Application) -> None:
    """Add the public routes."""
    app.router.add_get("/", demo_page, name="demo")
    app.router.add_get("/widget.js", widget_script, name="widget")
    app.router.add_get("/healthz", healthz, name="healthz")
