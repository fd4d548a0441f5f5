"""Command line: `python -m bot COMMAND`.

    run                      serve the assistant (web chat, webhooks, staff console) on HOST:PORT,
                             on the embedded default (SQLite, demo clinic data)
    chat                     the same assistant in this terminal (rasa shell)
    db-upgrade               bring the database schema up to date (alembic upgrade head)
    import-bookings FILE     import the clinic's bookings CSV (see bot/clinic/importer.py);
                             like seed-demo, it upgrades the schema first
    seed-demo                add the demo patients if the database has no patients
    staff add EMAIL --role R staff console accounts (also: staff set-password, unlock, list);
                             see bot/console/cli.py
    new-secret               print a new SESSION_SECRET (the staff console's cookie key)
    purge [--dry-run]        delete conversations, messages and Rasa tracker events older than
                             RETENTION_DAYS (see bot/privacy/retention.py); prints counts per table
    export-nlu [--out PATH]  write the examples staff labelled ("Teach the assistant") as Rasa NLU
                             data for review (default var/teaching/nlu_from_staff.yml; never data/)
    care preview [--days 7]  plan the care messages, then list what is due in the next days
    care send-due            plan, then send every care message due now, once (bot/care/cli.py)

To add a command, write `def add_x_arguments(parser)` (optional) and `def run_x(args, settings) -> int`
(in this file or in its own module) and register a `Command` in `COMMANDS`. Only `main()`
configures logging and reads the environment.
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Optional, Sequence, Tuple

from bot.logging_setup import configure_logging
from bot.settings import Settings, SettingsError

if TYPE_CHECKING:  # imported by the commands that need them
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import sessionmaker

logger = logging.getLogger("bot")

IMPORT_PROGRESS_EVERY = 1000


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """For commands that take no arguments."""


@dataclass(frozen=True)
class Command:
    """A subcommand: its help line, how to read its arguments and what it runs (exit status back)."""

    help: str
    run: Callable[[argparse.Namespace, Settings], int]
    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments


def _session_factory(settings: Settings) -> Tuple[Engine, sessionmaker]:
    """Upgrade the schema, then an (engine, session factory) for the settings' database."""
    from bot.db.migrate import upgrade_database
    from bot.db.session import create_db_engine, make_session_factory

    upgrade_database(settings.database_url)
    engine = create_db_engine(settings.database_url)
    return engine, make_session_factory(engine)


def run_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """`db-upgrade`: alembic upgrade head on the configured database."""
    from bot.db.migrate import upgrade_database

    upgrade_database(settings.database_url)
    print("database schema is up to date")
    return 0


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    """`import-bookings FILE`."""
    parser.add_argument("file", help="the bookings CSV exported from the clinic's system")


