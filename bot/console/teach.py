"""The console's "Teach the assistant" page and the "Flag for teaching" action (bot.teaching).

GET /staff/teach shows a page of the queue with each message's text (that is the point of it), so
the view is audited like a transcript (`teaching_queue_viewed`, the example ids shown). Labelling,
dismissing and flagging are audited by bot.teaching.queue. Every role may label.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, List, Optional
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.appkeys import SESSION_FACTORY
from bot.clinic import audit
from bot.console import present
from bot.console.security import PREFIX, current_staff, require_role, safe_next
from bot.console.views import _form, _int_param, _now, _outcome, _tz, render
from bot.db.models import STAFF_ROLES, TRAINING_STATUSES
from bot.teaching import queue as teaching
from bot.teaching.topics import faq_topics, topic_of

TEACH_PATH = f"{PREFIX}/teach"
PAGE_SIZE = 25
SOURCE_LABELS = {"fallback": "The assistant did not understand", "flagged": "Flagged by staff"}
STATUS_LABELS = {"open": "To label", "labelled": "Labelled", "dismissed": "Dismissed"}
NEW_TOPIC_LABEL = "New topic needed"


def teach_url(status: str = "open", page: int = 1) -> str:
    """The queue page for `status`, page `page`."""
    query = {key: value for key, value in (("status", status), ("page", page))
             if (key, value) not in (("status", "open"), ("page", 1))}
    return TEACH_PATH + (f"?{urlencode(query)}" if query else "")


def label_of(intent: Optional[str], status: str) -> str:
    """What an example is labelled as, in words: the topic's title, "New topic needed", or ""."""
    if status != "labelled":
        return ""
    topic = topic_of(intent)
    return topic.title if topic is not None else NEW_TOPIC_LABEL


def example_row(item: teaching.ExampleItem, tz: ZoneInfo, now: datetime) -> Dict[str, Any]:
    """One example on the page."""
    return {
        "id": item.id, "text": item.text, "status": item.status, "intent": item.intent or "",
        "source_label": SOURCE_LABELS.get(item.source, item.source), "note": item.note or "",
        "label": label_of(item.intent, item.status), "new_topic": item.status == "labelled" and not item.intent,
        "by": item.labelled_by_email or ("former staff member" if item.labelled_at else ""),
        "at": present.iso(item.created_at), "time_label": present.local_time(item.created_at, tz, now),
        "labelled_label": present.local_time(item.labelled_at, tz, now),
        "conversation_url": present.transcript_url(item.conversation_id) if item.conversation_id else None,
        "label_url": f"{TEACH_PATH}/{item.id}/label", "dismiss_url": f"{TEACH_PATH}/{item.id}/dismiss",
    }


def _status(request: web.Request) -> str:
    """The ?status= asked for (open by default); 400 for anything else."""
    status = request.query.get("status") or "open"
    if status not in TRAINING_STATUSES:
        raise web.HTTPBadRequest(text=f"status must be one of {', '.join(TRAINING_STATUSES)}")
    return status


@require_role(*STAFF_ROLES)
async def teach_page(request: web.Request) -> web.Response:
    """GET /staff/teach?status=S&page=N: a page of the teaching queue (the view is audited)."""
    staff = current_staff(request)
    status, page = _status(request), max(_int_param(request, "page"), 1)
    now, tz = _now(request), _tz(request)
    with request.app[SESSION_FACTORY].begin() as db:
        items, total = teaching.queue_page(db, status, page, PAGE_SIZE)
        if items:
            audit.record(db, actor_type="staff", actor_id=staff.id, action="teaching_queue_viewed",
                         subject_type="training_example",
                         detail={"example_ids": [item.id for item in items], "status": status}, now=now)
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    tabs: List[Dict[str, Any]] = [{"status": s, "label": STATUS_LABELS[s], "url": teach_url(s),
                                   "current": s == status} for s in TRAINING_STATUSES]
    return await render(request, "console/teach.html", {
        "title": "Teach the assistant", "page": "teach", "status": status, "tabs": tabs,
        "status_label": STATUS_LABELS[status], "examples": [example_row(item, tz, now) for item in items],
        "topics": [{"intent": topic.intent, "title": topic.title} for topic in faq_topics()],
        "new_topic": teaching.NEW_TOPIC, "new_topic_label": NEW_TOPIC_LABEL, "max_note_chars": teaching.MAX_NOTE_CHARS,
        "page_number": page, "pages": pages, "total": total, "here": teach_url(status, page),
        "prev_url": teach_url(status, page - 1) if page > 1 else None,
        "next_url": teach_url(status, page + 1) if page < pages else None,
    })


@require_role(*STAFF_ROLES)
async def label_example(request: web.Request) -> web.Response:
    """POST /staff/teach/{id}/label with intent=faq/<topic> or new_topic, and an optional note."""
    staff = current_staff(request)
    example_id = _int_param(request, "id")
    form = await _form(request)
    back = safe_next(form.get("next") or TEACH_PATH)
    choice = form.get("intent", "")
    try:
        with request.app[SESSION_FACTORY].begin() as db:
            teaching.label(db, example_id, staff.id, choice, form.get("note", ""), _now(request))
    except LookupError as error:
        raise web.HTTPNotFound(text="There is no such example.") from error
    except teaching.TeachingError as error:
        return await _outcome(request, back, ok=False, status=422, message=f"Not labelled: {error}.")
    topic = topic_of(choice)
    said = f"“{topic.title}”" if topic is not None else f"“{NEW_TOPIC_LABEL}”"
    return await _outcome(request, back, ok=True, message=f"Labelled as {said}.")


@require_role(*STAFF_ROLES)
async def dismiss_example(request: web.Request) -> web.Response:
    """POST /staff/teach/{id}/dismiss: nothing to teach from this message."""
    staff = current_staff(request)
    example_id = _int_param(request, "id")
    form = await _form(request)
    back = safe_next(form.get("next") or TEACH_PATH)
    try:
        with request.app[SESSION_FACTORY].begin() as db:
            teaching.dismiss(db, example_id, staff.id, _now(request))
    except LookupError as error:
        raise web.HTTPNotFound(text="There is no such example.") from error
    return await _outcome(request, back, ok=True, message="Dismissed: it will not be exported.")


@require_role(*STAFF_ROLES)
async def flag_message(request: web.Request) -> web.Response:
    """POST /staff/messages/{id}/flag: put a patient message in the teaching queue (once; audited)."""
    staff = current_staff(request)
    message_id = _int_param(request, "id")
    try:
        with request.app[SESSION_FACTORY].begin() as db:
            created, conversation_id = teaching.flag_message(db, message_id, staff.id, _now(request))
    except teaching.TeachingError as error:
        raise web.HTTPNotFound(text="There is no such patient message.") from error
    back = present.transcript_url(conversation_id)
    if not created:
        return await _outcome(request, back, ok=True, message="That message is already in the teaching queue.")
    return await _outcome(request, back, ok=True, message="Flagged: the message is in the teaching queue.")


def add_teach_routes(app: web.Application) -> None:
    """The teaching page, its actions and the flag action."""
    app.router.add_get(TEACH_PATH, teach_page, name="console_teach")
    app.router.add_post(TEACH_PATH + r"/{id:\d+}/label", label_example, name="console_teach_label")
    app.router.add_post(TEACH_PATH + r"/{id:\d+}/dismiss", dismiss_example, name="console_teach_dismiss")
    app.router.add_post(r"/staff/messages/{id:\d+}/flag", flag_message, name="console_flag_message")
