"""The analytics figures over the known rows of tests/support/analytics.py, on SQLite and PostgreSQL;
every expected number is worked out by hand from that module's description."""
from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from bot.clinic.analytics import (
    Period,
    RangeError,
    figures,
    parse_period,
    percentile,
)
from bot.conversations.handoff import HandoffRequest, escalate
from bot.db.models import EscalationCategory
from tests.support.analytics import FIRST_DAY, LAST_DAY, TIMEZONE, at, seed_known_figures

PARIS = ZoneInfo(TIMEZONE)
TODAY = date(2026, 11, 20)


@pytest.fixture
def known(any_session_factory):
    seed_known_figures(any_session_factory)
    with any_session_factory() as session:
        return figures(session, Period("custom", FIRST_DAY, LAST_DAY, PARIS))


def test_conversations_per_clinic_day_and_those_contained(known) -> None:
    # 18th: c1, c2 (23:30 in Paris), c9; 19th: c6; 20th: c3 (00:30 in Paris), c5. c4, c7, c8 outside.
    assert [(d.day.day, d.conversations) for d in known.by_day] == [(18, 3), (19, 1), (20, 2)]
    assert known.conversations == 6
    assert known.contained == 1  # c1: no escalation, no staff message (c9 had a staff reply)


def test_escalated_conversations_per_reason(known) -> None:
    assert known.escalated == 5  # c2, c3, c5, c6, c9
    assert known.escalated_by_reason == {"asked_for_person": 2, "fallback": 0, "booking_change": 0,
                                         "red_flag": 3, "engine_error": 0, "verification_locked": 0}


def test_red_flags_per_category(known) -> None:
    assert known.red_flags == 3  # c3, c5 (merged), c6
    assert {k: v for k, v in known.red_flags_by_category.items() if v} == {"allergy": 1, "breathing": 1,
                                                                          "faint": 1}
    assert known.red_flags_uncategorised == 1  # c6


def test_patient_messages_and_those_not_understood(known) -> None:
    assert [(d.patient_messages, d.fallback_messages) for d in known.by_day] == [(4, 2), (1, 0), (3, 0)]
    assert (known.patient_messages, known.fallback_messages) == (8, 2)


def test_first_response_and_resolution_times(known) -> None:
    # first replies: c3 120 s, c4 300 s, c2 600 s (c9's came after it was resolved; c5 was merged)
    assert (known.first_response.count, known.first_response.p50_seconds,
            known.first_response.p90_seconds) == (3, 300, 600)
    # resolved: c9 120 s, c4 1200 s, c2 1800 s
    assert (known.resolution.count, known.resolution.p50_seconds, known.resolution.p90_seconds) == (3, 1200, 1800)


def test_care_messages_due_in_the_period(known) -> None:
    # replied: c4's (23 h later) and c8's second (24 h); c8's first got its reply after 49 h
    assert known.care == {"due": 5, "sent": 3, "delivered": 2, "failed": 1, "replied": 2}
    assert not known.timed_rows_capped


def test_an_empty_day_counts_nothing(any_session_factory) -> None:
    seed_known_figures(any_session_factory)
    with any_session_factory() as session:
        empty = figures(session, Period("custom", date(2026, 10, 1), date(2026, 10, 1), PARIS))
    assert (empty.conversations, empty.contained, empty.escalated, empty.red_flags) == (0, 0, 0, 0)
    assert empty.first_response.p50_seconds is None and empty.care["due"] == 0


def test_a_red_flag_escalation_stores_its_categories(any_session_factory) -> None:
    request = HandoffRequest(reason="red_flag", summary="Red flag (emergency): allergy, breathing",
                             priority="urgent", categories=("allergy", "breathing"))
    with any_session_factory.begin() as session:
        escalation = escalate(session, sender_key="sms:+447700900555", request=request, now=at(20, 9))
        again = escalate(session, sender_key="sms:+447700900555", now=at(20, 9, 5), request=HandoffRequest(
            reason="red_flag", summary="Red flag (urgent): bleeding", priority="urgent",
            categories=("bleeding", "allergy")))
        assert again.id == escalation.id
        stored = session.query(EscalationCategory.category).filter_by(escalation_id=escalation.id).all()
    assert sorted(c for (c,) in stored) == ["allergy", "bleeding", "breathing"]


def test_unknown_red_flag_categories_are_refused() -> None:
    with pytest.raises(ValueError):
        HandoffRequest(reason="red_flag", summary="", priority="urgent", categories=("sneezing",))


@pytest.mark.parametrize("name, first, last", [
    ("day", date(2026, 11, 20), date(2026, 11, 20)),
    ("week", date(2026, 11, 14), date(2026, 11, 20)),
    ("month", date(2026, 10, 22), date(2026, 11, 20)),
    (None, date(2026, 11, 14), date(2026, 11, 20)),
])
def test_named_ranges_end_today(name, first, last) -> None:
    period = parse_period(name, None, None, today=TODAY, tz=PARIS)
    assert (period.first_day, period.last_day) == (first, last)


def test_a_custom_range_is_whole_clinic_days() -> None:
    period = parse_period(None, "2026-11-18", "2026-11-20", today=TODAY, tz=PARIS)
    assert (period.name, period.start, period.end) == ("custom", at(17, 23), at(20, 23))


@pytest.mark.parametrize("name, first, last", [
    ("year", None, None), ("week", "2026-11-01", "2026-11-02"), (None, "2026-11-01", None),
    (None, "2026-11-3", "2026-11-20"), (None, "20/11/2026", "2026-11-20"), (None, "2026-11-20", "2026-11-19"),
    (None, "2026-11-20", "2026-11-21"), (None, "2025-11-01", "2026-11-20"), (None, "2026-02-30", "2026-11-20"),
])
def test_bad_ranges_are_refused(name, first, last) -> None:
    with pytest.raises(RangeError):
        parse_period(name, first, last, today=TODAY, tz=PARIS)


def test_nearest_rank_percentiles() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert (percentile(values, 0.5), percentile(values, 0.9), percentile([7.0], 0.9)) == (5.0, 9.0, 7.0)
    assert percentile([], 0.5) is None
