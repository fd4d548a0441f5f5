"""The on-call pager: an urgent case nobody takes within N minutes, in opening hours, texts the
on-call phone once (through Twilio, here the platform stub), with no patient detail."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select

from bot.alerts.on_call import claim_pages
from bot.alerts.schedule import page_once
from bot.channels import twilio
from bot.channels.twilio import TwilioConfig, TwilioDeliverer
from bot.db.models import AuditLog, Escalation
from bot.settings import Settings
from tests.support.clock import START, Clock
from tests.support.platforms import TWILIO_AUTH_TOKEN

ON_CALL = "+447700900555"
PUBLIC = "https://bot.clinic.example"
PATIENT_PHONE = "+447700900123"
PATIENT_WORDS = "my face is swelling after the injection"


@pytest.fixture
async def send_text(platform):
    config = TwilioConfig(account_sid="AC" + "0" * 32, auth_token=TWILIO_AUTH_TOKEN, api_base=platform.base,
                          public_base_url=PUBLIC, from_sms="+447700900990")
    async with aiohttp.ClientSession() as http:
        yield TwilioDeliverer(http, config, twilio.SMS).send_text


def paging_settings(settings: Settings, phone: str = ON_CALL, minutes: int = 5) -> Settings:
    clinic = dataclasses.replace(settings.clinic, on_call_phone=phone, urgent_page_after_minutes=minutes)
    return dataclasses.replace(settings, clinic=clinic,
                               twilio=dataclasses.replace(settings.twilio, public_base_url=PUBLIC))


def urgent_case(rows, *, at=START, ref="MC-4827", phone=PATIENT_PHONE, **changes) -> int:
    patient = rows.patient(ref, phone=phone)
    conversation = rows.conversation("sms", phone, patient_id=patient, at=at)
    rows.message(conversation, PATIENT_WORDS, at=at)
    return rows.escalation(conversation, reason="red_flag", priority="urgent", at=at,
                           summary="Red flag: swelling", **changes)


def pages_of(session_factory, escalation_id: int):
    with session_factory() as session:
        paged_at = session.get(Escalation, escalation_id).paged_at
        audits = session.execute(select(AuditLog.action).where(
            AuditLog.subject_type == "escalation", AuditLog.subject_id == str(escalation_id))).scalars().all()
    return paged_at, audits


async def test_an_urgent_case_waiting_five_minutes_pages_the_on_call_phone_once(
        any_session_factory, rows, settings, platform, send_text):
    settings = paging_settings(settings)
    escalation = urgent_case(rows)
    clock = Clock(START + timedelta(minutes=4, seconds=59))
    assert await page_once(any_session_factory, settings, send_text, clock) == 0
    assert platform.twilio == []

    clock.advance(seconds=1)
    assert await page_once(any_session_factory, settings, send_text, clock) == 1
    assert platform.twilio == [{"To": ON_CALL, "From": "+447700900990",
                                "Body": f"Urgent case waiting in the {settings.clinic.name} console: {PUBLIC}/staff"}]
    assert pages_of(any_session_factory, escalation) == (clock(), ["on_call_paged"])

    clock.advance(minutes=10)
    assert await page_once(any_session_factory, settings, send_text, clock) == 0
    assert len(platform.twilio) == 1


async def test_the_sms_carries_no_patient_detail(any_session_factory, rows, settings, platform, send_text):
    settings = paging_settings(settings)
    urgent_case(rows)
    await page_once(any_session_factory, settings, send_text, Clock(START + timedelta(minutes=6)))
    [body] = platform.sms_to(ON_CALL)
    for detail in (PATIENT_PHONE, "Alex", "Morgan", "MC-4827", "swelling", "1988", "sms"):
        assert detail not in body


async def test_a_case_someone_took_is_not_paged(any_session_factory, rows, settings, platform, send_text):
    settings = paging_settings(settings)
    staff = rows.staff_user()
    urgent_case(rows, status="assigned", assigned_to=staff)
    assert await page_once(any_session_factory, settings, send_text, Clock(START + timedelta(minutes=30))) == 0
    assert platform.twilio == []


async def test_normal_and_resolved_cases_are_not_paged(any_session_factory, rows, settings, platform, send_text):
    settings = paging_settings(settings)
    conversation = rows.conversation()
    rows.escalation(conversation, priority="normal")
    rows.escalation(rows.conversation(), reason="red_flag", priority="urgent", status="resolved")
    assert await page_once(any_session_factory, settings, send_text, Clock(START + timedelta(hours=1))) == 0
    assert platform.twilio == []


async def test_nothing_is_paged_outside_opening_hours(any_session_factory, rows, settings, platform, send_text):
    settings = paging_settings(settings)
    friday_evening = START.replace(hour=19)  # Friday: open 09:00-18:00 (London, winter: UTC)
    escalation = urgent_case(rows, at=friday_evening)
    assert await page_once(any_session_factory, settings, send_text, Clock(friday_evening + timedelta(minutes=30))) == 0
    sunday = friday_evening + timedelta(days=2)  # closed all day
    assert await page_once(any_session_factory, settings, send_text, Clock(sunday)) == 0
    assert platform.twilio == []
    assert pages_of(any_session_factory, escalation) == (None, [])


async def test_nothing_is_paged_without_an_on_call_phone(any_session_factory, rows, settings, platform, send_text):
    settings = paging_settings(settings, phone="")
    escalation = urgent_case(rows)
    assert await page_once(any_session_factory, settings, send_text, Clock(START + timedelta(hours=1))) == 0
    assert platform.twilio == []
    assert pages_of(any_session_factory, escalation) == (None, [])


async def test_the_wait_is_configurable(any_session_factory, rows, settings, platform, send_text):
    settings = paging_settings(settings, minutes=15)
    urgent_case(rows)
    assert await page_once(any_session_factory, settings, send_text, Clock(START + timedelta(minutes=14))) == 0
    assert await page_once(any_session_factory, settings, send_text, Clock(START + timedelta(minutes=15))) == 1


async def test_a_refused_sms_is_tried_again_at_the_next_run(any_session_factory, rows, settings, platform, send_text):
    settings = paging_settings(settings)
    escalation = urgent_case(rows)
    clock = Clock(START + timedelta(minutes=5))
    platform.refuse(400, 21211)
    assert await page_once(any_session_factory, settings, send_text, clock) == 0
    assert pages_of(any_session_factory, escalation) == (None, ["on_call_paged", "on_call_page_failed"])
    platform.refusal = None
    clock.advance(seconds=30)
    assert await page_once(any_session_factory, settings, send_text, clock) == 1
    assert len(platform.sms_to(ON_CALL)) == 2  # the refused one and the one that went


@pytest.mark.postgres
def test_two_replicas_never_claim_the_same_case(postgres_url, settings):
    from bot.db.migrate import upgrade_database
    from tests.support.database import sessions_on
    from tests.support.rows import Rows

    upgrade_database(postgres_url)
    settings = paging_settings(settings)
    now = START + timedelta(minutes=10)
    with sessions_on(postgres_url) as factory:
        rows = Rows(factory)
        first, second = urgent_case(rows), urgent_case(rows, at=START + timedelta(minutes=1), ref="MC-5000", phone="+447700900124")
        with factory.begin() as replica_a, factory.begin() as replica_b:
            assert claim_pages(replica_a, settings.clinic, now, limit=1) == [first]
            assert claim_pages(replica_b, settings.clinic, now) == [second]  # the first is locked: skipped
        with factory.begin() as later:
            assert claim_pages(later, settings.clinic, now) == []
