"""The approved WhatsApp templates staff may send when a conversation's reply window is closed.

They come from the clinic profile's care schedule (`ClinicProfile.care`, bot/care/schedule.py):
each message kind's `whatsapp` settings name the template per platform (`twilio_content_sid`,
`meta_name`, `meta_language`) and which fields fill its numbered variables; the kind's `text`
(a `str.format` text over the same fields) is what is stored as the staff member's message.
Read by attribute, so a profile without a care schedule simply offers none.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from bot.channels.proactive import WhatsAppTemplate
from bot.db.models import CARE_KINDS

KIND_LABELS = {
    "preparation": "Preparation before a session",
    "reminder": "Session reminder",
    "aftercare_checkin": "Aftercare check-in",
    "maintenance": "Maintenance and rebooking",
}
MAX_VALUE_CHARS = 200


class TemplateFormError(ValueError):
    """What staff typed cannot fill the template; the message says what is missing."""


@dataclass(frozen=True)
class OfferedTemplate:
    """One kind's approved template: what staff fill in (`fields`) and the words it stores."""

    kind: str
    label: str
    fields: Tuple[str, ...]
    text: str
    twilio_content_sid: Optional[str]
    meta_name: Optional[str]
    meta_language: str
    variables: Tuple[str, ...]


def _text_fields(text: str) -> Tuple[str, ...]:
    """The fields a `str.format` text names, in order of first use."""
    names: List[str] = []
    for _, name, _, _ in string.Formatter().parse(text):
        if name and name not in names:
            names.append(name)
    return tuple(names)


def clinic_values(clinic: Any) -> Dict[str, str]:
    """The fields the clinic profile itself fills (staff never type them)."""
    return {"clinic_name": str(getattr(clinic, "name", "")), "clinic_phone": str(getattr(clinic, "phone", "")),
            "emergency_number": str(getattr(clinic, "emergency_number", ""))}


def _offered(kind: str, schedule: Any, filled: Mapping[str, str]) -> Optional[OfferedTemplate]:
    """The kind's template if one is configured for at least one platform, else None."""
    whatsapp = getattr(schedule, "whatsapp", None)
    content_sid = getattr(whatsapp, "twilio_content_sid", None) or None
    meta_name = getattr(whatsapp, "meta_name", None) or None
    if not (content_sid or meta_name):
        return None
    text = str(getattr(schedule, "text", "") or "")
    variables = tuple(str(name) for name in getattr(whatsapp, "variables", ()) or ())
    wanted = [name for name in (*variables, *_text_fields(text)) if name not in filled]
    return OfferedTemplate(kind=kind, label=KIND_LABELS.get(kind, kind), fields=tuple(dict.fromkeys(wanted)),
                           text=text, twilio_content_sid=content_sid, meta_name=meta_name,
                           meta_language=str(getattr(whatsapp, "meta_language", "") or "en_GB"),
                           variables=variables)


def offered_templates(clinic: Any) -> List[OfferedTemplate]:
    """The configured templates of the clinic's care schedule, in CARE_KINDS order (none without one)."""
    kinds = getattr(getattr(clinic, "care", None), "kinds", None)
    if not isinstance(kinds, Mapping):
        return []
    filled = clinic_values(clinic)
    offered = (_offered(kind, kinds[kind], filled) for kind in CARE_KINDS if kind in kinds)
    return [template for template in offered if template is not None]


def fill(offered: OfferedTemplate, typed: Mapping[str, str], clinic: Any) -> Tuple[WhatsAppTemplate, str]:
    """The template with its variables filled, and its words as the patient reads them.

    TemplateFormError when a field is left empty or is too long."""
    values = dict(clinic_values(clinic))
    for name in offered.fields:
        value = " ".join((typed.get(name) or "").split())
        if not value:
            raise TemplateFormError(f"fill in {name.replace('_', ' ')}")
        if len(value) > MAX_VALUE_CHARS:
            raise TemplateFormError(f"{name.replace('_', ' ')} is longer than {MAX_VALUE_CHARS} characters")
        values[name] = value
    template = WhatsAppTemplate(twilio_content_sid=offered.twilio_content_sid, meta_name=offered.meta_name,
                                meta_language=offered.meta_language,
                                variables=tuple(values[name] for name in offered.variables))
    try:
        text = offered.text.format_map(values) if offered.text else " / ".join(template.variables)
    except (KeyError, IndexError, AttributeError, ValueError) as error:
        raise TemplateFormError(f"the {offered.kind} text of the clinic profile cannot be filled") from error
    return template, text


def find(clinic: Any, kind: str) -> Optional[OfferedTemplate]:
    """The offered template of `kind`, or None."""
    return next((offered for offered in offered_templates(clinic) if offered.kind == kind), None)
