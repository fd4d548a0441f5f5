"""The console's pages, its JSON API and its actions.

Pages are rendered on the server (aiohttp-jinja2, templates in bot/templates/console/) and work
without JavaScript: forms post, the server redirects back with a message (post/redirect/get).
The page script (bot/static/console/console.js) submits the same forms with fetch, asking for
JSON, and redraws from the JSON API when the event stream says something changed.

Staff act on conversations only through the conversation router (reply, assign, hand back);
it records those actions in the audit log. The console records the rest: views of transcripts
and booking details, notes, sign-in and sign-out, audit exports (ids only, never text).
A "Delete my data" request is closed only by an administrator erasing the patient's
conversations (a confirmation page, then bot.privacy.erasure, which audits it), never by
"Mark done".
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from datetime import datetime
from typing import Any, Dict, List, Optional, Tuple
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import aiohttp_session
from aiohttp import web
from sqlalchemy.orm import Session

from bot.appkeys import CLIENT_ADDRESSES, EVENTS, ROUTER, SESSION_FACTORY, SETTINGS
from bot.clinic import audit
from bot.clinic import inbox as queries
from bot.clinic.analytics import Period, RangeError, figures, parse_period
from bot.clinic.login_failures import address_blocked
from bot.clinic.requests import mark_request_done
from bot.clinic.staff import LoginResult, authenticate
from bot.console import care_templates, numbers, present
from bot.console.hashing import PASSWORD_WORKERS, PasswordWorkersBusy
from bot.console.options import CONSOLE_OPTIONS
from bot.console.security import (
    LOGIN_PATH,
    PREFIX,
    csrf_token,
    current_staff,
    end_session,
    flash,
    pop_flash,
    require_role,
    safe_next,
    signed_in_staff,
    start_session,
    wants_json,
)
from bot.conversations.events import InboxEvent
from bot.conversations.router import StaffActionError
from bot.db.models import StaffRequest
from bot.privacy.erasure import ERASURE_ROLES, ErasureError, erase_conversations, plan_erasure

logger = logging.getLogger(__name__)

MAX_FORM_FIELD = 10_000
LOGIN_FAILED = ("The email or password is not right, or the account is locked for a while after too many "
                "attempts. Try again, or ask an administrator.")
SIGN_IN_BUSY = "Too many sign-in attempts right now, please try again in a minute."
SIGN_IN_BUSY_RETRY_SECONDS = 60
ADDRESS_BLOCKED = ("Too many sign-ins failed from your network, so signing in from it is paused for a while. "
                   "Try again later, or ask an administrator.")
HANDED_BACK = "Resolved: the assistant answers this patient again from their next message."
ERASE_NOT_DONE = ("A 'Delete my data' request is closed by erasing the patient's conversations: an "
                  "administrator does it with 'Erase conversations' on the request.")
ERASE_UNCONFIRMED = ("Nothing was erased: tick the box to confirm that the conversations are to be erased "
                     "for good.")
ANALYTICS_ROLES = ("clinician", "admin")
CSV_COLUMNS = ("id", "at_utc", "actor_type", "actor_id", "actor_email", "action", "subject_type",
               "subject_id", "detail")


# ---- helpers --------------------------------------------------------------------------------

def _now(request: web.Request) -> datetime:
    """The console's clock."""
    return request.app[CONSOLE_OPTIONS].clock()
# The largest id an INTEGER column holds on PostgreSQL (ids and pages beyond it cannot exist).
MAX_DATABASE_INTEGER = 2**31 - 1


def _tz(request: web.Request) -> ZoneInfo:
    """The clinic's timezone."""
    return request.app[SETTINGS].clinic.timezone


async def render(request: web.Request, template: str, context: Dict[str, Any],
                 status: int = 200) -> web.Response:
    """A console page with the common context: staff member, CSRF token, messages, clinic."""
    session = await aiohttp_session.get_session(request)
    base = {
        "csrf_token": csrf_token(session),
        "staff": request.get("console_staff"),
        "flash": pop_flash(session),
        "clinic": request.app[SETTINGS].clinic,
    }
    base.update(context)
    return aiohttp_jinja2.render_template(template, request, base, status=status)


async def _form(request: web.Request) -> Dict[str, str]:
    """The posted fields (form or JSON body) as strings."""
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError) as error:
            raise web.HTTPBadRequest(text="the body is not JSON") from error
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        return {str(k): str(v)[:MAX_FORM_FIELD] for k, v in body.items() if isinstance(v, (str, int))}
    form = await request.post()
    return {k: v[:MAX_FORM_FIELD] for k, v in form.items() if isinstance(v, str)}


