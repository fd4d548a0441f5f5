"""What the console reads: inbox order and filters, waiting times, requests, notes, change marker, audit."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.clinic import audit, inbox
from bot.clinic.requests import mark_request_done
from bot.db.models import AuditLog, Conversation, Escalation, Message, StaffRequest, StaffUser

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
_numbers = itertools.count(1)


def conversation(session, channel="web", external_id=None, patient_id=None):
    row = Conversation(channel=channel, external_id=external_id or f"ext-{channel}-{next(_numbers)}",
                       owner="staff", patient_id=patient_id, created_at=NOW)
    session.add(row)
    session.flush()
    return row


def escalate(session, conv, minutes_ago, priority="normal", status="waiting", assigned_to=None, resolved_ago=None):
    row = Escalation(conversation_id=conv.id, reason="red_flag" if priority == "urgent" else "fallback",
                     summary="s", priority=priority, status=status, assigned_to=assigned_to,
                     created_at=NOW - timedelta(minutes=minutes_ago),
                     resolved_at=NOW - timedelta(minutes=resolved_ago) if resolved_ago is not None else None)
    session.add(row)
    session.flush()
    return row


def message(session, conv, author, minutes_ago, text="text"):
    row = Message(conversation_id=conv.id, direction="in" if author == "patient" else "out", author=author,
                  text=text, created_at=NOW - timedelta(minutes=minutes_ago))
    session.add(row)
    session.flush()
    return row


@pytest.fixture
def staff_id(session_factory):
    with session_factory.begin() as session:
        user = StaffUser(email="jo@clinic.example", password_hash="x", role="staff", created_at=NOW)
        session.add(user)
        session.flush()
        return user.id


def test_inbox_order_urgent_then_waiting_then_oldest(session_factory, staff_id):
    with session_factory.begin() as session:
        made = {
            "old_normal": escalate(session, conversation(session), 90),
            "new_normal": escalate(session, conversation(session), 10),
            "assigned_urgent": escalate(session, conversation(session), 5, "urgent", "assigned", staff_id),
            "waiting_urgent": escalate(session, conversation(session), 1, "urgent"),
            "assigned_old": escalate(session, conversation(session), 300, status="assigned",
                                     assigned_to=staff_id),
            "resolved_early": escalate(session, conversation(session), 500, status="resolved",
                                       resolved_ago=400),
            "resolved_late": escalate(session, conversation(session), 500, status="resolved",
                                      resolved_ago=100),
        }
        ids = {name: row.id for name, row in made.items()}
    with session_factory() as session:
        def order(**kw):
            return [item.escalation_id for item in inbox.list_inbox(session, **kw)]

        assert order() == [ids["waiting_urgent"], ids["assigned_urgent"], ids["old_normal"], ids["new_normal"],
                           ids["assigned_old"]]
        assert order(status="waiting") == [ids["waiting_urgent"], ids["old_normal"], ids["new_normal"]]
        assert order(status="assigned") == [ids["assigned_urgent"], ids["assigned_old"]]
        assert order(status="resolved") == [ids["resolved_late"], ids["resolved_early"]]
        assert order(status="all")[-2:] == [ids["resolved_late"], ids["resolved_early"]]
        assert order(assigned_to=staff_id) == [ids["assigned_urgent"], ids["assigned_old"]]
        with pytest.raises(ValueError):
            inbox.list_inbox(session, status="everything")


def test_waiting_since(session_factory, staff_id):
    with session_factory.begin() as session:
        fresh = conversation(session)
        escalate(session, fresh, 30)
        answered = conversation(session)
        escalate(session, answered, 30)
        message(session, answered, "staff", 20)
        wrote_again = conversation(session)
        escalate(session, wrote_again, 30)
        message(session, wrote_again, "staff", 20)
        message(session, wrote_again, "patient", 15)
        message(session, wrote_again, "patient", 5)
        old_reply = conversation(session)
        message(session, old_reply, "staff", 600)
        escalate(session, old_reply, 30)
        done = conversation(session)
        escalate(session, done, 30, status="resolved", resolved_ago=1)
    with session_factory() as session:
        items = {item.conversation_id: item for item in inbox.list_inbox(session, status="all")}
    assert items[fresh.id].waiting_since == NOW - timedelta(minutes=30)
    assert items[answered.id].waiting_since is None
    assert items[wrote_again.id].waiting_since == NOW - timedelta(minutes=15)
    assert items[old_reply.id].waiting_since == NOW - timedelta(minutes=30)
    assert items[done.id].waiting_since is None


def test_inbox_items_name_the_verified_patient_and_the_assignee(session_factory, staff_id, rows):
    with session_factory.begin() as session:
        patient_id = rows.patient(session=session)
        verified = conversation(session, "sms", "+447700900123", patient_id=patient_id)
        escalate(session, verified, 3, status="assigned", assigned_to=staff_id)
        escalate(session, conversation(session), 2)
    with session_factory() as session:
        first, second = inbox.list_inbox(session)
    assert (second.patient_name, second.patient_ref, second.assigned_email) == (
        "Alex Morgan", "MC-4827", "jo@clinic.example")
    assert (first.patient_name, first.assigned_email, first.channel) == (None, None, "web")


def test_requests_are_linked_to_their_conversation_and_session(session_factory, rows):
    with session_factory.begin() as session:
        patient_id = rows.patient(session=session)
        course_id = rows.course(patient_id, session=session)
        session_at = NOW + timedelta(days=2)
        appointment_id = rows.appointment(course_id, session_at, session=session)
        conv = conversation(session, "whatsapp", "+447700900123", patient_id=patient_id)
        linked = StaffRequest(kind="reschedule", patient_id=patient_id, appointment_id=appointment_id,
                              conversation_id=conv.id, wishes="Mornings", created_at=NOW)
        orphan = StaffRequest(kind="delete_data", conversation_id=None, wishes="", created_at=NOW)
        session.add_all([linked, orphan])
    with session_factory() as session:
        items = {item.kind: item for item in inbox.list_requests(session)}
        view = inbox.get_conversation(session, conv.id)
        mine = inbox.requests_of_conversation(session, view)
    assert (items["reschedule"].conversation_id, items["reschedule"].appointment_starts_at,
            items["reschedule"].patient_ref, items["reschedule"].wishes) == (conv.id, session_at, "MC-4827", "Mornings")
    assert (items["delete_data"].conversation_id, items["delete_data"].channel) == (None, "web")
    assert [r.kind for r in mine] == ["reschedule"]


def test_notes_are_audited_with_ids_only(session_factory, staff_id):
    with session_factory.begin() as session:
        conv = conversation(session)
        note = inbox.add_note(session, conv.id, staff_id, "  Patient called back  ", NOW)
    assert (note.text, note.staff_email) == ("Patient called back", "jo@clinic.example")
    with session_factory() as session:
        assert [n.text for n in inbox.notes(session, conv.id)] == ["Patient called back"]
        assert inbox.notes(session, conv.id, after_id=note.id) == []
        row = session.execute(select(AuditLog)).scalars().one()
    assert (row.action, row.detail) == ("note_added", {"note_id": note.id})
    for bad, message in (("", "empty"), ("x" * 4001, "longer")):
        with pytest.raises(inbox.NoteError, match=message), session_factory.begin() as session:
            inbox.add_note(session, conv.id, staff_id, bad, NOW)
    with pytest.raises(inbox.NoteError, match="does not exist"), session_factory.begin() as session:
        inbox.add_note(session, 999, staff_id, "x", NOW)


def test_messages_after_an_id_in_order_a_page_at_a_time(session_factory):
    with session_factory.begin() as session:
        conv = conversation(session)
        first = message(session, conv, "patient", 5, "one")
        message(session, conv, "bot", 4, "two")
        message(session, conv, "system", 3, "three")
        message(session, conversation(session), "patient", 2, "elsewhere")
    with session_factory() as session:
        items, more = inbox.messages_after(session, conv.id)
        assert ([(m.author, m.text) for m in items], more) == (
            [("patient", "one"), ("bot", "two"), ("system", "three")], False)
        items, more = inbox.messages_after(session, conv.id, after_id=first.id, limit=1)
        assert ([m.text for m in items], more) == (["two"], True)
        assert inbox.messages_after(session, conv.id, after_id=first.id + 2) == ([], False)


def texts(page):
    return [m.text for m in page.messages]


def test_the_transcript_is_read_from_the_newest_page_back_to_the_first(any_session_factory):
    session_factory = any_session_factory
    with session_factory.begin() as session:
        conv = conversation(session)
        ids = [message(session, conv, "patient", 100 - n, f"m{n}").id for n in range(7)]
        message(session, conversation(session), "patient", 1, "elsewhere")
    with session_factory() as session:
        newest = inbox.transcript_page(session, conv.id, limit=3)
        assert (texts(newest), newest.earlier, newest.later, newest.later_before) == (
            ["m4", "m5", "m6"], True, False, None)
        middle = inbox.transcript_page(session, conv.id, before_id=newest.first_id, limit=3)
        assert (texts(middle), middle.earlier, middle.later, middle.later_before) == (
            ["m1", "m2", "m3"], True, True, None)  # the later page is the newest page
        oldest = inbox.transcript_page(session, conv.id, before_id=middle.first_id, limit=3)
        assert (texts(oldest), oldest.earlier, oldest.later, oldest.later_before) == (
            ["m0"], False, True, ids[4])
        assert texts(inbox.transcript_page(session, conv.id, before_id=ids[4], limit=3)) == ["m1", "m2", "m3"]
        none_before = inbox.transcript_page(session, conv.id, before_id=ids[0], limit=3)
        assert (texts(none_before), none_before.earlier, none_before.later) == ([], False, True)
        beyond = inbox.transcript_page(session, conv.id, before_id=2**31 - 1, limit=3)
        assert (texts(beyond), beyond.later) == (["m4", "m5", "m6"], False)
        empty = inbox.transcript_page(session, conversation(session).id)
        assert (empty.messages, empty.earlier, empty.later, empty.first_id) == ((), False, False, None)


def test_a_transcript_page_holds_a_bounded_amount_of_text_and_at_least_one_message(session_factory):
    with session_factory.begin() as session:
        conv = conversation(session)
        ids = [message(session, conv, "patient", 100 - n, str(n) * size).id
               for n, size in enumerate((10, 3000, 400, 400, 400))]
    with session_factory() as session:
        def page_before(before_id):
            page = inbox.transcript_page(session, conv.id, before_id=before_id, limit=50, max_chars=1000)
            return [m.id for m in page.messages], page.earlier, page.later_before

        assert page_before(None) == ([ids[3], ids[4]], True, None)
        assert page_before(ids[3]) == ([ids[2]], True, None)  # 3000 characters more would not fit
        assert page_before(ids[2]) == ([ids[1]], True, ids[4])  # one message, however long
        assert page_before(ids[4]) == ([ids[2], ids[3]], True, None)  # its later page: no gap
        assert page_before(ids[1]) == ([ids[0]], False, ids[2])
        items, more = inbox.messages_after(session, conv.id, limit=50, max_chars=1000)
        assert ([len(m.text) for m in items], more) == ([10], True)


def test_the_change_marker_moves_on_changes_but_not_on_reads(session_factory, staff_id):
    with session_factory() as session:
        before = inbox.change_marker(session)
    assert before == (None, None, None, None)
    with session_factory.begin() as session:
        conv = conversation(session)
    steps = [
        lambda s: escalate(s, conv, 1),
        lambda s: message(s, conv, "patient", 0),
        lambda s: s.add(StaffRequest(kind="cancel", conversation_id=conv.id, wishes="", created_at=NOW)),
        lambda s: audit.record(s, actor_type="staff", actor_id=staff_id, action="assign", now=NOW),
    ]
    markers = [before]
    for step in steps:
        with session_factory.begin() as session:
            step(session)
        with session_factory() as session:
            markers.append(inbox.change_marker(session))
    assert len(set(markers)) == len(markers)
    with session_factory.begin() as session:
        for action in inbox.QUIET_ACTIONS:
            audit.record(session, actor_type="staff", actor_id=staff_id, action=action, now=NOW)
    with session_factory() as session:
        assert inbox.change_marker(session) == markers[-1]
    with session_factory.begin() as session:
        request_id = session.execute(select(StaffRequest.id)).scalar()
        mark_request_done(session, request_id, staff_id, NOW)
    with session_factory() as session:
        assert inbox.change_marker(session) != markers[-1]


def test_audit_pages_batches_and_last_logout(session_factory, staff_id):
    with session_factory.begin() as session:
        for number in range(7):
            audit.record(session, actor_type="staff", actor_id=staff_id, action="login" if number % 2 else "logout",
                         subject_type="staff_user", subject_id=staff_id, now=NOW + timedelta(minutes=number))
    with session_factory() as session:
        page, total = inbox.audit_page(session, page=2, per_page=3)
        assert total == 7 and [i.id for i in page] == [4, 3, 2]
        assert page[0].actor_email == "jo@clinic.example"
        logins, login_total = inbox.audit_page(session, action="login")
        assert login_total == 3 and {i.action for i in logins} == {"login"}
        assert inbox.audit_actions(session) == ["login", "logout"]
        batches = [[i.id for i in batch] for batch in inbox.iter_audit(session, batch=3)]
        assert batches == [[1, 2, 3], [4, 5, 6], [7]]
        assert [[i.id for i in b] for b in inbox.iter_audit(session, batch=3, up_to_id=4)] == [[1, 2, 3], [4]]
        assert inbox.last_logout_at(session, staff_id) == NOW + timedelta(minutes=6)
        assert inbox.last_logout_at(session, staff_id + 1) is None
        assert [i.id for i in inbox.audit_page(session, per_page=1)[0]] == [7]  # newest first


def test_patient_panel(session_factory, rows):
    with session_factory.begin() as session:
        patient_id = rows.patient(session=session)
        course_id = rows.course(patient_id, planned=6, session=session)
        rows.appointment(course_id, NOW - timedelta(days=7), status="completed", session=session)
        rows.appointment(course_id, NOW + timedelta(days=7), session=session)
    with session_factory() as session:
        panel = inbox.patient_panel(session, patient_id, NOW)
        assert inbox.patient_panel(session, 999, NOW) is None
    assert panel.patient.full_name == "Alex Morgan"
    assert [s.status for s in panel.upcoming] == ["booked"] and [s.status for s in panel.past] == ["completed"]
    assert (panel.progress.completed, panel.progress.planned, panel.progress.remaining) == (1, 6, 5)


def test_care_messages_are_the_patients_latest_in_the_order_they_are_due(session_factory, rows):
    with session_factory.begin() as session:
        patient_id = rows.patient(session=session)
        other_id = rows.patient("MC-5000", "Sam Other", "+447700900456", session=session)
        course_id = rows.course(patient_id, session=session)
        sessions = [rows.appointment(course_id, NOW + timedelta(days=7 * week), session=session) for week in range(4)]
        for week, appointment_id in enumerate(sessions):
            for hours, kind in ((48, "preparation"), (24, "reminder"), (-20, "aftercare_checkin")):
                rows.care_message(appointment_id, patient_id, kind, status="scheduled",
                                  due_at=NOW + timedelta(days=7 * week, hours=-hours), session=session)
        others = rows.appointment(rows.course(other_id, session=session), NOW, session=session)
        rows.care_message(others, other_id, "reminder", session=session)
    with session_factory() as session:
        shown = inbox.care_messages(session, patient_id, limit=4)
        assert inbox.care_messages(session, other_id)[0].appointment_id == others
    assert [(item.appointment_id, item.kind) for item in shown] == [
        (sessions[2], "aftercare_checkin"), (sessions[3], "preparation"), (sessions[3], "reminder"),
        (sessions[3], "aftercare_checkin")]
    assert shown[0].session_starts_at == NOW + timedelta(days=14)
