"""Signing in and out, lockout, idle timeout, CSRF, roles, security headers, and every route closed."""
from __future__ import annotations

import dataclasses
import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from yarl import URL

from bot.db.models import AuditLog, LoginFailure, StaffUser
from bot.settings import SettingsError
from tests.bot.console.conftest import PASSWORD, Console

SECRET_TEXT = "SECRET-PATIENT-TEXT-7731"
GENERIC_ERROR = re.compile(r'id="login-error">(.*?)</p>', re.S)


def audit_actions(session_factory, action=None):
    with session_factory() as session:
        query = select(AuditLog).order_by(AuditLog.id)
        if action:
            query = query.where(AuditLog.action == action)
        return list(session.execute(query).scalars())


async def test_login_page_has_the_form(console):
    response, text = await console.page("/staff/login")
    assert response.status == 200
    for needle in ('id="email"', 'id="password"', 'button type="submit"', 'name="csrf_token"'):
        assert needle in text


async def test_sign_in_then_out(console, accounts, session_factory):
    response = await console.login("staff@clinic.example")
    assert response.status == 303 and response.headers["Location"] == "/staff"
    response, text = await console.page("/staff")
    assert response.status == 200 and "Signed in as <strong>staff@clinic.example</strong>" in text

    response = await console.post("/staff/logout")
    assert response.status == 303 and response.headers["Location"] == "/staff/login"
    response = await console.client.get("/staff", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"].startswith("/staff/login")

    logins, logouts = audit_actions(session_factory, "login"), audit_actions(session_factory, "logout")
    assert [(r.actor_type, r.actor_id) for r in logins] == [("staff", str(accounts["staff"]))]
    assert [(r.actor_type, r.actor_id, r.subject_id) for r in logouts] == [
        ("staff", str(accounts["staff"]), str(accounts["staff"]))]


async def test_the_same_answer_for_an_unknown_email_and_a_wrong_password(console, accounts, session_factory):
    wrong = await console.login("staff@clinic.example", "not the password at all")
    wrong_text = await wrong.text()
    unknown = await console.login("nobody@clinic.example", PASSWORD)
    unknown_text = await unknown.text()
    assert wrong.status == unknown.status == 401
    assert GENERIC_ERROR.search(wrong_text).group(1) == GENERIC_ERROR.search(unknown_text).group(1)
    failed = audit_actions(session_factory, "login_failed")
    assert [r.actor_id for r in failed] == [str(accounts["staff"]), None]
    assert all("nobody" not in str(r.detail) for r in failed)  # what was typed is never stored


async def test_five_failures_lock_the_account_for_fifteen_minutes(console, accounts, session_factory, clock):
    for _ in range(5):
        assert (await console.login("staff@clinic.example", "wrong password!!")).status == 401
    with session_factory() as session:
        stored = session.execute(select(LoginFailure.staff_user_id, LoginFailure.at)).all()
    assert stored == [(accounts["staff"], clock.now)] * 5
    locked = await console.login("staff@clinic.example", PASSWORD)
    assert locked.status == 401
    assert GENERIC_ERROR.search(await locked.text())
    clock.advance(minutes=14)
    assert (await console.login("staff@clinic.example", PASSWORD)).status == 401
    clock.advance(minutes=2)
    assert (await console.login("staff@clinic.example", PASSWORD)).status == 303
    with session_factory() as session:  # signing in forgot the failures from this address
        assert session.execute(select(LoginFailure)).all() == []
    reasons = [r.detail["reason"] for r in audit_actions(session_factory, "login_failed")]
    assert reasons == ["wrong_password"] * 5 + ["locked", "locked"]


async def test_next_page_after_sign_in_stays_in_the_console(console, accounts):
    response = await console.login("staff@clinic.example", next_path="/staff/conversations/4")
    assert response.headers["Location"] == "/staff/conversations/4"
    await console.post("/staff/logout")
    for target in ("https://evil.example/", "//evil.example/staff", "/elsewhere", "/staff/login"):
        response = await console.login("staff@clinic.example", next_path=target)
        assert response.headers["Location"] == "/staff", target
        await console.post("/staff/logout")


async def test_a_page_asked_for_while_signed_out_comes_back_after_sign_in(console, accounts):
    response = await console.client.get("/staff/conversations/9?x=1", allow_redirects=False)
    assert response.status == 302
    location = URL(response.headers["Location"])
    assert location.path == "/staff/login" and location.query["next"] == "/staff/conversations/9?x=1"
    _, text = await console.page(str(location))
    assert 'name="next" value="/staff/conversations/9?x=1"' in text


async def test_idle_sessions_end_after_thirty_minutes(console, accounts, clock, session_factory):
    await console.signed_in_as("staff@clinic.example")
    clock.advance(minutes=20)
    assert (await console.client.get("/staff", allow_redirects=False)).status == 200
    clock.advance(minutes=20)  # 40 minutes since sign-in, 20 since the last page: still signed in
    assert (await console.client.get("/staff", allow_redirects=False)).status == 200
    clock.advance(minutes=20)
    assert (await console.client.get("/staff/api/inbox")).status == 200  # background: does not count
    clock.advance(minutes=11)
    response = await console.client.get("/staff", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"].startswith("/staff/login")
    _, text = await console.page("/staff/login")
    assert "signed out after a period without activity" in text
    expired = audit_actions(session_factory, "session_expired")
    assert [(r.actor_id, r.detail) for r in expired] == [(str(accounts["staff"]), {"reason": "idle"})]


async def test_idle_session_answers_401_to_the_api(console, accounts, clock):
    await console.signed_in_as("staff@clinic.example")
    clock.advance(minutes=31)
    response = await console.client.get("/staff/api/inbox")
    assert response.status == 401
    assert await response.json() == {"ok": False, "error": "Please sign in."}


async def test_sessions_end_after_twelve_hours_even_when_active(console, accounts, clock):
    await console.signed_in_as("staff@clinic.example")
    signed_in_at = clock.now
    for _ in range(30):
        clock.advance(minutes=29)
        response = await console.client.get("/staff", allow_redirects=False)
        if response.status != 200:
            break
    assert response.status == 302
    assert timedelta(hours=12) < clock.now - signed_in_at <= timedelta(hours=12, minutes=29)


async def test_signing_out_ends_the_other_sessions_too(aiohttp_client, client, console, accounts, clock):
    other = Console(await aiohttp_client(client.server))
    await console.signed_in_as("staff@clinic.example")
    await other.signed_in_as("staff@clinic.example")
    stolen = console.client.session.cookie_jar.filter_cookies(URL(str(client.make_url("/staff"))))
    cookie = stolen["clinic_staff_session"].value
    clock.advance(seconds=5)
    await console.post("/staff/logout")
    assert (await other.client.get("/staff", allow_redirects=False)).status == 302
    replay = await aiohttp_client(client.server)
    response = await replay.get("/staff", headers={"Cookie": f"clinic_staff_session={cookie}"},
                                allow_redirects=False)
    assert response.status == 302
    clock.advance(seconds=5)
    await other.signed_in_as("staff@clinic.example")  # a new sign-in works again
    assert (await other.client.get("/staff", allow_redirects=False)).status == 200


async def test_state_changes_need_the_csrf_token(console, accounts, rows):
    conversation = rows.conversation("web")
    await console.signed_in_as("staff@clinic.example")
    missing = await console.client.post(f"/staff/conversations/{conversation}/notes", data={"text": "x"},
                                        allow_redirects=False)
    wrong = await console.client.post(f"/staff/conversations/{conversation}/notes",
                                      data={"text": "x", "csrf_token": "forged"}, allow_redirects=False)
    wrong_header = await console.client.post(f"/staff/conversations/{conversation}/notes", data={"text": "x"},
                                             headers={"X-CSRF-Token": "forged", "Accept": "application/json"})
    assert (missing.status, wrong.status, wrong_header.status) == (403, 403, 403)
    assert (await wrong_header.json())["ok"] is False
    by_header = await console.post(f"/staff/conversations/{conversation}/notes", {"text": "ok"}, json_api=True)
    by_form = await console.post(f"/staff/conversations/{conversation}/notes", {"text": "ok too"})
    assert by_header.status == 200 and (await by_header.json())["ok"] is True
    assert by_form.status == 303


async def test_a_token_from_another_session_is_refused(aiohttp_client, client, console, accounts, rows):
    conversation = rows.conversation("web")
    attacker = Console(await aiohttp_client(client.server))
    await attacker.page("/staff/login")
    await console.signed_in_as("staff@clinic.example")
    response = await console.client.post(f"/staff/conversations/{conversation}/notes",
                                         data={"text": "x", "csrf_token": attacker.csrf}, allow_redirects=False)
    assert response.status == 403


async def test_login_without_the_csrf_token_goes_back_to_the_form(console, accounts):
    response = await console.client.post("/staff/login", data={"email": "staff@clinic.example",
                                                               "password": PASSWORD}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/staff/login"
    _, text = await console.page("/staff/login")
    assert "The sign-in form had expired" in text


@pytest.mark.parametrize("role", ["staff", "clinician"])
async def test_the_audit_log_is_for_admins_only(console, accounts, role):
    _, text = await (await console.signed_in_as(f"{role}@clinic.example")).page("/staff")
    assert "/staff/audit" not in text
    assert (await console.client.get("/staff/audit")).status == 403
    assert (await console.client.get("/staff/audit.csv")).status == 403


async def test_admins_see_the_audit_log(console, accounts):
    _, text = await (await console.signed_in_as("admin@clinic.example")).page("/staff")
    assert 'href="/staff/audit"' in text
    assert (await console.client.get("/staff/audit")).status == 200


def console_routes(app):
    """(method, path) for every route under /staff, with sample values for the path parameters."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix") or ""
        if not path.startswith("/staff"):
            continue
        found.append((route.method, re.sub(r"\{[^}]+\}", "1", path), "prefix" in info))
    return found


async def test_every_console_route_refuses_a_signed_out_visitor(console, console_app, rows, accounts):
    conversation = rows.conversation("sms", "+447700900123")
    rows.message(conversation, SECRET_TEXT)
    rows.escalation(conversation)
    rows.request("sms:+447700900123", wishes=SECRET_TEXT)
    routes = console_routes(console_app)
    assert len(routes) >= 15
    checked = set()
    for method, path, is_static in routes:
        if is_static:
            continue
        checked.add(path)
        response = await console.client.request(method, path, allow_redirects=False)
        body = await response.text()
        assert SECRET_TEXT not in body and "inbox-row" not in body and "msg-text" not in body, (method, path)
        if path == "/staff/login":
            assert response.status in (200, 303), (method, path)
            continue
        if method in ("GET", "HEAD") and "/api/" not in path and path != "/staff/events" \
                and not path.endswith(".json"):  # the JSON API and exports answer 401, pages redirect
            assert response.status == 302, (method, path, response.status)
            assert response.headers["Location"].startswith("/staff/login")
        else:
            assert response.status in (401, 403), (method, path, response.status)
    # With a valid CSRF token (from the login page) but no sign-in, every POST is still refused.
    await console.page("/staff/login")
    for method, path, is_static in routes:
        if method == "POST" and path != "/staff/login" and not is_static:
            response = await console.post(path, {"text": SECRET_TEXT})
            assert response.status == 401, path
    assert {"/staff", "/staff/api/inbox", "/staff/events", "/staff/conversations/1", "/staff/audit",
            "/staff/audit.csv", "/staff/requests/1/done"} <= checked


async def test_static_files_are_only_the_console_assets(console):
    response = await console.client.get("/staff/static/console.js")
    assert response.status == 200 and "javascript" in response.headers["Content-Type"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/staff/static/%2E%2E/%2E%2E/console/views.py", "/staff/static/..%2F..%2Fconsole%2Fviews.py"):
        response = await console.client.get(path, allow_redirects=False)
        assert response.status in (302, 403, 404) and "def " not in await response.text(), path
    assert (await console.client.get("/staff/static/", allow_redirects=False)).status in (403, 404)


@pytest.mark.parametrize("path", ["/staff/login", "/staff", "/staff/api/inbox", "/staff/conversations/999"])
async def test_console_responses_carry_security_headers(console, accounts, path):
    await console.signed_in_as("staff@clinic.example")
    response = await console.client.get(path, allow_redirects=False)
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


async def test_pages_have_no_inline_script(console, accounts, rows):
    conversation = rows.conversation("web")
    await console.signed_in_as("admin@clinic.example")
    for path in ("/staff/login", "/staff", f"/staff/conversations/{conversation}", "/staff/audit"):
        _, text = await console.page(path)
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", text) == [], path
        assert " style=" not in text and "<style" not in text and "onclick" not in text.lower(), path


async def test_the_cookie_is_httponly_strict_and_scoped_to_the_console(console, accounts):
    response = await console.login("staff@clinic.example")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/staff" in cookie
    assert "Secure" not in cookie  # plain http in the test
    await console.page("/staff/login")
    behind_https = await console.client.post("/staff/login", data={
        "email": "staff@clinic.example", "password": PASSWORD, "csrf_token": console.csrf},
        headers={"X-Forwarded-Proto": "https"}, allow_redirects=False)
    assert "Secure" in behind_https.headers["Set-Cookie"]


async def test_patient_pages_are_not_served_a_session_cookie(console, accounts):
    await console.signed_in_as("staff@clinic.example")
    response = await console.client.get("/healthz")
    assert "Set-Cookie" not in response.headers
    assert "Content-Security-Policy" not in response.headers


def test_an_empty_session_secret_means_a_random_key_and_a_warning(settings, caplog):
    from bot.app import create_app
    from tests.bot.console.conftest import FakeEngine

    with caplog.at_level(logging.WARNING, logger="bot.console.security"):
        create_app(dataclasses.replace(settings, session_secret=""), engine=FakeEngine(), use_default_screen=False)
    assert any("SESSION_SECRET" in r.getMessage() and "restart" in r.getMessage() for r in caplog.records)


def test_a_malformed_session_secret_is_refused(settings):
    from bot.app import create_app
    from tests.bot.console.conftest import FakeEngine

    with pytest.raises(SettingsError, match="SESSION_SECRET"):
        create_app(dataclasses.replace(settings, session_secret="too-short"), engine=FakeEngine(),
                   use_default_screen=False)


async def test_roles_and_accounts_are_read_from_the_database_on_every_request(console, accounts, session_factory):
    await console.signed_in_as("staff@clinic.example")
    assert (await console.client.get("/staff/audit")).status == 403
    with session_factory.begin() as session:
        session.get(StaffUser, accounts["staff"]).role = "admin"
    assert (await console.client.get("/staff/audit")).status == 200
    with session_factory.begin() as session:
        session.delete(session.get(StaffUser, accounts["staff"]))
    response = await console.client.get("/staff", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"].startswith("/staff/login")


async def test_the_login_page_sends_a_signed_in_member_to_the_inbox(console, accounts):
    await console.signed_in_as("staff@clinic.example")
    response = await console.client.get("/staff/login", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/staff"


async def test_head_on_the_event_stream_does_not_hold_the_connection(console, accounts):
    await console.signed_in_as("staff@clinic.example")
    response = await console.client.head("/staff/events")
    assert response.status == 200