def _int_param(request: web.Request, name: str) -> int:
    """A numeric path or query parameter: 400 if it is not a number, negative, or a query value
    beyond any id or page the database can hold; 404 for such a path id (nothing has it)."""
    in_path = name in request.match_info
    raw = request.match_info.get(name) if in_path else request.query.get(name, "0")
    try:
        value = int(raw or "0")
    except ValueError as error:
        raise web.HTTPBadRequest(text=f"{name} must be a number") from error
    if value < 0:
        raise web.HTTPBadRequest(text=f"{name} must not be negative")
    if value > MAX_DATABASE_INTEGER:  # SQLite and PostgreSQL would refuse it with an error (500)
        if in_path:
            raise web.HTTPNotFound(text=f"no such {name}")
        raise web.HTTPBadRequest(text=f"{name} is too large")
    return value


async def _outcome(request: web.Request, back: str, *, ok: bool, message: str,
                   status: int = 200) -> web.Response:
    """JSON for the page script; otherwise a message for the next page and a redirect back."""
    if wants_json(request):
        body = {"ok": ok, "message" if ok else "error": message}
        return web.json_response(body, status=status if ok else (status if status >= 400 else 409))
    session = await aiohttp_session.get_session(request)
    flash(session, "info" if ok else "error", message)
    raise web.HTTPSeeOther(back)


# ---- signing in and out ---------------------------------------------------------------------

async def login_page(request: web.Request) -> web.Response:
    """GET /staff/login: the sign-in form (the inbox if already signed in)."""
    session = await aiohttp_session.get_session(request)
    staff, _ = signed_in_staff(request, session)
    if staff is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return await render(request, "console/login.html",
                        {"title": "Sign in", "page": "login", "next": safe_next(request.query.get("next")),
                         "email": "", "error": None})


def _authenticate(app: web.Application, email: str, password: str, address_key: str) -> LoginResult:
    """Check the login in one transaction (runs in a password thread: argon2 is slow on purpose)."""
    options = app[CONSOLE_OPTIONS]
    with app[SESSION_FACTORY].begin() as db:
        return authenticate(db, email, password, options.clock(), address_key=address_key,
                            policy=options.login_policy)


def _address_blocked(request: web.Request, address_key: str) -> bool:
    """True if too many sign-ins failed from the client's address lately (checked before queueing)."""
    options = request.app[CONSOLE_OPTIONS]
    with request.app[SESSION_FACTORY]() as db:
        return address_blocked(db, address_key, options.clock(), options.login_policy)


async def _login_refused(request: web.Request, form: Dict[str, str], message: str, status: int,
                         retry_after: int = 0) -> web.Response:
    """The login form again with `message` (JSON for callers that ask for it); nothing about the account."""
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    if wants_json(request):
        return web.json_response({"ok": False, "error": message}, status=status, headers=headers)
    response = await render(request, "console/login.html", {
        "title": "Sign in", "page": "login", "next": safe_next(form.get("next")),
        "email": form.get("email", "").strip()[:254], "error": message,
    }, status=status)
    response.headers.update(headers)
    return response


async def login(request: web.Request) -> web.Response:
    """POST /staff/login: sign in, or the same message whatever was wrong with the email or password.

    The password check runs in the console's password threads; when they are full, or too many
    sign-ins failed from the client's address, the answer is 429 without checking anything.
    """
    form = await _form(request)
    email, password = form.get("email", "").strip(), form.get("password", "")
    address_key = request.app[CLIENT_ADDRESSES].key_of_request(request)
    lockout_seconds = int(request.app[CONSOLE_OPTIONS].login_policy.window.total_seconds())
    if _address_blocked(request, address_key):
        return await _login_refused(request, form, ADDRESS_BLOCKED, 429, lockout_seconds)
    try:
        result = await request.app[PASSWORD_WORKERS].run(address_key, _authenticate, request.app, email,
                                                          password, address_key)
    except PasswordWorkersBusy:
        return await _login_refused(request, form, SIGN_IN_BUSY, 429, SIGN_IN_BUSY_RETRY_SECONDS)
    if result.address_blocked:
        return await _login_refused(request, form, ADDRESS_BLOCKED, 429, lockout_seconds)
    if result.user is None:
        return await _login_refused(request, form, LOGIN_FAILED, 401)
    target = safe_next(form.get("next"))
    session = await aiohttp_session.get_session(request)
    start_session(session, result.user, _now(request))
    raise web.HTTPSeeOther(target)


async def logout(request: web.Request) -> web.Response:
    """POST /staff/logout: end this session (and every other session of this staff member)."""
    staff = current_staff(request)
    with request.app[SESSION_FACTORY].begin() as db:
        audit.record(db, actor_type="staff", actor_id=staff.id, action="logout", subject_type="staff_user",
                     subject_id=staff.id, now=_now(request))
    session = await aiohttp_session.get_session(request)
    end_session(session)
    flash(session, "info", "You have signed out.")
    raise web.HTTPSeeOther(LOGIN_PATH)


# ---- the inbox ------------------------------------------------------------------------------

