"""Real Rasa turns (the trained model in-process, the real action server) leave no personal data in
the logs at INFO: neither this process's nor the action server's."""
from __future__ import annotations

import dataclasses
import io
import logging
from datetime import datetime, timezone

import pytest

from bot.logging_setup import configure_logging
from bot.settings import Settings
from tests.bot.privacy.helpers import TEXT, leaks
from tests.support import processes
from tests.support.database import demo_clinic_database
from tests.support.ports import free_port

pytestmark = pytest.mark.model


@pytest.fixture
def clinic_db(tmp_path, migrated_sqlite_template) -> str:
    """A migrated SQLite database with the demo clinic (Alex Morgan, MC-4827, born 12/04/1988)."""
    return demo_clinic_database(migrated_sqlite_template, tmp_path / "clinic.db")


@pytest.fixture
def action_server(clinic_db, tmp_path):
    """The action server on a free port; its output goes to a file the test reads.
    (its webhook URL, that file)."""
    port = free_port()
    process = processes.action_server(clinic_db, port, tmp_path / "action-server.log", IDENTITY_SIGNING_KEY="k" * 32)
    with processes.stopping(process):
        try:
            process.wait_until_answering(processes.health_url(port), 90)
        except RuntimeError as error:
            pytest.fail(str(error))
        yield processes.action_url(port), process.log


async def test_real_rasa_turns_leave_no_personal_data_in_the_logs(
        restore_logging, trained_model, clinic_db, action_server, caplog, capfd):
    from bot.channels.messages import InboundMessage
    from bot.channels.twilio import SMS
    from bot.conversations.router import ConversationRouter
    from bot.db.session import create_db_engine, make_session_factory
    from bot.engine.agent import RasaEngine
    from bot.web.webchat import WEB
    from tests.support.deliverers import RecordingDeliverer

    action_url, action_log = action_server
    settings = dataclasses.replace(Settings.from_env({"DATABASE_URL": clinic_db}), action_endpoint_url=action_url,
                                   model_path=trained_model, identity_signing_key="k" * 32)
    stream = io.StringIO()
    configure_logging("INFO", stream=stream, secrets=settings.secret_values())
    caplog.set_level(logging.INFO)
    engine = RasaEngine(settings, action_timeout_seconds=30)
    await engine.load()
    db = create_db_engine(clinic_db)
    router = ConversationRouter(settings, make_session_factory(db), engine)  # no screen: Rasa hears it all
    deliverer = RecordingDeliverer(WEB)
    router.register(deliverer)
    router.register(RecordingDeliverer(SMS, deliveries=deliverer.deliveries,
                                       owner_notices=deliverer.owner_notices))  # one record
    try:
        turns = [("web", "privacy-web-1", "when is my next appointment"), ("web", "privacy-web-1", "MC-4827"),
                 ("web", "privacy-web-1", "12/04/1988"), ("web", "privacy-web-1", TEXT),
                 ("sms", "+447700900123", "hi, Alex Morgan here, can i wash my hair now?")]
        for channel, sender, text in turns:
            outcome = await router.receive(InboundMessage(
                channel=channel, sender=sender, text=text, channel_message_id=None, has_media=False,
                received_at=datetime.now(timezone.utc)))
            assert outcome.handled_by == "bot" and outcome.replies, (text, outcome)
    finally:
        db.dispose()
    assert any("Your next session is" in text for text in deliverer.texts())  # Rasa really answered
    logged = "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records
                       if r.levelno >= logging.INFO)
    captured = capfd.readouterr()
    assert leaks(logged) == [], logged
    assert leaks(stream.getvalue()) == [], stream.getvalue()
    assert leaks(captured.out + captured.err) == [], captured.out + captured.err
    server_output = action_log.read_text(errors="replace")
    assert leaks(server_output) == [], server_output
