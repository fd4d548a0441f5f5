"""Identity checks: reference + date of birth, locks, audit rows, phone lookup, date parsing."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from clinic_testing import frozen_now
from freezegun import freeze_time
from sqlalchemy import select

from bot.clinic.bookings import find_patient_by_phone, normalise_phone
from bot.clinic.verification import (
    MAX_FAILED_ATTEMPTS,
    normalise_reference,
    parse_date_of_birth,
    reference_in,
    verify_by_reference,
)
from bot.db.models import AuditLog, Conversation, VerificationAttempt

TODAY = date(2026, 11, 18)
NOW = "2026-11-18 12:00:00"
RIGHT_DOB = "12/04/1988"


@pytest.fixture
def patient_id(session_factory, rows) -> int:
    """MC-1001, Alex Morgan, born 1988-04-12, +447700900123."""
    with session_factory.begin() as session:
        return rows.patient(session=session)


def attempt(session_factory, conversation: str, ref: str, dob: str, now):
    """One verification in its own transaction, as the action server would do it."""
    with session_factory.begin() as session:
        return verify_by_reference(session, conversation, ref, dob, now)


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    "text",
    [
        "14/03/1985", "14-03-1985", "14.03.1985", "14 03 1985", "1985-03-14", "1985/03/14",
        "14 March 1985", "14 march 1985", "14 Mar 1985", "14-Mar-1985", "14th March 1985",
        "14th of March 1985", "March 14 1985", "March 14, 1985", "march 14th, 1985", "14th march 85",
        "  14/3/85 ",
    ],
)
def test_dates_of_birth_in_many_shapes(text: str) -> None:
    assert parse_date_of_birth(text, TODAY) == date(1985, 3, 14)


@pytest.mark.parametrize(
    "text",
    [
        "9 March 1987", "09.03.1987", "March 9th 1987", "9th of March 1987", "9/3/87", "1987-03-09",
        "09-03-1987", "9 mar 87", "march 9 1987", "Mar. 9, 1987", "9.3.1987", "9 March, 1987",
        "the 9th of March 1987", "MARCH 9TH, 1987",
    ],
)
def test_everyday_dates_of_birth(text: str) -> None:
    assert parse_date_of_birth(text, TODAY) == date(1987, 3, 9)


@pytest.mark.parametrize(
    "text",
    [
        "my dob is 9 March 1987", "born 09.03.1987", "its 9/3/1987", "it's 9/3/1987", "DOB: 09/03/1987",
        "my date of birth is March 9th, 1987 thanks", "born on the 9th of march 1987.", "9/3/87 :)",
        "oh sorry, it's 9 mar 87!",
    ],
)
def test_dates_of_birth_with_other_words_round_them(text: str) -> None:
    assert parse_date_of_birth(text, TODAY) == date(1987, 3, 9)


@pytest.mark.parametrize(
    "text", ["9/3/87 or 10/3/87", "9 March 1987 and 10/03/1987", "born in 1987", "march 9", "MC-1001",
             "my dob is 31/02/1987", "call me on 07700 900123"],
)
def test_texts_without_exactly_one_real_date_are_refused(text: str) -> None:
    assert parse_date_of_birth(text, TODAY) is None


def test_the_same_date_twice_is_still_that_date() -> None:
    assert parse_date_of_birth("9/3/1987 - 9 March 1987", TODAY) == date(1987, 3, 9)


def test_numeric_dates_are_day_first() -> None:
    assert parse_date_of_birth("03/04/1990", TODAY) == date(1990, 4, 3)


@pytest.mark.parametrize(
    "text, expected",
    [("01/02/20", date(2020, 2, 1)), ("01/02/26", date(2026, 2, 1)), ("01/12/26", date(1926, 12, 1)),
     ("01/02/30", date(1930, 2, 1))],
)
def test_two_digit_years_are_put_in_the_past(text: str, expected: date) -> None:
    assert parse_date_of_birth(text, TODAY) == expected


@pytest.mark.parametrize(
    "text",
    ["31/02/1990", "29/02/1991", "00/01/1990", "14/13/1985", "01/01/2030", "19/11/2026", "1 Smarch 1985",
     "yesterday", "", "12345678", "14/03", "01/01/1850"],
)
def test_impossible_future_or_garbled_dates_are_refused(text: str) -> None:
    assert parse_date_of_birth(text, TODAY) is None


def test_leap_day_is_accepted() -> None:
    assert parse_date_of_birth("29/02/1988", TODAY) == date(1988, 2, 29)


@pytest.mark.parametrize("text", ["MC-1001", "mc-1001", "mc 1001", "mc1001", " MC 1001 ", "mc.1001", "Mc - 1001"])
def test_references_are_normalised(text: str) -> None:
    assert normalise_reference(text) == "MC-1001"


def test_other_reference_shapes_are_only_cleaned() -> None:
    assert normalise_reference(" ab 12 cd ") == "AB12CD"


@pytest.mark.parametrize(
    "text", ["MC-1002", "mc 1002", "mc1002", "Mc - 1002", "MC-1002.", "my ref is MC-1002",
             "sorry, it's mc-1002", "it\u2019s MC 1002", "booking reference: MC1002", "new reference MC-1002"],
)
def test_a_reference_is_found_in_what_was_typed(text: str) -> None:
    assert reference_in(text) == "MC-1002"


@pytest.mark.parametrize(
    "text", ["", "hello", "9/3/87", "march 9", "Jan 1990", "born 1987", "dob 1987", "its 9", "ab 12 cd",
             "1002", "ref 1002", "the twelfth of never", "MC-1002 and 9/3/87"],
)
def test_dates_words_and_other_shapes_are_not_references(text: str) -> None:
    assert reference_in(text) is None


# ------------------------------------------------------------------ verifying


def test_right_reference_and_date_of_birth(session_factory, patient_id) -> None:
    result = attempt(session_factory, "web-1", "mc 1001", "12 April 1988", frozen_now(NOW))
    assert (result.outcome, result.patient_id, result.attempts_left) == ("verified", patient_id, MAX_FAILED_ATTEMPTS)


def test_wrong_date_of_birth_and_unknown_reference_look_the_same(session_factory, patient_id) -> None:
    wrong_dob = attempt(session_factory, "web-1", "MC-1001", "13/04/1988", frozen_now(NOW))
    unknown_ref = attempt(session_factory, "web-2", "MC-9999", RIGHT_DOB, frozen_now(NOW))
    assert wrong_dob == unknown_ref
    assert (wrong_dob.outcome, wrong_dob.patient_id, wrong_dob.attempts_left) == ("mismatch", None, 4)


def test_unreadable_date_counts_as_a_mismatch(session_factory, patient_id) -> None:
    result = attempt(session_factory, "web-1", "MC-1001", "last spring", frozen_now(NOW))
    assert (result.outcome, result.attempts_left) == ("mismatch", 4)


def test_conversation_locks_after_five_failures(session_factory, patient_id) -> None:
    now = frozen_now(NOW)
    left = [attempt(session_factory, "web-1", f"MC-90{n}", RIGHT_DOB, now).attempts_left for n in range(5)]
    assert left == [4, 3, 2, 1, 0]
    locked = attempt(session_factory, "web-1", "MC-1001", RIGHT_DOB, now)
    assert (locked.outcome, locked.patient_id, locked.attempts_left) == ("locked", None, 0)
    # The lock is the conversation's, for good; the patient can still verify elsewhere.
    assert attempt(session_factory, "web-1", "MC-1001", RIGHT_DOB, now + timedelta(days=2)).outcome == "locked"
    assert attempt(session_factory, "web-2", "MC-1001", RIGHT_DOB, now).outcome == "verified"


def test_patient_locks_for_an_hour_across_conversations(session_factory, patient_id) -> None:
    with freeze_time("2026-11-18 12:00:00") as clock:
        # Five wrong dates of birth from five conversations, 12:00 to 12:04.
        for n in range(MAX_FAILED_ATTEMPTS):
            now = datetime.now(timezone.utc)
            assert attempt(session_factory, f"web-{n}", "MC-1001", "01/01/1990", now).outcome == "mismatch"
            clock.tick(timedelta(minutes=1))
        # Locked even with the right details from a fresh conversation: checked before comparing.
        for now in ("2026-11-18 12:05:00", "2026-11-18 12:30:00", "2026-11-18 12:59:59"):
            clock.move_to(now)
            result = attempt(session_factory, "web-new", "MC-1001", RIGHT_DOB, datetime.now(timezone.utc))
            assert (result.outcome, result.patient_id, result.attempts_left) == ("locked", None, 0)
        # Just over an hour after the first failure, only four remain in the window.
        clock.move_to("2026-11-18 13:00:01")
        result = attempt(session_factory, "web-new", "MC-1001", RIGHT_DOB, datetime.now(timezone.utc))
        assert (result.outcome, result.patient_id) == ("verified", patient_id)


def test_tries_while_locked_do_not_extend_the_lock(session_factory, patient_id) -> None:
    start = frozen_now(NOW)
    for n in range(MAX_FAILED_ATTEMPTS):
        attempt(session_factory, f"web-{n}", "MC-1001", "01/01/1990", start)
    for minutes in range(0, 60, 10):
        assert attempt(session_factory, "web-x", "MC-1001", RIGHT_DOB, start + timedelta(minutes=minutes)).outcome == "locked"
    assert attempt(session_factory, "web-x", "MC-1001", RIGHT_DOB, start + timedelta(minutes=61)).outcome == "verified"


def test_attempts_and_audit_rows_hold_no_typed_values(session_factory, patient_id) -> None:
    now = frozen_now(NOW)
    attempt(session_factory, "web-1", "MC-1001", RIGHT_DOB, now)
    attempt(session_factory, "web-2", "MC-1001", "13/04/1988", now)
    attempt(session_factory, "web-3", "MC-7777", "13/04/1988", now)
    for _ in range(4):
        attempt(session_factory, "web-2", "MC-1001", "13/04/1988", now)
    attempt(session_factory, "web-2", "MC-1001", RIGHT_DOB, now)  # conversation locked by now

    with session_factory.begin() as session:
        attempts = session.execute(select(VerificationAttempt).order_by(VerificationAttempt.id)).scalars().all()
        audits = session.execute(select(AuditLog).order_by(AuditLog.id)).scalars().all()
        senders = dict(session.execute(select(Conversation.id, Conversation.external_id)).all())
        assert [(senders[a.conversation_id], a.patient_id, a.succeeded, a.outcome) for a in attempts[:3]] == [
            ("web-1", patient_id, True, "verified"),
            ("web-2", patient_id, False, "mismatch"),
            ("web-3", None, False, "mismatch"),
        ]
        assert attempts[-1].outcome == "locked" and attempts[-1].patient_id == patient_id
        assert all(a.attempted_at == now for a in attempts)
        assert [a.action for a in audits] == (
            ["verification_succeeded"] + ["verification_failed"] * 6 + ["verification_locked"]
        )
        assert {a.actor_type for a in audits} == {"patient"}
        assert (audits[0].subject_type, audits[0].subject_id) == ("patient", str(patient_id))
        assert (audits[2].subject_type, audits[2].subject_id) == (None, None)
        stored = " ".join(
            str(value)
            for row in attempts + audits
            for value in vars(row).values()
        )
    for typed in ("1988", "12/04", "13/04", "MC-7777", "7777", "MC-1001", "Alex"):
        assert typed not in stored


def identify_by_phone(session, raw_phone: str, region: str):
    """What the session-start action does with a signed sender number."""
    phone = normalise_phone(raw_phone, region)
    return find_patient_by_phone(session, phone) if phone else None


def test_identify_by_phone(session_factory, patient_id) -> None:
    with session_factory.begin() as session:
        assert identify_by_phone(session, "whatsapp:+447700900123", "GB").id == patient_id
        assert identify_by_phone(session, "07700 900123", "GB").first_name == "Alex"
        assert identify_by_phone(session, "+44 (0)7700 900123", "GB").clinic_ref == "MC-1001"
        assert identify_by_phone(session, "+447700900999", "GB") is None
        assert identify_by_phone(session, "not a number", "GB") is None
        assert identify_by_phone(session, "", "GB") is None
