"""Aftercare and preparation answers, word for word, inside and after their windows."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from clinic_testing import DATA, frozen_now, london, utc

from bot.clinic.aftercare import (
    CLINICIAN_LINE,
    aftercare_answer,
    classify_substance,
    general_answer_hours,
    preparation_answer,
)
from bot.clinic.bookings import SessionView
from bot.settings import ClinicProfile, SettingsError

END = "\n" + CLINICIAN_LINE


def session_at(starts_at: datetime, status: str = "completed") -> SessionView:
    """A session of a hair mesotherapy course."""
    return SessionView(
        appointment_id=1, starts_at=starts_at, duration_min=45, status=status, practitioner="Dr Priya Shah",
        treatment="Hair mesotherapy", number_in_course=3, planned_sessions=8,
    )


# ------------------------------------------------------------------ aftercare


def test_washing_the_day_after(clinic_profile) -> None:
    answer = aftercare_answer("washing", session_at(london(2026, 11, 17, 10)), frozen_now("2026-11-18 12:00"), clinic_profile)
    assert answer == (
        "Your session was yesterday at 10:00, so please wait until 10:00 tomorrow before washing your hair." + END
    )


def test_washing_until_later_today(clinic_profile) -> None:
    answer = aftercare_answer("washing", session_at(london(2026, 11, 16, 14)), frozen_now("2026-11-18 09:00"), clinic_profile)
    assert answer == (
        "Your session was on Monday at 14:00, so please wait until 14:00 today before washing your hair." + END
    )


def test_washing_after_the_window(clinic_profile) -> None:
    answer = aftercare_answer("washing", session_at(london(2026, 11, 2, 10)), frozen_now("2026-11-18 12:00"), clinic_profile)
    assert answer == (
        "Your last session was on Monday 2 November at 10:00, more than 48 hours ago, "
        "so you can wash your hair again — gently, with a mild shampoo." + END
    )


def test_window_is_over_exactly_at_its_end(clinic_profile) -> None:
    started = london(2026, 11, 16, 10)
    at_the_end = started + timedelta(hours=48)
    just_before = at_the_end - timedelta(minutes=1)
    assert aftercare_answer("washing", session_at(started), at_the_end, clinic_profile).startswith("Your last session was")
    assert aftercare_answer("washing", session_at(started), just_before, clinic_profile).startswith(
        "Your session was on Monday at 10:00, so please wait until 10:00 today"
    )


@pytest.mark.parametrize(
    "topic, expected",
    [
        ("exercise", "Your session was yesterday at 10:00, so please wait until 10:00 tomorrow before strenuous "
                     "exercise (gym, running, swimming)."),
        ("sun", "Your session was yesterday at 10:00, so please wait until 10:00 tomorrow before spending time "
                "in direct sun."),
        ("styling", "Your session was yesterday at 10:00, so please wait until 10:00 on Friday before colouring "
                    "your hair, using harsh chemicals or heat styling."),
    ],
)
def test_other_topics_inside_their_windows(clinic_profile, topic: str, expected: str) -> None:
    answer = aftercare_answer(topic, session_at(london(2026, 11, 17, 10)), frozen_now("2026-11-18 12:00"), clinic_profile)
    assert answer == expected + END


@pytest.mark.parametrize(
    "topic, expected",
    [
        ("exercise", "more than 48 hours ago, so you can go back to strenuous exercise (gym, running, swimming)."),
        ("sun", "more than 48 hours ago, so you can spend time in direct sun again — a hat still helps protect "
                "your scalp."),
        ("styling", "more than 72 hours ago, so you can colour your hair, use chemical treatments or heat styling "
                    "again."),
    ],
)
def test_other_topics_after_their_windows(clinic_profile, topic: str, expected: str) -> None:
    answer = aftercare_answer(topic, session_at(london(2026, 11, 13, 10)), frozen_now("2026-11-18 12:00"), clinic_profile)
    assert answer == f"Your last session was on Friday at 10:00, {expected}" + END


def test_session_late_in_the_evening_seen_after_midnight(clinic_profile) -> None:
    # 23:30 BST on Tuesday 14 July; asked at 00:15 BST on Wednesday (both 14 July in UTC).
    answer = aftercare_answer("washing", session_at(utc(2026, 7, 14, 22, 30)), frozen_now("2026-07-14 23:15"), clinic_profile)
    assert answer == (
        "Your session was yesterday at 23:30, so please wait until 23:30 tomorrow before washing your hair." + END
    )


def test_washing_window_across_spring_clock_change(clinic_profile) -> None:
    # Saturday 28 March 10:00 GMT; 48 real hours later is Monday 30 March 11:00 BST.
    answer = aftercare_answer("washing", session_at(london(2026, 3, 28, 10)), frozen_now("2026-03-29 01:00"), clinic_profile)
    assert answer == (
        "Your session was yesterday at 10:00, so please wait until 11:00 tomorrow before washing your hair." + END
    )


def test_washing_window_across_autumn_clock_change(clinic_profile) -> None:
    # Saturday 24 October 10:00 BST; 48 real hours later is Monday 26 October 09:00 GMT.
    answer = aftercare_answer("washing", session_at(london(2026, 10, 24, 10)), frozen_now("2026-10-25 12:00"), clinic_profile)
    assert answer == (
        "Your session was yesterday at 10:00, so please wait until 09:00 tomorrow before washing your hair." + END
    )


def test_unknown_topic_is_a_programming_error(clinic_profile) -> None:
    with pytest.raises(ValueError):
        aftercare_answer("swimming", session_at(london(2026, 11, 17, 10)), frozen_now("2026-11-18 12:00"), clinic_profile)


# ------------------------------------------------------------------ preparation

FRIDAY_SESSION = session_at(london(2026, 11, 20, 14), status="booked")
MONDAY_MORNING = "2026-11-16 09:00"
PRESCRIPTION = " If a doctor prescribed it for you, ask your doctor before stopping."


def test_avoid_ibuprofen_from_two_days_before(clinic_profile) -> None:
    answer = preparation_answer("ibuprofen", FRIDAY_SESSION, frozen_now(MONDAY_MORNING), clinic_profile)
    assert answer == (
        "Your session is on Friday at 14:00, so please avoid ibuprofen from 14:00 on Wednesday." + PRESCRIPTION + END
    )


def test_no_substance_lists_the_usual_ones(clinic_profile) -> None:
    answer = preparation_answer(None, FRIDAY_SESSION, frozen_now(MONDAY_MORNING), clinic_profile)
    assert answer == (
        "Your session is on Friday at 14:00, so please avoid alcohol, aspirin, ibuprofen and other "
        "blood-thinning or anti-inflammatory medicines from 14:00 on Wednesday. "
        "If a doctor prescribed any of these for you, ask your doctor before stopping." + END
    )


def test_alcohol_has_no_prescription_caveat(clinic_profile) -> None:
    answer = preparation_answer("alcohol", FRIDAY_SESSION, frozen_now("2026-11-17 09:00"), clinic_profile)
    assert answer == "Your session is on Friday at 14:00, so please avoid alcohol from 14:00 tomorrow." + END


def test_inside_the_window_says_from_now(clinic_profile) -> None:
    answer = preparation_answer("aspirin", FRIDAY_SESSION, frozen_now("2026-11-19 15:00"), clinic_profile)
    assert answer == (
        "Your session is tomorrow at 14:00, so please avoid aspirin from now until your session." + PRESCRIPTION + END
    )


def test_preparation_window_across_spring_clock_change(clinic_profile) -> None:
    # Monday 30 March 14:00 BST (13:00 UTC); 48 real hours before is Saturday 28 March 13:00 GMT.
    monday = session_at(london(2026, 3, 30, 14), status="booked")
    answer = preparation_answer("naproxen", monday, frozen_now("2026-03-27 09:00"), clinic_profile)
    assert answer == (
        "Your session is on Monday at 14:00, so please avoid naproxen from 13:00 tomorrow." + PRESCRIPTION + END
    )


def test_session_far_ahead_uses_full_dates(clinic_profile) -> None:
    later = session_at(london(2026, 12, 4, 14), status="booked")
    answer = preparation_answer("Nurofen", later, frozen_now(MONDAY_MORNING), clinic_profile)
    assert answer.startswith(
        "Your session is on Friday 4 December at 14:00, so please avoid Nurofen from 14:00 on Wednesday 2 December."
    )


@pytest.mark.parametrize(
    "substance, shown",
    [
        ("warfarin", "warfarin"),
        ("Apixaban", "Apixaban"),
        ("my rivaroxaban tablets", "rivaroxaban"),
        ("clopidogrel", "clopidogrel"),
        ("heparin", "heparin"),
        ("dabigatran", "dabigatran"),
        ("edoxaban", "edoxaban"),
        ("blood thinners", "blood thinners"),
        ("aspirin and warfarin", "warfarin"),
    ],
)
def test_prescribed_anticoagulants_are_never_stopped(clinic_profile, substance: str, shown: str) -> None:
    answer = preparation_answer(substance, FRIDAY_SESSION, frozen_now(MONDAY_MORNING), clinic_profile)
    assert answer == (
        f"Please do not stop {shown} on your own. Tell your doctor and the clinic before your session, "
        "which is on Friday at 14:00; they will decide together what is safe."
    )
    assert "avoid" not in answer


@pytest.mark.parametrize("substance", ["fish oil", "paracetamol", "finasteride"])
def test_unknown_substances_go_to_the_clinician(clinic_profile, substance: str) -> None:
    answer = preparation_answer(substance, FRIDAY_SESSION, frozen_now("2026-11-19 15:00"), clinic_profile)
    assert answer == (
        f"I can't advise on {substance}. Please ask your clinician before your session, which is tomorrow at 14:00."
    )


@pytest.mark.parametrize("substance", [None, "ibuprofen", "warfarin", "x" * 500, "anti-inflammatories"])
def test_answers_stay_short(clinic_profile, substance) -> None:
    far = session_at(london(2027, 12, 29, 14), status="booked")
    answer = preparation_answer(substance, far, frozen_now(MONDAY_MORNING), clinic_profile)
    assert len(answer) <= 600
    for topic in ("washing", "exercise", "sun", "styling"):
        assert len(aftercare_answer(topic, session_at(london(2025, 12, 29, 14)), frozen_now(MONDAY_MORNING),
                                    clinic_profile)) <= 600


@pytest.mark.parametrize(
    "substance, kind",
    [(None, None), ("  ", None), ("Warfarin", "prescribed"), ("my Eliquis", "prescribed"),
     ("blood thinners", "prescribed"), ("Ibuprofen", "avoid"), ("a glass of wine", "unknown"),
     ("alcohol", "avoid"), ("anti-inflammatories", "avoid"), ("fish oil", "unknown")],
)
def test_classify_substance(substance, kind) -> None:
    assert classify_substance(substance) == kind


def test_general_answers_take_their_hours_from_the_profile(clinic_profile) -> None:
    assert general_answer_hours(clinic_profile) == {
        "wash_hours": "48", "exercise_hours": "48", "sun_hours": "48", "styling_hours": "72",
        "blood_thinning_hours": "48",
    }


def test_a_profile_without_all_the_hours_is_refused(tmp_path) -> None:
    text = (DATA / "clinic_profile.yml").read_text(encoding="utf-8")
    assert "  sun: 48\n" in text
    (tmp_path / "clinic.yml").write_text(text.replace("  sun: 48\n", ""), encoding="utf-8")
    with pytest.raises(SettingsError, match="aftercare_hours needs hours for sun"):
        ClinicProfile.load(tmp_path / "clinic.yml", {})
