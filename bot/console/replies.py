"""Canned replies in the console: the admins' page to manage them, the list the composer's "/"
picker reads, and one reply filled in for a conversation (bot.clinic.canned_replies).

Adding, editing and deleting are audited (`canned_reply_created`/`_updated`/`_deleted`, the reply's
id only). Filling a reply with the verified patient's first name or next session shows patient
data, so it is audited as `canned_reply_filled` on the patient; filling one that uses neither,
or for an unverified patient, reveals nothing about them and is not.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, Optional
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.orm import Session

from bot.appkeys import SESSION_FACTORY, SETTINGS
from bot.clinic import audit
from bot.clinic import canned_replies as canned
from bot.clinic import inbox as queries
from bot.clinic.bookings import get_patient, upcoming_sessions
from bot.console import present
from bot.console.security import PREFIX, current_staff, require_role
from bot.console.views import _form, _int_param, _now, _outcome, _tz, render

REPLIES_PATH = f"{PREFIX}/replies"


def reply_row(item: canned.CannedReplyView, tz: ZoneInfo, now: datetime) -> Dict[str, Any]:
    """One canned reply on the admins' page and in the picker's list."""
    return {"id": item.id, "title": item.title, "body": item.body,
            "variables": list(canned.variables_of(item.body)),
            "updated_label": present.local_time(item.updated_at, tz, now),
            "update_url": f"{REPLIES_PATH}/{item.id}", "delete_url": f"{REPLIES_PATH}/{item.id}/delete"}


def _audit_change(db: Session, staff_id: int, action: str, reply_id: int, now: datetime) -> None:
    """Audit a change to a canned reply (its id only)."""
    audit.record(db, actor_type="staff", actor_id=staff_id, action=action, subject_type="canned_reply",
                 subject_id=reply_id, now=now)


@require_role("admin")
async def replies_page(request: web.Request) -> web.Response:
    """GET /staff/replies: every canned reply, a form to add one, and one to edit each."""
    now, tz = _now(request), _tz(request)
    with request.app[SESSION_FACTORY]() as db:
        items = canned.list_replies(db)
    return await render(request, "console/replies.html", {
        "title": "Canned replies", "page": "replies", "replies": [reply_row(i, tz, now) for i in items],
        "variables": canned.VARIABLES, "max_title": canned.MAX_TITLE_CHARS, "max_body": canned.MAX_BODY_CHARS,
    })


@require_role("admin")
async def add_reply(request: web.Request) -> web.Response:
    """POST /staff/replies: add a canned reply (title, body)."""
    staff, form, now = current_staff(request), await _form(request), _now(request)
    try:
        with request.app[SESSION_FACTORY].begin() as db:
            item = canned.add_reply(db, form.get("title", ""), form.get("body", ""), staff.id, now)
            _audit_change(db, staff.id, "canned_reply_created", item.id, now)
    except canned.CannedReplyError as error:
        return await _outcome(request, REPLIES_PATH, ok=False, status=422, message=f"Not added: {error}.")
    return await _outcome(request, REPLIES_PATH, ok=True, message=f"Canned reply “{item.title}” added.")


@require_role("admin")
async def update_reply(request: web.Request) -> web.Response:
    """POST /staff/replies/{id}: change a canned reply's title and body."""
    staff, reply_id = current_staff(request), _int_param(request, "id")
    form, now = await _form(request), _now(request)
    try:
        with request.app[SESSION_FACTORY].begin() as db:
            item = canned.update_reply(db, reply_id, form.get("title", ""), form.get("body", ""), staff.id, now)
            _audit_change(db, staff.id, "canned_reply_updated", item.id, now)
    except LookupError as error:
        raise web.HTTPNotFound(text="There is no such canned reply.") from error
    except canned.CannedReplyError as error:
        return await _outcome(request, REPLIES_PATH, ok=False, status=422, message=f"Not saved: {error}.")
    return await _outcome(request, REPLIES_PATH, ok=True, message=f"Canned reply “{item.title}” saved.")


