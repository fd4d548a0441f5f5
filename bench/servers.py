"""The processes and databases the benchmark runs against, always stopped and dropped afterwards.

- `Backend`: the storage one configuration uses (a SQLite file, or a fresh PostgreSQL database with
  a Redis db for the lock store); `backend()` creates it, prepares the clinic schema and demo data
  and removes it afterwards.
- `ServerProcess`: one child process in its own process group (our server, `rasa run`, the action
  server); `stop()` sends SIGTERM to the group, then SIGKILL. Children also get SIGTERM if the
  benchmark itself dies (Linux PR_SET_PDEATHSIG).
- `memory_mb(pid)`: VmRSS and VmHWM of a process from /proc/<pid>/status; `replica_memory(pids)` the
  same for several replicas of one server (their sums, and each one's figures).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import aiohttp

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
POSTGRES_ADMIN_DATABASE = "test"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
STOP_SECONDS = 10.0
READY_POLL_SECONDS = 0.1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_ports(count: int) -> List[int]:
    """`count` distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                  for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


def memory_mb(pid: int) -> Dict[str, Optional[float]]:
    """{"vm_rss_mb", "vm_hwm_mb"} of a live process (None where /proc does not say)."""
    figures: Dict[str, Optional[float]] = {"vm_rss_mb": None, "vm_hwm_mb": None}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return figures
    for line in lines:
        name, _, value = line.partition(":")
        key = {"VmRSS": "vm_rss_mb", "VmHWM": "vm_hwm_mb"}.get(name)
        if key:
            figures[key] = round(int(value.split()[0]) / 1024, 1)  # kB
    return figures


def replica_memory(pids: Sequence[int]) -> dict:
    """memory_mb() of one process; of several, the sums (None if one is unknown) plus "replicas"."""
    each = [memory_mb(pid) for pid in pids]
    if len(each) == 1:
        return each[0]
    sums = {key: None if any(item[key] is None for item in each)
            else round(sum(item[key] for item in each), 1) for key in ("vm_rss_mb", "vm_hwm_mb")}
    return {**sums, "replicas": each}


