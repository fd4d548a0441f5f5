"""Staff accounts: argon2 hashes, login checks and locks per account and client address, the demo
account, `python -m bot staff`."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from bot.__main__ import COMMANDS, main
from bot.clinic import staff
from bot.clinic.login_failures import DEFAULT_POLICY, LoginPolicy
from bot.console.cli import read_password
from bot.db.models import AuditLog, LoginFailure, StaffUser
from tests.support.database import copy_sqlite_file, sessions_on, sqlite_url

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
PASSWORD = "a long enough password"
WRONG = "wrong wrong wrong"
# Keyed client addresses (what bot/web/client_address.py makes; the database never sees an address).
AT_HOME, AT_CLINIC = "a" * 32, "c" * 32


class CountingHasher(PasswordHasher):
    """Cheap argon2 parameters (the real ones take a fraction of a second per hash, on purpose),
    counting the password checks."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1, hash_len=16, salt_len=16)
        self.checks = 0

    def verify(self, hash, password):
        self.checks += 1
        return super().verify(hash, password)


@pytest.fixture(autouse=True)
def hasher(monkeypatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(staff, "PASSWORD_HASHER", counting)
    return counting


def make(session_factory, email="jo@clinic.example", role="staff", password=PASSWORD):
    with session_factory.begin() as session:
        return staff.create_staff_user(session, email, password, role, now=NOW)


def sign_in(session_factory, email="jo@clinic.example", password=PASSWORD, address=AT_HOME, now=NOW,
            policy=DEFAULT_POLICY):
    with session_factory.begin() as session:
        return staff.authenticate(session, email, password, now, address_key=address, policy=policy)


def audit_rows(session_factory, action):
    with session_factory() as session:
        return list(session.execute(select(AuditLog).where(AuditLog.action == action)
                                    .order_by(AuditLog.id)).scalars())


def failure_rows(session_factory):
    with session_factory() as session:
        return [(r.staff_user_id, r.address_key, r.at)
                for r in session.execute(select(LoginFailure).order_by(LoginFailure.id)).scalars()]


def test_passwords_are_stored_as_argon2id_hashes(session_factory):
    created = make(session_factory, email="  Jo@Clinic.Example ")
    assert (created.email, created.role) == ("jo@clinic.example", "staff")
    with session_factory() as session:
        user = session.get(StaffUser, created.id)
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        audit = session.execute(select(AuditLog)).scalars().one()
    assert (audit.action, audit.subject_id, audit.detail) == ("staff_account_created", str(created.id),
                                                             {"role": "staff"})
    assert staff.verify_password(user.password_hash, PASSWORD)
    assert not staff.verify_password(user.password_hash, PASSWORD + "x")
    assert not staff.verify_password("not a hash", PASSWORD)


@pytest.mark.parametrize("email, role, password, message", [
    ("not-an-email", "staff", PASSWORD, "not an email address"),
    ("a@clinic.example", "owner", PASSWORD, "the role must be one of staff, clinician, admin"),
    ("a@clinic.example", "staff", "short", "at least 12 characters"),
])
def test_bad_accounts_are_refused(session_factory, email, role, password, message):
    with pytest.raises(staff.StaffAccountError, match=message), session_factory.begin() as session:
        staff.create_staff_user(session, email, password, role)


def test_an_email_has_one_account(session_factory):
    make(session_factory)
    with pytest.raises(staff.StaffAccountError, match="already an account"):
        make(session_factory, email="JO@clinic.example")


def test_login_succeeds_and_is_audited(session_factory):
    created = make(session_factory)
    result = sign_in(session_factory, "JO@clinic.example ")
    assert result.ok and result.user.id == created.id and result.user.role == "staff"
    with session_factory() as session:
        row = session.execute(select(AuditLog).where(AuditLog.action == "login")).scalars().one()
    assert (row.actor_type, row.actor_id, row.at) == ("staff", str(created.id), NOW)


def test_five_failures_lock_the_account_for_that_address_only(any_session_factory):
    created = make(any_session_factory)
    for attempt in range(5):
        result = sign_in(any_session_factory, password=WRONG)
        assert not result.ok and result.locked_now == (attempt == 4)
    assert failure_rows(any_session_factory) == [(created.id, AT_HOME, NOW)] * 5
    locked = audit_rows(any_session_factory, "staff_locked")
    assert [(r.actor_type, r.subject_id, r.detail) for r in locked] == [
        ("system", str(created.id), {"address_key": AT_HOME, "failures": 5})]
    later = NOW + timedelta(minutes=14)
    assert not sign_in(any_session_factory, now=later).ok  # the right password, from the same address
    assert sign_in(any_session_factory, address=AT_CLINIC, now=later).ok  # elsewhere it still works
    # Attempts while locked count too: five more at 14 minutes keep it locked after the first five expire.
    for _ in range(4):
        sign_in(any_session_factory, password=WRONG, now=later)
    assert not sign_in(any_session_factory, now=NOW + timedelta(minutes=15, seconds=1)).ok
    assert sign_in(any_session_factory, now=NOW + timedelta(minutes=29, seconds=1)).ok
    reasons = [r.detail["reason"] for r in audit_rows(any_session_factory, "login_failed")]
    assert reasons == ["wrong_password"] * 5 + ["locked"] * 6
    assert len(audit_rows(any_session_factory, "staff_locked")) == 1


def test_a_hash_made_with_other_parameters_is_redone_at_sign_in(session_factory):
    created = make(session_factory)
    older = PasswordHasher(time_cost=1, memory_cost=32, parallelism=4, hash_len=16, salt_len=16)
    with session_factory.begin() as session:
        session.get(StaffUser, created.id).password_hash = older.hash(PASSWORD)
    assert sign_in(session_factory).ok
    with session_factory() as session:
        stored = session.get(StaffUser, created.id).password_hash
    assert ",p=1$" in stored and staff.verify_password(stored, PASSWORD)


def test_a_success_forgets_that_address_s_failures(session_factory):
    created = make(session_factory)
    for address in (AT_HOME, AT_CLINIC):
        for _ in range(4):
            sign_in(session_factory, password=WRONG, address=address)
    assert sign_in(session_factory, address=AT_HOME).ok
    assert not sign_in(session_factory, password=WRONG, address=AT_HOME).locked_now
    assert sign_in(session_factory, password=WRONG, address=AT_CLINIC).locked_now
    with session_factory() as session:
        assert staff.locked_addresses(session, created.id, NOW) == 1


def test_an_unknown_email_is_audited_without_what_was_typed(session_factory):
    result = sign_in(session_factory, "stranger@example.com")
    assert not result.ok
    with session_factory() as session:
        row = session.execute(select(AuditLog)).scalars().one()
    assert (row.action, row.actor_id, row.subject_id, row.detail) == (
        "login_failed", None, None, {"reason": "unknown_account"})
    assert failure_rows(session_factory) == [(None, AT_HOME, NOW)]


def test_every_attempt_checks_one_password_whatever_is_wrong(session_factory, hasher):
    make(session_factory)
    checks = []
    for email, password in [("jo@clinic.example", WRONG)] * 5 + [("nobody@clinic.example", PASSWORD),
                                                                  ("jo@clinic.example", PASSWORD)]:
        before = hasher.checks
        result = sign_in(session_factory, email, password)
        checks.append((result.ok, result.address_blocked, hasher.checks - before))
    assert checks == [(False, False, 1)] * 7  # wrong password, unknown email, locked account alike


def test_an_address_that_fails_too_often_is_refused_for_every_account(any_session_factory, hasher):
    make(any_session_factory)
    make(any_session_factory, email="sam@clinic.example")
    policy = LoginPolicy(max_failures=5, address_max_failures=8)
    emails = ["jo@clinic.example"] * 4 + ["nobody@clinic.example", "else@clinic.example"] * 2
    for email in emails:
        assert not sign_in(any_session_factory, email, WRONG, policy=policy).address_blocked
    blocked = audit_rows(any_session_factory, "login_address_blocked")
    assert [(r.subject_type, r.subject_id, r.detail) for r in blocked] == [
        ("client_address", AT_HOME, {"failures": 8})]
    before = hasher.checks
    for email in ("sam@clinic.example", "nobody@clinic.example"):  # the right password, or no account
        result = sign_in(any_session_factory, email, PASSWORD, policy=policy)
        assert (result.ok, result.address_blocked) == (False, True)
    assert hasher.checks == before  # refused without checking a password, and not counted
    assert len(failure_rows(any_session_factory)) == 8
    assert sign_in(any_session_factory, "sam@clinic.example", address=AT_CLINIC, policy=policy).ok
    assert sign_in(any_session_factory, "sam@clinic.example", policy=policy,
                   now=NOW + timedelta(minutes=15, seconds=1)).ok


def test_old_failures_are_deleted_as_new_ones_come(session_factory):
    created = make(session_factory)
    sign_in(session_factory, password=WRONG)
    sign_in(session_factory, "nobody@clinic.example", address=AT_CLINIC, now=NOW + timedelta(minutes=5))
    later = NOW + timedelta(minutes=16)
    sign_in(session_factory, password=WRONG, now=later)
    assert failure_rows(session_factory) == [(None, AT_CLINIC, NOW + timedelta(minutes=5)),
                                             (created.id, AT_HOME, later)]


def test_set_password_and_unlock_end_the_locks_from_every_address(any_session_factory):
    created = make(any_session_factory)
    for address in (AT_HOME, AT_CLINIC):
        for _ in range(5):
            sign_in(any_session_factory, password=WRONG, address=address)
    sign_in(any_session_factory, "nobody@clinic.example", PASSWORD)
    with any_session_factory.begin() as session:
        user = staff.find_staff(session, "jo@clinic.example")
        user.failed_logins, user.locked_until = 3, NOW + timedelta(minutes=10)  # as the older code left it
    with any_session_factory() as session:
        assert staff.locked_addresses(session, created.id, NOW) == 2
    with any_session_factory.begin() as session:
        staff.unlock(session, "jo@clinic.example", now=NOW)
    assert failure_rows(any_session_factory) == [(None, AT_HOME, NOW)]  # only the unknown email's
    with any_session_factory() as session:
        user = session.get(StaffUser, created.id)
        assert (user.failed_logins, user.locked_until) == (0, None)
        assert staff.locked_addresses(session, created.id, NOW) == 0
    unlocked = audit_rows(any_session_factory, "staff_unlocked")
    assert [(r.subject_id, r.detail) for r in unlocked] == [(str(created.id), {"failures_cleared": 10})]
    assert sign_in(any_session_factory).ok and sign_in(any_session_factory, address=AT_CLINIC).ok
    for _ in range(5):
        sign_in(any_session_factory, password=WRONG)
    with any_session_factory.begin() as session:
        staff.set_password(session, "jo@clinic.example", "another good password")
    assert sign_in(any_session_factory, password="another good password").ok
    with pytest.raises(staff.StaffAccountError, match="no account"), any_session_factory.begin() as session:
        staff.unlock(session, "nobody@clinic.example")


def test_unlock_everything_ends_every_lock_and_address_block(session_factory):
    make(session_factory)
    policy = LoginPolicy(max_failures=5, address_max_failures=5)
    for _ in range(5):
        sign_in(session_factory, password=WRONG, policy=policy)
    assert sign_in(session_factory, policy=policy).address_blocked
    with session_factory.begin() as session:
        assert staff.unlock_everything(session, now=NOW) == 5
    assert sign_in(session_factory, policy=policy).ok
    cleared = audit_rows(session_factory, "login_locks_cleared")
    assert [(r.actor_type, r.detail) for r in cleared] == [("system", {"failures_cleared": 5})]


def test_the_demo_account_is_made_only_when_there_are_no_accounts(session_factory):
    email, password = staff.ensure_demo_staff_account(session_factory)
    assert email == "demo@clinic.example" and len(password) >= staff.MIN_PASSWORD_LENGTH
    result = sign_in(session_factory, email, password)
    assert result.ok and result.user.role == "admin"
    assert staff.ensure_demo_staff_account(session_factory) is None
    with session_factory() as session:
        stored = session.execute(select(StaffUser.password_hash)).scalar()
    assert password not in stored


def test_the_demo_password_is_fresh_each_time(db_url, tmp_path, migrated_sqlite_template):
    passwords = set()
    for name in ("a", "b"):
        copy_sqlite_file(migrated_sqlite_template, tmp_path / f"{name}.db")
        with sessions_on(sqlite_url(tmp_path / f"{name}.db")) as factory:
            passwords.add(staff.ensure_demo_staff_account(factory)[1])
    assert len(passwords) == 2


# ---- python -m bot staff ... ----------------------------------------------------------------

@pytest.fixture
def database(monkeypatch, db_url):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("CLINIC_PROFILE", raising=False)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return db_url


def run_cli(monkeypatch, args, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["staff", *args])


def test_staff_command_is_registered():
    assert "staff" in COMMANDS


def test_staff_add_reads_the_password_from_stdin(database, monkeypatch, capsys, session_factory):
    assert run_cli(monkeypatch, ["add", "Admin@Clinic.Example", "--role", "admin"], PASSWORD + "\n") == 0
    assert capsys.readouterr().out == "created admin@clinic.example (admin)\n"
    assert sign_in(session_factory, "admin@clinic.example").user.role == "admin"
    assert run_cli(monkeypatch, ["list"]) == 0
    assert capsys.readouterr().out == "admin@clinic.example  admin\n"


def test_staff_add_refuses_short_passwords_and_duplicates(database, monkeypatch, capsys):
    assert run_cli(monkeypatch, ["add", "a@clinic.example"], "short\n") == 1
    assert "at least 12 characters" in capsys.readouterr().err
    assert run_cli(monkeypatch, ["add", "a@clinic.example"], PASSWORD + "\n") == 0
    assert run_cli(monkeypatch, ["add", "a@clinic.example"], PASSWORD + "\n") == 1
    assert "already an account" in capsys.readouterr().err


def test_staff_add_refuses_an_unknown_role(database, monkeypatch, capsys):
    with pytest.raises(SystemExit):
        run_cli(monkeypatch, ["add", "a@clinic.example", "--role", "owner"], PASSWORD + "\n")


def test_staff_set_password_and_unlock(database, monkeypatch, capsys, session_factory):
    run_cli(monkeypatch, ["add", "a@clinic.example"], PASSWORD + "\n")
    assert run_cli(monkeypatch, ["set-password", "a@clinic.example"], "a brand new password\n") == 0
    now = datetime.now(timezone.utc)
    for _ in range(5):
        sign_in(session_factory, "a@clinic.example", WRONG, now=now)
    capsys.readouterr()
    assert run_cli(monkeypatch, ["list"]) == 0
    assert capsys.readouterr().out == "a@clinic.example  staff (locked from 1 address)\n"
    assert run_cli(monkeypatch, ["unlock", "a@clinic.example"]) == 0
    assert "a@clinic.example is unlocked" in capsys.readouterr().out
    assert sign_in(session_factory, "a@clinic.example", "a brand new password", now=now).ok
    assert run_cli(monkeypatch, ["unlock", "b@clinic.example"]) == 1


def test_staff_unlock_all(database, monkeypatch, capsys, session_factory):
    run_cli(monkeypatch, ["add", "a@clinic.example"], PASSWORD + "\n")
    for address in (AT_HOME, AT_CLINIC):
        sign_in(session_factory, "nobody@clinic.example", address=address)
    assert run_cli(monkeypatch, ["unlock", "--all"]) == 0
    assert "2 failed sign-ins forgotten" in capsys.readouterr().out
    assert failure_rows(session_factory) == []
    with pytest.raises(SystemExit):
        run_cli(monkeypatch, ["unlock"])
    with pytest.raises(SystemExit):
        run_cli(monkeypatch, ["unlock", "a@clinic.example", "--all"])


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_at_a_terminal_the_password_is_asked_twice():
    answers = iter([PASSWORD, PASSWORD])
    assert read_password(Terminal(), prompt=lambda _: next(answers)) == PASSWORD
    answers = iter([PASSWORD, PASSWORD + "!"])
    with pytest.raises(staff.StaffAccountError, match="different"):
        read_password(Terminal(), prompt=lambda _: next(answers))