VERIFIED_VALUES = {"": None, "yes": True, "no": False}
MAX_BULK_RESOLVE = 200
BULK_ROLES = ("staff", "admin")


def _inbox_filter(request: web.Request) -> queries.InboxFilter:
    """The inbox filter in the query string; 400 with the reason for a value the inbox does not know.

    ?status=open|waiting|assigned|resolved|all &priority= &reason= &channel= &assignee=mine|unassigned|<id>
    &verified=yes|no &q=<search>; the older ?mine=1 means assignee=mine.
    """
    query = request.query
    assignee: Any = query.get("assignee", "") or ("mine" if query.get("mine") in ("1", "on", "true") else None)
    if isinstance(assignee, str) and assignee.isdigit():
        assignee = _int_param(request, "assignee")
    verified = query.get("verified", "")
    if verified not in VERIFIED_VALUES:
        raise web.HTTPBadRequest(text="verified must be yes, no or empty")
    try:
        return queries.InboxFilter(
            status=query.get("status", "") or "open", priority=query.get("priority") or None,
            reason=query.get("reason") or None, channel=query.get("channel") or None, assignee=assignee,
            verified=VERIFIED_VALUES[verified], search=query.get("q", "").strip())
    except queries.InboxFilterError as error:
        raise web.HTTPBadRequest(text=str(error)) from error


def _filter_data(filters: queries.InboxFilter) -> Dict[str, Any]:
    """The filter as the page's form shows it (and as the live redraw sends it back)."""
    verified = {None: "", True: "yes", False: "no"}[filters.verified]
    return {"status": filters.status, "priority": filters.priority or "", "reason": filters.reason or "",
            "channel": filters.channel or "", "assignee": "" if filters.assignee is None else str(filters.assignee),
            "verified": verified, "q": filters.search, "mine": filters.assignee == "mine"}


def _audit_shown(db: Session, session: Any, staff_id: int, now: datetime, *, page_view: bool, key: str,
                 action: str, subject_type: str, detail_key: str, ids: List[int], **extra: Any) -> None:
    """Record which rows were shown: always on a page load; on a background redraw only a set this
    session has not been shown yet (the same rows again show nothing new)."""
    digest = hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16]
    if ids and (page_view or session.get(key) != digest):
        audit.record(db, actor_type="staff", actor_id=staff_id, action=action, subject_type=subject_type,
                     detail={detail_key: ids[:200], **extra}, now=now)
        session[key] = digest


async def _inbox_data(request: web.Request, *, page_view: bool) -> Dict[str, Any]:
    """The inbox rows (a page of them) and open requests as JSON-ready data, their view audited.

    The rows shown (their previews quote the patients) and the requests are each recorded with
    ids only, never the search text; see `_audit_shown` for redraws.
    """
    staff = current_staff(request)
    filters = _inbox_filter(request)
    page_number = max(_int_param(request, "page"), 1)
    now, tz = _now(request), _tz(request)
    session = await aiohttp_session.get_session(request)
    with request.app[SESSION_FACTORY].begin() as db:
        found = queries.inbox_page(db, filters, me=staff.id, now=now, page=page_number,
                                   phone_region=request.app[SETTINGS].default_phone_region)
        requests = queries.list_requests(db)
        _audit_shown(db, session, staff.id, now, page_view=page_view, key="inbox_seen", action="inbox_viewed",
                     subject_type="conversation", detail_key="conversation_ids",
                     ids=[item.conversation_id for item in found.items], page=found.page,
                     searched=bool(filters.search))
        _audit_shown(db, session, staff.id, now, page_view=page_view, key="requests_seen",
                     action="requests_viewed", subject_type="staff_request", detail_key="request_ids",
                     ids=sorted(r.id for r in requests))
    rows = [present.inbox_item(item, tz, now, staff.id) for item in found.items]
    shown = _filter_data(filters)
    return {
        "filter": shown,
        "now": now.isoformat(),
        "escalations": rows,
        "paging": {"page": found.page, "pages": found.pages, "total": found.total,
                   "url": present.inbox_url(shown, page=found.page),
                   "previous_url": present.inbox_url(shown, page=found.page - 1) if found.page > 1 else None,
                   "next_url": present.inbox_url(shown, page=found.page + 1) if found.page < found.pages
                   else None},
        "requests": [present.request_item(r, tz, now) for r in requests],
        "can_erase": staff.role in ERASURE_ROLES,
        "can_bulk_resolve": staff.role in BULK_ROLES,
        "counts": {"urgent": found.urgent_open, "waiting": sum(1 for r in rows if r["status"] == "waiting")},
    }


async def inbox_page(request: web.Request) -> web.Response:
    """GET /staff: escalated conversations (searched, filtered, a page at a time) and staff requests."""
    data = await _inbox_data(request, page_view=True)
    return await render(request, "console/inbox.html", {
        "title": "Inbox", "page": "inbox", "data": data, "filters": present.FILTER_LABELS,
        "views": present.inbox_views(data["filter"]), "choices": present.inbox_choices(),
        "staff_choices": _staff_choices(request),
    })


