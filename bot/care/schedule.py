"""The care schedule of the clinic profile: what is written first, when, and in which words.

`CareSchedule.parse(raw)` reads clinic.yml's `care_messages:` (every key optional; the defaults
below are a complete schedule). For each kind:

    preparation        `lead_hours` before the preparation window opens (the window itself is the
                       profile's preparation_hours.blood_thinning, the same hours the general and
                       personal answers give); too late `slack_hours` after the window opened
    reminder           `hours_before` the session; too late `latest_hours_before` it
    aftercare_checkin  `days_after` the session's local date at `at`; too late at `latest_at` that day
    maintenance        `days_after` the last session of a course, at `at`; too late `latest_days` later

A due time inside the quiet hours (clinic time, `start`-`end`, across midnight) waits for their
end; when that is later than "too late", the message is skipped (bot/care/plan.py).

Texts are `str.format` templates over `TEXT_FIELDS`, rendered with the patient's own times
(bot/clinic/aftercare.py for the windows, bot/clinic/timefmt.py for the wording) as seen at the
moment of sending. A text naming an unknown field is refused when the profile is loaded.
`whatsapp` names the approved template per platform and which fields fill its numbered variables.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Tuple
from zoneinfo import ZoneInfo

from bot.channels.proactive import WhatsAppTemplate
from bot.db.models import CARE_KINDS

if TYPE_CHECKING:  # bot.settings parses this module's schedule; the profile is only a type here
    from bot.settings import ClinicProfile

# What a text may name, and what each field needs from the profile's windows (for validation).
TEXT_FIELDS: Mapping[str, Optional[Tuple[str, str]]] = {
    "first_name": None,
    "clinic_name": None,
    "clinic_phone": None,
    "emergency_number": None,
    "treatment": None,
    "practitioner": None,
    "session_when": None,
    "prep_from": ("preparation_hours", "blood_thinning"),
    "wash_from": ("aftercare_hours", "washing"),
    "exercise_from": ("aftercare_hours", "exercise"),
    "sun_from": ("aftercare_hours", "sun"),
    "styling_from": ("aftercare_hours", "styling"),
}
_AFTERCARE_FIELDS = {"wash_from": "washing", "exercise_from": "exercise", "sun_from": "sun",
                     "styling_from": "styling"}


class CareScheduleError(ValueError):
    """`care_messages:` in the clinic profile is malformed; the message says where."""


@dataclass(frozen=True)
class QuietHours:
    """No message goes out from `start` to `end` clinic time (the span may cross midnight)."""

    start: time = time(21, 0)
    end: time = time(8, 0)

    def contains(self, moment: datetime, tz: ZoneInfo) -> bool:
        """True if `moment` falls inside the quiet hours (clinic time)."""
        local = moment.astimezone(tz).time()
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """`moment` itself outside the quiet hours, else the end of the quiet hours it falls in (UTC)."""
        if not self.contains(moment, tz):
            return moment
        local = moment.astimezone(tz)
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += timedelta(days=1)
        return _local(day, self.end, tz)


@dataclass(frozen=True)
class TemplateConfig:
    """An approved WhatsApp template of one message kind, and the fields filling {{1}}, {{2}}, ..."""

    twilio_content_sid: str = ""
    meta_name: str = ""
    meta_language: str = "en_GB"
    variables: Tuple[str, ...] = ()

    @property
    def configured(self) -> bool:
        """True when at least one platform's template is named."""
        return bool(self.twilio_content_sid or self.meta_name)

    def build(self, values: Mapping[str, str]) -> WhatsAppTemplate:
        """The template with its variables filled from the rendered fields."""
        return WhatsAppTemplate(twilio_content_sid=self.twilio_content_sid or None,
                                meta_name=self.meta_name or None, meta_language=self.meta_language,
                                variables=tuple(values[name] for name in self.variables))


@dataclass(frozen=True)
class Window:
    """When one message of one session is due, and after when it would arrive too late to matter."""

    due: datetime
    latest: datetime


