"""The Alembic migration and the models: same schema on SQLite and PostgreSQL, UTC round trips."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError, StatementError

from bot.db.migrate import alembic_config, upgrade_database
from bot.db.models import Appointment, Base, Conversation, InboundReceipt, Patient, TreatmentCourse
from bot.db.session import create_db_engine

REPO = Path(__file__).resolve().parents[2]
TABLES = {
    "patients", "treatment_courses", "appointments", "verification_attempts", "audit_log", "staff_requests",
    "staff_users", "conversations", "messages", "inbound_receipts", "escalations", "consent_records",
    "staff_notes", "care_messages", "login_failures", "training_examples", "escalation_categories",
    "canned_replies",
    "conversation_reads",
    "alembic_version",
}


def test_migration_matches_models_and_goes_both_ways(any_db_url) -> None:
    upgrade_database(any_db_url)
    upgrade_database(any_db_url)  # a second run is a no-op
    engine = create_db_engine(any_db_url)
    try:
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) == TABLES
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        command.downgrade(alembic_config(any_db_url), "base")
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) == {"alembic_version"}
        upgrade_database(any_db_url)
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) == TABLES
    finally:
        engine.dispose()


def _appointment(session, starts_at, key="k1", status="booked") -> Appointment:
    """A patient, course and one appointment."""
    patient = Patient(clinic_ref=" mc-1 ", full_name="A B", date_of_birth=date(1990, 1, 1))
    course = TreatmentCourse(patient=patient, treatment="Hair mesotherapy", planned_sessions=6)
    appointment = Appointment(course=course, starts_at=starts_at, duration_min=45, status=status, source_key=key)
    session.add(appointment)
    return appointment


def test_datetimes_come_back_aware_utc(any_session_factory) -> None:
    paris = datetime(2026, 7, 1, 16, 0, tzinfo=ZoneInfo("Europe/Paris"))
    with any_session_factory.begin() as session:
        _appointment(session, paris)
    with any_session_factory.begin() as session:
        appointment = session.execute(select(Appointment)).scalar_one()
        patient = session.execute(select(Patient)).scalar_one()
        assert appointment.starts_at == datetime(2026, 7, 1, 14, 0, tzinfo=timezone.utc)
        assert appointment.starts_at.tzinfo == timezone.utc
        assert patient.clinic_ref == "MC-1"
        assert patient.created_at.tzinfo == timezone.utc
        assert abs(patient.created_at - datetime.now(timezone.utc)) < timedelta(minutes=1)
        # Comparisons with aware values of any zone work in SQL.
        found = session.execute(select(Appointment.id).where(Appointment.starts_at < paris + timedelta(seconds=1)))
        assert found.scalar_one() == appointment.id


def test_naive_datetimes_are_refused(session_factory) -> None:
    with pytest.raises(StatementError) as raised:
        with session_factory.begin() as session:
            _appointment(session, datetime(2026, 7, 1, 14, 0))
    assert "timezone-aware" in str(raised.value)


def test_database_constraints(any_session_factory) -> None:
    starts = datetime(2026, 7, 1, 14, 0, tzinfo=timezone.utc)
    with pytest.raises(IntegrityError):
        with any_session_factory.begin() as session:
            _appointment(session, starts, status="pending")
    with any_session_factory.begin() as session:
        session.add(InboundReceipt(channel="whatsapp", channel_message_id="wamid.1"))
        session.add(Conversation(channel="sms", external_id="+447700900123"))
    with pytest.raises(IntegrityError):
        with any_session_factory.begin() as session:
            session.add(InboundReceipt(channel="whatsapp", channel_message_id="wamid.1"))
    with pytest.raises(IntegrityError):
        with any_session_factory.begin() as session:
            session.add(Conversation(channel="sms", external_id="+447700900123"))
    with any_session_factory.begin() as session:
        session.add(InboundReceipt(channel="sms", channel_message_id="wamid.1"))  # other channel: fine
        assert session.execute(select(Conversation.owner)).scalar_one() == "bot"


def test_alembic_command_line_reads_the_url_from_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "DATABASE_URL": url}
    result = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) == TABLES
    finally:
        engine.dispose()


def test_clinic_package_imports_no_rasa_or_aiohttp() -> None:
    code = (
        "import sys\n"
        "import bot.clinic.aftercare, bot.clinic.audit, bot.clinic.bookings, bot.clinic.demo\n"
        "import bot.clinic.importer, bot.clinic.requests, bot.clinic.timefmt, bot.clinic.verification\n"
        "import bot.db.models, bot.db.migrate\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'rasa', 'rasa_sdk', 'aiohttp'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_migration_0003_turns_sender_keys_into_conversation_ids(any_db_url) -> None:
    """A database at 0002 with rows keyed by "<channel>:<id>" strings keeps every row, now linked."""
    from sqlalchemy import text

    config = alembic_config(any_db_url)
    command.upgrade(config, "0002")
    engine = create_db_engine(any_db_url)
    at = "2026-11-01 10:00:00"
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO conversations (channel, external_id, owner, created_at) "
                                    "VALUES ('sms', '+447700900123', 'bot', :at)"), {"at": at})
            for key, outcome in (("sms:+447700900123", "mismatch"), ("web:tab-1", "verified"),
                                 ("legacy-sender", "mismatch")):
                connection.execute(text("INSERT INTO verification_attempts (conversation_id, succeeded, outcome, "
                                        "attempted_at) VALUES (:key, :ok, :outcome, :at)"),
                                   {"key": key, "ok": outcome == "verified", "outcome": outcome, "at": at})
            connection.execute(text("INSERT INTO staff_requests (kind, conversation_id, wishes, status, created_at) "
                                    "VALUES ('cancel', 'sms:+447700900123', 'Tuesday', 'open', :at)"), {"at": at})
        command.upgrade(config, "head")
        with engine.connect() as connection:
            senders = dict(connection.execute(text(
                "SELECT id, channel || ':' || external_id FROM conversations")).all())
            attempts = connection.execute(text(
                "SELECT conversation_id, outcome FROM verification_attempts ORDER BY id")).all()
            requests = connection.execute(text("SELECT conversation_id, wishes FROM staff_requests")).all()
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        assert [(senders[c], o) for c, o in attempts] == [
            ("sms:+447700900123", "mismatch"), ("web:tab-1", "verified"), ("web:legacy-sender", "mismatch")]
        assert [(senders[c], w) for c, w in requests] == [("sms:+447700900123", "Tuesday")]
        assert len(senders) == 3  # the existing SMS conversation was reused, two were created
        command.downgrade(config, "0002")
        with engine.connect() as connection:
            keys = connection.execute(text("SELECT conversation_id FROM verification_attempts ORDER BY id")).scalars()
            assert list(keys) == ["sms:+447700900123", "web:tab-1", "web:legacy-sender"]
    finally:
        engine.dispose()
