"""The tracker store's window over long sessions, and the lock store's fallback when Redis is away."""
import asyncio
import time

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from redis import Redis

from bot.engine.stores import ClinicLockStore, ClinicTrackerStore
from bot.settings import PROJECT_ROOT
from tests.support.ports import free_port

WINDOW = 40


@pytest.fixture(scope="module")
def domain():
    return Domain.load(str(PROJECT_ROOT / "domain.yml"))


@pytest.fixture
def store(tmp_path, domain):
    return ClinicTrackerStore(domain=domain, database_url=f"sqlite:///{tmp_path / 'trackers.db'}",
                              window_events=WINDOW)


def faq_turn(number):
    """One FAQ turn as Rasa logs it: listen, the question, the answer."""
    return [UserUttered(f"question {number}", {"name": "faq", "confidence": 0.9}),
            ActionExecuted("utter_faq"), ActionExecuted("action_listen")]


def long_session(sender, domain, turns):
    """A session that verified the patient early, then asked `turns` questions."""
    tracker = DialogueStateTracker(sender, domain.slots)
    tracker.update_with_events([ActionExecuted("action_session_start"), SessionStarted(),
                                ActionExecuted("action_listen"), UserUttered("my booking", {"name": "ask_wash_hair"}),
                                SlotSet("verified", True), SlotSet("verified_patient_id", "7"),
                                ActionExecuted("action_listen")], domain)
    for number in range(turns):
        tracker.update_with_events(faq_turn(number), domain)
    return tracker


async def stored_rows(store, sender):
    full = await store.retrieve_full_tracker(sender)
    return list(full.events)


async def test_a_short_session_comes_back_whole(store, domain):
    tracker = long_session("short", domain, turns=3)
    await store.save(tracker)
    again = await store.retrieve("short")
    rasa_own = await SQLTrackerStore.retrieve(store, "short")
    assert [e.as_dict() for e in again.events] == [e.as_dict() for e in rasa_own.events]
    assert len(again.events) >= len(tracker.events) - 1  # Rasa drops the action before session_started


async def test_a_long_session_comes_back_as_its_state_and_latest_turns(store, domain):
    tracker = long_session("long", domain, turns=200)
    await store.save(tracker)
    window = await store.retrieve("long")
    assert len(window.events) <= WINDOW + 10
    assert window.current_slot_values() == tracker.current_slot_values()
    assert window.latest_message.text == "question 199"
    assert window.past_states(domain)[-5:] == tracker.past_states(domain)[-5:]


async def test_only_new_events_are_stored_after_a_windowed_retrieve(store, domain):
    await store.save(long_session("grow", domain, turns=100))
    before = await stored_rows(store, "grow")
    window = await store.retrieve("grow")
    window.update_with_events(faq_turn(100), domain)
    await store.save(window)
    after = await stored_rows(store, "grow")
    assert len(after) == len(before) + 3
    assert after[-3].text == "question 100"
    assert (await store.retrieve("grow")).latest_message.text == "question 100"


async def test_an_active_form_is_carried_into_the_window(store, domain):
    tracker = long_session("form", domain, turns=60)
    tracker.update_with_events([UserUttered("when is my next one", {"name": "ask_next_appointment"}),
                                ActiveLoop("verification_form"), SlotSet("requested_slot", "booking_reference"),
                                ActionExecuted("action_listen")], domain)
    for number in range(30):
        tracker.update_with_events(faq_turn(number), domain)
    await store.save(tracker)
    window = await store.retrieve("form")
    assert window.active_loop_name == "verification_form"
    assert window.get_slot("requested_slot") == "booking_reference"


async def test_locks_fall_back_to_memory_while_redis_is_unreachable():
    store = ClinicLockStore(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with store.lock("conversation-1") as lock:
        assert lock.conversation_id == "conversation-1"
    assert store.degraded
    assert store.fallback.get_lock("conversation-1") is None  # released and cleaned up


async def test_locks_are_shared_through_redis_when_it_answers():
    redis_url = "redis://127.0.0.1:6379/15"
    store = ClinicLockStore(redis_url=redis_url)
    other_replica = ClinicLockStore(redis_url=redis_url)
    async with store.lock("conversation-2"):
        seen = other_replica.get_lock("conversation-2")
        assert seen is not None and seen.is_someone_waiting()
    assert not store.degraded
    assert Redis.from_url(redis_url).exists("lock:conversation-2") == 0


async def test_a_held_lock_is_renewed_while_the_turn_runs():
    redis_url = "redis://127.0.0.1:6379/15"
    store = ClinicLockStore(redis_url=redis_url, lock_lifetime_seconds=0.6)
    other_replica = ClinicLockStore(redis_url=redis_url, lock_lifetime_seconds=0.6)
    async with store.lock("conversation-3"):
        await asyncio.sleep(2.0)  # three lifetimes
        held = other_replica.get_lock("conversation-3")
        assert held is not None and held.tickets and not held.tickets[0].has_expired()
    assert other_replica.get_lock("conversation-3") is None


async def test_a_lock_left_by_a_dead_replica_frees_the_conversation_within_its_lease():
    redis_url = "redis://127.0.0.1:6379/15"
    dead_replica = ClinicLockStore(redis_url=redis_url, lock_lifetime_seconds=1.0)
    dead_replica.issue_ticket("conversation-4", 1.0)  # took the lock, then died: never renewed
    survivor = ClinicLockStore(redis_url=redis_url, lock_lifetime_seconds=1.0)
    started = time.monotonic()
    async with survivor.lock("conversation-4"):
        waited = time.monotonic() - started
    assert 0.5 < waited < 5  # the lease, not Rasa's default minute