def _staff_choices(request: web.Request) -> List[Tuple[int, str]]:
    """(id, email) of every staff account, for the assignee filter."""
    with request.app[SESSION_FACTORY]() as db:
        return queries.staff_choices(db)


async def inbox_api(request: web.Request) -> web.Response:
    """GET /staff/api/inbox: the same as JSON, for live redraws (the same filters and page)."""
    return web.json_response(await _inbox_data(request, page_view=False))


@require_role(*BULK_ROLES)
async def bulk_resolve(request: web.Request) -> web.Response:
    """POST /staff/inbox/resolve with escalation_id=<id> (repeated): resolve them at once (spam) and give
    the conversations back to the assistant without telling the patients; each resolution audited."""
    staff = current_staff(request)
    if request.content_type == "application/json":
        fields = await _form(request)
        values = [v for v in fields.get("escalation_ids", "").replace(",", " ").split() if v]
        back = safe_next(fields.get("next"))
    else:
        form = await request.post()
        values = [v for v in form.getall("escalation_id", []) if isinstance(v, str)]
        next_field = form.get("next")
        back = safe_next(next_field if isinstance(next_field, str) else None)
    if not values:
        return await _outcome(request, back, ok=False, status=422, message="Nothing resolved: select some rows first.")
    if len(values) > MAX_BULK_RESOLVE or not all(v.isdigit() and int(v) <= MAX_DATABASE_INTEGER for v in values):
        raise web.HTTPBadRequest(text=f"escalation_id must be up to {MAX_BULK_RESOLVE} escalation ids")
    resolved = await request.app[ROUTER].resolve_quietly([int(v) for v in values], staff.id)
    count = len(resolved)
    return await _outcome(request, back, ok=True, message=(
        f"Resolved {count} conversation{'' if count == 1 else 's'}: the assistant answers them again from their "
        "next message; the patients were not told." if count else "Nothing resolved: those were already resolved."))


# ---- one conversation -----------------------------------------------------------------------

def _load_conversation(db: Session, conversation_id: int) -> queries.ConversationView:
    """The conversation, or 404."""
    view = queries.get_conversation(db, conversation_id)
    if view is None:
        raise web.HTTPNotFound(text="There is no such conversation.")
    return view


def _optional_int_param(request: web.Request, name: str) -> Optional[int]:
    """A numeric query parameter checked as `_int_param` does, or None when it is not given."""
    return _int_param(request, name) if name in request.query else None


def _before_param(request: web.Request) -> Optional[int]:
    """?before=<message id>: the transcript page just before that message (None: the newest page)."""
    before = _optional_int_param(request, "before")
    if before == 0:
        raise web.HTTPBadRequest(text="before must be a message id")
    return before


def _page_of(request: web.Request, db: Session, conversation_id: int,
             before: Optional[int]) -> queries.TranscriptPage:
    """The transcript page before message `before` (the newest page when None), as the options size it."""
    options = request.app[CONSOLE_OPTIONS]
    return queries.transcript_page(db, conversation_id, before, limit=options.transcript_page_messages,
                                   max_chars=options.transcript_page_chars)


def _transcript_viewed(db: Session, staff_id: int, conversation_id: int, now: datetime,
                       **detail: int) -> None:
    """Audit that the staff member was shown messages of the conversation (ids and counts only)."""
    audit.record(db, actor_type="staff", actor_id=staff_id, action="transcript_viewed",
                 subject_type="conversation", subject_id=conversation_id, detail=detail, now=now)


async def conversation_page(request: web.Request) -> web.Response:
    """GET /staff/conversations/{id}?before=M: the newest page of the transcript (or the one before
    message M), escalation, patient, reply, notes (all audited)."""
    staff = current_staff(request)
    conversation_id = _int_param(request, "id")
    before = _before_param(request)
    now, tz = _now(request), _tz(request)
    with request.app[SESSION_FACTORY].begin() as db:
        view = _load_conversation(db, conversation_id)
        page = _page_of(request, db, conversation_id, before)
        notes = queries.notes(db, conversation_id)
        panel = queries.patient_panel(db, view.patient_id, now) if view.patient_id else None
        requests = queries.requests_of_conversation(db, view)
        shown = {"messages": len(page.messages)}
        if before is not None:
            shown["before_message_id"] = before
        _transcript_viewed(db, staff.id, conversation_id, now, **shown)
        if page.messages:  # the inbox's unread marker: read up to the newest message shown
            queries.mark_read(db, staff.id, conversation_id, max(m.id for m in page.messages))
        if panel is not None:
            audit.record(db, actor_type="staff", actor_id=staff.id, action="bookings_viewed",
                         subject_type="patient", subject_id=view.patient_id,
                         detail={"conversation_id": conversation_id}, now=now)
            audit.record(db, actor_type="staff", actor_id=staff.id, action="care_messages_viewed",
                         subject_type="patient", subject_id=view.patient_id,
                         detail={"conversation_id": conversation_id, "care_messages": len(panel.care)}, now=now)
    request_rows = [present.request_item(r, tz, now) for r in requests]
    if panel is None:
        for row in request_rows:  # booking details stay hidden until the patient is verified
            row["session_label"] = ""
    return await render(request, "console/conversation.html", {
        "title": f"Conversation {conversation_id}", "page": "conversation",
        "conversation": present.conversation(view, tz, now, staff.id),
        "messages": [present.message(m, tz, now) for m in page.messages],
        "paging": present.transcript_paging(page, conversation_id),
        "notes": [present.note(n, tz, now) for n in notes],
        "patient": present.patient_panel(panel, tz, now) if panel else None,
        "requests": request_rows,
        "can_erase": staff.role in ERASURE_ROLES,
        "templates": _templates_if_window_closed(request, view),
        "max_reply_chars": request.app[SETTINGS].max_message_chars,
        "max_note_chars": queries.MAX_NOTE_CHARS,
    })


