"""What the patient is told when the screen finds a red flag or an expected after-effect.

Plain text of at most 600 characters (it goes out by SMS and WhatsApp too), no promises and no
marketing words. The emergency reply always names the clinic's emergency number
(`ClinicProfile.emergency_number`); the urgent reply names the clinic's phone and what to do when the
clinic cannot be reached. `red_flag_summary` is for the staff inbox and never repeats the message.
"""
from __future__ import annotations

from typing import List, Tuple

from bot.safety.screen import ScreenResult
from bot.settings import ClinicProfile

MAX_REPLY_CHARS = 600

_ALLERGY_LIKE = ("allergy", "breathing")
# What each category is called in the urgent reply when several are found.
_LABELS = {
    "allergy": "a possible allergic reaction",
    "breathing": "breathing problems",
    "infection": "signs of infection",
    "bleeding": "bleeding that won't stop",
    "severe_pain": "severe or worsening pain",
    "skin_damage": "skin changes around the injection area",
    "faint": "feeling faint or dizzy",
}
# The opening sentence of the urgent reply when one category is found.
_URGENT_REASONS = {
    "allergy": "A rash, hives or tingling after a treatment can be an allergic reaction and needs "
               "checking today.",
    "breathing": "Breathing problems after a treatment need checking straight away.",
    "infection": "Fever or chills, pus, hot or spreading redness or a growing, painful lump can be signs "
                 "of an infection and need checking today.",
    "bleeding": "Bleeding that won't stop needs checking today.",
    "severe_pain": "Severe or worsening pain needs checking today.",
    "skin_damage": "Skin turning dark, grey, black or purple, or blistering, around the injection area "
                   "needs checking straight away.",
    "faint": "Feeling dizzy or light-headed after a treatment needs checking today.",
}
_BLEEDING_FIRST_AID = "Meanwhile, press firmly on the spot with a clean cloth or gauze for 10 minutes."


def _emergency_number(clinic: ClinicProfile) -> str:
    return clinic.emergency_number.strip() or "your local emergency number"


def _clinic_contact(clinic: ClinicProfile) -> str:
    """"Northfield Hair Clinic on +44 20 7946 0321", or just the name when no phone is set."""
    name = clinic.name.strip() or "the clinic"
    return f"{name} on {clinic.phone.strip()}" if clinic.phone.strip() else name


def _fit(parts: List[Tuple[str, bool]]) -> str:
    """Join sentences; drop optional ones (from the end) while the text is too long for one SMS."""
    parts = list(parts)
    text = " ".join(p for p, _ in parts)
    while len(text) > MAX_REPLY_CHARS and any(optional for _, optional in parts):
        index = max(i for i, (_, optional) in enumerate(parts) if optional)
        del parts[index]
        text = " ".join(p for p, _ in parts)
    return text[:MAX_REPLY_CHARS]


def red_flag_reply(result: ScreenResult, clinic: ClinicProfile) -> str:
    """The urgent guidance for an emergency or urgent result (at most 600 characters, plain text)."""
    if not result.is_red_flag:
        raise ValueError(f"red_flag_reply needs an emergency or urgent result, got {result.kind!r}")
    emergency = _emergency_number(clinic)
    categories = result.categories
    if result.kind == "emergency":
        allergy_like = any(c in _ALLERGY_LIKE for c in categories)
        if "allergy" in categories:
            reason = "This can be a sign of a severe allergic reaction, which needs help straight away."
        elif "breathing" in categories:
            reason = "Trouble breathing or a tight chest or throat needs help straight away."
        else:
            reason = "Fainting or collapsing after a treatment needs help straight away."
        parts = [
            (reason, False),
            (f"Please call {emergency} now, or ask someone with you to call. Don't wait for a reply here.",
             False),
        ]
        if allergy_like:
            parts.append(("If you have an adrenaline auto-injector (such as an EpiPen), use it as you "
                          "were shown.", False))
        parts += [
            ("Tell them you had a mesotherapy injection and when.", True),
            (f"When you can, let {_clinic_contact(clinic)} know.", True),
        ]
        return _fit(parts)
    shown = [c for c in categories if c in _LABELS]
    if len(shown) == 1:
        reason = _URGENT_REASONS[shown[0]]
    else:
        labels = [_LABELS[c] for c in shown] or ["symptoms"]
        listed = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
        reason = f"What you describe ({listed}) needs checking by a clinician today."
    parts = [
        (reason, False),
        (f"Please call {_clinic_contact(clinic)} now.", False),
        ("If you can't reach us, get urgent medical care today (an urgent care centre or an out-of-hours "
         "doctor).", False),
        (f"If you have trouble breathing, swelling of your face, lips or throat, or you feel faint, "
         f"call {emergency} straight away.", True),
    ]
    if "bleeding" in categories:
        parts.insert(1, (_BLEEDING_FIRST_AID, True))
    return _fit(parts)


def after_effect_reply(clinic: ClinicProfile) -> str:
    """The calm reply to an expected after-effect, with the red flags to watch for. It names no
    emergency number (that is for the emergency reply) but says when to get emergency help."""
    contact = f"on {clinic.phone.strip()} " if clinic.phone.strip() else ""
    parts = [
        ("Mild redness, tenderness, a small bruise, slight itching, tiny red dots where the needles went "
         "in or a mild headache are expected after a session and usually settle in a day or two.", False),
        (f"Please follow the aftercare advice {clinic.name.strip() or 'the clinic'} gave you.", True),
        (f"Contact us {contact}if it gets worse or doesn't settle, or if you notice a fever or chills, "
         "pus, hot or spreading redness, bleeding that won't stop, severe pain, or skin turning dark or "
         "blistering.", False),
        ("If your face, lips, tongue or throat swell or you find it hard to breathe, get emergency help "
         "straight away.", False),
    ]
    return _fit(parts)


def red_flag_summary(result: ScreenResult) -> str:
    """A short line for the staff inbox, e.g. "Red flag (emergency): allergy, breathing"; it never
    contains the patient's words."""
    if result.is_red_flag:
        return f"Red flag ({result.kind}): {', '.join(result.categories) or 'unspecified'}"
    if result.kind == "after_effect":
        return "After-effect reported (expected, no red flag)"
    return "No red flag"
