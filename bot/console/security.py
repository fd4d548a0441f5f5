"""Who is signed in to the console, and the protections every `/staff` request goes through.

Sessions live in an encrypted cookie (aiohttp-session's EncryptedCookieStorage, Fernet): httponly,
SameSite=Strict, path /staff, Secure on https. The cookie holds the staff id, when they signed in,
when they were last active and the CSRF token; the role is read from the database on every
request, so a changed role or a deleted account takes effect at once.

A session ends when:
- the staff member signs out (that ends their sessions on every device: a session that began
  before their latest "logout" audit row is refused);
- nothing was requested for `idle_timeout` (the live inbox's background requests do not count);
- `session_lifetime` has passed since signing in.

Every state-changing request (POST, ...) must carry the session's CSRF token, in the form field
`csrf_token` or the `X-CSRF-Token` header (compared with `hmac.compare_digest`).
"""
from __future__ import annotations

import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Awaitable, Callable, NoReturn, Optional, Tuple
from urllib.parse import quote, urlsplit

import aiohttp_session
from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet

from bot.appkeys import SESSION_FACTORY
from bot.clinic import audit
from bot.clinic.inbox import last_logout_at
from bot.clinic.staff import StaffView, get_staff
from bot.console.options import CONSOLE_OPTIONS
from bot.settings import Settings, SettingsError

logger = logging.getLogger(__name__)

PREFIX = "/staff"
LOGIN_PATH = "/staff/login"
STATIC_PREFIX = "/staff/static/"
# Background requests of the live pages: they need a session but do not keep it alive.
BACKGROUND_PREFIXES = ("/staff/api/", "/staff/events")
COOKIE_NAME = "clinic_staff_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
STAFF = "console_staff"  # request key of the signed-in StaffView
# The cookie's own expiry (the browser drops it) and Fernet's token age limit: an outer bound;
# the idle and lifetime checks below are the ones that normally end a session.
COOKIE_MAX_AGE_SECONDS = 12 * 3600

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def in_console(path: str) -> bool:
    """True for `/staff` and everything under `/staff/`."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def session_fernet(settings: Settings) -> Fernet:
    """The cookie key from SESSION_SECRET; a random one (with a warning) when it is empty."""
    if not settings.session_secret:
        logger.warning("SESSION_SECRET is not set: using a random key, so staff logins end when the "
                       "server restarts (and do not work across several server processes)")
        return Fernet(Fernet.generate_key())
    try:
        return Fernet(settings.session_secret.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise SettingsError(
            "SESSION_SECRET: expected 32 url-safe base64-encoded bytes, e.g. the output of "
            "`python -m bot new-secret`") from error


def is_https(request: web.Request) -> bool:
    """True if the browser used https: directly, or through a proxy that says so.

    Trusting X-Forwarded-Proto here is safe: all it can do is make the sender's own cookie Secure.
    """
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


class ConsoleCookieStorage(EncryptedCookieStorage):
    """EncryptedCookieStorage whose cookie is Secure whenever the request came over https."""

    def __init__(self, fernet: Fernet, *, always_secure: bool = False) -> None:
        """Cookie `clinic_staff_session` on path /staff, httponly, SameSite=Strict."""
        super().__init__(fernet, cookie_name=COOKIE_NAME, path=PREFIX, httponly=True, samesite="Strict",
                         max_age=COOKIE_MAX_AGE_SECONDS)
        self.always_secure = always_secure

    async def save_session(self, request: web.Request, response: web.StreamResponse,
                           session: aiohttp_session.Session) -> None:
        """Set (or delete) the cookie with the Secure flag decided per request."""
        params = self.cookie_params.copy()
        params["secure"] = self.always_secure or is_https(request)
        if session.empty:
            response.del_cookie(self.cookie_name, domain=params["domain"], path=params["path"])
            return
        data = self._encoder(self._get_session_data(session)).encode("utf-8")
        if session.max_age is not None:
            params["max_age"] = session.max_age
            expires = time.gmtime(time.time() + session.max_age)
            params["expires"] = time.strftime("%a, %d-%b-%Y %T GMT", expires)
        response.set_cookie(self.cookie_name, self._fernet.encrypt(data).decode("utf-8"), **params)


@dataclass(frozen=True)
class SignedOut:
    """Why a session that had a staff member no longer has one (for the message on the login page)."""

    reason: str  # idle | lifetime | revoked | gone


def csrf_token(session: aiohttp_session.Session) -> str:
    """The session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


