"""Rasa's tracker and lock stores, configured from the application's settings.

`endpoints.yml` names these classes, so `rasa shell`, `rasa run` and the application all keep
trackers where the clinic data lives (DATABASE_URL) and lock conversations in Redis when
REDIS_URL is set (several replicas), in memory otherwise (one process).

Long conversations: Rasa rebuilds the whole session's tracker for every message, so each turn gets
slower as the conversation grows (and every custom-action call carries the whole history). The
tracker store here hands Rasa a window instead: the session's current state (slots, active form,
paused) followed by the last `WINDOW_EVENTS` events from a user turn on. The policies look at most
five turns back (`max_history`), so they decide exactly as before; every event is still stored.

A conversation's lock is a short lease (a few seconds) that the replica holding it renews while the
turn runs, so a replica that dies mid-turn frees the conversation within seconds.

If Redis stops answering, conversations are locked in this process's memory until it answers
again: the replica keeps serving, and only two messages of one conversation arriving at the same
moment on two different replicas could then be processed side by side.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Text, TypeVar

from rasa.core.brokers.broker import EventBroker
from rasa.core.lock import TicketLock
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, ConversationPaused, SessionStarted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from redis.exceptions import RedisError, WatchError
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

from bot.settings import Settings

logger = logging.getLogger(__name__)

REDIS_SOCKET_TIMEOUT_SECONDS = 1.0
LOCK_LEASE_SECONDS = 6.0
LEASE_RENEWALS_PER_LIFETIME = 3
LOCK_POLL_SECONDS = 0.2
T = TypeVar("T")

# How many of a session's latest events Rasa sees (about 20 turns; the policies need 5).
WINDOW_EVENTS = 100
# Events that change the state carried into a window: slots, the active form, pausing, restarts.
STATE_EVENT_TYPES = ("slot", "reset_slots", "restart", "active_loop", "form", "pause", "resume")
# How many of a tracker's events are already in the database (set on retrieve, updated on save).
STORED_EVENTS = "clinic_stored_events"


class ClinicTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on the clinic database (the `events` table beside ours), windowed."""

    def __init__(self, domain: Optional[Domain] = None, event_broker: Optional[EventBroker] = None,
                 database_url: Optional[str] = None, window_events: int = WINDOW_EVENTS, **kwargs: Any) -> None:
        """Connect to `database_url`, or to the settings' DATABASE_URL when none is given."""
        kwargs.pop("host", None)  # Rasa passes the endpoint's (absent) url as host
        url = database_url or Settings.from_env().database_url
        self.window_events = window_events
        # SQLTrackerStore takes a host containing "://" as the whole database URL.
        super().__init__(domain=domain, event_broker=event_broker, host=url, **kwargs)
        self._check_connections_before_use()

    def _check_connections_before_use(self) -> None:
        """Rebuild Rasa's engine with `pool_pre_ping`: connections that died in a database outage are
        replaced instead of failing the first turn after it (Rasa's own engine keeps them)."""
        url = self.engine.url
        self.engine.dispose()
        if url.get_backend_name() == "sqlite":  # keep connections open (SQLAlchemy 1.4 opens one per use)
            options: Dict[str, Any] = {"poolclass": QueuePool, "connect_args": {"check_same_thread": False}}
        else:
            options = create_engine_kwargs(url)
        self.engine: Engine = create_engine(url, pool_pre_ping=True, **options)
        self.sessionmaker = sessionmaker(bind=self.engine)

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        """The latest session's tracker: whole when short, else its state and its latest events."""
        if not self.domain:
            return await super().retrieve(sender_id)
        with self.session_scope() as session:
            newest_first = (self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
                            .order_by(None).order_by(self.SQLEvent.id.desc())
                            .limit(self.window_events + 1).all())
            if not newest_first:
                return None
            rows = list(reversed(newest_first))
            if len(rows) <= self.window_events:
                events = [json.loads(row.data) for row in rows]
            else:
                events = self._windowed_events(session, sender_id, rows[1:])
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        setattr(tracker, STORED_EVENTS, len(tracker.events))
        return tracker

    def _windowed_events(self, session: Any, sender_id: Text, rows: List[Any]) -> List[Dict[str, Any]]:
        """The state before `rows` as events, then `rows` from their first user message on."""
        tail = [json.loads(row.data) for row in rows]
        first_user = next((index for index, event in enumerate(tail) if event.get("event") == "user"), len(tail))
        first_kept_id = rows[first_user].id if first_user < len(rows) else rows[-1].id + 1
        earlier_state = [json.loads(row.data) for row in (
            self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
            .filter(self.SQLEvent.id < first_kept_id, self.SQLEvent.type_name.in_(STATE_EVENT_TYPES))
            .all())]
        kept = tail[first_user:]
        timestamp = float(kept[0].get("timestamp") or tail[-1].get("timestamp") or 0.0) if kept else 0.0
        return self._state_events(sender_id, earlier_state, timestamp) + kept

    def _state_events(self, sender_id: Text, state_events: List[Dict[str, Any]], timestamp: float
                      ) -> List[Dict[str, Any]]:
        """A session start carrying the slots, active form and pause that `state_events` leave behind."""
        state = DialogueStateTracker.from_dict(sender_id, state_events, self.domain.slots)
        initial = {slot.name: slot.initial_value for slot in self.domain.slots}
        events = [ActionExecuted(ACTION_SESSION_START_NAME, timestamp=timestamp), SessionStarted(timestamp=timestamp)]
        events += [SlotSet(name, value, timestamp=timestamp) for name, value in state.current_slot_values().items()
                   if value != initial.get(name)]
        if state.active_loop_name:
            events.append(ActiveLoop(state.active_loop_name, timestamp=timestamp))
        if state.is_paused():
            events.append(ConversationPaused(timestamp=timestamp))
        events.append(ActionExecuted(ACTION_LISTEN_NAME, timestamp=timestamp))
        return [event.as_dict() for event in events]

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the events added since the tracker was retrieved (Rasa's own count for new trackers)."""
        stored = getattr(tracker, STORED_EVENTS, None)
        if stored is None:
            await super().save(tracker)
        else:
            await self.stream_events(tracker)
            new_events = list(tracker.events)[stored:]
            with self.session_scope() as session:
                for event in new_events:
                    session.add(self._row(tracker.sender_id, event))
                session.commit()
        setattr(tracker, STORED_EVENTS, len(tracker.events))

    def _row(self, sender_id: Text, event: Any) -> Any:
        """One `events` row, as Rasa's SQLTrackerStore writes it."""
        data = event.as_dict()
        return self.SQLEvent(
            sender_id=sender_id, type_name=event.type_name, timestamp=data.get("timestamp"),
            intent_name=data.get("parse_data", {}).get("intent", {}).get("name"),
            action_name=data.get("name"), data=json.dumps(data),
        )


def redis_lock_store(redis_url: str) -> RedisLockStore:
    """Rasa's RedisLockStore for a redis:// URL (host, port, db number, password)."""
    url = make_url(redis_url)
    database = (url.database or "0").strip("/") or "0"
    return RedisLockStore(host=url.host or "localhost", port=url.port or 6379, db=int(database),
                          password=url.password, use_ssl=url.drivername == "rediss",
                          socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS)


def conversation_lock_lifetime(settings: Settings) -> float:
    """How long a conversation's lock lives without renewal (the holder renews it while alive): short,
    so a turn held by a dead replica frees the conversation well within the engine timeout."""
    return min(LOCK_LEASE_SECONDS, max(1.0, settings.engine_timeout_seconds / 3))


def renew_ticket(store: LockStore, conversation_id: Text, ticket_number: int, lifetime: float) -> None:
    """Extend one ticket's expiry. On Redis the read-modify-write is a WATCH transaction, so a ticket
    another replica issues meanwhile is never overwritten (the renewal is simply retried later)."""
    def extended(lock: Optional[TicketLock]) -> Optional[TicketLock]:
        for ticket in lock.tickets if lock else ():
            if ticket.number == ticket_number:
                ticket.expires = time.time() + lifetime
                return lock
        return None

    if not isinstance(store, RedisLockStore):
        lock = extended(store.get_lock(conversation_id))
        if lock is not None:
            store.save_lock(lock)
        return
    key = store.key_prefix + conversation_id
    with store.red.pipeline() as pipe:
        try:
            pipe.watch(key)
            raw = pipe.get(key)
            lock = extended(TicketLock.from_dict(json.loads(raw)) if raw else None)
            if lock is None:
                return
            pipe.multi()
            pipe.set(key, lock.dumps())
            pipe.execute()
        except WatchError:
            logger.debug("conversation lock changed during renewal; renewing next time")


class ClinicLockStore(LockStore):
    """Redis when REDIS_URL is set (conversations locked across replicas), else in memory.

    While Redis is unreachable, locks are kept in this process's memory (logged once per outage).
    """

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, redis_url: Optional[str] = None,
                 lock_lifetime_seconds: Optional[float] = None) -> None:
        """Pick the backing store; `redis_url` and the lock lifetime default to the settings'."""
        if redis_url is None or lock_lifetime_seconds is None:
            settings = Settings.from_env()
            redis_url = settings.redis_url if redis_url is None else redis_url
            if lock_lifetime_seconds is None:
                lock_lifetime_seconds = conversation_lock_lifetime(settings)
        self.lock_lifetime_seconds = lock_lifetime_seconds
        self.backend: LockStore = redis_lock_store(redis_url) if redis_url else InMemoryLockStore()
        self.fallback = InMemoryLockStore()
        self.degraded = False
        logger.info("conversation locks in %s", type(self.backend).__name__)

    @asynccontextmanager
    async def lock(self, conversation_id: Text, lock_lifetime: Optional[float] = None,
                   wait_time_in_seconds: float = LOCK_POLL_SECONDS) -> AsyncIterator[TicketLock]:
        """Rasa's ticket lock (same steps as `LockStore.lock`) with the ticket as a short lease, renewed
        while it waits and while the turn runs: a replica that dies mid-turn frees the conversation
        within seconds, instead of Rasa's default minute."""
        lifetime = lock_lifetime or self.lock_lifetime_seconds
        ticket = self.issue_ticket(conversation_id, lifetime)
        renewal = asyncio.ensure_future(self._keep_alive(conversation_id, ticket, lifetime))
        try:
            yield await self._acquire_lock(conversation_id, ticket, wait_time_in_seconds)
        finally:
            renewal.cancel()
            self.cleanup(conversation_id, ticket)

    async def _keep_alive(self, conversation_id: Text, ticket_number: int, lifetime: float) -> None:
        """Push our ticket's expiry `lifetime` ahead, a few times per lifetime, until cancelled."""
        while True:
            await asyncio.sleep(lifetime / LEASE_RENEWALS_PER_LIFETIME)
            try:
                self._use(lambda store: renew_ticket(store, conversation_id, ticket_number, lifetime))
            except Exception as error:  # a missed renewal only shortens the lease
                logger.warning("conversation lock not renewed: %s", type(error).__name__)

    def _use(self, operation: Callable[[LockStore], T]) -> T:
        """Run `operation` on the backend, or on the in-memory fallback while Redis is unreachable."""
        try:
            result = operation(self.backend)
        except RedisError as error:
            if not self.degraded:
                logger.warning("Redis unreachable (%s): conversation locks kept in this process until it is back",
                               type(error).__name__)
            self.degraded = True
            return operation(self.fallback)
        if self.degraded:
            logger.warning("Redis is back: conversation locks shared across replicas again")
            self.degraded = False
        return result

    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        """The conversation's lock, if any."""
        return self._use(lambda store: store.get_lock(conversation_id))

    def delete_lock(self, conversation_id: Text) -> None:
        """Remove the conversation's lock."""
        self._use(lambda store: store.delete_lock(conversation_id))

    def save_lock(self, lock: TicketLock) -> None:
        """Store the lock."""
        self._use(lambda store: store.save_lock(lock))
