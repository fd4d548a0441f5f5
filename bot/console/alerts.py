"""GET /staff/api/alerts: the urgent cases waiting, for every console page's alerts (console.js:
the title badge "(N) ", a desktop notification and a sound when a new one arrives).

It answers ids and a count only, never patient detail, so reading it is not audited; opening the
conversation it points to is (bot/console/views.py).
"""
from __future__ import annotations

from aiohttp import web

from bot.alerts.waiting import urgent_waiting
from bot.appkeys import SESSION_FACTORY
from bot.console.security import require_role
from bot.db.models import STAFF_ROLES

ALERTS_PATH = "/staff/api/alerts"


@require_role(*STAFF_ROLES)
async def alerts_api(request: web.Request) -> web.Response:
    """The number of urgent cases nobody has taken, and their escalation and conversation ids."""
    with request.app[SESSION_FACTORY]() as db:
        waiting = urgent_waiting(db)
    return web.json_response({
        "urgent_waiting": len(waiting),
        "cases": [{"escalation_id": w.escalation_id, "url": f"/staff/conversations/{w.conversation_id}"}
                  for w in waiting],
    })


def add_alert_routes(app: web.Application) -> None:
    """The alerts endpoint."""
    app.router.add_get(ALERTS_PATH, alerts_api, name="console_alerts_api")
