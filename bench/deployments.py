"""One server under test, ready to measure: its own fresh database, its action server, its process.

`deployment("ours", ...)` runs `python -m bot serve` (ready when /healthz answers 200);
`deployment("rasa", ...)` runs plain `rasa run` with its socketio channel and the same
endpoints.yml (same tracker and lock stores; ready when GET / answers, which Rasa does only once
the model has loaded). Both get `python -m bot actions` on a port of their own. Everything is
stopped, and the database removed, when the block ends.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Dict, Optional

import aiohttp

from bench.platform_stub import platform_env
from bench.servers import ROOT, Backend, Configuration, ServerProcess, backend, free_port, memory_mb, stopping

MODEL = ROOT / "models" / "clinic.tar.gz"
ACTION_START_SECONDS = 90.0
SERVER_START_SECONDS = 300.0
IDENTITY_SIGNING_KEY = secrets.token_hex(24)  # throw-away, one per benchmark run
# Settings a child must not inherit from the benchmark's own environment.
CLEARED = ("DATABASE_URL", "REDIS_URL", "HOST", "PORT", "ACTION_ENDPOINT_URL", "MODEL_PATH", "SANIC_HOST",
           "SANIC_PORT")
RASA_CREDENTIALS = """\
socketio:
  user_message_evt: user_uttered
  bot_message_evt: bot_uttered
  session_persistence: false
"""
RASA_LOAD_FAILURE = "Could not load model"
LABELS = {"ours": "our server", "rasa": "rasa run"}


@dataclass(frozen=True)
class Deployment:
    """A running server under test."""

    kind: str  # "ours" or "rasa"
    configuration: Configuration
    base_url: str
    server: ServerProcess
    startup_seconds: float
    memory_at_ready: Dict[str, Optional[float]]

    @property
    def label(self) -> str:
        """"our server" or "rasa run"."""
        return LABELS[self.kind]


def child_env(**values: str) -> Dict[str, str]:
    """The benchmark's environment without the server settings in CLEARED, plus `values`."""
    env = {key: value for key, value in os.environ.items() if key not in CLEARED}
    env.update(values)
    return env


def action_server(store: Backend, port: int, log_path: Path) -> ServerProcess:
    """`python -m bot actions` on `port`, on the backend's database."""
    env = child_env(**store.env(), ACTION_ENDPOINT_URL=f"http://127.0.0.1:{port}/webhook",
                    IDENTITY_SIGNING_KEY=IDENTITY_SIGNING_KEY)
    return ServerProcess("action server", [sys.executable, "-m", "bot", "actions"], env, log_path)


def our_server(store: Backend, port: int, action_url: str, stub_base: str, log_path: Path) -> ServerProcess:
    """`python -m bot serve` on `port` (rate limit lifted so long conversations are not throttled)."""
    env = child_env(**store.env(), **platform_env(stub_base), HOST="127.0.0.1", PORT=str(port),
                    ACTION_ENDPOINT_URL=action_url, MODEL_PATH=str(MODEL.parent),
                    RATE_LIMIT_MESSAGES="1000000", PURGE_INTERVAL_HOURS="0",
                    IDENTITY_SIGNING_KEY=IDENTITY_SIGNING_KEY)
    return ServerProcess("our server", [sys.executable, "-m", "bot", "serve"], env, log_path)


def rasa_server(store: Backend, port: int, action_url: str, credentials: Path,
                log_path: Path) -> ServerProcess:
    """`rasa run` with the socketio channel, the project's endpoints.yml and the same model."""
    rasa = Path(sys.executable).parent / "rasa"
    command = [str(rasa), "run", "--model", str(MODEL), "--endpoints", "endpoints.yml",
               "--credentials", str(credentials), "--port", str(port), "--interface", "127.0.0.1"]
    env = child_env(**store.env(), ACTION_ENDPOINT_URL=action_url)
    return ServerProcess("rasa run", command, env, log_path)


@contextlib.asynccontextmanager
async def deployment(kind: str, configuration: Configuration, http: aiohttp.ClientSession, logs: Path,
                     stub_base: str) -> AsyncIterator[Deployment]:
    """A fresh backend, an action server and the server of `kind`, ready; all removed afterwards."""
    prefix = f"{configuration.name}-{kind}"
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(backend(configuration, logs / f"{prefix}-db.log"))
        action_port = free_port()
        actions_log = logs / f"{prefix}-actions.log"
        actions = stack.enter_context(stopping(action_server(store, action_port, actions_log)))
        await actions.wait_until_ok(http, f"http://127.0.0.1:{action_port}/health", ACTION_START_SECONDS)
        action_url = f"http://127.0.0.1:{action_port}/webhook"
        port = free_port()
        if kind == "ours":
            process = our_server(store, port, action_url, stub_base, logs / f"{prefix}.log")
            ready_path = "/healthz"
        else:
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-rasa-")))
            credentials = scratch / "credentials.yml"
            credentials.write_text(RASA_CREDENTIALS)
            process = rasa_server(store, port, action_url, credentials, logs / f"{prefix}.log")
            ready_path = "/"
        server = stack.enter_context(stopping(process))
        base_url = f"http://127.0.0.1:{port}"
        startup = await server.wait_until_ok(http, base_url + ready_path, SERVER_START_SECONDS)
        if kind == "rasa" and RASA_LOAD_FAILURE in server.log_tail(200):  # it serves on without a model
            raise RuntimeError(f"rasa run could not load {MODEL}:\n{server.log_tail()}")
        yield Deployment(kind, configuration, base_url, server, round(startup, 2), memory_mb(server.pid))
