"""Staff accounts of the console: creating them, checking passwords, locking after failed logins.

Passwords are hashed with argon2id (argon2-cffi's RFC 9106 defaults). Signing in answers the
same for an unknown email, a wrong password and a locked account, and takes about as long
for each (an unknown email is checked against a dummy hash), so the login form does not tell
anyone which email addresses have accounts. After `MAX_FAILED_LOGINS` wrong passwords in a row
the account is locked for `LOCKOUT`; the count starts again after the lock.

Plain Python over SQLAlchemy (the caller owns the transaction), no aiohttp.
"""
from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import List, Optional, Tuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.clinic import audit
from bot.db.models import STAFF_ROLES, StaffUser, utcnow

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
DEMO_EMAIL = "demo@clinic.example"
DEMO_ROLE = "admin"
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Module-level so tests can swap in a cheap hasher (the defaults take ~0.5 s per hash on purpose).
PASSWORD_HASHER = PasswordHasher()
_dummy_hashes: dict = {}


class StaffAccountError(ValueError):
    """An account cannot be created or changed; the message says why (shown to the operator)."""


@dataclass(frozen=True)
class StaffView:
    """A staff member as the console sees them (never the password hash)."""

    id: int
    email: str
    role: str
    locked_until: Optional[datetime] = None

    @property
    def is_admin(self) -> bool:
        """True for the admin role."""
        return self.role == "admin"


@dataclass(frozen=True)
class LoginResult:
    """The outcome of one login attempt: `user` is set only when it succeeded."""

    user: Optional[StaffView]
    locked_now: bool = False

    @property
    def ok(self) -> bool:
        """True when the email and password matched an unlocked account."""
        return self.user is not None


def staff_view(user: StaffUser) -> StaffView:
    """A frozen view of a StaffUser row."""
    return StaffView(id=user.id, email=user.email, role=user.role, locked_until=user.locked_until)


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


def _dummy_hash() -> str:
    """A hash to check unknown emails against, so they take as long as known ones."""
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


def set_password(session: Session, email: str, password: str, now: Optional[datetime] = None) -> StaffView:
    """Replace an account's password and unlock it; StaffAccountError if there is no such account."""
    check_new_password(password)
    user = find_staff(session, email)
    if user is None:
        raise StaffAccountError(f"there is no account for {normalise_email(email)}")
    user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until = 0, None
    audit.record(session, actor_type="system", actor_id=None, action="staff_password_set",
                 subject_type="staff_user", subject_id=user.id, now=now or utcnow())
    return staff_view(user)


def unlock(session: Session, email: str, now: Optional[datetime] = None) -> StaffView:
    """Lift a lockout now; StaffAccountError if there is no such account."""
    user = find_staff(session, email)
    if user is None:
        raise StaffAccountError(f"there is no account for {normalise_email(email)}")
    user.failed_logins, user.locked_until = 0, None
    audit.record(session, actor_type="system", actor_id=None, action="staff_unlocked",
                 subject_type="staff_user", subject_id=user.id, now=now or utcnow())
    return staff_view(user)


def is_locked(user: StaffUser, now: datetime) -> bool:
    """True while the account's lockout lasts."""
    return user.locked_until is not None and user.locked_until > now


def authenticate(session: Session, email: str, password: str, now: datetime, *,
                 max_failures: int = MAX_FAILED_LOGINS, lockout: timedelta = LOCKOUT) -> LoginResult:
    """Check a login, count a failure (locking the account at `max_failures`) and audit either way.

    The audit rows carry the account id when the email is known, nothing about what was typed.
    """
    user = find_staff(session, email) if len(password or "") <= MAX_PASSWORD_LENGTH else None
    if user is None:
        verify_password(_dummy_hash(), password or "")
        audit.record(session, actor_type="staff", actor_id=None, action="login_failed",
                     detail={"reason": "unknown_account"}, now=now)
        return LoginResult(user=None)
    if is_locked(user, now):
        verify_password(_dummy_hash(), password or "")
        audit.record(session, actor_type="staff", actor_id=user.id, action="login_failed",
                     subject_type="staff_user", subject_id=user.id, detail={"reason": "locked"}, now=now)
        return LoginResult(user=None)
    if not verify_password(user.password_hash, password or ""):
        user.failed_logins = (user.failed_logins or 0) + 1
        locked_now = user.failed_logins >= max_failures
        if locked_now:
            user.failed_logins, user.locked_until = 0, now + lockout
            logger.warning("staff account %s locked after %d failed logins", user.id, max_failures)
        audit.record(session, actor_type="staff", actor_id=user.id, action="login_failed",
                     subject_type="staff_user", subject_id=user.id,
                     detail={"reason": "wrong_password", "locked": locked_now}, now=now)
        return LoginResult(user=None, locked_now=locked_now)
    user.failed_logins, user.locked_until = 0, None
    if PASSWORD_HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    audit.record(session, actor_type="staff", actor_id=user.id, action="login",
                 subject_type="staff_user", subject_id=user.id, now=now)
    return LoginResult(user=staff_view(user))


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
