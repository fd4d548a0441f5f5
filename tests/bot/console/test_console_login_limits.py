"""Signing in under attack: password checks off the event loop in a bounded queue, failures locking an
account only for the client address they came from, a limit per address, and an administrator's unlock.

Client addresses come from X-Forwarded-For, believed because the test client (127.0.0.1) is a
trusted proxy here."""
from __future__ import annotations

import asyncio
import dataclasses
import math
import re
import threading
import time

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from bot.appkeys import CLIENT_ADDRESSES
from bot.clinic import staff as staff_accounts
from bot.console.hashing import PASSWORD_WORKERS, PasswordWorkers, PasswordWorkersBusy
from bot.db.models import AuditLog, LoginFailure
from tests.bot.console.conftest import PASSWORD, Console

LOGIN_ERROR = re.compile(r'id="login-error"><strong>Problem: </strong>(.*?)</p>', re.S)
BUSY = "Too many sign-in attempts right now, please try again in a minute."
ADDRESS_PAUSED = "Too many sign-ins failed from your network"
AT_HOME, AT_CLINIC = "203.0.113.7", "198.51.100.20"
STAFF = "staff@clinic.example"


@pytest.fixture
def settings(settings):
    """The console's settings behind a trusted proxy, with one password thread and a short queue."""
    return dataclasses.replace(settings, trusted_proxies=("127.0.0.1",), sign_in_threads=1, sign_in_queue=3)


def from_address(address: str, **headers) -> dict:
    """Headers of a request the proxy forwards for `address`."""
    return {"X-Forwarded-For": address, **headers}


def address_key(app, address: str) -> str:
    """What the database holds for `address`."""
    return app[CLIENT_ADDRESSES].key_of(address)


async def answer(response) -> tuple:
    """What the person signing in sees: the status and the message on the page."""
    text = await response.text()
    found = LOGIN_ERROR.search(text)
    return response.status, found.group(1) if found else None


def audit_rows(session_factory, action):
    with session_factory() as session:
        return list(session.execute(select(AuditLog).where(AuditLog.action == action)
                                    .order_by(AuditLog.id)).scalars())


def slow_hasher(seconds: float) -> PasswordHasher:
    """Real argon2 (one lane, 64 MiB) with enough passes that one check takes about `seconds` here."""
    probe = PasswordHasher(time_cost=1, memory_cost=65536, parallelism=1)
    probe_hash = probe.hash("probe")
    started = time.perf_counter()
    probe.verify(probe_hash, "probe")
    one_pass = time.perf_counter() - started
    return PasswordHasher(time_cost=max(1, math.ceil(seconds / one_pass)), memory_cost=65536, parallelism=1)


