"""Password checks off the event loop, in a small thread pool of their own, with a bounded queue.

A password check takes a fraction of a second of CPU on purpose (argon2id). Run on the event
loop, or many at once on the default executor, a flood of sign-ins would slow every patient's
chat turn (and compete with Rasa for the machine's cores). So checks run here, `threads` at a
time (SIGN_IN_THREADS, 1 by default), and at most `queue_limit` (SIGN_IN_QUEUE) may be admitted
at once, running or waiting; beyond that, or beyond `per_client` admitted for one client address,
`run` refuses at once with `PasswordWorkersBusy` (the login page says "too many sign-in
attempts right now"), instead of letting the queue grow without bound.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from typing import AsyncIterator, Callable, TypeVar

from aiohttp import web

from bot.appkeys import SETTINGS
from bot.clinic.staff import dummy_hash

logger = logging.getLogger(__name__)

Result = TypeVar("Result")
# Sign-ins one client address may have admitted at once (one clinic's staff share an address: two
# of them signing in within the same second both get through; a flood from one address does not
# fill the queue).
PER_CLIENT_LIMIT = 2
WARN_EVERY_SECONDS = 60.0  # a flood of refusals is logged once a minute, not once per request


class PasswordWorkersBusy(Exception):
    """The password checks are full: more are admitted than the threads can take soon."""


class PasswordWorkers:
    """A dedicated thread pool for password checks that admits a bounded number of them."""

    def __init__(self, threads: int, queue_limit: int, per_client: int = PER_CLIENT_LIMIT) -> None:
        """`threads` check at once; at most `queue_limit` admitted, `per_client` per client address."""
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="password-check")
        self.queue_limit = queue_limit
        self.per_client = per_client
        self._lock = threading.Lock()
        self._admitted: Counter = Counter()
        self._warned_at = -WARN_EVERY_SECONDS

    @property
    def admitted(self) -> int:
        """Checks running or waiting now."""
        with self._lock:
            return sum(self._admitted.values())

    def _admit(self, client_key: str) -> bool:
        """Take a place in the queue for the client, if there is one."""
        with self._lock:
            if sum(self._admitted.values()) >= self.queue_limit or self._admitted[client_key] >= self.per_client:
                return False
            self._admitted[client_key] += 1
            return True

    def _release(self, client_key: str) -> None:
        """Give the place back (called when the check is over, even if its caller went away)."""
        with self._lock:
            self._admitted[client_key] -= 1
            if self._admitted[client_key] <= 0:
                del self._admitted[client_key]

    async def run(self, client_key: str, work: Callable[..., Result], *args: object) -> Result:
        """`work(*args)` in a password thread; PasswordWorkersBusy at once if there is no room."""
        if not self._admit(client_key):
            self._warn_refused()
            raise PasswordWorkersBusy()
        try:
            future: Future = self._executor.submit(work, *args)
        except BaseException:
            self._release(client_key)
            raise
        future.add_done_callback(lambda _: self._release(client_key))
        return await asyncio.wrap_future(future)

    def _warn_refused(self) -> None:
        """Log that sign-ins are being refused, at most once every WARN_EVERY_SECONDS."""
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            logger.warning("too many sign-ins at once (%d admitted, %d at most): refusing some",
                           self.admitted, self.queue_limit)

    def warm_up(self, work: Callable[[], object]) -> None:
        """Run `work` in a password thread now, outside the queue (e.g. making the dummy hash)."""
        self._executor.submit(work)

    def shutdown(self) -> None:
        """Drop the waiting checks and wait for the running ones (a fraction of a second)."""
        self._executor.shutdown(wait=True, cancel_futures=True)


PASSWORD_WORKERS = web.AppKey("password_workers", PasswordWorkers)


async def password_workers(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the pool while the application runs (the dummy hash made first), shut down after."""
    settings = app[SETTINGS]
    workers = PasswordWorkers(settings.sign_in_threads, settings.sign_in_queue)
    workers.warm_up(dummy_hash)
    app[PASSWORD_WORKERS] = workers
    yield
    await asyncio.get_running_loop().run_in_executor(None, workers.shutdown)
