"""Erasing a patient's conversations on a "delete my data" request, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.clinic.requests import create_change_request
from bot.db.models import (
    Appointment,
    AuditLog,
    ConsentRecord,
    Conversation,
    Escalation,
    Message,
    Patient,
    StaffNote,
    StaffRequest,
    StaffUser,
    VerificationAttempt,
)
from bot.privacy.erasure import ERASURE_COUNTS, ErasureError, erase_conversations, plan_erasure
from tests.bot.privacy.helpers import (
    NOW,
    RECENT,
    add_events,
    conversation,
    count,
    create_events_table,
    event_senders,
    patient_with_booking,
    staff_request,
)

ALEX_PHONE = "+447700900123"


@pytest.fixture
def staff(any_session_factory):
    ids = {}
    with any_session_factory.begin() as session:
        for role in ("staff", "clinician", "admin"):
            user = StaffUser(email=f"{role}@clinic.example", password_hash="not-a-hash", role=role)
            session.add(user)
            session.flush()
            ids[role] = user.id
    return ids


@pytest.fixture
def clinic(any_session_factory):
    """Alex (verified in two conversations, asked on WhatsApp before verifying there) and Sam."""
    ids = {}
    with any_session_factory.begin() as s:
        ids["alex"] = alex = patient_with_booking(s)
        ids["sam"] = sam = patient_with_booking(s, ref="MC-7315", name="Sam Lee", phone="+447700900456")
        ids["web"] = conversation(s, "web", "alex-session", at=RECENT, messages=[RECENT], patient_id=alex,
                                  escalation="resolved", note=True)
        ids["sms"] = conversation(s, "sms", ALEX_PHONE, at=RECENT, messages=[RECENT, NOW], patient_id=alex,
                                  escalation="waiting")
        # Where the patient asked: not linked to the patient (say the link was never stored).
        ids["whatsapp"] = conversation(s, "whatsapp", ALEX_PHONE, at=NOW, messages=[NOW])
        ids["sam_web"] = conversation(s, "web", "sam-session", at=RECENT, messages=[RECENT], patient_id=sam,
                                      note=True)
        request = create_change_request(s, kind="delete_data", patient_id=alex,
                                        sender_key=f"whatsapp:{ALEX_PHONE}", wishes="delete my data",
                                        now=NOW)
        ids["request"] = request.id
        ids["alex_done"] = staff_request(s, "web:alex-session", status="done", patient_id=alex,
                                         wishes="Move me to Friday, I'm away on 12/04")
        ids["alex_open"] = staff_request(s, f"sms:{ALEX_PHONE}", kind="cancel", patient_id=alex,
                                         wishes="Cancel Tuesday")
        ids["sam_done"] = staff_request(s, "web:sam-session", status="done", patient_id=sam,
                                        wishes="Sam's wish")
        s.add_all([
            VerificationAttempt(conversation_id=ids["web"], patient_id=alex, succeeded=True,
                                outcome="verified", attempted_at=RECENT),
            VerificationAttempt(conversation_id=ids["whatsapp"], succeeded=False, outcome="mismatch",
                                attempted_at=NOW),
            VerificationAttempt(conversation_id=ids["sam_web"], patient_id=sam, succeeded=True,
                                outcome="verified", attempted_at=RECENT),
            ConsentRecord(phone_e164=ALEX_PHONE, channel="sms", opted_out=True, changed_at=RECENT),
        ])
    return ids


@pytest.fixture
def events(any_db_url, clinic):
    from bot.db.session import create_db_engine

    create_events_table(any_db_url)
    engine = create_db_engine(any_db_url)
    add_events(engine, "web:alex-session", RECENT, RECENT + timedelta(seconds=1), text_="I'm Alex, born 12/04/1988")
    add_events(engine, f"sms:{ALEX_PHONE}", RECENT)
    add_events(engine, f"whatsapp:{ALEX_PHONE}", NOW, NOW)
    add_events(engine, "web:sam-session", RECENT)
    yield engine
    engine.dispose()


EXPECTED = {"conversations": 3, "messages": 2 + 4 + 2, "staff_notes": 1, "escalations": 2, "events": 5,
            "verification_attempts": 2, "staff_requests_cleared": 2}


def test_the_plan_counts_what_will_go_and_changes_nothing(any_session_factory, clinic, events):
    with any_session_factory() as session:
        plan = plan_erasure(session, clinic["request"])
    assert plan.conversation_ids == (clinic["web"], clinic["sms"], clinic["whatsapp"])
    assert plan.sender_keys == (f"sms:{ALEX_PHONE}", "web:alex-session", f"whatsapp:{ALEX_PHONE}")
    assert plan.counts == EXPECTED and list(plan.counts) == list(ERASURE_COUNTS)
    assert plan.open_escalations == 1
    with any_session_factory() as session:
        assert count(session, Conversation) == 4 and count(session, Message) == 10


def test_erasure_removes_the_patients_conversations_and_tracker_events(any_session_factory, clinic, events, staff):
    with any_session_factory.begin() as session:
        report = erase_conversations(session, clinic["request"], staff_user_id=staff["admin"], now=NOW)
    assert report.counts == EXPECTED
    with any_session_factory() as session:
        assert set(session.execute(select(Conversation.id)).scalars()) == {clinic["sam_web"]}
        assert set(session.execute(select(Message.conversation_id)).scalars()) == {clinic["sam_web"]}
        assert set(session.execute(select(StaffNote.conversation_id)).scalars()) == {clinic["sam_web"]}
        assert count(session, Escalation) == 0
        assert session.execute(select(VerificationAttempt.conversation_id)).scalars().all() == [clinic["sam_web"]]
        # The clinic's records stay: both patients, their bookings, the opt-out.
        assert count(session, Patient) == 2 and count(session, Appointment) == 4
        assert count(session, ConsentRecord) == 1
        request = session.get(StaffRequest, clinic["request"])
        assert (request.status, request.done_by, request.done_at, request.wishes) == (
            "done", staff["admin"], NOW, "")
        wishes = dict(session.execute(select(StaffRequest.id, StaffRequest.wishes)).all())
        assert wishes[clinic["alex_done"]] == ""              # the patient's words, in a finished request
        assert wishes[clinic["alex_open"]] == "Cancel Tuesday"  # still to be done by staff
        assert wishes[clinic["sam_done"]] == "Sam's wish"
        erased = session.execute(select(AuditLog).where(AuditLog.action == "data_erased")).scalar_one()
        done = session.execute(select(AuditLog).where(AuditLog.action == "staff_request_done")).scalar_one()
    assert event_senders(events) == {"web:sam-session": 1}
    assert (erased.actor_type, erased.actor_id, erased.subject_type, erased.subject_id) == (
        "staff", str(staff["admin"]), "patient", str(clinic["alex"]))
    assert erased.detail == {"request_id": clinic["request"],
                             "conversation_ids": [clinic["web"], clinic["sms"], clinic["whatsapp"]], **EXPECTED}
    assert done.subject_id == str(clinic["request"])
    # Ids and counts only: no name, phone, reference, date or words of the patient.
    text = json.dumps(erased.detail)
    for personal in ("Alex", "Morgan", ALEX_PHONE, "7700", "MC-4827", "1988", "Friday", "lips", "alex-session"):
        assert personal not in text


def test_erasure_works_before_rasa_ever_ran(any_session_factory, clinic, staff):
    with any_session_factory.begin() as session:
        report = erase_conversations(session, clinic["request"], staff_user_id=staff["admin"], now=NOW)
    assert report.counts == {**EXPECTED, "events": 0}


def test_a_request_without_a_patient_erases_its_own_conversation(any_session_factory, clinic, events, staff):
    with any_session_factory.begin() as session:
        orphan = staff_request(session, "web:sam-session", kind="delete_data", wishes="")
    with any_session_factory.begin() as session:
        report = erase_conversations(session, orphan, staff_user_id=staff["admin"], now=NOW)
        erased = session.execute(select(AuditLog).where(AuditLog.action == "data_erased")).scalar_one()
    assert report.conversation_ids == (clinic["sam_web"],) and report.counts["events"] == 1
    assert (erased.subject_type, erased.subject_id) == ("staff_request", str(orphan))
    with any_session_factory() as session:
        assert count(session, Conversation) == 3


def test_only_admins_erase_and_only_open_delete_data_requests(any_session_factory, clinic, staff):
    for role in ("staff", "clinician"):
        with pytest.raises(PermissionError):
            with any_session_factory.begin() as session:
                erase_conversations(session, clinic["request"], staff_user_id=staff[role], now=NOW)
    with pytest.raises(ErasureError, match="delete my data"):
        with any_session_factory.begin() as session:
            erase_conversations(session, clinic["alex_open"], staff_user_id=staff["admin"], now=NOW)
    with pytest.raises(LookupError):
        with any_session_factory.begin() as session:
            erase_conversations(session, 999, staff_user_id=staff["admin"], now=NOW)
    with any_session_factory() as session:
        assert count(session, Conversation) == 4  # nothing happened
    with any_session_factory.begin() as session:
        erase_conversations(session, clinic["request"], staff_user_id=staff["admin"], now=NOW)
    with pytest.raises(ErasureError, match="already done"):
        with any_session_factory.begin() as session:
            erase_conversations(session, clinic["request"], staff_user_id=staff["admin"], now=NOW)
    with pytest.raises(ErasureError, match="already done"):
        with any_session_factory() as session:
            plan_erasure(session, clinic["request"])