def run_import_bookings(args: argparse.Namespace, settings: Settings) -> int:
    """`import-bookings FILE`: import the CSV; exit 1 listing every problem if it is not valid."""
    from bot.clinic.importer import BookingImportError, import_bookings

    def show_progress(done: int, total: int) -> None:
        print(f"imported {done}/{total} rows", file=sys.stderr, flush=True)

    engine, factory = _session_factory(settings)
    try:
        report = import_bookings(
            factory, args.file, settings.default_phone_region,
            progress=show_progress, progress_every=IMPORT_PROGRESS_EVERY,
        )
    except BookingImportError as error:
        print(error.describe(), file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(
        f"imported {report.rows} rows: {report.patients_created} patients created, "
        f"{report.patients_updated} updated; {report.appointments_created} appointments created, "
        f"{report.appointments_updated} updated; {report.unchanged} rows unchanged"
    )
    return 0


def run_seed_demo(args: argparse.Namespace, settings: Settings) -> int:
    """`seed-demo`: upgrade the schema, then add the demo patients if there are no patients."""
    from bot.clinic.demo import seed_demo_clinic

    engine, factory = _session_factory(settings)
    now = datetime.now(timezone.utc)
    try:
        info = seed_demo_clinic(factory, now, settings.clinic.timezone)
    finally:
        engine.dispose()
    if info is None:
        print("the database already has patients; demo data not added")
        return 0
    print("added demo patients (try them in the chat: reference + date of birth):")
    for line in info.describe(now, settings.clinic.timezone):
        print(f"  {line}")
    return 0


def run_assistant(args: argparse.Namespace, settings: Settings) -> int:
    """`run`: prepare the database (demo clinic and demo staff login when empty), then serve."""
    from bot.runner import serve

    status = run_seed_demo(args, settings) or run_demo_staff(settings)
    return status or serve(settings)


def run_replica(args: argparse.Namespace, settings: Settings) -> int:
    """`serve`: the application alone, as one of several replicas (no seeding, no action server)."""
    from bot.runner import serve_application

    return serve_application(settings)


def run_actions(args: argparse.Namespace, settings: Settings) -> int:
    """`actions`: Rasa's action server alone, on the port of ACTION_ENDPOINT_URL."""
    from bot.runner import serve_actions

    return serve_actions(settings)


def run_demo_staff(settings: Settings) -> int:
    """Create the demo staff login when there is no staff account yet, and say how to use it."""
    from bot.clinic.staff import ensure_demo_staff_account

    engine, factory = _session_factory(settings)
    try:
        login = ensure_demo_staff_account(factory)
    finally:
        engine.dispose()
    if login is not None:
        email, password = login
        print(f"staff console: http://{settings.host}:{settings.port}/staff  (demo login {email} / {password})")
    return 0


def run_chat(args: argparse.Namespace, settings: Settings) -> int:
    """`chat`: the assistant in this terminal (Rasa's shell), with the demo clinic."""
    from bot.runner import run_terminal_chat

    return run_seed_demo(args, settings) or run_terminal_chat(settings)


def add_staff_arguments(parser: argparse.ArgumentParser) -> None:
    """`staff add|set-password|unlock|list ...` (bot/console/cli.py)."""
    from bot.console.cli import add_arguments

    add_arguments(parser)


def run_staff(args: argparse.Namespace, settings: Settings) -> int:
    """`staff ...`: upgrade the schema, then manage console accounts."""
    from bot.console.cli import run

    engine, factory = _session_factory(settings)
    try:
        return run(args, factory)
    finally:
        engine.dispose()


def add_purge_arguments(parser: argparse.ArgumentParser) -> None:
    """`purge [--dry-run]`."""
    parser.add_argument("--dry-run", action="store_true",
                        help="count what would be deleted, and delete nothing")


def run_purge(args: argparse.Namespace, settings: Settings) -> int:
    """`purge`: upgrade the schema, then delete what is older than RETENTION_DAYS; print counts per table."""
    from bot.privacy.retention import purge_expired

    engine, factory = _session_factory(settings)
    now = datetime.now(timezone.utc)
    try:
        with factory() as session:
            report = purge_expired(session, now=now, retention_days=settings.retention_days,
                                   record_audit=not args.dry_run)
            if args.dry_run:
                session.rollback()
            else:
                session.commit()
    finally:
        engine.dispose()
    verb = "would delete" if args.dry_run else "deleted"
    print(f"retention {settings.retention_days} days: {verb} what was last active before "
          f"{report.cutoff:%Y-%m-%d %H:%M} UTC")
    for table, count in report.counts.items():
        print(f"  {table}: {count}")
    if not report.events_table:
        print("  (no Rasa `events` table in this database yet)")
    if report.kept_open:
        print(f"kept {report.kept_open} old conversations that still have an open escalation or request")
    return 0


def add_export_nlu_arguments(parser: argparse.ArgumentParser) -> None:
    """`export-nlu [--out PATH]`."""
    from bot.teaching.export import DEFAULT_EXPORT_PATH

    parser.add_argument("--out", type=Path, default=DEFAULT_EXPORT_PATH,
                        help=f"the file to write (default {DEFAULT_EXPORT_PATH}; refused inside data/)")


def run_export_nlu(args: argparse.Namespace, settings: Settings) -> int:
    """`export-nlu`: the labelled examples as NLU data for a clinician to review (audited); exit 2 for
    a path inside data/."""
    from bot.clinic import audit
    from bot.teaching.export import ExportPathRefused, check_export_path, group_examples, write_export
    from bot.teaching.queue import labelled_examples

    try:
        check_export_path(args.out)
    except ExportPathRefused as error:
        print(f"not written: {error}", file=sys.stderr)
        return 2
    engine, factory = _session_factory(settings)
    now = datetime.now(timezone.utc)
    try:
        with factory.begin() as session:
            examples = labelled_examples(session)
            written = write_export(args.out, examples, now)
            by_intent, new_topics, conflicts = group_examples(examples)
            counts = {"examples": sum(map(len, by_intent.values())), "topics": len(by_intent),
                      "new_topic_needed": len(new_topics), "conflicting": len(conflicts)}
            audit.record(session, actor_type="system", actor_id=None, action="teaching_exported",
                         subject_type="training_example", detail=counts, now=now)
    finally:
        engine.dispose()
    print(f"wrote {counts['examples']} examples for {counts['topics']} topics, {counts['new_topic_needed']} "
          f"'new topic needed' and {counts['conflicting']} conflicting as comments, to {written}")
    print("a clinician reviews them and moves the right ones into data/nlu/")
    return 0
def add_care_arguments(parser: argparse.ArgumentParser) -> None:
    """`care preview|send-due` (bot/care/cli.py)."""
    from bot.care.cli import add_arguments

    add_arguments(parser)


def run_care(args: argparse.Namespace, settings: Settings) -> int:
    """`care ...`: upgrade the schema, then plan and preview or send the care messages."""
    from bot.care.cli import run

    engine, factory = _session_factory(settings)
    try:
        return run(args, settings, factory)
    finally:
        engine.dispose()


def run_new_secret(args: argparse.Namespace, settings: Settings) -> int:
    """`new-secret`: a fresh key for SESSION_SECRET (32 random bytes, url-safe base64), on stdout."""
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode("ascii"))
    return 0


