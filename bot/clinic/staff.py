"""Staff accounts of the console: creating them, checking passwords, locking after failed logins.

Passwords are hashed with argon2id: argon2-cffi's RFC 9106 low-memory profile (64 MiB, 3 passes)
in one lane, so one check keeps to one CPU core (a hash made with more lanes is redone at the
next sign-in). Hashing is slow on purpose: the console runs it in its own small thread pool
(bot/console/hashing.py), never on the event loop.

Signing in answers the same for an unknown email, a wrong password and a locked account, and
does the same work for each (one password check: an unknown email or a locked account is checked
against a dummy hash), so the login form does not tell anyone which email addresses have
accounts. Failures are counted per account and client address (bot/clinic/login_failures.py):
they lock an account for the address they came from only, and an address that fails too often
is refused for every account.

Plain Python over SQLAlchemy (the caller owns the transaction), no aiohttp.
"""
from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import List, Optional, Tuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.clinic import audit
from bot.clinic import login_failures as failures
from bot.clinic.login_failures import DEFAULT_POLICY, LoginPolicy
from bot.db.models import STAFF_ROLES, StaffUser, utcnow

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
DEMO_EMAIL = "demo@clinic.example"
DEMO_ROLE = "admin"
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Module-level so tests can swap in a cheap hasher (this one takes ~0.2-0.5 s per hash on purpose).
PASSWORD_HASHER = PasswordHasher(parallelism=1)
_dummy_hashes: dict = {}


class StaffAccountError(ValueError):
    """An account cannot be created or changed; the message says why (shown to the operator)."""


@dataclass(frozen=True)
class StaffView:
    """A staff member as the console sees them (never the password hash)."""

    id: int
    email: str
    role: str

    @property
    def is_admin(self) -> bool:
        """True for the admin role."""
        return self.role == "admin"


@dataclass(frozen=True)
class LoginResult:
    """The outcome of one login attempt: `user` is set only when it succeeded; `address_blocked`
    when it was refused unchecked, because too many sign-ins failed from the client's address."""

    user: Optional[StaffView]
    locked_now: bool = False
    address_blocked: bool = False

    @property
    def ok(self) -> bool:
        """True when the email and password matched an unlocked account."""
        return self.user is not None


def staff_view(user: StaffUser) -> StaffView:
    """A frozen view of a StaffUser row."""
    return StaffView(id=user.id, email=user.email, role=user.role)


def normalise_email(email: str) -> str:
    """Emails are compared without surrounding spaces and case-insensitively."""
    return (email or "").strip().lower()


def check_new_password(password: str) -> None:
    """StaffAccountError unless the password is long enough (and not absurdly long)."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise StaffAccountError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise StaffAccountError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters long")


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return PASSWORD_HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True if the password matches the hash (False for a malformed hash, never an exception)."""
    try:
        return PASSWORD_HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def dummy_hash() -> str:
    """A hash to check unknown emails against, so they take as long as known ones (made once per
    hasher; the console makes it when it starts, so the first unknown email is not slower)."""
    key = id(PASSWORD_HASHER)
    if key not in _dummy_hashes:
        _dummy_hashes.clear()
        _dummy_hashes[key] = PASSWORD_HASHER.hash(secrets.token_urlsafe(16))
    return _dummy_hashes[key]


def find_staff(session: Session, email: str) -> Optional[StaffUser]:
    """The account with this email (any case), if any."""
    return session.execute(
        select(StaffUser).where(StaffUser.email == normalise_email(email))
    ).scalar_one_or_none()


def get_staff(session: Session, staff_user_id: int) -> Optional[StaffView]:
    """The account with this id, if any."""
    user = session.get(StaffUser, staff_user_id)
    return staff_view(user) if user else None


def list_staff(session: Session) -> List[StaffView]:
    """Every account, by email."""
    users = session.execute(select(StaffUser).order_by(StaffUser.email)).scalars()
    return [staff_view(user) for user in users]


def create_staff_user(session: Session, email: str, password: str, role: str = "staff",
                      now: Optional[datetime] = None) -> StaffView:
    """Add an account; StaffAccountError for a bad email, role or password, or an email in use."""
    email = normalise_email(email)
    if not _EMAIL_SHAPE.match(email) or len(email) > 254:
        raise StaffAccountError(f"{email!r} is not an email address")
    if role not in STAFF_ROLES:
        raise StaffAccountError(f"the role must be one of {', '.join(STAFF_ROLES)}, not {role!r}")
    check_new_password(password)
    if find_staff(session, email) is not None:
        raise StaffAccountError(f"there is already an account for {email}")
    now = now or utcnow()
    user = StaffUser(email=email, password_hash=hash_password(password), role=role, failed_logins=0,
                     created_at=now)
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:
        raise StaffAccountError(f"there is already an account for {email}") from error
    audit.record(session, actor_type="system", actor_id=None, action="staff_account_created",
                 subject_type="staff_user", subject_id=user.id, detail={"role": role}, now=now)
    logger.info("staff account %s created (%s)", user.id, role)
    return staff_view(user)


def _clear_locks(session: Session, user: StaffUser) -> int:
    """End every lock of the account (from every address, and the pre-0008 account-wide one)."""
    user.failed_logins, user.locked_until = 0, None
    return failures.clear_account(session, user.id)