@dataclass(frozen=True)
class KindSchedule:
    """One kind of care message: on or off, its timing (the numbers its kind uses), text and template."""

    kind: str
    enabled: bool
    text: str
    whatsapp: TemplateConfig = field(default_factory=TemplateConfig)
    lead_hours: float = 0.0  # preparation: before the window opens
    slack_hours: float = 0.0  # preparation: after the window opened, too late
    hours_before: float = 0.0  # reminder
    latest_hours_before: float = 0.0  # reminder
    days_after: int = 0  # aftercare_checkin, maintenance
    at: time = time(9, 0)  # aftercare_checkin, maintenance: local time of day
    latest_at: time = time(20, 0)  # aftercare_checkin: too late from this time that day
    latest_days: int = 0  # maintenance

    def window(self, session_start: datetime, profile: "ClinicProfile") -> Window:
        """When this kind's message about a session starting at `session_start` is due, and too late."""
        return _WINDOWS[self.kind](self, session_start, profile)


def _local(day: Any, at: time, tz: ZoneInfo) -> datetime:
    """`day` at `at` clinic time, as UTC."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(timezone.utc)


def _preparation_window(kind: KindSchedule, start: datetime, profile: "ClinicProfile") -> Window:
    """Before the preparation window opens; too late a little after it opened."""
    from bot.clinic.aftercare import preparation_window_start

    opens = preparation_window_start(start, profile)
    return Window(opens - timedelta(hours=kind.lead_hours), min(opens + timedelta(hours=kind.slack_hours),
                                                                start))


def _reminder_window(kind: KindSchedule, start: datetime, profile: "ClinicProfile") -> Window:
    """Hours before the session; too late shortly before it."""
    return Window(start - timedelta(hours=kind.hours_before), start - timedelta(hours=kind.latest_hours_before))


def _checkin_window(kind: KindSchedule, start: datetime, profile: "ClinicProfile") -> Window:
    """The morning after (local date), too late that evening."""
    day = start.astimezone(profile.timezone).date() + timedelta(days=kind.days_after)
    return Window(_local(day, kind.at, profile.timezone), _local(day, kind.latest_at, profile.timezone))


def _maintenance_window(kind: KindSchedule, start: datetime, profile: "ClinicProfile") -> Window:
    """Days after the course's last session, too late some days after that."""
    day = start.astimezone(profile.timezone).date() + timedelta(days=kind.days_after)
    due = _local(day, kind.at, profile.timezone)
    return Window(due, _local(day + timedelta(days=kind.latest_days), kind.at, profile.timezone))


_WINDOWS: Dict[str, Callable[[KindSchedule, datetime, "ClinicProfile"], Window]] = {
    "preparation": _preparation_window,
    "reminder": _reminder_window,
    "aftercare_checkin": _checkin_window,
    "maintenance": _maintenance_window,
}

CLINICIAN = "If your clinician gave you different advice, follow theirs."
DEFAULT_KINDS: Mapping[str, KindSchedule] = {
    "preparation": KindSchedule(
        kind="preparation", enabled=True, lead_hours=12, slack_hours=6,
        whatsapp=TemplateConfig(variables=("first_name", "session_when", "prep_from", "clinic_phone")),
        text=("Hello {first_name}, this is {clinic_name}. Your {treatment} session is {session_when}. "
              "From {prep_from} until your session, please avoid alcohol, aspirin, ibuprofen and other "
              "blood-thinning or anti-inflammatory medicines, to lower the risk of bruising. If a doctor "
              "prescribed any of these, or a blood thinner such as warfarin, apixaban or clopidogrel, do not "
              "stop it: call us on {clinic_phone} before your session. " + CLINICIAN)),
    "reminder": KindSchedule(
        kind="reminder", enabled=True, hours_before=24, latest_hours_before=2,
        whatsapp=TemplateConfig(variables=("first_name", "session_when")),
        text=("Hello {first_name}, a reminder from {clinic_name}: your {treatment} session is {session_when}. "
              "Reply 1 to confirm, 2 to change the time, 3 to cancel.")),
    "aftercare_checkin": KindSchedule(
        kind="aftercare_checkin", enabled=True, days_after=1, at=time(9, 0), latest_at=time(20, 0),
        whatsapp=TemplateConfig(variables=("first_name", "wash_from", "exercise_from", "clinic_phone")),
        text=("Hello {first_name}, this is {clinic_name}, checking in after your session {session_when}. "
              "You can wash your hair from {wash_from} and return to strenuous exercise from {exercise_from}. "
              "If anything worries you, reply to this message. For severe pain, swelling, spreading redness or "
              "a fever, call us on {clinic_phone} (or {emergency_number} in an emergency). " + CLINICIAN)),
    "maintenance": KindSchedule(
        kind="maintenance", enabled=True, days_after=28, at=time(10, 0), latest_days=14,
        whatsapp=TemplateConfig(variables=("first_name", "clinic_phone")),
        text=("Hello {first_name}, this is {clinic_name}. It is a few weeks since the last session of your "
              "{treatment} course. If you would like to talk about whether maintenance sessions make sense "
              "for you, reply to this message or call us on {clinic_phone}; your clinician will advise.")),
}


