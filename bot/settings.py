"""Every setting of the application, read in one place from the environment.

`Settings.from_env()` is the only function that reads `os.environ`; the clinic's own profile
(name, timezone, opening hours, prices, aftercare timings) comes from the YAML file that
`CLINIC_PROFILE` names, with a few fields overridable from the environment.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Mapping, Optional, Tuple, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import yaml

if TYPE_CHECKING:  # the channel modules bring aiohttp, which the clinic domain never imports
    from bot.care.schedule import CareSchedule
    from bot.channels.twilio import TwilioConfig
    from bot.channels.whatsapp import WhatsAppConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'clinic.db'}"
DEFAULT_CLINIC_PROFILE = PROJECT_ROOT / "clinic.yml"
# Settings that are URLs which may carry a password (masked in repr, redacted from logs).
URL_FIELDS = ("database_url", "redis_url")
DEFAULT_STARTER_QUESTIONS = ("What is hair mesotherapy?", "Does it hurt?", "How many sessions will I need?",
                             "When can I wash my hair after a session?")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which and why."""


@dataclass(frozen=True)
class OpeningHours:
    """Opening hours per weekday (0 = Monday); a day missing from `days` is closed."""

    days: Mapping[int, Tuple[time, time]]

    @classmethod
    def parse(cls, raw: Mapping[str, str]) -> "OpeningHours":
        """Read `{"monday": "09:00-18:00", "sunday": "closed"}`."""
        days: Dict[int, Tuple[time, time]] = {}
        for index, name in enumerate(WEEKDAYS):
            value = str(raw.get(name, "closed")).strip().lower()
            if value in ("closed", ""):
                continue
            try:
                start_text, end_text = value.split("-")
                days[index] = (time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip()))
            except ValueError as error:
                raise SettingsError(f"opening_hours.{name}: expected HH:MM-HH:MM, got {value!r}") from error
        return cls(days=days)


# Hours the clinic profile must state: personal answers, general answers and care messages use them.
REQUIRED_HOURS = {
    "aftercare_hours": ("washing", "exercise", "sun", "styling"),
    "preparation_hours": ("blood_thinning",),
}


@dataclass(frozen=True)
class ClinicProfile:
    """What the assistant says about the clinic itself."""

    name: str
    timezone: ZoneInfo
    phone: str
    emergency_number: str
    privacy_notice_url: str
    currency: str
    opening_hours: OpeningHours
    prices: Mapping[str, float]
    aftercare_hours: Mapping[str, int]
    preparation_hours: Mapping[str, int]
    typical_reply_minutes: int = 30  # what patients are told to expect while the clinic is open
    starter_questions: Tuple[str, ...] = DEFAULT_STARTER_QUESTIONS  # the web chat's first screen
    # The messages written first around each session (`care_messages:`, bot/care/schedule.py).
    care: CareSchedule = field(default_factory=lambda: _care_schedule(None))
    on_call_phone: str = ""  # gets an SMS when an urgent case waits too long in opening hours ("": nobody)
    urgent_page_after_minutes: int = 5  # how long an urgent case may wait untaken before that SMS

    @classmethod
    def load(cls, path: Path, environ: Mapping[str, str]) -> "ClinicProfile":
        """Read the profile file, then apply the environment's overrides."""
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError as error:
            raise SettingsError(f"CLINIC_PROFILE: no such file {path}") from error
        tz_name = environ.get("CLINIC_TZ") or raw.get("timezone", "Europe/London")
        try:
            timezone = ZoneInfo(tz_name)
        except Exception as error:  # zoneinfo raises several kinds for a bad key
            raise SettingsError(f"CLINIC_TZ: unknown timezone {tz_name!r}") from error
        for table, keys in REQUIRED_HOURS.items():
            missing = [key for key in keys if key not in (raw.get(table) or {})]
            if missing:
                raise SettingsError(f"clinic profile {path}: {table} needs hours for {', '.join(missing)}")
        aftercare_hours = {str(k): int(v) for k, v in (raw.get("aftercare_hours") or {}).items()}
        preparation_hours = {str(k): int(v) for k, v in (raw.get("preparation_hours") or {}).items()}
        care = _care_schedule(raw.get("care_messages"))
        try:
            care.check_profile(aftercare_hours, preparation_hours)
        except ValueError as error:
            raise SettingsError(f"CLINIC_PROFILE: {error}") from error
        return cls(
            name=environ.get("CLINIC_NAME") or raw.get("name", "The clinic"),
            timezone=timezone,
            phone=environ.get("CLINIC_PHONE") or str(raw.get("phone", "")),
            emergency_number=environ.get("EMERGENCY_NUMBER") or str(raw.get("emergency_number", "999")),
            privacy_notice_url=environ.get("PRIVACY_NOTICE_URL") or str(raw.get("privacy_notice_url", "")),
            currency=str(raw.get("currency", "GBP")),
            opening_hours=OpeningHours.parse(raw.get("opening_hours") or {}),
            prices={str(k): float(v) for k, v in (raw.get("prices") or {}).items()},
            aftercare_hours=aftercare_hours,
            preparation_hours=preparation_hours,
            typical_reply_minutes=int(raw.get("typical_reply_minutes", 30)),
            starter_questions=tuple(str(q) for q in raw.get("starter_questions") or DEFAULT_STARTER_QUESTIONS)[:4],
            care=care,
            on_call_phone=(environ.get("ON_CALL_PHONE") or str(raw.get("on_call_phone") or "")).strip(),
            urgent_page_after_minutes=_page_after_minutes(path, raw.get("urgent_page_after_minutes", 5)),
        )