def _templates_if_window_closed(request: web.Request, view: queries.ConversationView) -> List[Dict[str, Any]]:
    """The clinic's approved templates, when the channel's reply window is closed (else none)."""
    router = request.app[ROUTER]
    if router.kind_of(view.channel).refusal(view.last_patient_message_at, router.clock()) is None:
        return []
    return [{"kind": offered.kind, "label": offered.label,
             "fields": [{"name": name, "label": name.replace("_", " ").capitalize()} for name in offered.fields]}
            for offered in care_templates.offered_templates(request.app[SETTINGS].clinic)]


def _asked_messages(request: web.Request, db: Session, conversation_id: int, after: Optional[int],
                    before: Optional[int]) -> Tuple[List[queries.MessageItem], Dict[str, Any]]:
    """The messages the page script asked for, and how it asks for the next ones: the page before
    `before` and "earlier_before", or the messages after `after` and "more_after"; none without either."""
    if before is not None:
        page = _page_of(request, db, conversation_id, before)
        return list(page.messages), {"earlier_before": page.first_id if page.earlier else None}
    if after is None:
        return [], {}
    options = request.app[CONSOLE_OPTIONS]
    messages, more = queries.messages_after(db, conversation_id, after, limit=options.transcript_page_messages,
                                            max_chars=options.transcript_page_chars)
    return messages, {"more_after": more}


async def conversation_api(request: web.Request) -> web.Response:
    """GET /staff/api/conversations/{id}?after=M&after_note=N: the header, the notes after note N and
    the messages after message M (a page of them: "more_after" says whether to ask again); no
    messages without `after`. With ?before=M instead of `after`: the page of messages before message
    M, and "earlier_before" for the page before that (null at the start of the conversation)."""
    staff = current_staff(request)
    conversation_id = _int_param(request, "id")
    after, before = _optional_int_param(request, "after"), _before_param(request)
    if after is not None and before is not None:
        raise web.HTTPBadRequest(text="ask for messages after one message or before one, not both")
    after_note = _int_param(request, "after_note")
    now, tz = _now(request), _tz(request)
    with request.app[SESSION_FACTORY].begin() as db:
        view = _load_conversation(db, conversation_id)
        messages, paging = _asked_messages(request, db, conversation_id, after, before)
        notes = queries.notes(db, conversation_id, after_id=after_note)
        if messages:
            bound = {"before_message_id": before} if before is not None else {"after_message_id": after}
            _transcript_viewed(db, staff.id, conversation_id, now, messages=len(messages), **bound)
            queries.mark_read(db, staff.id, conversation_id, max(m.id for m in messages))
    return web.json_response({
        "conversation": present.conversation(view, tz, now, staff.id),
        "messages": [present.message(m, tz, now) for m in messages],
        "notes": [present.note(n, tz, now) for n in notes],
        **paging,
    })


def _back(conversation_id: int) -> str:
    """The conversation page."""
    return f"{PREFIX}/conversations/{conversation_id}"


async def reply(request: web.Request) -> web.Response:
    """POST /staff/conversations/{id}/reply: send the text to the patient on their channel."""
    staff = current_staff(request)
    conversation_id = _int_param(request, "id")
    form = await _form(request)
    try:
        await request.app[ROUTER].staff_reply(conversation_id, staff.id, form.get("text", ""))
    except StaffActionError as error:
        return await _outcome(request, _back(conversation_id), ok=False, message=f"Not sent: {error}.")
    return await _outcome(request, _back(conversation_id), ok=True, message="Reply sent to the patient.")


