"""One server under test, ready to measure: its own fresh database, its action server, its process(es).

`deployment("ours", ...)` runs `python -m bot serve` (ready when /healthz answers 200), as many
replicas as the configuration says, each on its own port, all on the same database, Redis and action
server; `deployment("rasa", ...)` runs plain `rasa run` with its socketio channel and the same
endpoints.yml (same tracker and lock stores; ready when GET / answers, which Rasa does only once
the model has loaded). Each gets `python -m bot actions` on a port of its own. Everything is
stopped, and the database removed, when the block ends.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Dict, List, Optional, Sequence, Tuple

import aiohttp

from bench.platform_stub import platform_env
from bench.servers import ROOT, Backend, Configuration, backend, replica_memory
from tests.support.ports import free_port, free_ports
from tests.support.processes import ManagedProcess, health_url, stopping
from tests.support.processes import action_server as clinic_action_server

MODEL = ROOT / "models" / "clinic.tar.gz"
ACTION_START_SECONDS = 90.0
SERVER_START_SECONDS = 300.0
IDENTITY_SIGNING_KEY = secrets.token_hex(24)  # throw-away, one per benchmark run
# Settings a child must not inherit from the benchmark's own environment.
CLEARED = ("DATABASE_URL", "REDIS_URL", "HOST", "PORT", "ACTION_ENDPOINT_URL", "MODEL_PATH", "SANIC_HOST",
           "SANIC_PORT", "ENGINE_THREADS")
RASA_CREDENTIALS = """\
socketio:
  user_message_evt: user_uttered
  bot_message_evt: bot_uttered
  session_persistence: false
"""
RASA_LOAD_FAILURE = "Could not load model"
LABELS = {"ours": "our server", "rasa": "rasa run"}


def server_label(kind: str, replicas: int = 1) -> str:
    """"our server", "rasa run", or "our server x2 (2 processes)" for replicas."""
    return LABELS[kind] if replicas == 1 else f"{LABELS[kind]} x{replicas} ({replicas} processes)"


@dataclass(frozen=True)
class Deployment:
    """A running server under test: one process, or several replicas of our server."""

    kind: str  # "ours" or "rasa"
    configuration: Configuration
    base_urls: Tuple[str, ...]
    servers: Tuple[ManagedProcess, ...]
    startup_seconds: Tuple[float, ...]  # per process, spawn -> ready
    memory_at_ready: dict

    @property
    def base_url(self) -> str:
        """The first (or only) process's base URL."""
        return self.base_urls[0]

    @property
    def server(self) -> ManagedProcess:
        """The first (or only) process."""
        return self.servers[0]

    @property
    def label(self) -> str:
        """"our server", "rasa run" or "our server x2 (2 processes)"."""
        return server_label(self.kind, len(self.servers))

    def memory(self) -> dict:
        """VmRSS/VmHWM now (summed over replicas, with each replica's figures)."""
        return replica_memory([server.pid for server in self.servers])

    def startup(self) -> dict:
        """startup_seconds (the slowest process), and each replica's when there are several."""
        figures: dict = {"startup_seconds": max(self.startup_seconds)}
        if len(self.servers) > 1:
            figures["startup_seconds_per_replica"] = list(self.startup_seconds)
        return figures


def child_env(**values: str) -> Dict[str, str]:
    """The benchmark's environment without the server settings in CLEARED, plus `values`."""
    env = {key: value for key, value in os.environ.items() if key not in CLEARED}
    env.update(values)
    return env


def action_server(store: Backend, port: int, log_path: Path) -> ManagedProcess:
    """`python -m bot actions` on `port`, on the backend's database (and its Redis)."""
    env = child_env(**store.env(), IDENTITY_SIGNING_KEY=IDENTITY_SIGNING_KEY)
    return clinic_action_server(store.database_url, port, log_path, env)


def our_server(store: Backend, port: int, action_url: str, stub_base: str, log_path: Path,
               engine_threads: Optional[int] = None, name: str = "our server") -> ManagedProcess:
    """`python -m bot serve` on `port` (rate limit lifted so long conversations are not throttled;
    ENGINE_THREADS only when `engine_threads` is given, else the server's default)."""
    threads = {} if engine_threads is None else {"ENGINE_THREADS": str(engine_threads)}
    env = child_env(**store.env(), **platform_env(stub_base), HOST="127.0.0.1", PORT=str(port),
                    ACTION_ENDPOINT_URL=action_url, MODEL_PATH=str(MODEL.parent),
                    RATE_LIMIT_MESSAGES="1000000", PURGE_INTERVAL_HOURS="0",
                    IDENTITY_SIGNING_KEY=IDENTITY_SIGNING_KEY, **threads)
    return ManagedProcess(name, [sys.executable, "-m", "bot", "serve"], env, log_path)


