"""Running the assistant: Rasa's action server next to the application (or `rasa shell`).

`python -m bot run` starts the custom actions as Rasa's action server (a child process on the
loopback port of ACTION_ENDPOINT_URL), then serves the aiohttp application (web chat, webhooks,
staff console) on HOST:PORT. `python -m bot chat` is the same assistant in the terminal.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List
from urllib.parse import urlsplit

from bot.settings import PROJECT_ROOT, Settings

logger = logging.getLogger(__name__)
MODEL_FILE = "clinic.tar.gz"
ACTION_SERVER_START_SECONDS = 60
# On SIGTERM: how long open requests (a socket.io long-poll lasts up to 25 s) may take to finish.
# Replies being produced get up to 30 s more from the application's own cleanup.
SHUTDOWN_GRACE_SECONDS = 5.0
GIL_SWITCH_INTERVAL_SECONDS = 0.0005


def child_environment(settings: Settings) -> Dict[str, str]:
    """The environment for the action server and Rasa: the same database and action URL.

    The action server trusts the trackers it is sent (a `verified` slot included), so it listens on
    the action URL's host only (loopback by default), never on every interface.
    """
    host = urlsplit(settings.action_endpoint_url).hostname or "127.0.0.1"
    return dict(os.environ, DATABASE_URL=settings.database_url, ACTION_ENDPOINT_URL=settings.action_endpoint_url,
                SANIC_HOST=os.environ.get("SANIC_HOST", host))


def action_server_command(settings: Settings) -> List[str]:
    """`python -m rasa_sdk --actions actions` on the port of ACTION_ENDPOINT_URL."""
    port = urlsplit(settings.action_endpoint_url).port or 5055
    return [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)]


def wait_until_healthy(url: str, process: subprocess.Popen, seconds: float) -> None:
    """Poll the action server's /health until it answers, or fail if it exits or takes too long."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the action server exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the action server did not answer {url} within {seconds:.0f} s")


def _die_with_parent() -> None:
    """In the child: ask Linux to stop it when the parent dies (even by SIGKILL); no-op elsewhere."""
    try:
        import ctypes
        import signal

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


@contextmanager
def action_server(settings: Settings) -> Iterator[subprocess.Popen]:
    """Run `python -m rasa_sdk --actions actions` on the port of ACTION_ENDPOINT_URL for the block."""
    endpoint = urlsplit(settings.action_endpoint_url)
    process = subprocess.Popen(action_server_command(settings), cwd=PROJECT_ROOT, env=child_environment(settings),
                               preexec_fn=_die_with_parent)
    try:
        wait_until_healthy(f"{endpoint.scheme}://{endpoint.netloc}/health", process, ACTION_SERVER_START_SECONDS)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _missing_model(settings: Settings) -> bool:
    """True (and say so) when there is no trained model to serve."""
    model = Path(settings.model_path) / MODEL_FILE
    if model.exists():
        return False
    print(f"no trained model at {model}: run `make train` (make run does it for you)", file=sys.stderr)
    return True


def serve_application(settings: Settings) -> int:
    """Serve the application alone on HOST:PORT (one replica; the action server runs elsewhere)."""
    from aiohttp import web

    from bot.app import create_app

    if _missing_model(settings):
        return 1
    # Rasa's engine threads hold the GIL for long stretches of Python; the event loop's thread waits up
    # to the switch interval each time it needs the GIL back (after every socket or database call).
    # A shorter interval keeps webhook acknowledgements and socket.io traffic prompt under load.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
    print(f"\nThe assistant is starting at http://{settings.host}:{settings.port}/ "
          "(the chat answers once the model has loaded; /healthz says when).\n", flush=True)
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None, access_log=None,
                shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
    return 0


def serve(settings: Settings) -> int:
    """Serve the application on HOST:PORT until interrupted, with the action server beside it."""
    if _missing_model(settings):
        return 1
    with action_server(settings):
        return serve_application(settings)


def serve_actions(settings: Settings) -> int:
    """Run the action server alone in the foreground (scaled on its own in production)."""
    return subprocess.call(action_server_command(settings), cwd=PROJECT_ROOT, env=child_environment(settings))


def run_terminal_chat(settings: Settings) -> int:
    """Chat with the assistant in this terminal until the patient types /stop."""
    if _missing_model(settings):
        return 1
    model = Path(settings.model_path) / MODEL_FILE
    with action_server(settings):
        print("\nType a message as a patient would; /stop ends the chat.\n", flush=True)
        return subprocess.call(
            [sys.executable, "-m", "rasa", "shell", "--model", str(model), "--endpoints", "endpoints.yml",
             "--quiet"],
            cwd=PROJECT_ROOT, env=child_environment(settings),
        )
