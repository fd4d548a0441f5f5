"""What the patient and the staff inbox are told."""
import re

import pytest

from bot.safety import ScreenResult, after_effect_reply, red_flag_reply, red_flag_summary
from tests.support.phrases import BANNED_PHRASES
from tests.support.settings import make_clinic

EXTRA_BANNED = [r"don'?t worry", r"nothing to worry", r"perfectly normal", r"completely normal", r"\bsafe\b",
                r"\bpromise"]
EMERGENCY_RESULTS = [
    ScreenResult("emergency", ("allergy",)),
    ScreenResult("emergency", ("allergy", "breathing")),
    ScreenResult("emergency", ("breathing",)),
    ScreenResult("emergency", ("faint",)),
    ScreenResult("emergency", ("allergy", "infection", "faint")),
]
URGENT_RESULTS = [ScreenResult("urgent", (c,)) for c in
                  ("allergy", "infection", "bleeding", "severe_pain", "skin_damage", "faint")] + [
    ScreenResult("urgent", ("infection", "severe_pain")),
    ScreenResult("urgent", ("allergy", "infection", "bleeding", "severe_pain", "skin_damage", "faint")),
]
LONG_CLINIC = make_clinic(name="The Very Long Named Northfield and District Hair Restoration Clinic Ltd",
                          phone="+44 (0)20 7946 0321 extension 1234", emergency_number="999 or 112")


def _plain_and_careful(text: str) -> None:
    assert 0 < len(text) <= 600, len(text)
    assert not re.search(r"[<>*_#\[\]`]", text), text  # plain text: SMS has no markup
    found = [p for p in BANNED_PHRASES + EXTRA_BANNED if re.search(p, text, flags=re.IGNORECASE)]
    assert found == [], found


@pytest.mark.parametrize("result", EMERGENCY_RESULTS, ids=str)
def test_emergency_reply_says_call_the_emergency_number_now(clinic, result):
    text = red_flag_reply(result, clinic)
    _plain_and_careful(text)
    assert "call 999 now" in text.lower()
    assert text.index("999") < text.index(clinic.phone) if clinic.phone in text else True


def test_emergency_number_is_the_clinic_s_own(clinic):
    text = red_flag_reply(ScreenResult("emergency", ("allergy",)), make_clinic(emergency_number="112"))
    assert "112" in text and "999" not in text


@pytest.mark.parametrize("result", URGENT_RESULTS, ids=str)
def test_urgent_reply_says_contact_the_clinic_now_or_urgent_care(clinic, result):
    text = red_flag_reply(result, clinic)
    _plain_and_careful(text)
    assert clinic.phone in text and "now" in text
    assert "urgent" in text.lower() and "can't reach us" in text


def test_bleeding_reply_adds_first_aid(clinic):
    assert "press firmly" in red_flag_reply(ScreenResult("urgent", ("bleeding",)), clinic).lower()


@pytest.mark.parametrize("result", EMERGENCY_RESULTS + URGENT_RESULTS, ids=str)
def test_replies_fit_one_sms_even_for_a_long_clinic_name(result):
    text = red_flag_reply(result, LONG_CLINIC)
    _plain_and_careful(text)
    must = "999 or 112" if result.kind == "emergency" else LONG_CLINIC.phone
    assert must in text


def test_no_phone_set_still_gives_a_sensible_reply():
    clinic = make_clinic(phone="")
    text = red_flag_reply(ScreenResult("urgent", ("infection",)), clinic)
    assert "call Northfield Hair Clinic now" in text and " on ." not in text
    assert "on  " not in after_effect_reply(clinic)


def test_red_flag_reply_refuses_other_results(clinic):
    for result in (ScreenResult("after_effect", ("after_effect",)), ScreenResult(None, ())):
        with pytest.raises(ValueError):
            red_flag_reply(result, clinic)


def test_after_effect_reply_is_calm_and_lists_the_red_flags(clinic):
    text = after_effect_reply(clinic)
    _plain_and_careful(text)
    lowered = text.lower()
    assert "expected" in lowered and "day or two" in lowered and "aftercare" in lowered
    assert clinic.phone in text and "gets worse" in lowered
    for flag in ("fever", "pus", "spreading redness", "bleeding that won't stop", "severe pain", "dark",
                 "blistering", "hard to breathe", "emergency help"):
        assert flag in lowered, flag
    assert clinic.emergency_number not in text  # the number belongs to the emergency reply
    _plain_and_careful(after_effect_reply(LONG_CLINIC))


def test_staff_summary_names_kind_and_categories_only(screen):
    message = "my lips are swelling and I can't breathe, my name is Alex"
    result = screen.check(message)
    summary = red_flag_summary(result)
    assert summary == "Red flag (emergency): allergy, breathing"
    assert "Alex" not in summary and "lips" not in summary
    assert red_flag_summary(ScreenResult("urgent", ("infection", "severe_pain"))) == \
        "Red flag (urgent): infection, severe_pain"
    assert red_flag_summary(ScreenResult("after_effect", ("after_effect",))).startswith("After-effect")
    assert red_flag_summary(ScreenResult(None, ())) == "No red flag"


def test_end_to_end_reply_for_a_patient_message(screen, clinic):
    result = screen.check("my wife's face is swelling up")
    assert "999" in red_flag_reply(result, clinic)
    result = screen.check("scalp a bit red and sore today")
    assert result.kind == "after_effect" and "day or two" in after_effect_reply(clinic)
