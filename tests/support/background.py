"""An aiohttp application served from a thread with its own event loop, beside whatever owns the
test's thread: Playwright's sync API in the browser tests, a session-scoped fixture in tests/scale.
"""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from aiohttp import web


class BackgroundAppServer:
    """An aiohttp app on 127.0.0.1:<free port>, served from a thread with its own event loop.

    For browser tests: Playwright's sync API owns the test thread's asyncio state (see
    tests/e2e/conftest.py), so the server under test runs beside it, not in pytest-asyncio's loop.
    `make_app` is called in the server thread (sync or async), again after each `outage()`.

        with BackgroundAppServer(lambda: create_app(settings)) as server:
            page.goto(server.url)
    """

    def __init__(self, make_app: Callable[[], Any], host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._make_app = make_app
        self._sock = self._bind(port)
        self.port = self._sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"app-server-{self.port}", daemon=True)
        self._runner: web.AppRunner | None = None

    def _bind(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, port))
        return sock

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def call(self, coroutine, timeout: float = 30) -> Any:
        """Run `coroutine` on the server's loop and return its result (e.g. to inspect app state)."""
        future: Future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    async def _start(self) -> None:
        app = self._make_app()
        if asyncio.iscoroutine(app):
            app = await app
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def _stop(self) -> None:
        """Stop serving (on_shutdown, open connections dropped, cleanup_ctx), then cancel leftovers."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        current = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    def start(self) -> "BackgroundAppServer":
        self._thread.start()
        try:
            self.call(self._start())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            if self._thread.is_alive():
                self.call(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._sock.close()

    @contextmanager
    def outage(self) -> Iterator[None]:
        """The server goes away (open connections dropped, new ones refused) until the block ends."""
        self.call(self._stop())
        self._sock = self._bind(self.port)  # bound, not listening: connections are refused
        try:
            yield
        finally:
            self.call(self._start())

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        """Poll `predicate()` until truthy (the server records from its own thread)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
