"""The care schedule of the clinic profile: defaults, parsing, quiet hours and each kind's text."""
from __future__ import annotations

import dataclasses
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.care.plan import plan_care
from bot.care.schedule import DEFAULT_KINDS, CareSchedule, CareScheduleError, CareSubject, QuietHours, render
from bot.care.sender import send_due
from bot.settings import ClinicProfile, SettingsError
from tests.support.care import RecordingProactiveDeliverer, the_demo_clinic
from tests.support.clock import START
from tests.support.settings import make_clinic

LONDON = ZoneInfo("Europe/London")
CLINIC_YML = Path(__file__).resolve().parents[2] / "clinic.yml"


def test_defaults_when_the_profile_has_no_care_messages():
    schedule = make_clinic().care
    assert schedule.enabled_kinds == ("preparation", "reminder", "aftercare_checkin", "maintenance")
    assert schedule.quiet_hours == QuietHours(time(21), time(8))
    assert schedule["reminder"].hours_before == 24 and schedule["reminder"].latest_hours_before == 2
    assert schedule["maintenance"].days_after == 28
    assert CareSchedule.parse(None) == CareSchedule.parse({})


def test_clinic_yml_schedule_reads_like_the_defaults_and_lists_the_reply_options():
    raw = yaml.safe_load(CLINIC_YML.read_text())["care_messages"]
    schedule = CareSchedule.parse(raw)
    for kind, default in DEFAULT_KINDS.items():
        assert schedule[kind].text == default.text
    assert "Reply 1 to confirm, 2 to change the time, 3 to cancel." in schedule["reminder"].text


def _profile_file(tmp_path: Path, care: dict) -> Path:
    raw = yaml.safe_load(CLINIC_YML.read_text())
    raw["care_messages"] = care
    path = tmp_path / "clinic.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_kind_can_be_switched_off_and_reworded(tmp_path):
    path = _profile_file(tmp_path, {"maintenance": {"enabled": False},
                                    "reminder": {"text": "See you {session_when}, {first_name}.", "hours_before": 30},
                                    "quiet_hours": {"start": "20:00", "end": "09:00"}})
    care = ClinicProfile.load(path, {}).care
    assert care.enabled_kinds == ("preparation", "reminder", "aftercare_checkin")
    assert care["reminder"].text == "See you {session_when}, {first_name}." and care["reminder"].hours_before == 30
    assert care.quiet_hours == QuietHours(time(20), time(9))


@pytest.mark.parametrize("care, complaint", [
    ({"reminder": {"text": "Hi {nickname}"}}, "unknown field {nickname}"),
    ({"reminder": {"hours_before": -1}}, "must not be negative"),
    ({"quiet_hours": {"start": "late"}}, "expected HH:MM"),
    ({"reminders": {}}, "unknown keys ['reminders']"),
    ({"aftercare_checkin": {"whatsapp": {"variables": ["wash_from", "sun_from", "colour"]}}}, "unknown field {colour}"),
])
def test_a_malformed_schedule_is_refused_saying_where(tmp_path, care, complaint):
    with pytest.raises(SettingsError, match="care_messages") as raised:
        ClinicProfile.load(_profile_file(tmp_path, care), {})
    assert complaint in str(raised.value)


def test_a_text_needing_hours_the_profile_lacks_is_refused():
    with pytest.raises(CareScheduleError, match="styling_from.*aftercare_hours.styling"):
        CareSchedule.parse({"aftercare_checkin": {"text": "Style from {styling_from}"}}).check_profile(
            {"washing": 48, "exercise": 48}, {"blood_thinning": 48})


def test_quiet_hours_across_midnight():
    quiet = QuietHours(time(21), time(8))
    at = lambda day, hour, minute=0: datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)  # noqa: E731
    assert not quiet.contains(at(20, 20, 59), LONDON) and quiet.contains(at(20, 21), LONDON)
    assert quiet.contains(at(21, 7, 59), LONDON) and not quiet.contains(at(21, 8), LONDON)
    assert quiet.next_allowed(at(20, 22, 30), LONDON) == at(21, 8)
    assert quiet.next_allowed(at(21, 3), LONDON) == at(21, 8)
    assert quiet.next_allowed(at(21, 12), LONDON) == at(21, 12)


def test_quiet_hours_are_clinic_time_in_summer():
    quiet = QuietHours(time(21), time(8))
    evening = datetime(2026, 7, 1, 20, 30, tzinfo=timezone.utc)  # 21:30 in London (BST)
    assert quiet.contains(evening, LONDON)
    assert quiet.next_allowed(evening, LONDON) == datetime(2026, 7, 2, 7, 0, tzinfo=timezone.utc)


