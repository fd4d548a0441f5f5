"""Conversations through the trained Rasa model, with the real action server in a subprocess."""
import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from bot.clinic.demo import seed_demo_clinic
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def dialogue_db(tmp_path_factory) -> str:
    """A migrated SQLite database with the demo clinic seeded now."""
    from bot.db.migrate import upgrade_database
    from bot.db.session import create_db_engine, make_session_factory

    url = f"sqlite:///{tmp_path_factory.mktemp('dialogue') / 'clinic.db'}"
    upgrade_database(url)
    settings = Settings.from_env({"DATABASE_URL": url})
    seed_demo_clinic(make_session_factory(create_db_engine(url)), datetime.now(timezone.utc), settings.clinic.timezone)
    return url


@pytest.fixture(scope="session")
def action_server(dialogue_db):
    """`rasa run actions` on a free port, against the dialogue database."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=dialogue_db, SANIC_HOST="127.0.0.1")
    process = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.3)
        if process.poll() is not None:
            pytest.fail(f"action server exited: {process.stderr.read().decode()[-2000:]}")
    else:
        process.kill()
        pytest.fail("action server did not start within 60 s")
    yield f"{url}/webhook"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
async def agent(trained_model, action_server):
    """The trained model, loaded once, calling the real action server."""
    from rasa.core.agent import load_agent
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.endpoints import EndpointConfig

    return await load_agent(model_path=str(trained_model),
                            endpoints=AvailableEndpoints(action=EndpointConfig(url=action_server)))
