"""Failed console sign-ins, counted per account and client address, and per address.

A stranger must not be able to lock a member of staff out, so no lock is account-wide (anyone who
knows an email address could trigger it). Instead each failure is a `login_failures` row with the
account (NULL for an email without one) and the keyed client address (bot/web/client_address.py;
never the address), and within `LoginPolicy.window`:

- `max_failures` failures on one account from one address lock that account for that address
  only: from anywhere else (the clinic) the right password still signs in;
- `address_max_failures` failures from one address, on any accounts or unknown emails, refuse
  that address for every account, so one address cannot try many accounts.

The window slides: a lock lasts until fewer than the limit of its failures are recent, and
attempts made while locked count too, so someone who keeps trying from there gets at most
`max_failures` tries per window. A successful sign-in clears that account's failures from that
address; an administrator's unlock clears the account's failures from every address
(bot/clinic/staff.py). Rows older than the window are deleted as new ones come in.

Why no account-wide safety net (e.g. "locked when failures come from many addresses"): whoever
controls enough addresses could trigger it and lock real staff out again. What bounds a spread-out
attack instead is the console's password queue (bot/console/hashing.py: a few checks per second in
all, at most two at once per address) plus these per-address limits.

Plain Python over SQLAlchemy (the caller owns the transaction), no aiohttp.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.db.models import LoginFailure

MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class LoginPolicy:
    """How many failures lock an account for one address, or one address for every account."""

    max_failures: int = MAX_FAILURES_PER_ACCOUNT          # per account and address
    address_max_failures: int = MAX_FAILURES_PER_ADDRESS  # per address, all accounts together
    window: timedelta = WINDOW


DEFAULT_POLICY = LoginPolicy()


@dataclass(frozen=True)
class FailureCounts:
    """What a newly recorded failure reached: `locked_now` / `address_blocked_now` are True only for
    the failure that reached the limit (the moment to audit a lock)."""

    account: int
    address: int
    locked_now: bool
    address_blocked_now: bool


def _count(session: Session, address_key: str, since: datetime, staff_user_id: Optional[int] = None) -> int:
    """Failures from the address since `since` (on one account only, when `staff_user_id` is given)."""
    query = select(func.count(LoginFailure.id)).where(LoginFailure.address_key == address_key,
                                                      LoginFailure.at > since)
    if staff_user_id is not None:
        query = query.where(LoginFailure.staff_user_id == staff_user_id)
    return session.execute(query).scalar_one()


def address_blocked(session: Session, address_key: str, now: datetime, policy: LoginPolicy) -> bool:
    """True while the address has failed `address_max_failures` times within the window."""
    return _count(session, address_key, now - policy.window) >= policy.address_max_failures


def locked_for_address(session: Session, staff_user_id: int, address_key: str, now: datetime,
                       policy: LoginPolicy) -> bool:
    """True while the account has failed `max_failures` times from the address within the window."""
    return _count(session, address_key, now - policy.window, staff_user_id) >= policy.max_failures


def record_failure(session: Session, staff_user_id: Optional[int], address_key: str, now: datetime,
                   policy: LoginPolicy) -> FailureCounts:
    """Add a failure (and delete the ones older than the window); the counts it brings."""
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - policy.window))
    session.add(LoginFailure(staff_user_id=staff_user_id, address_key=address_key, at=now))
    session.flush()
    since = now - policy.window
    on_address = _count(session, address_key, since)
    on_account = _count(session, address_key, since, staff_user_id) if staff_user_id is not None else 0
    return FailureCounts(account=on_account, address=on_address,
                         locked_now=on_account == policy.max_failures,
                         address_blocked_now=on_address == policy.address_max_failures)


def clear_account_at(session: Session, staff_user_id: int, address_key: str) -> int:
    """Forget the account's failures from one address (it signed in from there); how many."""
    result = session.execute(delete(LoginFailure).where(LoginFailure.staff_user_id == staff_user_id,
                                                        LoginFailure.address_key == address_key))
    return result.rowcount or 0


def clear_account(session: Session, staff_user_id: int) -> int:
    """Forget the account's failures from every address (its locks end); how many."""
    result = session.execute(delete(LoginFailure).where(LoginFailure.staff_user_id == staff_user_id))
    return result.rowcount or 0


def clear_all(session: Session) -> int:
    """Forget every failure: every account lock and every address block ends; how many."""
    return session.execute(delete(LoginFailure)).rowcount or 0


def locked_address_count(session: Session, staff_user_id: int, now: datetime, policy: LoginPolicy) -> int:
    """From how many addresses the account is locked now."""
    per_address = (select(LoginFailure.address_key)
                   .where(LoginFailure.staff_user_id == staff_user_id, LoginFailure.at > now - policy.window)
                   .group_by(LoginFailure.address_key)
                   .having(func.count(LoginFailure.id) >= policy.max_failures))
    return session.execute(select(func.count()).select_from(per_address.subquery())).scalar_one()