def _care_schedule(raw: object) -> "CareSchedule":
    """The care schedule from `care_messages:` (the defaults when absent); SettingsError if malformed."""
    from bot.care.schedule import CareSchedule

    try:
        return CareSchedule.parse(raw)  # type: ignore[arg-type]  # parse checks the shape itself
    except ValueError as error:
        raise SettingsError(f"CLINIC_PROFILE: {error}") from error


def _page_after_minutes(path: Path, value: object) -> int:
    """`urgent_page_after_minutes` as a whole number of minutes, at least 1."""
    try:
        minutes = int(str(value))
    except ValueError as error:
        raise SettingsError(f"clinic profile {path}: urgent_page_after_minutes must be a number of minutes") from error
    if minutes < 1:
        raise SettingsError(f"clinic profile {path}: urgent_page_after_minutes must be at least 1")
    return minutes


@dataclass(frozen=True)
class Settings:
    """The application's configuration; build it with `Settings.from_env()`."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: Optional[str] = None
    host: str = "127.0.0.1"
    port: int = 8000
    action_endpoint_url: str = "http://127.0.0.1:5055/webhook"
    model_path: Path = PROJECT_ROOT / "models"
    default_phone_region: str = "GB"
    log_level: str = "INFO"
    clinic: ClinicProfile = field(default=None)  # type: ignore[assignment]  # from_env() always sets it
    # The phone channels, each configured in its own module: Twilio (SMS, and WhatsApp through
    # Twilio) and Meta's WhatsApp Cloud API. Their secrets are left out of repr().
    twilio: TwilioConfig = field(default_factory=lambda: _twilio_config({}))
    whatsapp: WhatsAppConfig = field(default_factory=lambda: _whatsapp_config({}))
    # Shared by the application and the action server: signs channel-verified phone numbers.
    identity_signing_key: str = field(default="", repr=False)
    # Web chat: the sites allowed to open the socket ("*" for any; comma-separated origins).
    web_allowed_origins: Tuple[str, ...] = ("*",)
    # Limits on patient messages and on the engine.
    max_message_chars: int = 2000
    rate_limit_messages: int = 20
    rate_limit_window_seconds: float = 60.0
    engine_timeout_seconds: float = 15.0
    action_timeout_seconds: float = 8.0
    engine_threads: int = 1
    # Web chat: a verification lasts while its browser tab keeps writing; this much silence ends it.
    verification_idle_minutes: float = 15.0
    # Staff console sessions: the cookie encryption key (32 url-safe base64 bytes, from
    # `python -m bot new-secret`); empty means a random key per process (logins end on restart).
    session_secret: str = field(default="", repr=False)
    # Staff console sign-ins: the threads that check passwords (argon2, slow on purpose; off the event
    # loop), and how many sign-ins may be running or waiting for them at once (more are refused with
    # "too many sign-in attempts right now").
    sign_in_threads: int = 1
    sign_in_queue: int = 8
    # Privacy: conversations silent for longer than RETENTION_DAYS are deleted with their messages
    # and Rasa tracker events (`python -m bot purge`, and by the server every PURGE_INTERVAL_HOURS;
    # 0 turns the server's purge off, e.g. on all but one replica). See bot/privacy/retention.py.
    retention_days: int = 365
    purge_interval_hours: float = 24.0
    # Care messages (bot/care): the server plans and sends what is due every CARE_INTERVAL_SECONDS
    # (0 turns it off, e.g. to run `python -m bot care send-due` from cron instead).
    care_interval_seconds: float = 60.0
    # Behind a reverse proxy: the proxies (addresses or networks) whose X-Forwarded-For is believed;
    # empty means the peer address is the client (bot/web/client_address.py).
    trusted_proxies: Tuple[str, ...] = ()
    # Web chat limits per client address: new chats an hour, urgent escalations an hour (beyond it
    # they are merged into one, marked; the urgent guidance is always sent) and messages a minute.
    address_new_chats_per_hour: int = 20
    address_urgent_per_hour: int = 1
    address_messages_per_minute: int = 60

    def __repr__(self) -> str:
        """Every field but the secrets (`repr=False`); passwords in the database and Redis URLs masked."""
        shown = []
        for item in fields(self):
            if not item.repr:
                continue
            value = getattr(self, item.name)
            if item.name in URL_FIELDS and isinstance(value, str):
                value = mask_url_password(value)
            shown.append(f"{item.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def secret_values(self) -> Tuple[str, ...]:
        """The values of the secret fields (the channels' too) and URL passwords that are set (for the
        log redaction)."""
        values = [getattr(part, item.name) for part in (self, self.twilio, self.whatsapp)
                  for item in fields(part) if not item.repr]
        for name in URL_FIELDS:
            password = urlsplit(getattr(self, name) or "").password or ""
            values += [password, unquote(password)]
        return tuple(dict.fromkeys(value for value in values if isinstance(value, str) and value))

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "Settings":
        """Build the settings from environment variables (documented in `.env.example`)."""
        env = os.environ if environ is None else environ
        profile_path = Path(env.get("CLINIC_PROFILE") or DEFAULT_CLINIC_PROFILE)
        try:
            port = int(env.get("PORT", "8000"))
        except ValueError as error:
            raise SettingsError(f"PORT: expected a number, got {env.get('PORT')!r}") from error
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            redis_url=env.get("REDIS_URL") or None,
            host=env.get("HOST", "127.0.0.1"),
            port=port,
            action_endpoint_url=env.get("ACTION_ENDPOINT_URL", "http://127.0.0.1:5055/webhook"),
            model_path=Path(env.get("MODEL_PATH") or PROJECT_ROOT / "models"),
            default_phone_region=env.get("DEFAULT_PHONE_REGION", "GB"),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            clinic=ClinicProfile.load(profile_path, env),
            twilio=_twilio_config(env),
            whatsapp=_whatsapp_config(env),
            identity_signing_key=env.get("IDENTITY_SIGNING_KEY", ""),
            web_allowed_origins=_origins(env.get("WEB_ALLOWED_ORIGINS", "*")),
            max_message_chars=_number(env, "MAX_MESSAGE_CHARS", 2000, int),
            rate_limit_messages=_number(env, "RATE_LIMIT_MESSAGES", 20, int),
            rate_limit_window_seconds=_number(env, "RATE_LIMIT_WINDOW_SECONDS", 60.0, float),
            engine_timeout_seconds=_number(env, "ENGINE_TIMEOUT_SECONDS", 15.0, float),
            action_timeout_seconds=_number(env, "ACTION_TIMEOUT_SECONDS", 8.0, float),
            engine_threads=_number(env, "ENGINE_THREADS", 1, int),
            verification_idle_minutes=_number(env, "VERIFICATION_IDLE_MINUTES", 15.0, float),
            session_secret=env.get("SESSION_SECRET", ""),
            sign_in_threads=_number(env, "SIGN_IN_THREADS", 1, int),
            sign_in_queue=_number(env, "SIGN_IN_QUEUE", 8, int),
            retention_days=_number(env, "RETENTION_DAYS", 365, int),
            purge_interval_hours=_number(env, "PURGE_INTERVAL_HOURS", 24.0, float, allow_zero=True),
            care_interval_seconds=_number(env, "CARE_INTERVAL_SECONDS", 60.0, float, allow_zero=True),
            trusted_proxies=_trusted_proxies(env.get("TRUSTED_PROXIES", "")),
            address_new_chats_per_hour=_number(env, "ADDRESS_NEW_CHATS_PER_HOUR", 20, int),
            address_urgent_per_hour=_number(env, "ADDRESS_URGENT_PER_HOUR", 1, int),
            address_messages_per_minute=_number(env, "ADDRESS_MESSAGES_PER_MINUTE", 60, int),
        )


def _twilio_config(env: Mapping[str, str]) -> "TwilioConfig":
    """Twilio's settings, read by its channel module (imported only when settings are built)."""
    from bot.channels.twilio import TwilioConfig

    return TwilioConfig.from_env(env)


