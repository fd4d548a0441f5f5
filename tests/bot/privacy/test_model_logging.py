"""Real Rasa turns (the trained model in-process, the real action server) leave no personal data in
the logs at INFO: neither this process's nor the action server's."""
from __future__ import annotations

import dataclasses
import io
import logging
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from bot.clinic.demo import seed_demo_clinic
from bot.logging_setup import configure_logging
from bot.settings import Settings
from tests.bot.privacy.helpers import TEXT, leaks

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def clinic_db(tmp_path) -> str:
    """A migrated SQLite database with the demo clinic (Alex Morgan, MC-1001, born 12/04/1988)."""
    from bot.db.migrate import upgrade_database
    from bot.db.session import create_db_engine, make_session_factory

    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    upgrade_database(url)
    engine = create_db_engine(url)
    seed_demo_clinic(make_session_factory(engine), datetime.now(timezone.utc),
                     Settings.from_env({"DATABASE_URL": url}).clinic.timezone)
    engine.dispose()
    return url


@pytest.fixture
def action_server(clinic_db, tmp_path):
    """`python -m rasa_sdk --actions actions` on a free port; its output goes to a file the test reads."""
    port = free_port()
    output = tmp_path / "action-server.log"
    env = dict(os.environ, DATABASE_URL=clinic_db, SANIC_HOST="127.0.0.1", IDENTITY_SIGNING_KEY="k" * 32)
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"action server exited: {output.read_text()[-2000:]}")
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail("action server did not start within 90 s")
            time.sleep(0.3)
        yield f"{url}/webhook", output
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


async def test_real_rasa_turns_leave_no_personal_data_in_the_logs(
        restore_logging, trained_model, clinic_db, action_server, caplog, capfd):
    from bot.channels.messages import InboundMessage
    from bot.channels.twilio import SMS
    from bot.conversations.router import ConversationRouter
    from bot.db.session import create_db_engine, make_session_factory
    from bot.engine.agent import RasaEngine
    from bot.web.webchat import WEB
    from tests.bot.fakes import RecordingDeliverer

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
    router.register(RecordingDeliverer(SMS, sent=deliverer.sent, notices=deliverer.notices))  # one record
    try:
        turns = [("web", "privacy-web-1", "when is my next appointment"), ("web", "privacy-web-1", "MC-1001"),
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
