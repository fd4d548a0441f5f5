"""The console offers the clinic's approved WhatsApp templates when the 24-hour window is closed."""
from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Mapping, Tuple

import aiohttp
import pytest
from sqlalchemy import select

from bot.channels.whatsapp import CloudApiDeliverer, WhatsAppConfig
from bot.console import care_templates
from bot.db.models import AuditLog, Message, utcnow
from bot.settings import Settings
from tests.support.platforms import WHATSAPP_APP_SECRET, graph_base

PATIENT = "+447700900123"


# The shape of the clinic profile's care schedule (bot/care/schedule.py: `ClinicProfile.care.kinds[kind]`
# with `text` and `whatsapp`), as far as the console reads it.
@dataclasses.dataclass(frozen=True)
class TemplateSettings:
    twilio_content_sid: str = ""
    meta_name: str = ""
    meta_language: str = "en_GB"
    variables: Tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class KindSettings:
    text: str
    whatsapp: TemplateSettings


@dataclasses.dataclass(frozen=True)
class CareSettings:
    kinds: Mapping[str, KindSettings]


CARE = CareSettings(kinds={
    "reminder": KindSettings(
        text="Hello {first_name}, a reminder from {clinic_name}: your session is {session_when}.",
        whatsapp=TemplateSettings(meta_name="session_reminder", variables=("first_name", "session_when"))),
    "aftercare_checkin": KindSettings(text="Hello {first_name}, how are you?", whatsapp=TemplateSettings()),
})


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, clinic=dataclasses.replace(settings.clinic, care=CARE))


@pytest.fixture
async def deliverers(platform):
    async with aiohttp.ClientSession() as http:
        yield {"whatsapp": CloudApiDeliverer(http, WhatsAppConfig(
            "verify", WHATSAPP_APP_SECRET, graph_base(platform.base), "1234567890", "graph-token"))}


def closed_conversation(rows, hours: float = 25) -> int:
    return rows.conversation("whatsapp", PATIENT, owner="bot", last_patient_message_at=utcnow() - timedelta(hours=hours))


async def test_a_closed_window_offers_the_configured_templates_only(console, accounts, rows):
    conversation = closed_conversation(rows)
    await console.signed_in_as("staff@clinic.example")
    _, text = await console.page(f"/staff/conversations/{conversation}")
    assert 'id="template-card"' in text and 'data-template-kind="reminder"' in text
    assert 'data-template-kind="aftercare_checkin"' not in text  # no template configured for it
    assert 'name="field_first_name"' in text and 'name="field_session_when"' in text
    assert 'name="field_clinic_name"' not in text  # the profile fills it


async def test_an_open_window_offers_no_template(console, accounts, rows):
    conversation = closed_conversation(rows, hours=2)
    await console.signed_in_as("staff@clinic.example")
    _, text = await console.page(f"/staff/conversations/{conversation}")
    assert 'id="template-card"' not in text


async def test_staff_send_a_template_stored_and_audited(console, accounts, rows, platform, session_factory):
    conversation = closed_conversation(rows)
    await console.signed_in_as("staff@clinic.example")
    response = await console.post(f"/staff/conversations/{conversation}/template", {
        "kind": "reminder", "field_first_name": "Alex", "field_session_when": "tomorrow at 10:00"}, json_api=True)
    assert response.status == 200, await response.text()
    assert platform.graph[0]["template"] == {
        "name": "session_reminder", "language": {"code": "en_GB"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Alex"},
                                                       {"type": "text", "text": "tomorrow at 10:00"}]}]}
    with session_factory() as session:
        (message,) = session.execute(select(Message).where(Message.conversation_id == conversation)).scalars()
        assert (message.author, message.staff_user_id, message.text) == (
            "staff", accounts["staff"],
            "Hello Alex, a reminder from Northfield Hair Clinic: your session is tomorrow at 10:00.")
        audited = session.execute(select(AuditLog).where(AuditLog.action == "template_reply")).scalar_one()
        assert audited.actor_id == str(accounts["staff"]) and "Alex" not in str(audited.detail)


async def test_a_missing_field_or_an_unknown_kind_is_refused(console, accounts, rows, platform):
    conversation = closed_conversation(rows)
    await console.signed_in_as("staff@clinic.example")
    missing = await console.post(f"/staff/conversations/{conversation}/template",
                                 {"kind": "reminder", "field_first_name": "Alex"}, json_api=True)
    unknown = await console.post(f"/staff/conversations/{conversation}/template",
                                 {"kind": "aftercare_checkin", "field_first_name": "Alex"}, json_api=True)
    assert missing.status == 409 and "session when" in (await missing.json())["error"]
    assert unknown.status == 400
    assert platform.graph == []


async def test_without_a_csrf_token_nothing_is_sent(console, accounts, rows, platform):
    conversation = closed_conversation(rows)
    await console.signed_in_as("staff@clinic.example")
    response = await console.post(f"/staff/conversations/{conversation}/template", {
        "kind": "reminder", "field_first_name": "Alex", "field_session_when": "now", "csrf_token": "wrong"})
    assert response.status in (400, 403) and platform.graph == []


def test_a_profile_without_a_care_schedule_offers_nothing() -> None:
    from tests.support.settings import make_clinic

    assert care_templates.offered_templates(make_clinic()) == []