async def typing(request: web.Request) -> web.Response:
    """POST /staff/conversations/{id}/typing: tell the patient's web chat that staff are typing
    (the page script sends it at most every few seconds; other channels get nothing)."""
    conversation_id = _int_param(request, "id")
    try:
        told = await request.app[ROUTER].staff_typing(conversation_id)
    except StaffActionError as error:
        raise web.HTTPNotFound(text="There is no such conversation.") from error
    return web.json_response({"ok": True, "told": told})


async def send_template(request: web.Request) -> web.Response:
    """POST /staff/conversations/{id}/template: send the clinic's approved template of `kind`, its
    fields filled from the form (`field_<name>`), when a free-form reply is not allowed."""
    staff = current_staff(request)
    conversation_id = _int_param(request, "id")
    form = await _form(request)
    clinic = request.app[SETTINGS].clinic
    offered = care_templates.find(clinic, form.get("kind", ""))
    back = _back(conversation_id)
    if offered is None:
        return await _outcome(request, back, ok=False, message="Not sent: no approved template of that kind.",
                              status=400)
    typed = {name: form.get(f"field_{name}", "") for name in offered.fields}
    try:
        template, text = care_templates.fill(offered, typed, clinic)
        await request.app[ROUTER].staff_template(conversation_id, staff.id, template, text, kind=offered.kind)
    except (care_templates.TemplateFormError, StaffActionError) as error:
        return await _outcome(request, back, ok=False, message=f"Not sent: {error}.")
    return await _outcome(request, back, ok=True, message=f"{offered.label} template sent to the patient.")


async def assign(request: web.Request) -> web.Response:
    """POST /staff/conversations/{id}/assign: take the conversation (the assistant goes silent)."""
    staff = current_staff(request)
    conversation_id = _int_param(request, "id")
    try:
        await request.app[ROUTER].take_over(conversation_id, staff.id)
    except StaffActionError as error:
        return await _outcome(request, _back(conversation_id), ok=False, message=f"Not assigned: {error}.")
    return await _outcome(request, _back(conversation_id), ok=True,
                          message="The conversation is assigned to you; the assistant will not answer it.")


async def hand_back(request: web.Request) -> web.Response:
    """POST /staff/conversations/{id}/hand-back: resolve and give the conversation back to the assistant."""
    staff = current_staff(request)
    conversation_id = _int_param(request, "id")
    try:
        await request.app[ROUTER].hand_back(conversation_id, staff.id)
    except StaffActionError as error:
        return await _outcome(request, _back(conversation_id), ok=False, message=f"Not handed back: {error}.")
    return await _outcome(request, _back(conversation_id), ok=True,
                          message=HANDED_BACK)


async def add_note(request: web.Request) -> web.Response:
    """POST /staff/conversations/{id}/notes: an internal note (never sent to the patient)."""
    staff = current_staff(request)
    conversation_id = _int_param(request, "id")
    form = await _form(request)
    try:
        with request.app[SESSION_FACTORY].begin() as db:
            queries.add_note(db, conversation_id, staff.id, form.get("text", ""), _now(request))
    except queries.NoteError as error:
        return await _outcome(request, _back(conversation_id), ok=False, message=f"Note not added: {error}.",
                              status=422)
    return await _outcome(request, _back(conversation_id), ok=True, message="Note added (staff only).")


async def request_done(request: web.Request) -> web.Response:
    """POST /staff/requests/{id}/done: the staff request has been dealt with."""
    staff = current_staff(request)
    request_id = _int_param(request, "id")
    form = await _form(request)
    back = safe_next(form.get("next"))
    try:
        with request.app[SESSION_FACTORY].begin() as db:
            row = db.get(StaffRequest, request_id)
            if row is not None and row.kind == "delete_data" and row.status == "open":
                return await _outcome(request, back, ok=False, status=409, message=ERASE_NOT_DONE)
            mark_request_done(db, request_id, staff.id, _now(request))
    except LookupError as error:
        raise web.HTTPNotFound(text="There is no such request.") from error
    request.app[EVENTS].publish(InboxEvent("request_done", request_id=request_id))
    return await _outcome(request, back, ok=True, message="Request marked done.")


# ---- erasing a patient's conversations (admins) --------------------------------------------

def _erase_path(request_id: int) -> str:
    """The confirmation page of an erasure."""
    return f"{PREFIX}/requests/{request_id}/erase"


@require_role(*ERASURE_ROLES)
async def erase_page(request: web.Request) -> web.Response:
    """GET /staff/requests/{id}/erase: what erasing would delete, and the confirmation form."""
    staff = current_staff(request)
    request_id = _int_param(request, "id")
    now, tz = _now(request), _tz(request)
    with request.app[SESSION_FACTORY].begin() as db:
        row = db.get(StaffRequest, request_id)
        if row is None:
            raise web.HTTPNotFound(text="There is no such request.")
        try:
            plan = plan_erasure(db, request_id)
        except ErasureError as error:
            return await _outcome(request, PREFIX, ok=False, message=f"Nothing to erase: {error}.")
        item = queries._request_items(db, [row])[0]
        audit.record(db, actor_type="staff", actor_id=staff.id, action="requests_viewed",
                     subject_type="staff_request", detail={"request_ids": [request_id]}, now=now)
    return await render(request, "console/erase.html", {
        "title": "Erase conversations", "page": "erase", "item": present.request_item(item, tz, now),
        "plan": present.erasure_plan(plan.counts), "open_escalations": plan.open_escalations,
        "erase_url": _erase_path(request_id),
    })