def _die_with_parent() -> None:
    """In the child: SIGTERM when the benchmark dies, even by SIGKILL (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class ServerProcess:
    """A child process in its own process group, with its output in a log file."""

    def __init__(self, name: str, command: Sequence[str], env: Dict[str, str], log_path: Path) -> None:
        """Remember how to start it (`start()` spawns)."""
        self.name = name
        self.command = list(command)
        self.env = env
        self.log_path = log_path
        self.process: Optional[subprocess.Popen] = None
        self.spawned_at = 0.0

    @property
    def pid(self) -> int:
        """The process id (after `start()`)."""
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    def start(self) -> "ServerProcess":
        """Spawn the process; its stdout and stderr go to the log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.spawned_at = time.perf_counter()
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=_die_with_parent)
        logger.info("%s started (pid %s), log in %s", self.name, self.process.pid, self.log_path)
        return self

    def running(self) -> bool:
        """True while the process has not exited."""
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after STOP_SECONDS; safe to call twice."""
        if self.process is None or self.process.returncode is not None and not self._group_alive():
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in %.0f s: killing it", self.name, STOP_SECONDS)
        self._signal_group(signal.SIGKILL)  # stragglers in the group (e.g. a child of `bot actions`)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_SECONDS)

    def _group_alive(self) -> bool:
        """True while any process of its group is alive."""
        try:
            os.killpg(self.pid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def _signal_group(self, signum: int) -> None:
        """Send `signum` to the process group this process leads."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of its log (for error messages)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_until_ok(self, http: aiohttp.ClientSession, url: str, timeout: float) -> float:
        """Poll `url` until it answers 200; the seconds since spawn. RuntimeError on exit or timeout."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if not self.running():
                status = self.process.returncode
                raise RuntimeError(f"{self.name} exited with status {status}:\n{self.log_tail()}")
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                    if response.status == 200:
                        return time.perf_counter() - self.spawned_at
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(READY_POLL_SECONDS)
        raise RuntimeError(f"{self.name} did not answer {url} within {timeout:.0f} s:\n{self.log_tail()}")


@contextlib.contextmanager
def stopping(process: ServerProcess) -> Iterator[ServerProcess]:
    """Start `process` for the block and stop it afterwards, whatever happens."""
    try:
        yield process.start()
    finally:
        process.stop()


# ---- storage ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Configuration:
    """A configuration to benchmark: its storage ("sqlite", the embedded default, or "postgres" with
    Redis) and how many replicas of our server share it (rasa run is always one process)."""

    name: str
    label: str
    storage: str
    replicas: int = 1


CONFIGURATIONS = {
    "sqlite": Configuration("sqlite", "SQLite (embedded default)", "sqlite"),
    "postgres": Configuration("postgres", "PostgreSQL + Redis", "postgres"),
    "postgres2": Configuration("postgres2", "PostgreSQL + Redis, our server as two replicas (2 processes) "
                               "vs one rasa run", "postgres", replicas=2),
}


@dataclass
class Backend:
    """The database (and Redis lock store) one server under test uses."""

    database_url: str
    redis_url: Optional[str] = None
    notes: List[str] = field(default_factory=list)

    def env(self) -> Dict[str, str]:
        """DATABASE_URL and (when set) REDIS_URL for a child process."""
        values = {"DATABASE_URL": self.database_url}
        if self.redis_url:
            values["REDIS_URL"] = self.redis_url
        return values


def _postgres_execute(statement: str) -> None:
    """Run one statement on the admin database outside a transaction (CREATE/DROP DATABASE)."""
    import psycopg2

    connection = psycopg2.connect(f"{POSTGRES_SERVER_URL}/{POSTGRES_ADMIN_DATABASE}", connect_timeout=5)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


def flush_redis(url: str) -> None:
    """Empty the Redis database that `url` names (only that db number)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.flushdb()
    finally:
        client.close()


def prepare_clinic_database(database_url: str, log_path: Path) -> None:
    """Schema (`python -m bot db-upgrade`) and demo clinic (`python -m bot seed-demo`)."""
    env = {**os.environ, "DATABASE_URL": database_url}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        for command in ("db-upgrade", "seed-demo"):
            subprocess.run([sys.executable, "-m", "bot", command], cwd=ROOT, env=env, stdout=log,
                           stderr=subprocess.STDOUT, check=True, timeout=300)


@contextlib.contextmanager
def backend(configuration: Configuration, log_path: Path) -> Iterator[Backend]:
    """A fresh, prepared database for `configuration`, removed (and Redis flushed) afterwards."""
    if configuration.storage == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
            url = f"sqlite:///{scratch}/clinic.db"
            prepare_clinic_database(url, log_path)
            yield Backend(url)
        return
    name = f"bench_{uuid.uuid4().hex[:12]}"
    _postgres_execute(f'CREATE DATABASE "{name}"')
    try:
        flush_redis(REDIS_URL)
        url = f"postgresql+psycopg2://{POSTGRES_SERVER_URL.split('://', 1)[1]}/{name}"
        prepare_clinic_database(url, log_path)
        yield Backend(url, REDIS_URL)
    finally:
        with contextlib.suppress(Exception):
            flush_redis(REDIS_URL)
        _postgres_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def unavailable_reason(configuration: Configuration) -> Optional[str]:
    """Why `configuration` cannot run here (PostgreSQL or Redis unreachable), or None."""
    if configuration.storage != "postgres":
        return None
    try:
        _postgres_execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means "skip this configuration"
        return f"PostgreSQL unreachable at {POSTGRES_SERVER_URL}: {type(error).__name__}"
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as error:  # noqa: BLE001
        return f"Redis unreachable at {REDIS_URL}: {type(error).__name__}"
    return None