@dataclass(frozen=True)
class CareSchedule:
    """The whole care schedule: quiet hours and one `KindSchedule` per kind in CARE_KINDS."""

    quiet_hours: QuietHours = field(default_factory=QuietHours)
    kinds: Mapping[str, KindSchedule] = field(default_factory=lambda: dict(DEFAULT_KINDS))

    def __getitem__(self, kind: str) -> KindSchedule:
        """The schedule of one kind."""
        return self.kinds[kind]

    @property
    def enabled_kinds(self) -> Tuple[str, ...]:
        """The kinds that are switched on, in CARE_KINDS order."""
        return tuple(kind for kind in CARE_KINDS if self.kinds[kind].enabled)

    @classmethod
    def parse(cls, raw: Optional[Mapping[str, Any]]) -> "CareSchedule":
        """Read `care_messages:`; CareScheduleError names a malformed key."""
        raw = raw or {}
        if not isinstance(raw, Mapping):
            raise CareScheduleError("care_messages: expected a mapping")
        unknown = set(raw) - set(CARE_KINDS) - {"quiet_hours"}
        if unknown:
            raise CareScheduleError(f"care_messages: unknown keys {sorted(unknown)}")
        quiet = raw.get("quiet_hours") or {}
        quiet_hours = QuietHours(start=_time(quiet.get("start", "21:00"), "quiet_hours.start"),
                                 end=_time(quiet.get("end", "08:00"), "quiet_hours.end"))
        kinds = {kind: _parse_kind(DEFAULT_KINDS[kind], raw.get(kind) or {}) for kind in CARE_KINDS}
        return cls(quiet_hours=quiet_hours, kinds=kinds)

    def check_profile(self, aftercare_hours: Mapping[str, int], preparation_hours: Mapping[str, int]) -> None:
        """CareScheduleError if an enabled text or template needs hours the profile does not have."""
        hours = {"aftercare_hours": aftercare_hours, "preparation_hours": preparation_hours}
        needs_prep = "preparation" in self.enabled_kinds
        if needs_prep and "blood_thinning" not in preparation_hours:
            raise CareScheduleError("care_messages.preparation needs preparation_hours.blood_thinning")
        for kind in self.enabled_kinds:
            schedule = self.kinds[kind]
            for name in set(_fields_of(schedule.text)) | set(schedule.whatsapp.variables):
                need = TEXT_FIELDS[name]
                if need is not None and need[1] not in hours[need[0]]:
                    raise CareScheduleError(f"care_messages.{kind}: {{{name}}} needs {need[0]}.{need[1]}")


