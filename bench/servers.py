"""The processes and databases the benchmark runs against, always stopped and dropped afterwards.

- `Backend`: the storage one configuration uses (a SQLite file, or a fresh PostgreSQL database with
  a Redis db for the lock store); `backend()` creates it, prepares the clinic schema and demo data
  and removes it afterwards.
- The servers themselves (our server, `rasa run`, the action server) run as
  `tests.support.processes.ManagedProcess`, the process manager the tests use too.
- `memory_mb(pid)`: VmRSS and VmHWM of a process from /proc/<pid>/status; `replica_memory(pids)` the
  same for several replicas of one server (their sums, and each one's figures).
"""
from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

from tests.support.database import admin_execute, fresh_postgres_database

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
POSTGRES_ADMIN_DSN = f"{POSTGRES_SERVER_URL}/test"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")


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
    with fresh_postgres_database(POSTGRES_ADMIN_DSN, "bench") as url:
        try:
            flush_redis(REDIS_URL)
            prepare_clinic_database(url, log_path)
            yield Backend(url, REDIS_URL)
        finally:
            with contextlib.suppress(Exception):
                flush_redis(REDIS_URL)


def unavailable_reason(configuration: Configuration) -> Optional[str]:
    """Why `configuration` cannot run here (PostgreSQL or Redis unreachable), or None."""
    if configuration.storage != "postgres":
        return None
    try:
        admin_execute(POSTGRES_ADMIN_DSN, "SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means "skip this configuration"
        return f"PostgreSQL unreachable at {POSTGRES_SERVER_URL}: {type(error).__name__}"
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as error:  # noqa: BLE001
        return f"Redis unreachable at {REDIS_URL}: {type(error).__name__}"
    return None