def set_password(session: Session, email: str, password: str, now: Optional[datetime] = None) -> StaffView:
    """Replace an account's password and unlock it; StaffAccountError if there is no such account."""
    check_new_password(password)
    user = find_staff(session, email)
    if user is None:
        raise StaffAccountError(f"there is no account for {normalise_email(email)}")
    user.password_hash = hash_password(password)
    _clear_locks(session, user)
    audit.record(session, actor_type="system", actor_id=None, action="staff_password_set",
                 subject_type="staff_user", subject_id=user.id, now=now or utcnow())
    return staff_view(user)


def unlock(session: Session, email: str, now: Optional[datetime] = None) -> StaffView:
    """Lift the account's locks from every address now; StaffAccountError if there is no such account."""
    user = find_staff(session, email)
    if user is None:
        raise StaffAccountError(f"there is no account for {normalise_email(email)}")
    cleared = _clear_locks(session, user)
    audit.record(session, actor_type="system", actor_id=None, action="staff_unlocked",
                 subject_type="staff_user", subject_id=user.id, detail={"failures_cleared": cleared},
                 now=now or utcnow())
    logger.info("staff account %s unlocked", user.id)
    return staff_view(user)


def unlock_everything(session: Session, now: Optional[datetime] = None) -> int:
    """Forget every failed sign-in: every account lock and every address block end; how many."""
    cleared = failures.clear_all(session)
    audit.record(session, actor_type="system", actor_id=None, action="login_locks_cleared",
                 subject_type="login_failures", detail={"failures_cleared": cleared}, now=now or utcnow())
    logger.info("every sign-in lock lifted (%d failures forgotten)", cleared)
    return cleared


def locked_addresses(session: Session, staff_user_id: int, now: datetime,
                     policy: LoginPolicy = DEFAULT_POLICY) -> int:
    """From how many client addresses the account is locked now."""
    return failures.locked_address_count(session, staff_user_id, now, policy)


def authenticate(session: Session, email: str, password: str, now: datetime, *, address_key: str,
                 policy: LoginPolicy = DEFAULT_POLICY) -> LoginResult:
    """Check a login from the client address named `address_key`, count a failure, audit either way.

    Slow on purpose (one password check, whatever the outcome, unless the address is refused
    outright): run it off the event loop. The audit rows carry the account id when the email is
    known, nothing about what was typed.
    """
    password = password or ""
    if failures.address_blocked(session, address_key, now, policy):
        return LoginResult(user=None, address_blocked=True)
    user = find_staff(session, email) if len(password) <= MAX_PASSWORD_LENGTH else None
    if user is None:
        verify_password(dummy_hash(), password)
        reason = "unknown_account"
    elif failures.locked_for_address(session, user.id, address_key, now, policy):
        verify_password(dummy_hash(), password)
        reason = "locked"
    elif verify_password(user.password_hash, password):
        return _signed_in(session, user, password, address_key, now)
    else:
        reason = "wrong_password"
    return _failed(session, user, reason, address_key, now, policy)


def _signed_in(session: Session, user: StaffUser, password: str, address_key: str, now: datetime) -> LoginResult:
    """The right password: forget this address's failures on the account, rehash if due, audit."""
    failures.clear_account_at(session, user.id, address_key)
    if PASSWORD_HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    audit.record(session, actor_type="staff", actor_id=user.id, action="login",
                 subject_type="staff_user", subject_id=user.id, now=now)
    return LoginResult(user=staff_view(user))


def _failed(session: Session, user: Optional[StaffUser], reason: str, address_key: str, now: datetime,
            policy: LoginPolicy) -> LoginResult:
    """Count the failure for the account and address, audit it, and audit a lock it starts."""
    staff_id = user.id if user is not None else None
    counts = failures.record_failure(session, staff_id, address_key, now, policy)
    detail: dict = {"reason": reason}
    if reason == "wrong_password":
        detail["locked"] = counts.locked_now
    audit.record(session, actor_type="staff", actor_id=staff_id, action="login_failed",
                 subject_type="staff_user" if user else None, subject_id=staff_id, detail=detail, now=now)
    if counts.locked_now:
        logger.warning("staff account %s locked for one client address after %d failed logins", staff_id,
                       policy.max_failures)
        audit.record(session, actor_type="system", actor_id=None, action="staff_locked",
                     subject_type="staff_user", subject_id=staff_id,
                     detail={"address_key": address_key, "failures": counts.account}, now=now)
    if counts.address_blocked_now:
        logger.warning("a client address is refused sign-in after %d failed logins", counts.address)
        audit.record(session, actor_type="system", actor_id=None, action="login_address_blocked",
                     subject_type="client_address", subject_id=address_key,
                     detail={"failures": counts.address}, now=now)
    return LoginResult(user=None, locked_now=counts.locked_now)


def generate_password() -> str:
    """A random password well over the minimum length (about 96 bits)."""
    return secrets.token_urlsafe(12)


def ensure_demo_staff_account(session_factory: sessionmaker) -> Optional[Tuple[str, str]]:
    """Create the demo admin with a fresh random password if there is no staff account yet.

    Returns (email, password) when it created the account, so `make run` can print how to sign in;
    None when any account exists already (reset a forgotten demo password with
    `python -m bot staff set-password demo@clinic.example`).
    """
    with session_factory.begin() as session:
        if session.execute(select(func.count(StaffUser.id))).scalar_one():
            return None
        password = generate_password()
        create_staff_user(session, DEMO_EMAIL, password, DEMO_ROLE)
    logger.info("demo staff account created")
    return DEMO_EMAIL, password
