"""Logs at INFO carry no message text, phone number, name or date of birth; nor secrets."""
from __future__ import annotations

import io
import logging
import re
from datetime import datetime, timezone

import pytest

from bot.logging_setup import REDACTED, RedactingFilter, configure_logging, redact
from bot.settings import Settings
from tests.bot.privacy.helpers import MESSAGES, PHONE_DIGITS, TEXT, leaks

# ---- the redaction filter -----------------------------------------------------------------------

@pytest.mark.parametrize("phone", ["+447700900123", "+44 7700 900123", "+44 (0)7700 900 123", "07700 900123",
                                   "07700-900-123", "447700900123", "0044 7700 900123", "(020) 7946 0321",
                                   "whatsapp:+447700900123", "+1 415-555-0134"])
def test_phone_numbers_are_redacted_in_any_format(phone):
    redacted = redact(f"sender {phone} wrote")
    assert PHONE_DIGITS not in re.sub(r"\D", "", redacted) and REDACTED in redacted
    assert redacted.startswith("sender ") and redacted.endswith(" wrote")


@pytest.mark.parametrize("date", ["12/04/1988", "12-04-88", "12.4.1988", "1988-04-12", "12 04 1988",
                                  "12 April 1988", "12th of April, 1988", "12 apr 1988", "April 12, 1988",
                                  "Apr 12th 1988"])
def test_dates_of_birth_are_redacted(date):
    assert redact(f"born {date}.") == f"born {REDACTED}."


@pytest.mark.parametrize("line", ["conversation 12 escalated (red_flag, urgent)", "model loaded in 12.3 s",
                                  "staff request 5 created (reschedule)", "demo data seeded: 3 patients",
                                  "identity check by reference: mismatch (2 attempts left)",
                                  "retention purge (365 days): messages=1204 events=20391"])
def test_ordinary_log_lines_are_left_alone(line):
    assert redact(line) == line


def test_the_filter_redacts_arguments_tracebacks_and_secrets():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(secrets=["tw-secret-token-1234", "abc"]))
    log = logging.getLogger("tests.privacy.filter")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("sender %s token %s short %s", "+447700900123", "tw-secret-token-1234", "abc")
        try:
            raise ValueError("no patient born 12/04/1988 at +44 7700 900123")
        except ValueError:
            log.exception("lookup failed")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    output = stream.getvalue()
    assert "sender [redacted] token [redacted] short abc" in output  # too short to be a secret
    assert "ValueError: no patient born [redacted] at [redacted]" in output
    assert not leaks(output) and "tw-secret" not in output


# ---- configure_logging --------------------------------------------------------------------------

def test_rasa_structlog_prints_nothing_below_the_level(restore_logging, capfd):
    import structlog

    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    rasa_log = structlog.get_logger("rasa.core.processor")
    rasa_log.debug("processor.message.parse", parse_data_text=TEXT)
    rasa_log.info("processor.slots.log", slot_values=TEXT)
    logging.getLogger("rasa.core.agent").info("Agent loaded for %s", TEXT)
    logging.getLogger("tensorflow").warning("oneDNN custom operations are on")
    logging.getLogger("absl").warning("Found untraced functions")
    captured = capfd.readouterr()
    assert stream.getvalue() == "" and not leaks(captured.out + captured.err)
    structlog.get_logger("rasa.core.processor").warning("processor.problem", detail="shown")
    assert "processor.problem" in stream.getvalue() and "WARNING rasa.core.processor" in stream.getvalue()
    # LOG_LEVEL=DEBUG shows Rasa's debug events (through the same handler, still redacted).
    debug_stream = io.StringIO()
    configure_logging("DEBUG", stream=debug_stream)
    structlog.get_logger("rasa.core.processor").debug("processor.message.parse", parse_data_text=TEXT)
    assert "processor.message.parse" in debug_stream.getvalue()
    assert "+447700900123" not in debug_stream.getvalue() and "12/04/1988" not in debug_stream.getvalue()
    assert stream.getvalue().count("\n") == 1  # the first handler was replaced, not kept


