"""Staff accounts: argon2 hashes, login checks and lockout, the demo account, `python -m bot staff`."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from bot.__main__ import COMMANDS, main
from bot.clinic import staff
from bot.console.cli import read_password
from bot.db.models import AuditLog, StaffUser
from tests.support.database import copy_sqlite_file, sessions_on, sqlite_url

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
PASSWORD = "a long enough password"


@pytest.fixture(autouse=True)
def fast_hasher(monkeypatch):
    """Cheap argon2 parameters (the defaults take about half a second per hash, on purpose)."""
    monkeypatch.setattr(staff, "PASSWORD_HASHER",
                        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, hash_len=16, salt_len=16))


def make(session_factory, email="jo@clinic.example", role="staff", password=PASSWORD):
    with session_factory.begin() as session:
        return staff.create_staff_user(session, email, password, role, now=NOW)


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
    with session_factory.begin() as session:
        result = staff.authenticate(session, "JO@clinic.example ", PASSWORD, NOW)
    assert result.ok and result.user.id == created.id and result.user.role == "staff"
    with session_factory() as session:
        row = session.execute(select(AuditLog).where(AuditLog.action == "login")).scalars().one()
    assert (row.actor_type, row.actor_id, row.at) == ("staff", str(created.id), NOW)


def test_five_failures_lock_the_account_then_it_opens_again(session_factory):
    created = make(session_factory)
    for attempt in range(5):
        with session_factory.begin() as session:
            result = staff.authenticate(session, "jo@clinic.example", "wrong wrong wrong", NOW)
        assert not result.ok and result.locked_now == (attempt == 4)
    with session_factory() as session:
        user = session.get(StaffUser, created.id)
        assert (user.failed_logins, user.locked_until) == (0, NOW + timedelta(minutes=15))
    with session_factory.begin() as session:
        assert not staff.authenticate(session, "jo@clinic.example", PASSWORD, NOW + timedelta(minutes=14)).ok
    with session_factory.begin() as session:
        assert staff.authenticate(session, "jo@clinic.example", PASSWORD, NOW + timedelta(minutes=15, seconds=1)).ok


def test_a_success_resets_the_failure_count(session_factory):
    created = make(session_factory)
    for _ in range(4):
        with session_factory.begin() as session:
            staff.authenticate(session, "jo@clinic.example", "wrong wrong wrong", NOW)
    with session_factory.begin() as session:
        assert staff.authenticate(session, "jo@clinic.example", PASSWORD, NOW).ok
    with session_factory.begin() as session:
        assert not staff.authenticate(session, "jo@clinic.example", "wrong wrong wrong", NOW).locked_now
    with session_factory() as session:
        assert session.get(StaffUser, created.id).failed_logins == 1


def test_an_unknown_email_is_audited_without_what_was_typed(session_factory):
    with session_factory.begin() as session:
        result = staff.authenticate(session, "stranger@example.com", PASSWORD, NOW)
    assert not result.ok
    with session_factory() as session:
        row = session.execute(select(AuditLog)).scalars().one()
    assert (row.action, row.actor_id, row.subject_id, row.detail) == (
        "login_failed", None, None, {"reason": "unknown_account"})


def test_set_password_and_unlock(session_factory):
    make(session_factory)
    with session_factory.begin() as session:
        user = staff.find_staff(session, "jo@clinic.example")
        user.locked_until = NOW + timedelta(minutes=10)
    with session_factory.begin() as session:
        staff.unlock(session, "jo@clinic.example")
        staff.set_password(session, "jo@clinic.example", "another good password")
    with session_factory.begin() as session:
        assert staff.authenticate(session, "jo@clinic.example", "another good password", NOW).ok
    with pytest.raises(staff.StaffAccountError, match="no account"), session_factory.begin() as session:
        staff.unlock(session, "nobody@clinic.example")


def test_the_demo_account_is_made_only_when_there_are_no_accounts(session_factory):
    email, password = staff.ensure_demo_staff_account(session_factory)
    assert email == "demo@clinic.example" and len(password) >= staff.MIN_PASSWORD_LENGTH
    with session_factory.begin() as session:
        result = staff.authenticate(session, email, password, NOW)
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
    with session_factory.begin() as session:
        assert staff.authenticate(session, "admin@clinic.example", PASSWORD, NOW).user.role == "admin"
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
    assert run_cli(monkeypatch, ["unlock", "a@clinic.example"]) == 0
    assert "a@clinic.example is unlocked" in capsys.readouterr().out
    with session_factory.begin() as session:
        assert staff.authenticate(session, "a@clinic.example", "a brand new password", NOW).ok
    assert run_cli(monkeypatch, ["unlock", "b@clinic.example"]) == 1


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_at_a_terminal_the_password_is_asked_twice():
    answers = iter([PASSWORD, PASSWORD])
    assert read_password(Terminal(), prompt=lambda _: next(answers)) == PASSWORD
    answers = iter([PASSWORD, PASSWORD + "!"])
    with pytest.raises(staff.StaffAccountError, match="different"):
        read_password(Terminal(), prompt=lambda _: next(answers))
