"""`python -m bot staff ...`: manage console accounts from the command line.

    staff add EMAIL [--role staff|clinician|admin]   create an account (password prompted)
    staff set-password EMAIL                          replace a password (and lift its locks)
    staff unlock EMAIL                                lift the account's locks, from every address
    staff unlock --all                                lift every lock, and every address's block
    staff list                                        the accounts, their roles and locks

Passwords are read with getpass (asked twice) at a terminal, or as one line from stdin when stdin
is not a terminal (`printf '%s\\n' "$PASSWORD" | python -m bot staff add ...`); they are never
taken from the command line, where other users could see them in the process list.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import Callable, Optional, TextIO

from sqlalchemy.orm import sessionmaker

from bot.clinic.staff import (
    MIN_PASSWORD_LENGTH,
    StaffAccountError,
    check_new_password,
    create_staff_user,
    list_staff,
    locked_addresses,
    set_password,
    unlock,
    unlock_everything,
)
from bot.db.models import STAFF_ROLES, utcnow


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `staff` subcommands."""
    actions = parser.add_subparsers(dest="staff_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create a console account", description="create a console account")
    add.add_argument("email")
    add.add_argument("--role", choices=STAFF_ROLES, default="staff",
                     help="staff (default), clinician or admin")
    password = actions.add_parser("set-password", help="replace an account's password (and unlock it)")
    password.add_argument("email")
    unlocking = actions.add_parser("unlock", help="lift an account's locks after failed logins (or --all)")
    which = unlocking.add_mutually_exclusive_group(required=True)
    which.add_argument("email", nargs="?", help="the account whose locks end (from every client address)")
    which.add_argument("--all", action="store_true", dest="unlock_all",
                       help="forget every failed sign-in: every account lock and every address block end")
    actions.add_parser("list", help="list the console accounts")


def read_password(stdin: TextIO = sys.stdin, prompt: Callable[[str], str] = getpass.getpass) -> str:
    """A new password: asked twice at a terminal, else stdin's first line; StaffAccountError if unusable."""
    if stdin.isatty():
        first = prompt(f"New password (at least {MIN_PASSWORD_LENGTH} characters): ")
        check_new_password(first)
        if prompt("Repeat the password: ") != first:
            raise StaffAccountError("the two passwords are different")
        return first
    line = stdin.readline().rstrip("\r\n")
    check_new_password(line)
    return line


def run(args: argparse.Namespace, session_factory: sessionmaker, stdin: Optional[TextIO] = None) -> int:
    """Run one `staff` action against the database; 1 with a message on stderr if it cannot be done."""
    stdin = stdin or sys.stdin
    try:
        if args.staff_action == "list":
            now = utcnow()
            with session_factory() as session:
                accounts = [(account, locked_addresses(session, account.id, now)) for account in list_staff(session)]
            for account, addresses in accounts:
                locked = f" (locked from {addresses} address{'es' if addresses > 1 else ''})" if addresses else ""
                print(f"{account.email}  {account.role}{locked}")
            if not accounts:
                print("no staff accounts yet: python -m bot staff add EMAIL --role admin")
            return 0
        if args.staff_action == "unlock" and args.unlock_all:
            with session_factory.begin() as session:
                cleared = unlock_everything(session)
            print(f"every sign-in lock is lifted ({cleared} failed sign-ins forgotten)")
            return 0
        if args.staff_action == "unlock":
            with session_factory.begin() as session:
                account = unlock(session, args.email)
            print(f"{account.email} is unlocked")
            return 0
        password = read_password(stdin)
        with session_factory.begin() as session:
            if args.staff_action == "add":
                account = create_staff_user(session, args.email, password, args.role)
                print(f"created {account.email} ({account.role})")
            else:
                account = set_password(session, args.email, password)
                print(f"password changed for {account.email}")
        return 0
    except StaffAccountError as error:
        print(f"staff {args.staff_action}: {error}", file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        print(f"staff {args.staff_action}: cancelled", file=sys.stderr)
        return 1
