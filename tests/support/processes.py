"""Child processes for tests, `tests/scale` and `bench`: started, watched and always stopped.

- `ManagedProcess`: one child leading its own process group (`python -m bot actions` starts
  `rasa_sdk` as a grandchild), its output in a log file. `stop()` sends SIGTERM to the group, then
  SIGKILL after the grace period; `kill()`, `terminate()`, `pause()` and `resume()` are the faults
  the scale tests inject. Children get SIGTERM if the parent dies, even by SIGKILL (Linux
  PR_SET_PDEATHSIG, which follows the starting thread: start them from the main thread).
- `stop_all(processes)`: SIGTERM to all at once, then SIGKILL to what is left.
- `stopping(process)`: a block with the process started, stopped afterwards whatever happens.
- `action_server(...)`: `python -m bot actions` on a port of its own against one database.
- `poll()` and `http_status()`: waiting for something, and asking a URL how it is.

No pytest here: `bench` imports this module too (`python -m bench` from the repository root).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Iterator, Mapping, Optional, Sequence

import aiohttp

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
STOP_GRACE_SECONDS = 15.0
READY_POLL_SECONDS = 0.1
LOG_TAIL_LINES = 40


def poll(condition: Callable[[], object], seconds: float, what: str, interval: float = 0.1):
    """`condition()`'s first truthy value, checked every `interval` until `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f} s")
        time.sleep(interval)


def http_status(url: str, timeout: float = 2) -> Optional[int]:
    """The HTTP status of GET `url`, or None if nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def _die_with_parent() -> None:
    """In the child: SIGTERM when the parent dies, even by SIGKILL (Linux only; a no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class ManagedProcess:
    """One child process and its process group; its output in `log_path` (`<stem>-<n>` on restart n)."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path,
                 grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Remember how to start it; `start()` spawns it."""
        self.name, self.argv, self.env = name, list(argv), dict(env)
        self.log_path, self.grace_seconds = log_path, grace_seconds
        self.process: Optional[subprocess.Popen] = None
        self.log: Optional[Path] = None
        self.starts = 0
        self.spawned_at = 0.0

    @property
    def pid(self) -> int:
        """The process id (after `start()`)."""
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    @property
    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> "ManagedProcess":
        """Spawn it (again) and return at once; its stdout and stderr go to its log."""
        assert threading.current_thread() is threading.main_thread(), "PDEATHSIG follows the starting thread"
        self.starts += 1
        self.log = self._log_for(self.starts)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as output:
            self.spawned_at = time.perf_counter()
            self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=output,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=_die_with_parent)
        logger.info("%s started (pid %s), log in %s", self.name, self.process.pid, self.log)
        return self

    def _log_for(self, start: int) -> Path:
        """The log of the `start`-th run: the given path first, then `<stem>-<start><suffix>`."""
        if start == 1:
            return self.log_path
        return self.log_path.with_name(f"{self.log_path.stem}-{start}{self.log_path.suffix}")

    def _signal_group(self, signum: int) -> None:
        """Send `signum` to the process group this child leads."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after the grace period; safe to call twice."""
        stop_all([self])

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would; wait until it is gone."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=self.grace_seconds)
        self.note("killed by the test (SIGKILL)")

    def terminate(self) -> float:
        """Send SIGTERM (as a rolling deploy does); the monotonic time it was sent."""
        self._signal_group(signal.SIGTERM)
        self.note("SIGTERM sent by the test")
        return time.monotonic()

    def pause(self) -> None:
        """SIGSTOP the whole group: connections are still accepted, nothing is answered."""
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause()`."""
        self._signal_group(signal.SIGCONT)

    def note(self, line: str) -> None:
        """Append a line of our own to the latest log."""
        if self.log is not None:
            with self.log.open("a") as output:
                output.write(f"\n[harness] {line}\n")

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the latest log (for failure messages)."""
        if self.log is None or not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def died(self) -> str:
        """A failure message for a child that exited early, with its log's tail."""
        return f"{self.name} exited with status {self.process.returncode}:\n{self.tail()}"

    def _check_alive(self) -> None:
        """RuntimeError with the log's tail when the process has exited."""
        if not self.alive:
            raise RuntimeError(self.died())

    def _too_slow(self, url: str, seconds: float) -> RuntimeError:
        """The error for a process that did not answer `url` in time."""
        return RuntimeError(f"{self.name} did not answer {url} within {seconds:.0f} s:\n{self.tail()}")

    def wait_until_answering(self, url: str, seconds: float) -> float:
        """Poll `url` until it answers 200; the seconds since spawn. RuntimeError on exit or timeout."""
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            self._check_alive()
            if http_status(url) == 200:
                return time.perf_counter() - self.spawned_at
            time.sleep(READY_POLL_SECONDS)
        raise self._too_slow(url, seconds)

    async def wait_until_ok(self, http: aiohttp.ClientSession, url: str, timeout: float) -> float:
        """`wait_until_answering` without blocking the event loop, polling through `http`."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self._check_alive()
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                    if response.status == 200:
                        return time.perf_counter() - self.spawned_at
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(READY_POLL_SECONDS)
        raise self._too_slow(url, timeout)


def stop_all(processes: Sequence[ManagedProcess]) -> None:
    """SIGTERM every running process at once, SIGKILL what is left after its grace period; each log
    ends with how long its process took and whether it had to be killed."""
    started = time.monotonic()
    running = [p for p in processes if p.alive]
    for process in running:
        process._signal_group(signal.SIGCONT)  # a paused process cannot handle SIGTERM
        process._signal_group(signal.SIGTERM)
    for process in running:
        try:
            process.process.wait(timeout=max(process.grace_seconds - (time.monotonic() - started), 0.1))
            process.note(f"exited {process.process.returncode} {time.monotonic() - started:.1f} s after SIGTERM")
        except subprocess.TimeoutExpired:
            process._signal_group(signal.SIGKILL)
            process.process.wait(timeout=process.grace_seconds)
            process.note(f"still running {process.grace_seconds:.0f} s after SIGTERM: killed (SIGKILL)")
    for process in processes:
        if process.process is not None:
            process._signal_group(signal.SIGKILL)  # grandchildren whose parent already exited


@contextlib.contextmanager
def stopping(process: ManagedProcess) -> Iterator[ManagedProcess]:
    """Start `process` for the block and stop it afterwards, whatever happens."""
    try:
        yield process.start()
    finally:
        process.stop()


def action_server(database_url: str, port: int, log_path: Path, env: Optional[Mapping[str, str]] = None,
                  **settings: str) -> ManagedProcess:
    """`python -m bot actions` on 127.0.0.1:`port` against `database_url`, not started yet.

    `env` is the environment to start from (this process's by default); `settings` are added to it.
    Ready when `health_url(port)` answers 200.
    """
    values: Dict[str, str] = dict(os.environ if env is None else env)
    values.update(DATABASE_URL=database_url, ACTION_ENDPOINT_URL=action_url(port), **settings)
    return ManagedProcess("action server", [sys.executable, "-m", "bot", "actions"], values, log_path)


def action_url(port: int) -> str:
    """The webhook URL of an action server on 127.0.0.1:`port`."""
    return f"http://127.0.0.1:{port}/webhook"


def health_url(port: int) -> str:
    """The health URL of an action server on 127.0.0.1:`port`."""
    return f"http://127.0.0.1:{port}/health"