def rasa_server(store: Backend, port: int, action_url: str, credentials: Path,
                log_path: Path) -> ManagedProcess:
    """`rasa run` with the socketio channel, the project's endpoints.yml and the same model."""
    rasa = Path(sys.executable).parent / "rasa"
    command = [str(rasa), "run", "--model", str(MODEL), "--endpoints", "endpoints.yml",
               "--credentials", str(credentials), "--port", str(port), "--interface", "127.0.0.1"]
    env = child_env(**store.env(), ACTION_ENDPOINT_URL=action_url)
    return ManagedProcess("rasa run", command, env, log_path)


async def ready_all(http: aiohttp.ClientSession, servers: Sequence[ManagedProcess], urls: Sequence[str],
                    timeout: float) -> List[float]:
    """Wait until every server answers 200 at its url; each one's seconds since spawn."""
    waits = [asyncio.ensure_future(server.wait_until_ok(http, url, timeout))
             for server, url in zip(servers, urls)]
    try:
        return list(await asyncio.gather(*waits))
    finally:
        for wait in waits:
            wait.cancel()


async def start_ours(stack: contextlib.ExitStack, http: aiohttp.ClientSession, store: Backend,
                     action_url: str, stub_base: str, log_stem: Path, replicas: int,
                     engine_threads: Optional[int]) -> Tuple[List[ManagedProcess], List[str], List[float]]:
    """`replicas` of our server, started together on ports of their own; (processes, URLs, start-up s)."""
    servers, urls = [], []
    for index, port in enumerate(free_ports(replicas)):
        suffix, name = ("", "our server") if replicas == 1 else (f"-{index + 1}", f"our server {index + 1}")
        log_path = log_stem.with_name(f"{log_stem.name}{suffix}.log")
        process = our_server(store, port, action_url, stub_base, log_path, engine_threads, name)
        servers.append(stack.enter_context(stopping(process)))
        urls.append(f"http://127.0.0.1:{port}")
    startups = await ready_all(http, servers, [url + "/healthz" for url in urls], SERVER_START_SECONDS)
    return servers, urls, startups


async def start_rasa(stack: contextlib.ExitStack, http: aiohttp.ClientSession, store: Backend,
                     action_url: str, log_path: Path) -> Tuple[ManagedProcess, str, float]:
    """`rasa run` with the socketio channel, ready and with its model loaded; (process, URL, start-up s)."""
    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-rasa-")))
    credentials = scratch / "credentials.yml"
    credentials.write_text(RASA_CREDENTIALS)
    port = free_port()
    server = stack.enter_context(stopping(rasa_server(store, port, action_url, credentials, log_path)))
    base_url = f"http://127.0.0.1:{port}"
    startup = await server.wait_until_ok(http, base_url + "/", SERVER_START_SECONDS)
    if RASA_LOAD_FAILURE in server.tail(200):  # it serves on without a model
        raise RuntimeError(f"rasa run could not load {MODEL}:\n{server.tail()}")
    return server, base_url, startup


@contextlib.asynccontextmanager
async def deployment(kind: str, configuration: Configuration, http: aiohttp.ClientSession, logs: Path,
                     stub_base: str, engine_threads: Optional[int] = None) -> AsyncIterator[Deployment]:
    """A fresh backend, an action server and the server(s) of `kind`, ready; all removed afterwards."""
    prefix = f"{configuration.name}-{kind}"
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(backend(configuration, logs / f"{prefix}-db.log"))
        action_port = free_port()
        actions_log = logs / f"{prefix}-actions.log"
        actions = stack.enter_context(stopping(action_server(store, action_port, actions_log)))
        await actions.wait_until_ok(http, health_url(action_port), ACTION_START_SECONDS)
        action_url = actions.env["ACTION_ENDPOINT_URL"]
        if kind == "ours":
            servers, urls, startups = await start_ours(stack, http, store, action_url, stub_base,
                                                       logs / prefix, configuration.replicas, engine_threads)
        else:
            server, url, startup = await start_rasa(stack, http, store, action_url, logs / f"{prefix}.log")
            servers, urls, startups = [server], [url], [startup]
        yield Deployment(kind, configuration, tuple(urls), tuple(servers),
                         tuple(round(seconds, 2) for seconds in startups),
                         replica_memory([server.pid for server in servers]))