def _whatsapp_config(env: Mapping[str, str]) -> "WhatsAppConfig":
    """The WhatsApp Cloud API's settings, read by its channel module (imported only when needed)."""
    from bot.channels.whatsapp import WhatsAppConfig

    return WhatsAppConfig.from_env(env)


Number = TypeVar("Number", int, float)


def _number(env: Mapping[str, str], name: str, default: Number, kind: Callable[[str], Number],
            allow_zero: bool = False) -> Number:
    """A positive number (or zero, if allowed) from the environment (the default when unset);
    SettingsError if malformed."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError as error:
        raise SettingsError(f"{name}: expected a number, got {raw!r}") from error
    if value < 0 or (value == 0 and not allow_zero):
        bound = "zero or more" if allow_zero else "greater than zero"
        raise SettingsError(f"{name}: must be {bound}, got {raw!r}")
    return value


def mask_url_password(url: str) -> str:
    """The URL with its password (if any) replaced by ***."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}:***@{netloc[1]}"))


def _origins(raw: str) -> Tuple[str, ...]:
    """Comma-separated origins ("*" allows any)."""
    origins = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    return origins or ("*",)


def _trusted_proxies(raw: str) -> Tuple[str, ...]:
    """Comma-separated proxy addresses or networks; SettingsError names a malformed one."""
    from bot.web.client_address import parse_networks

    texts = tuple(part.strip() for part in raw.split(",") if part.strip())
    try:
        parse_networks(texts)
    except ValueError as error:
        raise SettingsError(f"TRUSTED_PROXIES: {error}") from error
    return texts