@require_role(*ERASURE_ROLES)
async def erase(request: web.Request) -> web.Response:
    """POST /staff/requests/{id}/erase with confirm=yes: erase the patient's conversations; the request is done."""
    staff = current_staff(request)
    request_id = _int_param(request, "id")
    form = await _form(request)
    if form.get("confirm") != "yes":
        return await _outcome(request, _erase_path(request_id), ok=False, status=422,
                              message=ERASE_UNCONFIRMED)
    try:
        with request.app[SESSION_FACTORY].begin() as db:
            report = erase_conversations(db, request_id, staff_user_id=staff.id, now=_now(request))
    except LookupError as error:
        raise web.HTTPNotFound(text="There is no such request.") from error
    except ErasureError as error:
        return await _outcome(request, PREFIX, ok=False, message=f"Not erased: {error}.")
    except PermissionError:
        return await _outcome(request, PREFIX, ok=False, status=403,
                              message="Only an administrator can erase.")
    request.app[EVENTS].publish(InboxEvent("request_done", request_id=request_id))
    counts = report.counts
    return await _outcome(request, PREFIX, ok=True, message=(
        f"Erased {counts['conversations']} conversation(s): {counts['messages']} messages and "
        f"{counts['events']} assistant memory entries. The request is done; bookings and the patient "
        "record are kept."))


# ---- the audit log (admins) -----------------------------------------------------------------

@require_role("admin")
async def audit_page(request: web.Request) -> web.Response:
    """GET /staff/audit?page=N&action=A: the audit log, newest first."""
    options = request.app[CONSOLE_OPTIONS]
    page = max(_int_param(request, "page"), 1)
    action = request.query.get("action") or None
    now, tz = _now(request), _tz(request)
    with request.app[SESSION_FACTORY]() as db:
        items, total = queries.audit_page(db, page, options.audit_page_size, action)
        actions = queries.audit_actions(db)
    pages = max((total + options.audit_page_size - 1) // options.audit_page_size, 1)
    return await render(request, "console/audit.html", {
        "title": "Audit log", "page": "audit", "rows": [present.audit_row(i, tz, now) for i in items],
        "page_number": page, "pages": pages, "total": total, "action": action or "", "actions": actions,
    })


def _csv_cell(value: Any) -> str:
    """A cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_lines(rows: List[queries.AuditItem]) -> bytes:
    """CSV text for a batch of audit rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in (
            row.id, row.at.isoformat(), row.actor_type, row.actor_id, row.actor_email, row.action,
            row.subject_type, row.subject_id, json.dumps(row.detail, sort_keys=True) if row.detail else "")])
    return buffer.getvalue().encode("utf-8")


@require_role("admin")
async def audit_csv(request: web.Request) -> web.StreamResponse:
    """GET /staff/audit.csv: the whole audit log as CSV (the export itself is audited first)."""
    staff = current_staff(request)
    now = _now(request)
    with request.app[SESSION_FACTORY].begin() as db:
        entry = audit.record(db, actor_type="staff", actor_id=staff.id, action="audit_exported",
                             subject_type="audit_log", now=now)
        db.flush()
        up_to = entry.id
        entry.detail = {"up_to_id": up_to}
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="audit-{now:%Y%m%d-%H%M}.csv"',
    })
    await response.prepare(request)
    header = io.StringIO()
    csv.writer(header).writerow(CSV_COLUMNS)
    await response.write(header.getvalue().encode("utf-8"))
    with request.app[SESSION_FACTORY]() as db:
        for batch in queries.iter_audit(db, up_to_id=up_to):
            await response.write(_csv_lines(batch))
    await response.write_eof()
    return response


# ---- the numbers (clinicians and admins) ---------------------------------------------------

def _period(request: web.Request) -> Period:
    """The period in the query string (?range=day|week|month, or ?from=YYYY-MM-DD&to=YYYY-MM-DD in
    clinic time); RangeError when it is not a valid one."""
    query, tz = request.query, _tz(request)
    return parse_period(query.get("range") or None, query.get("from") or None, query.get("to") or None,
                        today=_now(request).astimezone(tz).date(), tz=tz)