class GatedHasher(PasswordHasher):
    """Cheap argon2 whose checks wait until the test opens the gate (so a queue stays full)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1, hash_len=16, salt_len=16)
        self.gate = threading.Event()
        self.waiting = 0

    def verify(self, hash, password):
        self.waiting += 1
        self.gate.wait(timeout=20)
        return super().verify(hash, password)


async def timed(coroutine) -> tuple:
    """(response, seconds it took)."""
    started = time.perf_counter()
    response = await coroutine
    return response, time.perf_counter() - started


async def test_a_flood_of_failed_logins_does_not_slow_a_patient_request(aiohttp_client, console_app,
                                                                        monkeypatch, session_factory):
    monkeypatch.setattr(staff_accounts, "PASSWORD_HASHER", slow_hasher(0.4))
    with session_factory.begin() as db:
        staff_accounts.create_staff_user(db, STAFF, PASSWORD)
    client = await aiohttp_client(console_app)
    console = Console(client)
    await console.page("/staff/login")
    logins = [asyncio.ensure_future(timed(console.post_login(
        STAFF if n % 2 else f"nobody{n}@clinic.example", "not the password", headers=from_address(f"192.0.2.{n}"))))
        for n in range(24)]
    latencies = []
    while not all(task.done() for task in logins):
        response, seconds = await timed(client.get("/healthz"))
        assert response.status == 200
        latencies.append(seconds)
        await asyncio.sleep(0.05)
    results = [(response.status, seconds) for response, seconds in await asyncio.gather(*logins)]
    statuses = [status for status, _ in results]
    assert len(latencies) >= 5, latencies  # the patient's requests were made while logins were checked
    assert max(latencies) < 0.5, latencies
    assert set(statuses) == {401, 429} and statuses.count(401) >= 3
    assert max(seconds for status, seconds in results if status == 429) < 0.5  # refused at once


async def test_sign_ins_beyond_the_queue_are_refused_at_once(aiohttp_client, console_app, accounts,
                                                            monkeypatch, session_factory):
    hasher = GatedHasher()
    monkeypatch.setattr(staff_accounts, "PASSWORD_HASHER", hasher)
    client = await aiohttp_client(console_app)
    console = Console(client)
    await console.page("/staff/login")
    try:
        logins = [asyncio.ensure_future(console.post_login(STAFF, "not the password",
                                                           headers=from_address(f"192.0.2.{n}")))
                  for n in range(24)]
        done, pending = await asyncio.wait(logins, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        while len(done) < 21:
            more, pending = await asyncio.wait(pending, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            assert more, "the refusals did not come while the queue was full"
            done |= more
        refused = [await answer(task.result()) for task in done]
        assert refused == [(429, BUSY)] * 21
        assert all(task.result().headers["Retry-After"] == "60" for task in done)
        assert len(pending) == 3 and client.app[PASSWORD_WORKERS].admitted == 3
        json_caller = await console.post_login(STAFF, PASSWORD, headers=from_address(
            "192.0.2.200", Accept="application/json"))
        assert json_caller.status == 429 and await json_caller.json() == {"ok": False, "error": BUSY}
    finally:
        hasher.gate.set()
    admitted = [await answer(response) for response in await asyncio.gather(*pending)]
    assert [status for status, _ in admitted] == [401] * 3
    assert client.app[PASSWORD_WORKERS].admitted == 0
    assert len(audit_rows(session_factory, "login_failed")) == 3  # refused ones are neither checked nor counted
    assert (await console.login(STAFF, headers=from_address("192.0.2.201"))).status == 303


async def test_one_address_cannot_fill_the_queue(aiohttp_client, console_app, accounts, monkeypatch):
    hasher = GatedHasher()
    monkeypatch.setattr(staff_accounts, "PASSWORD_HASHER", hasher)
    client = await aiohttp_client(console_app)
    console = Console(client)
    await console.page("/staff/login")
    try:
        logins = [asyncio.ensure_future(console.post_login(STAFF, "not the password",
                                                           headers=from_address(AT_HOME)))
                  for _ in range(5)]
        done, pending = set(), set(logins)
        while len(done) < 3:
            more, pending = await asyncio.wait(pending, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            assert more
            done |= more
        assert [task.result().status for task in done] == [429] * 3 and len(pending) == 2
        other = asyncio.ensure_future(console.post_login(STAFF, headers=from_address(AT_CLINIC)))
        for _ in range(500):
            if client.app[PASSWORD_WORKERS].admitted == 3:  # the clinic's sign-in got a place in the queue
                break
            await asyncio.sleep(0.01)
        assert client.app[PASSWORD_WORKERS].admitted == 3 and hasher.waiting == 1
    finally:
        hasher.gate.set()
    assert (await other).status == 303
    await asyncio.gather(*pending)


async def test_failures_from_one_address_lock_the_account_there_only(console, console_app, accounts,
                                                                     session_factory, clock):
    for _ in range(5):
        assert (await console.login(STAFF, "wrong password!!", headers=from_address(AT_HOME))).status == 401
    right_from_home = await console.login(STAFF, headers=from_address(AT_HOME))
    assert right_from_home.status == 401  # locked there
    assert (await console.login(STAFF, headers=from_address(AT_CLINIC))).status == 303
    await console.post("/staff/logout")
    with session_factory() as session:
        stored = set(session.execute(select(LoginFailure.staff_user_id, LoginFailure.address_key)).all())
    assert stored == {(accounts["staff"], address_key(console_app, AT_HOME))}  # a keyed hash, not the address
    locked = audit_rows(session_factory, "staff_locked")
    assert [(r.subject_id, r.detail) for r in locked] == [
        (str(accounts["staff"]), {"address_key": address_key(console_app, AT_HOME), "failures": 5})]
    clock.advance(minutes=16)
    assert (await console.login(STAFF, headers=from_address(AT_HOME))).status == 303


async def test_known_and_unknown_emails_get_the_same_answers(console, accounts):
    known = [await answer(await console.login(STAFF, "wrong password!!", headers=from_address(AT_HOME)))
             for _ in range(7)]
    unknown = [await answer(await console.login("nobody@clinic.example", "wrong password!!",
                                                headers=from_address(AT_CLINIC)))
               for _ in range(7)]
    assert known == unknown
    assert {status for status, _ in known} == {401}


async def test_an_address_over_its_limit_is_refused_for_every_account(console, accounts, session_factory,
                                                                     clock):
    emails = ["staff@clinic.example", "clinician@clinic.example", "admin@clinic.example"] * 4
    emails += [f"nobody{n}@clinic.example" for n in range(8)]
    for email in emails:  # 20 failures, at most 4 on any account: no account is locked
        assert (await console.login(email, "wrong password!!", headers=from_address(AT_HOME))).status == 401
    answers = [await answer(await console.login(email, PASSWORD, headers=from_address(AT_HOME)))
               for email in ("admin@clinic.example", "nobody@clinic.example")]
    assert answers[0] == answers[1] and answers[0][0] == 429 and ADDRESS_PAUSED in answers[0][1]
    blocked = audit_rows(session_factory, "login_address_blocked")
    assert [(r.subject_type, r.detail) for r in blocked] == [("client_address", {"failures": 20})]
    assert len(audit_rows(session_factory, "login_failed")) == 20  # the refused ones are not counted
    assert (await console.login("admin@clinic.example", headers=from_address(AT_CLINIC))).status == 303
    await console.post("/staff/logout")
    json_caller = await console.login("staff@clinic.example", headers=from_address(
        AT_HOME, Accept="application/json"))
    assert json_caller.status == 429 and ADDRESS_PAUSED in (await json_caller.json())["error"]
    clock.advance(minutes=15, seconds=1)
    assert (await console.login("admin@clinic.example", headers=from_address(AT_HOME))).status == 303


async def test_an_administrator_unlock_ends_the_account_s_locks(console, accounts, session_factory):
    for address in (AT_HOME, AT_CLINIC):
        for _ in range(5):
            await console.login(STAFF, "wrong password!!", headers=from_address(address))
    assert (await console.login(STAFF, headers=from_address(AT_CLINIC))).status == 401
    with session_factory.begin() as session:
        staff_accounts.unlock(session, STAFF)
    for address in (AT_HOME, AT_CLINIC):
        assert (await console.login(STAFF, headers=from_address(address))).status == 303
        await console.post("/staff/logout")
    unlocked = audit_rows(session_factory, "staff_unlocked")
    assert [(r.subject_id, r.detail) for r in unlocked] == [(str(accounts["staff"]), {"failures_cleared": 11})]
    assert len(audit_rows(session_factory, "staff_locked")) == 2


async def test_the_sign_in_threads_stop_with_the_application(aiohttp_client, console_app):
    client = await aiohttp_client(console_app)
    workers = client.app[PASSWORD_WORKERS]
    assert await workers.run("k", sum, [1, 2]) == 3
    await client.close()
    with pytest.raises(RuntimeError):
        await workers.run("k", sum, [1, 2])
    assert workers.admitted == 0


async def test_the_queue_gives_places_back_when_checks_end():
    workers = PasswordWorkers(threads=1, queue_limit=2, per_client=1)
    gate = threading.Event()
    try:
        first = asyncio.ensure_future(workers.run("a", gate.wait, 10))
        second = asyncio.ensure_future(workers.run("b", gate.wait, 10))
        await asyncio.sleep(0)
        with pytest.raises(PasswordWorkersBusy):
            await workers.run("c", int)
        first.cancel()  # the caller went away: its check still holds the place until it ends
        await asyncio.sleep(0.05)
        with pytest.raises(PasswordWorkersBusy):
            await workers.run("c", int)
        gate.set()
        assert await second is True
        assert await workers.run("c", int) == 0 and workers.admitted == 0
    finally:
        gate.set()
        workers.shutdown()