COMMANDS: Dict[str, Command] = {
    "run": Command("serve the assistant on the embedded default (SQLite, demo clinic)", run_assistant),
    "serve": Command("serve the application alone, as one replica (production; see the README)", run_replica),
    "actions": Command("run the custom-action server alone (production; see the README)", run_actions),
    "chat": Command("chat with the assistant in this terminal (rasa shell)", run_chat),
    "db-upgrade": Command("bring the database schema up to date (alembic upgrade head)", run_db_upgrade),
    "import-bookings": Command("import the clinic's bookings CSV", run_import_bookings, add_import_arguments),
    "seed-demo": Command("add demo patients to an empty database", run_seed_demo),
    "staff": Command("manage staff console accounts (add, set-password, unlock, list)", run_staff,
                     add_staff_arguments),
    "new-secret": Command("print a new SESSION_SECRET for the staff console", run_new_secret),
    "purge": Command("delete conversations and tracker events older than RETENTION_DAYS", run_purge,
                     add_purge_arguments),
    "export-nlu": Command("write the examples staff labelled as NLU data for review", run_export_nlu,
                          add_export_nlu_arguments),
    "care": Command("plan and preview or send the care messages (preview, send-due)", run_care,
                    add_care_arguments),
}


def build_parser(commands: Dict[str, Command]) -> argparse.ArgumentParser:
    """The argument parser with one subparser per command."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="Hair-clinic patient assistant")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in commands.items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the command line, read the settings, configure logging and run the command."""
    args = build_parser(COMMANDS).parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, secrets=settings.secret_values())
    return COMMANDS[args.command].run(args, settings)


if __name__ == "__main__":
    sys.exit(main())