def test_texts_take_the_patient_own_times_and_the_profile_hours(profile):
    session = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)  # Monday 14:00
    subject = CareSubject("Alex", "Hair mesotherapy", session, "Dr Priya Shah")
    saturday = datetime(2026, 11, 21, 8, 0, tzinfo=timezone.utc)
    preparation = render("preparation", subject, saturday, profile).text
    assert "Your hair mesotherapy session is on Monday at 14:00. From 14:00 today until your session" in preparation
    assert "do not stop it: call us on +44 20 7946 0321" in preparation
    longer = dataclasses.replace(profile, preparation_hours={"blood_thinning": 72},
                                 aftercare_hours={**profile.aftercare_hours, "washing": 24})
    assert "From 14:00 tomorrow until your session" in render("preparation", subject, datetime(
        2026, 11, 19, 9, 0, tzinfo=timezone.utc), longer).text
    assert "From 14:00 on Friday until your session" in render("preparation", subject, datetime(
        2026, 11, 18, 9, 0, tzinfo=timezone.utc), longer).text
    tuesday = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
    assert "You can wash your hair from 14:00 today and return to strenuous exercise from 14:00 tomorrow." in render(
        "aftercare_checkin", subject, tuesday, longer).text


async def test_each_kind_the_demo_patient_receives_over_a_course(session_factory, profile):
    """Plan and send every half hour for a month from the demo data seeded at START, as the patient reads it."""
    the_demo_clinic(session_factory, START, profile)
    deliverer = RecordingProactiveDeliverer()
    received = []
    now = START
    while now < START + timedelta(days=12):
        with session_factory.begin() as session:
            plan_care(session, profile, now)
        before = len(deliverer.sends)
        await send_due(session_factory, deliverer, now, profile=profile)
        received += [(now, send.external_id, send.text) for send in deliverer.sends[before:]]
        now += timedelta(minutes=30)
    alex = [(when.astimezone(LONDON).strftime("%a %d %H:%M"), text) for when, phone, text in received
            if phone == "+447700900123"]
    assert alex[0] == ("Fri 20 10:00", (
        "Hello Alex, this is Northfield Hair Clinic, checking in after your session yesterday at 10:00. You can "
        "wash your hair from 10:00 tomorrow and return to strenuous exercise from 10:00 tomorrow. If anything "
        "worries you, reply to this message. For severe pain, swelling, spreading redness or a fever, call us on "
        "+44 20 7946 0321 (or 999 in an emergency). If your clinician gave you different advice, follow theirs."))
    assert alex[1] == ("Sat 21 08:00", (
        "Hello Alex, this is Northfield Hair Clinic. Your hair mesotherapy session is on Monday at 14:00. From "
        "14:00 today until your session, please avoid alcohol, aspirin, ibuprofen and other blood-thinning or "
        "anti-inflammatory medicines, to lower the risk of bruising. If a doctor prescribed any of these, or a "
        "blood thinner such as warfarin, apixaban or clopidogrel, do not stop it: call us on +44 20 7946 0321 "
        "before your session. If your clinician gave you different advice, follow theirs."))
    assert alex[2] == ("Sun 22 14:00", (
        "Hello Alex, a reminder from Northfield Hair Clinic: your hair mesotherapy session is tomorrow at 14:00. "
        "Reply 1 to confirm, 2 to change the time, 3 to cancel."))
    assert alex[3][0] == "Tue 24 09:00" and "after your session yesterday at 14:00" in alex[3][1]
    assert [when for when, _ in alex] == ["Fri 20 10:00", "Sat 21 08:00", "Sun 22 14:00", "Tue 24 09:00",
                                         "Sat 28 08:00", "Sun 29 14:00", "Tue 01 09:00"]


async def test_the_maintenance_message_after_the_last_session_of_a_course(session_factory, profile, rows):
    from tests.support.care import consenting_patient, session_at

    _, course = consenting_patient(session_factory, planned=2)
    session_at(session_factory, course, START - timedelta(days=35), "completed")
    last = START - timedelta(days=28, hours=2)  # Friday 23 October 08:00: 28 days later is today
    session_at(session_factory, course, last, "completed")
    with session_factory.begin() as session:
        plan_care(session, profile, START)
    deliverer = RecordingProactiveDeliverer()
    report = await send_due(session_factory, deliverer, START, profile=profile)
    assert report.sent == 1
    assert deliverer.texts() == [
        "Hello Alex, this is Northfield Hair Clinic. It is a few weeks since the last session of your hair "
        "mesotherapy course. If you would like to talk about whether maintenance sessions make sense for you, "
        "reply to this message or call us on +44 20 7946 0321; your clinician will advise."]