def _analytics_data(request: web.Request, period: Period, output: str) -> Dict[str, Any]:
    """The period's figures as data; the view is audited (the period and format, no patient data)."""
    staff = current_staff(request)
    with request.app[SESSION_FACTORY].begin() as db:
        found = figures(db, period)
        audit.record(db, actor_type="staff", actor_id=staff.id, action="analytics_viewed",
                     subject_type="analytics", detail={"range": period.name, "from": period.first_day.isoformat(),
                                                       "to": period.last_day.isoformat(), "format": output},
                     now=_now(request))
    return numbers.as_data(found)


@require_role(*ANALYTICS_ROLES)
async def analytics_page(request: web.Request) -> web.Response:
    """GET /staff/analytics?range=week (or ?from=&to=): the numbers, as charts and tables."""
    context = {"title": "Analytics", "page": "analytics", "data": None, "error": None,
               "query": dict(request.query), "ranges": numbers.RANGE_LABELS, "percent": numbers.percent,
               "duration": numbers.duration, "day_label": numbers.day_label,
               "care_labels": numbers.CARE_LABELS, "uncategorised": numbers.UNCATEGORISED}
    try:
        period = _period(request)
    except RangeError as error:
        return await render(request, "console/analytics.html", {**context, "error": str(error)}, status=400)
    data = _analytics_data(request, period, "page")
    return await render(request, "console/analytics.html", {**context, "data": data,
                                                            "charts": numbers.page_charts(data)})


@require_role(*ANALYTICS_ROLES)
async def analytics_json(request: web.Request) -> web.Response:
    """GET /staff/analytics.json?range=week: the same figures as JSON (400 with an error for a bad range)."""
    try:
        period = _period(request)
    except RangeError as error:
        return web.json_response({"ok": False, "error": str(error)}, status=400)
    return web.json_response(_analytics_data(request, period, "json"))


@require_role(*ANALYTICS_ROLES)
async def analytics_csv(request: web.Request) -> web.Response:
    """GET /staff/analytics.csv?range=week: the same figures as CSV rows (figure, item, title, value)."""
    try:
        period = _period(request)
    except RangeError as error:
        raise web.HTTPBadRequest(text=str(error)) from error
    data = _analytics_data(request, period, "csv")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(numbers.CSV_COLUMNS)
    for row in numbers.csv_rows(data):
        writer.writerow([_csv_cell(value) for value in row])
    return web.Response(body=buffer.getvalue().encode("utf-8"), headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="analytics-{period.first_day}-{period.last_day}.csv"',
    })


def add_routes(app: web.Application) -> None:
    """Every console route (all of them behind the sign-in check, except the login form)."""
    from bot.console.alerts import add_alert_routes
    from bot.console.live import event_stream
    from bot.console.patients import add_patient_routes
    from bot.console.replies import add_reply_routes
    from bot.console.teach import add_teach_routes

    router = app.router
    router.add_get(LOGIN_PATH, login_page, name="console_login")
    router.add_post(LOGIN_PATH, login, name="console_login_post")
    router.add_post("/staff/logout", logout, name="console_logout")
    router.add_get("/staff", inbox_page, name="console_inbox")
    router.add_get("/staff/api/inbox", inbox_api, name="console_inbox_api")
    router.add_post("/staff/inbox/resolve", bulk_resolve, name="console_bulk_resolve")
    router.add_get("/staff/events", event_stream, name="console_events")
    router.add_get(r"/staff/conversations/{id:\d+}", conversation_page, name="console_conversation")
    router.add_get(r"/staff/api/conversations/{id:\d+}", conversation_api, name="console_conversation_api")
    router.add_post(r"/staff/conversations/{id:\d+}/reply", reply, name="console_reply")
    router.add_post(r"/staff/conversations/{id:\d+}/template", send_template, name="console_template")
    router.add_post(r"/staff/conversations/{id:\d+}/typing", typing, name="console_typing")
    router.add_post(r"/staff/conversations/{id:\d+}/assign", assign, name="console_assign")
    router.add_post(r"/staff/conversations/{id:\d+}/hand-back", hand_back, name="console_hand_back")
    router.add_post(r"/staff/conversations/{id:\d+}/notes", add_note, name="console_add_note")
    router.add_post(r"/staff/requests/{id:\d+}/done", request_done, name="console_request_done")
    router.add_get(r"/staff/requests/{id:\d+}/erase", erase_page, name="console_erase")
    router.add_post(r"/staff/requests/{id:\d+}/erase", erase, name="console_erase_post")
    router.add_get("/staff/audit", audit_page, name="console_audit")
    router.add_get("/staff/audit.csv", audit_csv, name="console_audit_csv")
    add_teach_routes(app)
    add_alert_routes(app)
    router.add_get("/staff/analytics", analytics_page, name="console_analytics")
    router.add_get("/staff/analytics.json", analytics_json, name="console_analytics_json")
    router.add_get("/staff/analytics.csv", analytics_csv, name="console_analytics_csv")
    add_reply_routes(app)
    add_patient_routes(app)
