"""The console's patient panel: each booking's confirmation and the patient's care messages."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from bot.db.models import Appointment, AuditLog, Patient, TreatmentCourse
from tests.support.clock import START

PHONE = "+447700900123"


def audit_rows(session_factory, action):
    with session_factory() as session:
        return session.execute(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).scalars().all()


def seed_sessions(session_factory):
    """Alex Morgan: a session last Friday (completed), next Monday 14:00 (confirmed on Friday 10:30
    London time) and the Monday after (not confirmed). Times are 14:00 UTC = 14:00 London in November."""
    with session_factory.begin() as session:
        patient = Patient(clinic_ref="MC-4827", full_name="Alex Morgan", phone_e164=PHONE,
                          date_of_birth=date(1988, 4, 12))
        course = TreatmentCourse(patient=patient, treatment="Hair mesotherapy", planned_sessions=8)
        made = []
        for index, (days, status, confirmed) in enumerate((
                (-7, "completed", None), (3, "booked", START + timedelta(minutes=30)), (10, "booked", None))):
            appointment = Appointment(starts_at=START + timedelta(days=days, hours=4), duration_min=45, status=status,
                                      practitioner="Dr Priya Shah", source_key=f"MC-4827|{index}",
                                      confirmed_at=confirmed)
            course.appointments.append(appointment)
            made.append(appointment)
        session.add(patient)
        session.flush()
        return patient.id, [a.id for a in made]


def seed_care(rows, patient_id, appointments):
    """Care messages in every status over the three sessions (kinds are unique per session)."""
    past, monday, later = appointments
    hour = timedelta(hours=1)
    monday_at, later_at, past_at = (START + timedelta(days=d, hours=4) for d in (3, 10, -7))
    rows.care_message(past, patient_id, "preparation", status="read", due_at=past_at - 48 * hour,
                      status_at=past_at - 47 * hour)
    rows.care_message(past, patient_id, "reminder", status="failed", due_at=past_at - 24 * hour,
                      error_code="30007", detail="carrier_filtered")
    rows.care_message(past, patient_id, "aftercare_checkin", status="delivered", channel="whatsapp",
                      due_at=past_at + 20 * hour, status_at=past_at + 20 * hour)
    rows.care_message(past, patient_id, "maintenance", status="unknown", due_at=past_at + 30 * hour)
    rows.care_message(monday, patient_id, "preparation", status="sent", due_at=monday_at - 48 * hour)
    rows.care_message(monday, patient_id, "reminder", status="sending", due_at=monday_at - 24 * hour)
    rows.care_message(monday, patient_id, "aftercare_checkin", status="scheduled", due_at=monday_at + 20 * hour)
    rows.care_message(later, patient_id, "preparation", status="skipped", due_at=later_at - 48 * hour,
                      detail="no_consent")
    rows.care_message(later, patient_id, "reminder", status="cancelled", due_at=later_at - 24 * hour,
                      detail="session moved")


def care_list(text):
    start = text.index('id="care-messages"')
    return text[start:text.index("</ul>", start)]


async def test_the_panel_lists_care_messages_in_every_status_and_each_confirmation(console, accounts, rows,
                                                                                  session_factory):
    patient_id, appointments = seed_sessions(session_factory)
    seed_care(rows, patient_id, appointments)
    conversation = rows.conversation("sms", PHONE, patient_id=patient_id)
    await console.signed_in_as("staff@clinic.example")
    _, text = await console.page(f"/staff/conversations/{conversation}")

    upcoming = text[text.index('id="upcoming-sessions"'):text.index("Past sessions")]
    monday, later = upcoming.split("<li>")[1:3]
    assert "Mon 23 Nov 2026, 14:00" in monday and "confirmed by the patient Fri 20 Nov 2026, 10:30" in monday
    assert "Mon 30 Nov 2026, 14:00" in later and "confirmed" not in later

    items = care_list(text).split('<li class="care-row"')[1:]
    shown = [(item.split("<strong>")[1].split("</strong>")[0], item.split('class="care-status">')[1].split("<")[0])
             for item in items]
    assert shown == [  # in the order they are due
        ("Preparation (48 h before)", "Read"),
        ("Reminder (24 h before)", "Failed (error 30007; carrier filtered)"),
        ("Aftercare check-in", "Delivered"),
        ("Maintenance", "Unknown (may or may not have gone)"),
        ("Preparation (48 h before)", "Sent"),
        ("Reminder (24 h before)", "Sending"),
        ("Aftercare check-in", "Scheduled"),
        ("Preparation (48 h before)", "Skipped (no consent)"),
        ("Reminder (24 h before)", "Cancelled (session moved)"),
    ]
    assert "sent Sat 21 Nov 2026, 14:00" in items[4] and "for the session Mon 23 Nov 2026, 14:00" in items[4]
    assert "due Sun 22 Nov 2026, 14:00" in items[5] and "due Sat 28 Nov 2026, 14:00" in items[7]
    assert "Read</span> Wed 11 Nov 2026, 15:00" in items[0] and "WhatsApp" in items[2] and "SMS" in items[0]
    [viewed] = audit_rows(session_factory, "care_messages_viewed")
    assert (viewed.actor_id, viewed.subject_type, viewed.subject_id, viewed.detail) == (
        str(accounts["staff"]), "patient", str(patient_id), {"conversation_id": conversation, "care_messages": 9})


async def test_no_care_messages_say_so(console, accounts, rows, session_factory):
    patient_id, _ = seed_sessions(session_factory)
    conversation = rows.conversation("sms", PHONE, patient_id=patient_id)
    await console.signed_in_as("staff@clinic.example")
    _, text = await console.page(f"/staff/conversations/{conversation}")
    assert "Care messages" in text and "None scheduled." in text and 'id="care-messages"' not in text
    assert [r.detail for r in audit_rows(session_factory, "care_messages_viewed")] == [
        {"conversation_id": conversation, "care_messages": 0}]


async def test_an_unverified_conversation_shows_no_care_messages_and_audits_none(console, accounts, rows,
                                                                                 session_factory):
    patient_id, appointments = seed_sessions(session_factory)
    seed_care(rows, patient_id, appointments)
    conversation = rows.conversation("sms", PHONE)  # the patient's number, but not linked to them
    await console.signed_in_as("staff@clinic.example")
    _, text = await console.page(f"/staff/conversations/{conversation}")
    assert 'id="not-verified"' in text
    assert "Care messages" not in text and "Preparation" not in text and "confirmed by the patient" not in text
    assert audit_rows(session_factory, "care_messages_viewed") == []
