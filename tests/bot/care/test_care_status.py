"""Delivery statuses recorded on care messages: forward only, failures with the provider's code."""
from __future__ import annotations

from datetime import timedelta

import pytest

from bot.care.status import record_delivery_status
from bot.db.models import CareMessage
from tests.support.clock import START

SID = "SM" + "9" * 32


@pytest.fixture
def sent(rows, any_session_factory) -> int:
    """A reminder sent through Twilio as SID."""
    patient = rows.patient()
    appointment = rows.appointment(rows.course(patient), START + timedelta(days=1))
    return rows.care_message(appointment, patient, status="sent", provider="twilio", provider_message_id=SID,
                             channel="sms")


def report(factory, status: str, error_code=None, minutes: int = 1, provider: str = "twilio", sid: str = SID) -> bool:
    with factory.begin() as session:
        return record_delivery_status(session, provider, sid, status, error_code, START + timedelta(minutes=minutes))


def row(factory, care_id: int) -> CareMessage:
    with factory() as session:
        message = session.get(CareMessage, care_id)
        session.expunge(message)
        return message


def test_statuses_move_a_message_forward(any_session_factory, sent):
    assert report(any_session_factory, "delivered", minutes=1)
    assert (row(any_session_factory, sent).status, row(any_session_factory, sent).status_at) == \
        ("delivered", START + timedelta(minutes=1))
    assert report(any_session_factory, "read", minutes=2)
    message = row(any_session_factory, sent)
    assert (message.status, message.status_at, message.error_code) == ("read", START + timedelta(minutes=2), None)


@pytest.mark.parametrize("late", ["sent", "delivered", "queued", "failed", "undelivered"])
def test_a_late_report_after_read_changes_nothing(any_session_factory, sent, late):
    report(any_session_factory, "read", minutes=5)
    assert report(any_session_factory, late, error_code="30008", minutes=6)
    message = row(any_session_factory, sent)
    assert (message.status, message.status_at, message.error_code) == ("read", START + timedelta(minutes=5), None)


@pytest.mark.parametrize("word", ["failed", "undelivered", "UNDELIVERED"])
def test_a_failure_is_recorded_with_the_providers_error_code(any_session_factory, sent, word):
    assert report(any_session_factory, word, error_code="30008", minutes=3)
    message = row(any_session_factory, sent)
    assert (message.status, message.error_code, message.status_at) == ("failed", "30008", START + timedelta(minutes=3))
    assert message.detail == f"twilio reported {word.lower()}"


def test_a_failure_is_final(any_session_factory, sent):
    report(any_session_factory, "failed", error_code="63016")
    report(any_session_factory, "delivered", minutes=2)
    assert row(any_session_factory, sent).status == "failed"


def test_statuses_the_outbox_does_not_track_change_nothing(any_session_factory, sent):
    for word in ("queued", "accepted", "sending", "scheduled", "canceled", "no such status", ""):
        assert report(any_session_factory, word)
    message = row(any_session_factory, sent)
    assert (message.status, message.status_at) == ("sent", None)


def test_unknown_ids_and_other_providers_are_not_care_messages(any_session_factory, sent):
    assert not report(any_session_factory, "delivered", sid="SM" + "0" * 32)
    assert not report(any_session_factory, "delivered", provider="meta")
    assert row(any_session_factory, sent).status == "sent"


def test_a_message_never_sent_is_not_moved(any_session_factory, rows):
    patient = rows.patient()
    appointment = rows.appointment(rows.course(patient), START + timedelta(days=1))
    cancelled = rows.care_message(appointment, patient, status="cancelled", provider="meta",
                                  provider_message_id="wamid.x")
    assert report(any_session_factory, "delivered", provider="meta", sid="wamid.x")
    assert row(any_session_factory, cancelled).status == "cancelled"


def test_a_message_whose_outcome_was_unknown_learns_it(any_session_factory, rows):
    patient = rows.patient()
    appointment = rows.appointment(rows.course(patient), START + timedelta(days=1))
    unknown = rows.care_message(appointment, patient, status="unknown", provider="meta",
                                provider_message_id="wamid.y")
    report(any_session_factory, "sent", provider="meta", sid="wamid.y")
    assert row(any_session_factory, unknown).status == "sent"
