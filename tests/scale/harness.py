"""Real processes on loopback for the scale-out tests: replicas, Redis, and a database proxy the
test can cut (the action server and the stub Twilio / Graph API are tests/support's).

Every child is a `tests.support.processes.ManagedProcess`: its own process group (the action
server starts `rasa_sdk` as a grandchild), stdout and stderr in a log file under the pytest tmp dir,
stopped with SIGTERM, then SIGKILL, and stopped too if pytest itself dies.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from tests.support.ports import free_port
from tests.support.processes import ROOT, ManagedProcess, http_status, poll


def run_cli(args: Sequence[str], env: Dict[str, str], stdin: str = "") -> str:
    """`python -m bot ARGS` to completion; its output (an AssertionError with it on failure)."""
    done = subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, input=stdin, text=True,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, f"python -m bot {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


class Replica(ManagedProcess):
    """`python -m bot serve` on its own port."""

    def __init__(self, name: str, env: Dict[str, str], folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(name, [sys.executable, "-m", "bot", "serve"],
                         dict(env, HOST="127.0.0.1", PORT=str(self.port)), folder / f"{name}.log")

    def healthy(self) -> bool:
        """True when /healthz answers 200; an AssertionError with the log if the process died."""
        if not self.alive:
            raise AssertionError(self.died())
        return http_status(f"{self.url}/healthz") == 200

    def wait_ready(self, seconds: float) -> None:
        """Wait for /healthz 200 (the model loads for ~40 s)."""
        try:
            poll(self.healthy, seconds, f"replica {self.name} /healthz", interval=0.5)
        except AssertionError as error:
            if not self.alive:
                raise  # died(): the message already ends with the log
            raise AssertionError(f"{error}\n--- {self.name} log ---\n{self.tail()}") from None


class RedisServer(ManagedProcess):
    """A redis-server the test owns (no persistence), killable and restartable on the same port."""

    def __init__(self, folder: Path, executable: str) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        super().__init__("redis", [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no"], dict(os.environ), folder / "redis.log")

    def ping(self) -> bool:
        """True if the server answers PING."""
        import redis

        try:
            return bool(redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def answering(self) -> bool:
        """True once it answers PING; an AssertionError with the log if it exited."""
        if not self.alive:
            raise AssertionError(self.died())
        return self.ping()

    def start_and_wait(self) -> None:
        """Start and wait until it answers."""
        self.start()
        poll(self.answering, 15, "redis-server PING")


class TcpProxy:
    """A TCP proxy to PostgreSQL: `cut()` closes every connection and refuses new ones; `restore()`.

    While cut, a new connection is accepted and closed at once (the client sees the server close
    the connection, as when the database restarts).
    """

    def __init__(self, upstream: Tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs: List[Tuple[socket.socket, socket.socket]] = []
        self.is_cut = False
        self.closing = False
        self.thread = threading.Thread(target=self._accept_loop, name="pg-proxy", daemon=True)
        self.thread.start()

    def _accept_loop(self) -> None:
        """Accept until closed; forward each connection in two pump threads."""
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                refused = self.is_cut
            if refused:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self.lock:
                self.pairs.append((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        """Copy bytes one way until either side ends; then end both."""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        _close(source)
        _close(target)
        with self.lock:
            self.pairs = [pair for pair in self.pairs if source not in pair]

    def cut(self) -> None:
        """The database becomes unreachable: close every open connection, refuse new ones."""
        with self.lock:
            self.is_cut = True
            pairs, self.pairs = self.pairs, []
        for client, server in pairs:
            _close(client)
            _close(server)

    def restore(self) -> None:
        """Accept and forward connections again."""
        with self.lock:
            self.is_cut = False

    def close(self) -> None:
        """Stop listening and close everything."""
        self.closing = True
        self.cut()
        self.thread.join(timeout=2)
        _close(self.listener)


def _close(sock: socket.socket) -> None:
    """Shut a socket down both ways and close it, ignoring errors."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
