"""Identity checks: reference + date of birth, locks, audit rows, phone lookup, date parsing."""
from __future__ import annotations

import contextlib
import re
from datetime import date, datetime, timedelta, timezone
from typing import Iterator, List

import pytest
from clinic_testing import frozen_now
from freezegun import freeze_time
from sqlalchemy import event, select

from bot.clinic.bookings import find_patient_by_phone, normalise_phone
from bot.clinic.verification import (
    MAX_FAILED_ATTEMPTS,
    normalise_reference,
    parse_date_of_birth,
    reference_hash,
    reference_in,
    reference_lock_key,
    verify_by_reference,
)
from bot.db.models import AuditLog, Base, Conversation, VerificationAttempt
from tests.support.database import sqlite_path

TODAY = date(2026, 11, 18)
NOW = "2026-11-18 12:00:00"
RIGHT_DOB = "12/04/1988"
WRONG_DOB = "13/04/1988"
KEY = reference_lock_key("k" * 32, "")
INVENTED = "MC-5193"  # shaped like a reference; no patient has it
PINNED_DEFAULT_HASH = "b229e9a7a0042b7fb0a7fae3fc9d152d"  # HMAC-SHA256 by hand (openssl), first 32 hex


@pytest.fixture
def patient_id(session_factory, rows) -> int:
    """MC-4827, Alex Morgan, born 1988-04-12, +447700900123."""
    with session_factory.begin() as session:
        return rows.patient(session=session)


def attempt(session_factory, conversation: str, ref: str, dob: str, now):
    """One verification in its own transaction, as the action server would do it."""
    with session_factory.begin() as session:
        return verify_by_reference(session, conversation, ref, dob, now, KEY)