async def csrf_ok(request: web.Request, session: aiohttp_session.Session) -> bool:
    """True if the request carries the session's CSRF token (header, or form field)."""
    expected = session.get("csrf")
    if not expected:
        return False
    supplied = request.headers.get(CSRF_HEADER)
    if supplied is None and request.content_type in FORM_TYPES:
        form = await request.post()
        value = form.get(CSRF_FIELD)
        supplied = value if isinstance(value, str) else None
    if not supplied:
        return False
    return hmac.compare_digest(supplied.encode("utf-8"), str(expected).encode("utf-8"))


def start_session(session: aiohttp_session.Session, staff: StaffView, now: datetime) -> None:
    """A fresh session for a staff member who just signed in (new CSRF token too)."""
    session.invalidate()
    session["uid"] = staff.id
    session["login_at"] = now.isoformat()
    session["seen"] = now.isoformat()
    session["csrf"] = secrets.token_urlsafe(32)


def end_session(session: aiohttp_session.Session) -> None:
    """Forget the staff member; keep a CSRF token so the login form works straight away."""
    session.invalidate()
    csrf_token(session)


def _parse(value: object) -> Optional[datetime]:
    """An ISO datetime from the session, or None if missing or malformed."""
    try:
        return datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None


def signed_in_staff(request: web.Request,
                    session: aiohttp_session.Session) -> Tuple[Optional[StaffView], Optional[SignedOut]]:
    """The staff member of this session, or None and why the session ended (None if never signed in)."""
    uid = session.get("uid")
    if not uid:
        return None, None
    options = request.app[CONSOLE_OPTIONS]
    now = options.clock()
    login_at, seen = _parse(session.get("login_at")), _parse(session.get("seen"))
    if login_at is None or seen is None:
        return None, SignedOut("gone")
    if now - seen > options.idle_timeout:
        return None, SignedOut("idle")
    if now - login_at > options.session_lifetime:
        return None, SignedOut("lifetime")
    with request.app[SESSION_FACTORY]() as db:
        staff = get_staff(db, int(uid))
        logged_out = last_logout_at(db, int(uid)) if staff else None
    if staff is None:
        return None, SignedOut("gone")
    if logged_out is not None and logged_out >= login_at:
        return None, SignedOut("revoked")
    return staff, None


def current_staff(request: web.Request) -> StaffView:
    """The signed-in staff member (the middleware guarantees there is one on protected routes)."""
    return request[STAFF]


def safe_next(target: Optional[str]) -> str:
    """Where to go after signing in: a console path only (never another site), else the inbox."""
    if not target or "\\" in target:
        return PREFIX
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not in_console(parts.path) or parts.path.startswith(LOGIN_PATH):
        return PREFIX
    return target


def wants_json(request: web.Request) -> bool:
    """True for the page scripts' requests (they ask for JSON) and the JSON API."""
    return (request.path.startswith("/staff/api/") or request.path == "/staff/events"
            or request.path.endswith(".json") or "application/json" in request.headers.get("Accept", ""))


def _refuse(request: web.Request, status: int, message: str) -> web.Response:
    """A JSON or plain-text refusal that carries no data."""
    if wants_json(request):
        return web.json_response({"ok": False, "error": message}, status=status)
    return web.Response(status=status, text=message, content_type="text/plain")