def test_library_loggers_at_warning_unless_debug(restore_logging):
    configure_logging("INFO", stream=io.StringIO())
    for name in ("rasa", "rasa.core.processor", "rasa_sdk", "apscheduler", "sanic"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING, name
    assert logging.getLogger("tensorflow").getEffectiveLevel() == logging.ERROR
    assert logging.getLogger("bot.conversations.router").getEffectiveLevel() == logging.INFO
    configure_logging("DEBUG", stream=io.StringIO())
    assert logging.getLogger("rasa").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("tensorflow").getEffectiveLevel() == logging.ERROR
    configure_logging("nonsense", stream=io.StringIO())
    assert logging.getLogger().level == logging.INFO


def test_secret_settings_are_redacted_from_logs(restore_logging):
    settings = Settings.from_env({"DATABASE_URL": "postgresql://clinic:db-pass-word@db/clinic",
                                  "TWILIO_AUTH_TOKEN": "test-token-0123456789",
                                  "WHATSAPP_ACCESS_TOKEN": "EAAtestAccessToken0001", "SESSION_SECRET": "x" * 44})
    stream = io.StringIO()
    configure_logging("INFO", stream=stream, secrets=settings.secret_values())
    log = logging.getLogger("bot.test")
    log.warning("sending with %s and %s to %s", settings.twilio.auth_token, settings.whatsapp.access_token,
                settings.database_url)
    output = stream.getvalue()
    assert "0123456789" not in output and "EAAtest" not in output and "db-pass-word" not in output
    assert output.count(REDACTED) == 3


# ---- a whole conversation through the application -----------------------------------------------

@pytest.fixture
def app_settings(db_url) -> Settings:
    return Settings.from_env({
        "DATABASE_URL": db_url, "IDENTITY_SIGNING_KEY": "k" * 32, "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": "t" * 32, "TWILIO_SMS_FROM": "+447700900999", "TWILIO_API_BASE": "http://127.0.0.1:9",
        "PUBLIC_BASE_URL": "https://bot.clinic.example"})


async def test_a_conversation_with_personal_data_leaves_none_in_the_logs(
        restore_logging, app_settings, session_factory, aiohttp_client, caplog, capfd):
    from bot.app import create_app
    from bot.appkeys import ROUTER
    from bot.channels.messages import InboundMessage
    from bot.db.models import StaffUser
    from tests.bot.fakes import ScriptedEngine

    stream = io.StringIO()
    configure_logging("INFO", stream=stream, secrets=app_settings.secret_values())
    caplog.set_level(logging.INFO)
    # The real red-flag screen; the engine echoes the text back (as Rasa might quote it).
    app = create_app(app_settings, engine=ScriptedEngine(session_factory))
    client = await aiohttp_client(app)
    router = client.app[ROUTER]
    outcomes = []
    for number, (channel, sender, text) in enumerate(MESSAGES):
        outcomes.append(await router.receive(InboundMessage(
            channel=channel, sender=sender, text=text, channel_message_id=f"m-{number}" if channel != "web" else None,
            has_media=False, received_at=datetime.now(timezone.utc))))
    assert {o.handled_by for o in outcomes} >= {"bot", "screen", "consent"}  # the red flag was seen
    with session_factory.begin() as session:
        staff = StaffUser(email="jo@clinic.example", password_hash="x", role="staff")
        session.add(staff)
        session.flush()
        staff_id = staff.id
    web = outcomes[1].conversation
    await router.staff_reply(web.id, staff_id, "Alex, please call 999 now; we have 07700 900123 on file")
    await router.hand_back(web.id, staff_id)
    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert records, "the test should have seen some logging"
    logged = "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in records)
    captured = capfd.readouterr()
    assert leaks(logged) == [], logged
    assert leaks(stream.getvalue()) == [], stream.getvalue()
    assert leaks(captured.out + captured.err) == []
    assert "escalated (red_flag, urgent)" in logged  # the log says what happened, without who or what