@contextlib.contextmanager
def statements_run(session_factory) -> Iterator[List[str]]:
    """The SQL statements (text, not parameters) sent to the database during the block."""
    engine = session_factory.kw["bind"]
    seen: List[str] = []

    def record(connection, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


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
    "text", ["9/3/87 or 10/3/87", "9 March 1987 and 10/03/1987", "born in 1987", "march 9", "MC-4827",
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


@pytest.mark.parametrize("text", ["MC-4827", "mc-4827", "mc 4827", "mc4827", " MC 4827 ", "mc.4827", "Mc - 4827"])
def test_references_are_normalised(text: str) -> None:
    assert normalise_reference(text) == "MC-4827"


def test_other_reference_shapes_are_only_cleaned() -> None:
    assert normalise_reference(" ab 12 cd ") == "AB12CD"


@pytest.mark.parametrize(
    "text", ["MC-7315", "mc 7315", "mc7315", "Mc - 7315", "MC-7315.", "my ref is MC-7315",
             "sorry, it's mc-7315", "it\u2019s MC 7315", "booking reference: MC7315", "new reference MC-7315"],
)
def test_a_reference_is_found_in_what_was_typed(text: str) -> None:
    assert reference_in(text) == "MC-7315"


@pytest.mark.parametrize(
    "text", ["", "hello", "9/3/87", "march 9", "Jan 1990", "born 1987", "dob 1987", "its 9", "ab 12 cd",
             "7315", "ref 7315", "the twelfth of never", "MC-7315 and 9/3/87"],
)
def test_dates_words_and_other_shapes_are_not_references(text: str) -> None:
    assert reference_in(text) is None


# ------------------------------------------------------------------ verifying


def test_right_reference_and_date_of_birth(session_factory, patient_id) -> None:
    result = attempt(session_factory, "web-1", "mc 4827", "12 April 1988", frozen_now(NOW))
    assert (result.outcome, result.patient_id, result.attempts_left) == ("verified", patient_id, MAX_FAILED_ATTEMPTS)


def test_wrong_date_of_birth_and_unknown_reference_look_the_same(session_factory, patient_id) -> None:
    wrong_dob = attempt(session_factory, "web-1", "MC-4827", "13/04/1988", frozen_now(NOW))
    unknown_ref = attempt(session_factory, "web-2", "MC-9999", RIGHT_DOB, frozen_now(NOW))
    assert wrong_dob == unknown_ref
    assert (wrong_dob.outcome, wrong_dob.patient_id, wrong_dob.attempts_left) == ("mismatch", None, 4)


def test_unreadable_date_counts_as_a_mismatch(session_factory, patient_id) -> None:
    result = attempt(session_factory, "web-1", "MC-4827", "last spring", frozen_now(NOW))
    assert (result.outcome, result.attempts_left) == ("mismatch", 4)


def test_conversation_locks_after_five_failures(session_factory, patient_id) -> None:
    now = frozen_now(NOW)
    left = [attempt(session_factory, "web-1", f"MC-90{n}", RIGHT_DOB, now).attempts_left for n in range(5)]
    assert left == [4, 3, 2, 1, 0]
    locked = attempt(session_factory, "web-1", "MC-4827", RIGHT_DOB, now)
    assert (locked.outcome, locked.patient_id, locked.attempts_left) == ("locked", None, 0)
    # The lock is the conversation's, for good; the patient can still verify elsewhere.
    assert attempt(session_factory, "web-1", "MC-4827", RIGHT_DOB, now + timedelta(days=2)).outcome == "locked"
    assert attempt(session_factory, "web-2", "MC-4827", RIGHT_DOB, now).outcome == "verified"


@pytest.mark.parametrize("reference, last_try", [
    ("MC-4827", ("verified", 1)),  # the patient's own reference, and then the right date of birth
    (INVENTED, ("mismatch", None)),  # no patient: the right date of birth matches nothing
])
def test_a_reference_locks_for_an_hour_across_conversations(session_factory, patient_id, reference,
                                                             last_try) -> None:
    with freeze_time("2026-11-18 12:00:00") as clock:
        # Five wrong dates of birth from five conversations, 12:00 to 12:04.
        for n in range(MAX_FAILED_ATTEMPTS):
            now = datetime.now(timezone.utc)
            result = attempt(session_factory, f"web-{n}", reference, "01/01/1990", now)
            assert (result.outcome, result.attempts_left) == ("mismatch", MAX_FAILED_ATTEMPTS - 1 - n)
            clock.tick(timedelta(minutes=1))
        # Locked even with the right details from a fresh conversation: checked before comparing.
        for now in ("2026-11-18 12:05:00", "2026-11-18 12:30:00", "2026-11-18 12:59:59"):
            clock.move_to(now)
            result = attempt(session_factory, "web-new", reference, RIGHT_DOB, datetime.now(timezone.utc))
            assert (result.outcome, result.patient_id, result.attempts_left) == ("locked", None, 0)
        # Just over an hour after the first failure, only four remain in the window.
        clock.move_to("2026-11-18 13:00:01")
        result = attempt(session_factory, "web-new", reference, RIGHT_DOB, datetime.now(timezone.utc))
        assert (result.outcome, result.patient_id) == last_try


def test_a_reference_is_counted_however_it_is_typed(session_factory, patient_id) -> None:
    now = frozen_now(NOW)
    for n, typed in enumerate(("mc 5193", "MC5193", "mc-5193", "Mc - 5193", "MC-5193")):
        assert attempt(session_factory, f"web-{n}", typed, RIGHT_DOB, now).attempts_left == 4 - n
    assert attempt(session_factory, "web-new", "mc.5193", RIGHT_DOB, now).outcome == "locked"


def test_mismatches_on_one_reference_do_not_lock_another(session_factory, patient_id) -> None:
    now = frozen_now(NOW)
    for n in range(MAX_FAILED_ATTEMPTS):
        attempt(session_factory, f"web-{n}", INVENTED, RIGHT_DOB, now)
    assert attempt(session_factory, "web-new", INVENTED, RIGHT_DOB, now).outcome == "locked"
    result = attempt(session_factory, "web-other", "MC-4827", RIGHT_DOB, now)
    assert (result.outcome, result.patient_id, result.attempts_left) == ("verified", patient_id, MAX_FAILED_ATTEMPTS)


def test_the_fewer_tries_left_of_the_conversation_and_the_reference_are_told(session_factory, patient_id) -> None:
    now = frozen_now(NOW)
    for n in range(3):  # three mismatches on the reference, from elsewhere
        attempt(session_factory, f"web-{n}", INVENTED, WRONG_DOB, now)
    assert attempt(session_factory, "web-new", INVENTED, WRONG_DOB, now).attempts_left == 1
    assert attempt(session_factory, "web-new", "MC-6640", WRONG_DOB, now).attempts_left == 3


def sequence_of_tries(session_factory, reference: str, dob: str, fresh_dob: str, now):
    """Six tries in one conversation, then one from a fresh conversation: per try the result, the
    audit row's action and detail, and the SQL statements run."""
    tries = []
    for conversation in [f"web-{reference}-1"] * (MAX_FAILED_ATTEMPTS + 1) + [f"web-{reference}-2"]:
        with statements_run(session_factory) as statements:
            result = attempt(session_factory, conversation, reference, fresh_dob if conversation.endswith("-2")
                             else dob, now)
        with session_factory.begin() as session:
            audit_row = session.execute(select(AuditLog).order_by(AuditLog.id.desc()).limit(1)).scalar_one()
            tries.append((result, audit_row.action, audit_row.detail, statements))
    return tries


def test_an_unknown_reference_is_answered_counted_and_queried_like_a_real_one(any_session_factory, rows) -> None:
    """A real reference with wrong dates of birth, and an invented one: the same outcomes, tries left,
    audit details and SQL statements, try after try, and the same lock for a fresh conversation
    (the real one even with the right date of birth). On SQLite and PostgreSQL."""
    rows.patient()
    now = frozen_now(NOW)
    real = sequence_of_tries(any_session_factory, "MC-4827", WRONG_DOB, RIGHT_DOB, now)
    unknown = sequence_of_tries(any_session_factory, INVENTED, RIGHT_DOB, RIGHT_DOB, now)
    assert real == unknown
    assert [(r.outcome, r.patient_id, r.attempts_left) for r, _, _, _ in real] == [
        ("mismatch", None, 4), ("mismatch", None, 3), ("mismatch", None, 2), ("mismatch", None, 1),
        ("mismatch", None, 0), ("locked", None, 0), ("locked", None, 0)]
    assert [(action, detail) for _, action, detail, _ in real] == (
        [("verification_failed", {"attempts_left": left}) for left in (4, 3, 2, 1, 0)]
        + [("verification_locked", {"attempts_left": 0})] * 2)
    assert all(statements for _, _, _, statements in real)


def test_a_verified_try_runs_the_same_statements_as_a_failed_one(session_factory, patient_id) -> None:
    now = frozen_now(NOW)
    with statements_run(session_factory) as failed:
        attempt(session_factory, "web-1", INVENTED, RIGHT_DOB, now)
    with statements_run(session_factory) as verified:
        attempt(session_factory, "web-2", "MC-4827", RIGHT_DOB, now)
    assert failed == verified


def test_attempts_hold_the_keyed_hash_of_the_normalised_reference(session_factory, patient_id) -> None:
    now = frozen_now(NOW)
    attempt(session_factory, "web-1", "mc 5193", RIGHT_DOB, now)
    attempt(session_factory, "web-2", "MC4827", WRONG_DOB, now)
    with session_factory.begin() as session:
        hashes = session.execute(select(VerificationAttempt.reference_hash).order_by(VerificationAttempt.id)).scalars()
        assert list(hashes) == [reference_hash(KEY, "MC-5193"), reference_hash(KEY, "MC-4827")]


def test_no_typed_reference_is_stored_anywhere(session_factory, patient_id) -> None:
    """Every column of every table, and the database file itself, after tries with an invented reference
    (the patients table holds the real ones)."""
    now = frozen_now(NOW)
    for n in range(MAX_FAILED_ATTEMPTS + 1):
        attempt(session_factory, f"web-{n % 2}", "mc 5193", WRONG_DOB, now)
    with session_factory.begin() as session:
        stored = " ".join(str(value) for table in Base.metadata.sorted_tables
                          for row in session.execute(select(table)) for value in row)
    raw = sqlite_path(str(session_factory.kw["bind"].url)).read_bytes()
    for typed in ("MC-5193", "5193", "mc 5193", "13/04"):
        assert typed not in stored
        assert typed.encode() not in raw


def test_the_hash_key_comes_from_the_identity_signing_key_else_the_session_secret() -> None:
    assert reference_lock_key("identity", "session") == reference_lock_key("identity", "")
    assert reference_lock_key("", "session") != reference_lock_key("identity", "session")
    assert reference_lock_key("", "") != reference_lock_key("", "session")
    assert reference_lock_key("identity", "") not in (b"identity", "identity".encode().hex().encode())


def test_the_hash_is_stable_keyed_and_normalised() -> None:
    hashed = reference_hash(KEY, "MC-5193")
    assert re.fullmatch(r"[0-9a-f]{32}", hashed)
    assert reference_hash(KEY, " mc 5193 ") == reference_hash(KEY, "MC5193") == hashed
    assert reference_hash(reference_lock_key("other", ""), "MC-5193") != hashed
    assert reference_hash(KEY, "MC-5194") != hashed
    # Pinned: the same configuration gives the same hashes in every process and every release, so
    # changing the derivation must be deliberate (it forgets the locks of the last hour).
    assert reference_hash(reference_lock_key("", ""), "MC-4827") == PINNED_DEFAULT_HASH


def test_attempts_and_audit_rows_hold_no_typed_values(session_factory, patient_id) -> None:
    now = frozen_now(NOW)
    attempt(session_factory, "web-1", "MC-4827", RIGHT_DOB, now)
    attempt(session_factory, "web-2", "MC-4827", "13/04/1988", now)
    attempt(session_factory, "web-3", "MC-7777", "13/04/1988", now)
    for _ in range(4):
        attempt(session_factory, "web-2", "MC-4827", "13/04/1988", now)
    attempt(session_factory, "web-2", "MC-4827", RIGHT_DOB, now)  # conversation locked by now

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
    for typed in ("1988", "12/04", "13/04", "MC-7777", "7777", "MC-4827", "Alex"):
        assert typed not in stored


def identify_by_phone(session, raw_phone: str, region: str):
    """What the session-start action does with a signed sender number."""
    phone = normalise_phone(raw_phone, region)
    return find_patient_by_phone(session, phone) if phone else None


def test_identify_by_phone(session_factory, patient_id) -> None:
    with session_factory.begin() as session:
        assert identify_by_phone(session, "whatsapp:+447700900123", "GB").id == patient_id
        assert identify_by_phone(session, "07700 900123", "GB").first_name == "Alex"
        assert identify_by_phone(session, "+44 (0)7700 900123", "GB").clinic_ref == "MC-4827"
        assert identify_by_phone(session, "+447700900999", "GB") is None
        assert identify_by_phone(session, "not a number", "GB") is None
        assert identify_by_phone(session, "", "GB") is None