def _login_redirect(request: web.Request) -> NoReturn:
    """Send a browser to the login page, coming back here afterwards (GET pages only)."""
    target = request.path_qs if request.method in ("GET", "HEAD") else PREFIX
    raise web.HTTPFound(f"{LOGIN_PATH}?next={quote(target, safe='/')}")


SIGNED_OUT_MESSAGES = {
    "idle": "You were signed out after a period without activity. Please sign in again.",
    "lifetime": "Your session has ended. Please sign in again.",
    "revoked": "You signed out (perhaps on another device). Please sign in again.",
    "gone": "Please sign in again.",
}


def flash(session: aiohttp_session.Session, kind: str, text: str) -> None:
    """A message for the next page the staff member sees (kind: info | error)."""
    messages = list(session.get("flash") or [])
    messages.append({"kind": kind, "text": text})
    session["flash"] = messages[-5:]


def pop_flash(session: aiohttp_session.Session) -> list:
    """The waiting messages, removed from the session."""
    messages = session.get("flash") or []
    if messages:
        del session["flash"]
    return messages


@web.middleware
async def console_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """For `/staff` paths: CSRF on state changes, sign-in on everything but login and static files."""
    path = request.path
    if path.startswith(STATIC_PREFIX):
        return await handler(request)
    session = await aiohttp_session.get_session(request)
    if request.method not in SAFE_METHODS and not await csrf_ok(request, session):
        if path == LOGIN_PATH:
            flash(session, "error", "The sign-in form had expired. Please try again.")
            raise web.HTTPSeeOther(LOGIN_PATH)
        return _refuse(request, 403, "This form has expired or did not come from the console. "
                                     "Reload the page and try again.")
    if path == LOGIN_PATH:
        return await handler(request)
    staff, ended = signed_in_staff(request, session)
    if staff is None:
        if ended is not None:
            _record_end(request, session, ended)
            end_session(session)
            flash(session, "info", SIGNED_OUT_MESSAGES[ended.reason])
        if request.method in ("GET", "HEAD") and not wants_json(request):
            _login_redirect(request)
        return _refuse(request, 401, "Please sign in.")
    request[STAFF] = staff
    if not path.startswith(BACKGROUND_PREFIXES):
        session["seen"] = request.app[CONSOLE_OPTIONS].clock().isoformat()
    return await handler(request)


def _record_end(request: web.Request, session: aiohttp_session.Session, ended: SignedOut) -> None:
    """Audit a session that ran out (idle or lifetime); sign-outs are audited when they happen."""
    if ended.reason not in ("idle", "lifetime"):
        return
    uid = session.get("uid")
    with request.app[SESSION_FACTORY].begin() as db:
        audit.record(db, actor_type="staff", actor_id=uid, action="session_expired",
                     subject_type="staff_user", subject_id=uid, detail={"reason": ended.reason},
                     now=request.app[CONSOLE_OPTIONS].clock())


def console_middleware(storage: ConsoleCookieStorage) -> Middleware:
    """The session middleware (aiohttp-session) and the guard, for `/staff` paths only."""
    sessions = aiohttp_session.session_middleware(storage)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not in_console(request.path):
            return await handler(request)
        return await sessions(request, lambda req: console_guard(req, handler))

    return middleware


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: strict headers on every console response (pages, API, stream, errors)."""
    if not in_console(request.path):
        return
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.path.startswith(STATIC_PREFIX):
        headers.setdefault("Cache-Control", "no-cache")
    else:
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"


def require_role(*roles: str) -> Callable[[Handler], Handler]:
    """Decorator: 403 unless the signed-in staff member has one of `roles`."""
    refusal = ("This page is for administrators only." if tuple(roles) == ("admin",)
               else f"This page is for {' and '.join(f'{role}s' for role in roles)} only.")

    def decorate(handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            if current_staff(request).role not in roles:
                return _refuse(request, 403, refusal)
            return await handler(request)
        wrapped.__name__ = handler.__name__
        wrapped.__doc__ = handler.__doc__
        return wrapped
    return decorate