@require_role("admin")
async def delete_reply(request: web.Request) -> web.Response:
    """POST /staff/replies/{id}/delete: delete a canned reply."""
    staff, reply_id, now = current_staff(request), _int_param(request, "id"), _now(request)
    try:
        with request.app[SESSION_FACTORY].begin() as db:
            canned.delete_reply(db, reply_id)
            _audit_change(db, staff.id, "canned_reply_deleted", reply_id, now)
    except LookupError as error:
        raise web.HTTPNotFound(text="There is no such canned reply.") from error
    return await _outcome(request, REPLIES_PATH, ok=True, message="Canned reply deleted.")


async def replies_api(request: web.Request) -> web.Response:
    """GET /staff/api/replies: the canned replies (title, text with its variables unfilled) for the picker."""
    now, tz = _now(request), _tz(request)
    with request.app[SESSION_FACTORY]() as db:
        items = canned.list_replies(db)
    return web.json_response({"replies": [
        {key: row[key] for key in ("id", "title", "body", "variables")}
        for row in (reply_row(i, tz, now) for i in items)]})


def _patient_facts(db: Session, patient_id: Optional[int], tz: ZoneInfo,
                   now: datetime) -> Optional[canned.PatientFacts]:
    """The verified patient's first name and next booked session (None when not verified)."""
    patient = get_patient(db, patient_id) if patient_id else None
    if patient is None:
        return None
    booked = [s for s in upcoming_sessions(db, patient.id, now, limit=5) if s.status == "booked"]
    return canned.PatientFacts(first_name=patient.first_name,
                               next_session=present.local_time(booked[0].starts_at, tz, now) if booked else None)


async def filled_reply(request: web.Request) -> web.Response:
    """GET /staff/api/conversations/{id}/replies/{reply_id}: the canned reply's text filled in for the
    conversation, and which patient variables could not be filled because the patient is not verified."""
    staff = current_staff(request)
    conversation_id, reply_id = _int_param(request, "id"), _int_param(request, "reply_id")
    now, tz, clinic = _now(request), _tz(request), request.app[SETTINGS].clinic
    with request.app[SESSION_FACTORY].begin() as db:
        view = queries.get_conversation(db, conversation_id)
        item = canned.get_reply(db, reply_id)
        if view is None or item is None:
            raise web.HTTPNotFound(text="There is no such conversation or canned reply.")
        facts = _patient_facts(db, view.patient_id, tz, now)
        used = [name for name in canned.variables_of(item.body) if name in canned.PATIENT_VARIABLES]
        if facts is not None and used:
            audit.record(db, actor_type="staff", actor_id=staff.id, action="canned_reply_filled",
                         subject_type="patient", subject_id=view.patient_id,
                         detail={"conversation_id": conversation_id, "canned_reply_id": reply_id,
                                 "variables": used}, now=now)
    text = canned.fill(item.body, clinic_name=clinic.name, clinic_phone=clinic.phone, patient=facts)
    return web.json_response({"id": item.id, "title": item.title, "text": text,
                              "not_verified": used if facts is None else []})


def add_reply_routes(app: web.Application) -> None:
    """The canned replies' page, its actions, the picker's list and the filled-in reply."""
    app.router.add_get(REPLIES_PATH, replies_page, name="console_replies")
    app.router.add_post(REPLIES_PATH, add_reply, name="console_replies_add")
    app.router.add_post(REPLIES_PATH + r"/{id:\d+}", update_reply, name="console_replies_update")
    app.router.add_post(REPLIES_PATH + r"/{id:\d+}/delete", delete_reply, name="console_replies_delete")
    app.router.add_get(f"{PREFIX}/api/replies", replies_api, name="console_replies_api")
    app.router.add_get(PREFIX + r"/api/conversations/{id:\d+}/replies/{reply_id:\d+}", filled_reply,
                       name="console_replies_filled")
