"""Rasa's tracker and lock stores, configured from the application's settings.

`endpoints.yml` names these classes, so `rasa shell`, `rasa run` and the application all keep
trackers where the clinic data lives (DATABASE_URL) and lock conversations in Redis when
REDIS_URL is set (several replicas), in memory otherwise (one process).
"""
from __future__ import annotations

import logging
from typing import Any, Optional, Text

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy.engine import make_url

from bot.settings import Settings

logger = logging.getLogger(__name__)


class ClinicTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on the clinic database (the `events` table beside ours)."""

    def __init__(self, domain: Optional[Domain] = None, event_broker: Optional[EventBroker] = None,
                 database_url: Optional[str] = None, **kwargs: Any) -> None:
        """Connect to `database_url`, or to the settings' DATABASE_URL when none is given."""
        kwargs.pop("host", None)  # Rasa passes the endpoint's (absent) url as host
        url = database_url or Settings.from_env().database_url
        # SQLTrackerStore takes a host containing "://" as the whole database URL.
        super().__init__(domain=domain, event_broker=event_broker, host=url, **kwargs)


def redis_lock_store(redis_url: str) -> RedisLockStore:
    """Rasa's RedisLockStore for a redis:// URL (host, port, db number, password)."""
    url = make_url(redis_url)
    database = (url.database or "0").strip("/") or "0"
    return RedisLockStore(host=url.host or "localhost", port=url.port or 6379, db=int(database),
                          password=url.password, use_ssl=url.drivername == "rediss")


class ClinicLockStore(LockStore):
    """Redis when REDIS_URL is set (conversations locked across replicas), else in memory."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, redis_url: Optional[str] = None) -> None:
        """Pick the backing store; `redis_url` defaults to the settings' REDIS_URL."""
        url = redis_url if redis_url is not None else Settings.from_env().redis_url
        self.backend: LockStore = redis_lock_store(url) if url else InMemoryLockStore()
        logger.info("conversation locks in %s", type(self.backend).__name__)

    def get_lock(self, conversation_id: Text):
        """The backend's lock for the conversation, if any."""
        return self.backend.get_lock(conversation_id)

    def delete_lock(self, conversation_id: Text) -> None:
        """Remove the conversation's lock from the backend."""
        self.backend.delete_lock(conversation_id)

    def save_lock(self, lock) -> None:
        """Store the lock in the backend."""
        self.backend.save_lock(lock)