def _fields_of(text: str) -> Tuple[str, ...]:
    """The field names a format string uses."""
    return tuple(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def _time(value: Any, where: str) -> time:
    """HH:MM (YAML may give it as minutes since midnight when unquoted, e.g. 21:00 -> 1260)."""
    if isinstance(value, int):
        return time(value // 60 % 24, value % 60)
    try:
        return time.fromisoformat(str(value).strip())
    except ValueError as error:
        raise CareScheduleError(f"care_messages.{where}: expected HH:MM, got {value!r}") from error


def _number(value: Any, where: str, kind: Callable[[Any], Any]) -> Any:
    """A number not below zero."""
    try:
        number = kind(value)
    except (TypeError, ValueError) as error:
        raise CareScheduleError(f"care_messages.{where}: expected a number, got {value!r}") from error
    if number < 0:
        raise CareScheduleError(f"care_messages.{where}: must not be negative, got {value!r}")
    return number


def _parse_kind(default: KindSchedule, raw: Mapping[str, Any]) -> KindSchedule:
    """One kind's settings over its defaults."""
    where = default.kind
    if not isinstance(raw, Mapping):
        raise CareScheduleError(f"care_messages.{where}: expected a mapping")
    changes: Dict[str, Any] = {}
    for name in ("lead_hours", "slack_hours", "hours_before", "latest_hours_before"):
        if name in raw:
            changes[name] = _number(raw[name], f"{where}.{name}", float)
    for name in ("days_after", "latest_days"):
        if name in raw:
            changes[name] = _number(raw[name], f"{where}.{name}", int)
    for name in ("at", "latest_at"):
        if name in raw:
            changes[name] = _time(raw[name], f"{where}.{name}")
    if "enabled" in raw:
        changes["enabled"] = bool(raw["enabled"])
    if "text" in raw:
        changes["text"] = " ".join(str(raw["text"]).split())
    if "whatsapp" in raw:
        changes["whatsapp"] = _parse_template(raw["whatsapp"] or {}, default.whatsapp, where)
    schedule = replace(default, **changes)
    for name in (*_fields_of(schedule.text), *schedule.whatsapp.variables):
        if name not in TEXT_FIELDS:
            raise CareScheduleError(f"care_messages.{where}: unknown field {{{name}}}; known: {sorted(TEXT_FIELDS)}")
    if not schedule.text.strip():
        raise CareScheduleError(f"care_messages.{where}.text: must not be empty")
    return schedule


def _parse_template(raw: Mapping[str, Any], default: TemplateConfig, where: str) -> TemplateConfig:
    """A kind's WhatsApp template settings over the defaults."""
    if not isinstance(raw, Mapping):
        raise CareScheduleError(f"care_messages.{where}.whatsapp: expected a mapping")
    variables = raw.get("variables", default.variables)
    if not isinstance(variables, (list, tuple)):
        raise CareScheduleError(f"care_messages.{where}.whatsapp.variables: expected a list of field names")
    return TemplateConfig(twilio_content_sid=str(raw.get("twilio_content_sid") or ""),
                          meta_name=str(raw.get("meta_name") or ""),
                          meta_language=str(raw.get("meta_language") or default.meta_language),
                          variables=tuple(str(name) for name in variables))


# ---- rendering ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CareSubject:
    """Who a message is for and which session it is about (what the text fields are made of)."""

    first_name: str
    treatment: str
    session_start: datetime
    practitioner: Optional[str] = None


def field_values(subject: CareSubject, now: datetime, profile: "ClinicProfile",
                 names: Optional[Tuple[str, ...]] = None) -> Dict[str, str]:
    """The text fields (those in `names`, else all the profile can give) as the patient reads them at `now`."""
    from bot.clinic.aftercare import aftercare_window_end, preparation_window_start
    from bot.clinic.timefmt import describe_moment, describe_when

    tz = profile.timezone

    def edge(moment: datetime) -> str:
        return "now" if moment <= now else describe_moment(moment, now, tz)

    wanted = names if names is not None else tuple(TEXT_FIELDS)
    values: Dict[str, str] = {}
    for name in wanted:
        if name == "first_name":
            values[name] = subject.first_name or "there"
        elif name == "clinic_name":
            values[name] = profile.name
        elif name == "clinic_phone":
            values[name] = profile.phone
        elif name == "emergency_number":
            values[name] = profile.emergency_number
        elif name == "treatment":
            values[name] = _in_sentence(subject.treatment)
        elif name == "practitioner":
            values[name] = subject.practitioner or "your clinician"
        elif name == "session_when":
            values[name] = describe_when(subject.session_start, now, tz)
        elif name == "prep_from":
            if "blood_thinning" in profile.preparation_hours:
                values[name] = edge(preparation_window_start(subject.session_start, profile))
        elif name in _AFTERCARE_FIELDS and _AFTERCARE_FIELDS[name] in profile.aftercare_hours:
            values[name] = edge(aftercare_window_end(_AFTERCARE_FIELDS[name], subject.session_start, profile))
    return values


def _in_sentence(name: str) -> str:
    """A treatment name as it reads inside a sentence: "Hair mesotherapy" -> "hair mesotherapy"
    (names whose second letter is a capital, like "PRP", stay as they are)."""
    if len(name) > 1 and name[0].isupper() and name[1].islower():
        return name[0].lower() + name[1:]
    return name


@dataclass(frozen=True)
class RenderedCare:
    """A care message ready to send: its text, and its WhatsApp template (when one is configured)."""

    text: str
    template: Optional[WhatsAppTemplate]


def render(kind: str, subject: CareSubject, now: datetime, profile: "ClinicProfile") -> RenderedCare:
    """The message of `kind` for `subject`, worded as seen at `now` (the moment it is sent)."""
    schedule = profile.care[kind]
    names = tuple(dict.fromkeys((*_fields_of(schedule.text), *schedule.whatsapp.variables)))
    values = field_values(subject, now, profile, names)
    text = schedule.text.format(**values)
    template = schedule.whatsapp.build(values) if schedule.whatsapp.configured else None
    return RenderedCare(text=text, template=template)
