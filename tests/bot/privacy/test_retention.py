"""Retention: `purge_expired`, `python -m bot purge` and the server's periodic purge, on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import timedelta

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.appkeys import SESSION_FACTORY, SETTINGS
from bot.db.models import (
    Appointment,
    AuditLog,
    ConsentRecord,
    Conversation,
    Escalation,
    InboundReceipt,
    Message,
    Patient,
    StaffNote,
    StaffRequest,
    VerificationAttempt,
)
from bot.privacy.retention import PURGED_TABLES, purge_expired
from bot.privacy.schedule import periodic_purge
from bot.settings import Settings, SettingsError
from tests.bot.privacy.helpers import (
    NOW,
    OLD,
    RECENT,
    add_events,
    conversation,
    count,
    create_events_table,
    event_senders,
    patient_with_booking,
    staff_request,
)


def seed(factory):
    """One of each case; returns the ids the test looks for."""
    ids = {}
    with factory.begin() as s:
        ids["patient"] = patient_with_booking(s)
        # Old: silent for 400 days, with a resolved escalation, a note and a verified patient.
        ids["old"] = conversation(s, "web", "old-session", at=OLD - timedelta(days=1), messages=[OLD],
                                  patient_id=ids["patient"], escalation="resolved", note=True)
        # Old and never written in (a web session opened and left).
        ids["empty"] = conversation(s, "web", "empty-session", at=OLD)
        # Recent.
        ids["recent"] = conversation(s, "web", "recent-session", at=RECENT, messages=[RECENT])
        # Old but still waiting for the team: kept whole.
        ids["waiting"] = conversation(s, "sms", "+447700900111", at=OLD, messages=[OLD], escalation="waiting",
                                      note=True)
        # Old with an open staff request: kept whole.
        ids["requested"] = conversation(s, "whatsapp", "+447700900222", at=OLD, messages=[OLD])
        ids["open_request"] = staff_request(s, "whatsapp:+447700900222", at=OLD)
        # A phone conversation that spans years: the old messages go, the conversation stays.
        ids["long"] = conversation(s, "sms", "+447700900333", at=OLD, messages=[OLD, RECENT], note=True)
        ids["old_done_request"] = staff_request(s, "web:old-session", status="done", at=OLD)
        ids["recent_done_request"] = staff_request(s, "web:recent-session", status="done", at=RECENT)
        s.add_all([
            InboundReceipt(channel="sms", channel_message_id="SM-old", received_at=OLD),
            InboundReceipt(channel="sms", channel_message_id="SM-new", received_at=RECENT),
            VerificationAttempt(conversation_id=ids["old"], patient_id=ids["patient"], succeeded=True,
                                outcome="verified", attempted_at=OLD),
            VerificationAttempt(conversation_id=ids["recent"], succeeded=False, outcome="mismatch",
                                attempted_at=RECENT),
            ConsentRecord(phone_e164="+447700900444", channel="sms", opted_out=True, changed_at=OLD),
            AuditLog(at=OLD, actor_type="bot", action="escalation_opened", subject_type="conversation",
                     subject_id=str(ids["old"])),
        ])
    return ids


def seed_events(url):
    from bot.db.session import create_db_engine

    create_events_table(url)
    engine = create_db_engine(url)
    add_events(engine, "web:old-session", OLD - timedelta(days=1), OLD)
    add_events(engine, "web:empty-session", OLD)
    add_events(engine, "web:recent-session", RECENT)
    add_events(engine, "sms:+447700900111", OLD)             # waiting for the team: kept
    add_events(engine, "whatsapp:+447700900222", OLD)        # open request: kept
    add_events(engine, "sms:+447700900333", OLD, RECENT)     # the old one goes
    add_events(engine, "web:never-stored", OLD, RECENT)      # no conversation row (a `rasa shell` run)
    # Recorded after the cutoff, but its conversation is old by the clinic's tables (not possible
    # in practice, shows that the sender's events go with the conversation).
    add_events(engine, "web:empty-session", RECENT)
    return engine


def test_purge_deletes_what_is_old_from_every_table(any_session_factory, any_db_url):
    ids = seed(any_session_factory)
    engine = seed_events(any_db_url)
    try:
        with any_session_factory.begin() as session:
            report = purge_expired(session, now=NOW, retention_days=365)
        assert report.cutoff == NOW - timedelta(days=365)
        assert report.counts == {
            "messages": 2 + 2,               # the old conversation's pair, and the long one's old pair
            "staff_notes": 1,                # the old conversation's (the long one's is recent)
            "escalations": 1,
            "conversations": 2,              # old, empty
            "events": 3 + 1 + 1 + 1,         # old + empty (all of them); long's and never-stored's old one
            "staff_requests": 1,
            "verification_attempts": 1,
            "inbound_receipts": 1,
        }
        assert list(report.counts) == list(PURGED_TABLES)
        assert report.kept_open == 2 and report.events_table
        with any_session_factory() as session:
            conversations = set(session.execute(select(Conversation.id)).scalars())
            assert conversations == {ids["recent"], ids["waiting"], ids["requested"], ids["long"]}
            assert session.execute(select(Message.conversation_id, Message.created_at)
                                   .where(Message.created_at < report.cutoff)
                                   .where(Message.conversation_id.not_in([ids["waiting"], ids["requested"]]))
                                   ).all() == []
            long_messages = session.execute(select(Message.created_at).where(
                Message.conversation_id == ids["long"])).scalars().all()
            assert long_messages == [RECENT, RECENT]
            assert count(session, Message) == 2 + 2 + 2 + 2  # recent, waiting, requested, long's new pair
            assert set(session.execute(select(StaffNote.conversation_id)).scalars()) == {ids["waiting"], ids["long"]}
            assert set(session.execute(select(Escalation.conversation_id)).scalars()) == {ids["waiting"]}
            assert set(session.execute(select(StaffRequest.id)).scalars()) == {ids["open_request"],
                                                                               ids["recent_done_request"]}
            assert session.execute(select(InboundReceipt.channel_message_id)).scalars().all() == ["SM-new"]
            assert session.execute(select(VerificationAttempt.conversation_id)).scalars().all() == [ids["recent"]]
            # Never purged: the patient and bookings, consent, the audit log (plus the purge's own row).
            assert count(session, Patient) == 1 and count(session, Appointment) == 2
            assert count(session, ConsentRecord) == 1
            audit_rows = session.execute(select(AuditLog).order_by(AuditLog.id)).scalars().all()
            assert [r.action for r in audit_rows] == ["escalation_opened", "retention_purge"]
            assert audit_rows[1].actor_type == "system"
            assert audit_rows[1].detail == {"retention_days": 365, **report.counts, "kept_open": 2}
        assert event_senders(engine) == {"web:recent-session": 1, "sms:+447700900111": 1,
                                         "whatsapp:+447700900222": 1, "sms:+447700900333": 1,
                                         "web:never-stored": 1}
        # A second run finds nothing more (and records nothing).
        with any_session_factory.begin() as session:
            again = purge_expired(session, now=NOW, retention_days=365)
        assert again.total == 0 and again.kept_open == 2
        with any_session_factory() as session:
            assert count(session, AuditLog) == 2
    finally:
        engine.dispose()


def test_a_resolved_escalation_lets_its_conversation_go(any_session_factory):
    with any_session_factory.begin() as session:
        kept = conversation(session, "sms", "+447700900111", at=OLD, messages=[OLD], escalation="waiting")
    with any_session_factory.begin() as session:
        assert purge_expired(session, now=NOW, retention_days=365).counts["conversations"] == 0
        session.get(Escalation, session.execute(select(Escalation.id)).scalar_one()).status = "resolved"
    with any_session_factory.begin() as session:
        report = purge_expired(session, now=NOW, retention_days=365)
    assert report.counts["conversations"] == 1 and report.counts["escalations"] == 1
    with any_session_factory() as session:
        assert session.get(Conversation, kept) is None


def test_without_a_rasa_events_table_the_purge_still_works(any_session_factory):
    seed(any_session_factory)
    with any_session_factory.begin() as session:
        report = purge_expired(session, now=NOW, retention_days=365)
    assert report.events_table is False and report.counts["events"] == 0
    assert report.counts["conversations"] == 2


def test_a_shorter_retention_reaches_recent_conversations(any_session_factory):
    ids = seed(any_session_factory)
    with any_session_factory.begin() as session:
        report = purge_expired(session, now=NOW, retention_days=7)
    assert report.counts["conversations"] == 4  # old, empty, recent, long (30 days ago)
    with any_session_factory() as session:
        assert set(session.execute(select(Conversation.id)).scalars()) == {ids["waiting"], ids["requested"]}


@pytest.fixture
def cli_env(monkeypatch, db_url, restore_logging):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("RETENTION_DAYS", "365")
    return db_url


def test_the_purge_command_prints_counts_per_table(cli_env, session_factory, capsys, monkeypatch):
    import bot.__main__ as cli
    from bot.privacy import retention

    seed(session_factory)
    seed_events(cli_env).dispose()
    real = retention.purge_expired
    monkeypatch.setattr(retention, "purge_expired",
                        lambda session, **kwargs: real(session, **{**kwargs, "now": NOW}))
    assert cli.main(["purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would delete" in out and "  conversations: 2" in out and "  events: 6" in out
    with session_factory() as session:
        assert count(session, Conversation) == 6  # a dry run deletes nothing
    assert cli.main(["purge"]) == 0
    out = capsys.readouterr().out
    assert "retention 365 days: deleted" in out
    for table in PURGED_TABLES:
        assert f"  {table}: " in out
    assert "  messages: 4" in out and "  events: 6" in out and "kept 2 old conversations" in out
    with session_factory() as session:
        assert count(session, Conversation) == 4


def test_the_purge_command_on_a_database_rasa_never_used(cli_env, session_factory, capsys):
    import bot.__main__ as cli

    assert cli.main(["purge"]) == 0
    out = capsys.readouterr().out
    assert "  conversations: 0" in out and "no Rasa `events` table" in out


async def test_the_server_purges_periodically_and_logs_counts_only(db_url, session_factory, caplog):
    ids = seed(session_factory)
    app = web.Application()
    app[SETTINGS] = dataclasses.replace(Settings.from_env({"DATABASE_URL": db_url}), retention_days=365,
                                        purge_interval_hours=0.0005)  # every 1.8 s
    app[SESSION_FACTORY] = session_factory
    app.cleanup_ctx.append(periodic_purge(first_delay_seconds=0, clock=lambda: NOW))
    caplog.set_level(logging.INFO, logger="bot.privacy")
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        for _ in range(200):
            if any(r.name == "bot.privacy.schedule" for r in caplog.records):
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    with session_factory() as session:
        remaining = set(session.execute(select(Conversation.id)).scalars())
    assert remaining == {ids["recent"], ids["waiting"], ids["requested"], ids["long"]}
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.privacy.schedule"]
    assert lines[0] == ("retention purge (365 days): messages=4 staff_notes=1 escalations=1 conversations=2 "
                        "events=0 staff_requests=1 verification_attempts=1 inbound_receipts=1 kept_open=2")


async def test_purge_interval_zero_turns_the_periodic_purge_off(db_url, session_factory):
    app = web.Application()
    app[SETTINGS] = dataclasses.replace(Settings.from_env({"DATABASE_URL": db_url}), purge_interval_hours=0)
    app[SESSION_FACTORY] = session_factory
    context = periodic_purge(first_delay_seconds=0)(app)
    await context.__anext__()
    assert [t for t in asyncio.all_tasks() if "purge_periodically" in repr(t)] == []
    with pytest.raises(StopAsyncIteration):
        await context.__anext__()


def test_retention_settings_from_the_environment():
    defaults = Settings.from_env({})
    assert (defaults.retention_days, defaults.purge_interval_hours) == (365, 24.0)
    custom = Settings.from_env({"RETENTION_DAYS": "90", "PURGE_INTERVAL_HOURS": "0"})
    assert (custom.retention_days, custom.purge_interval_hours) == (90, 0.0)
    for env in ({"RETENTION_DAYS": "0"}, {"RETENTION_DAYS": "a year"}, {"PURGE_INTERVAL_HOURS": "-1"}):
        with pytest.raises(SettingsError):
            Settings.from_env(env)
