"""The inbox's search, filters, paging, previews and unread markers (on SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.clinic import inbox
from bot.clinic.inbox import InboxFilter, InboxFilterError, escape_like, inbox_page, mark_read
from bot.conversations.handoff import resolve_quietly
from bot.db.models import AuditLog, Conversation, Escalation
from tests.support.clock import START


@pytest.fixture
def seeded(any_session_factory, rows):
    """A verified patient's SMS chat (urgent), an anonymous web chat, a WhatsApp chat assigned to Jo."""
    jo, sam = rows.staff_user("jo@clinic.example"), rows.staff_user("sam@clinic.example")
    alex = rows.patient()
    sms = rows.conversation("sms", "+447700900123", patient_id=alex)
    rows.message(sms, "My scalp is very swollen since yesterday", at=START - timedelta(minutes=10))
    rows.escalation(sms, reason="red_flag", priority="urgent", at=START - timedelta(minutes=10))
    web = rows.conversation("web")
    rows.message(web, "Do you sell 100% organic_serums?", at=START - timedelta(minutes=30))
    rows.message(web, "Someone will answer soon.", author="bot", at=START - timedelta(minutes=29))
    rows.escalation(web, reason="fallback", at=START - timedelta(minutes=30))
    whatsapp = rows.conversation("whatsapp", "+447700900999")
    rows.message(whatsapp, "Can I move my Friday session?", at=START - timedelta(hours=2))
    rows.escalation(whatsapp, reason="booking_change", status="assigned", assigned_to=jo,
                    at=START - timedelta(hours=2))
    old = rows.conversation("web")
    rows.message(old, "organic serums please", at=START - timedelta(days=200))
    rows.escalation(old, status="resolved", at=START - timedelta(days=200))
    return {"jo": jo, "sam": sam, "sms": sms, "web": web, "whatsapp": whatsapp, "old": old}


def shown(factory, me=None, page=1, page_size=50, **filters):
    with factory() as session:
        found = inbox_page(session, InboxFilter(**filters), me=me, now=START, page=page, page_size=page_size)
    return [item.conversation_id for item in found.items], found


@pytest.mark.parametrize("filters, expected", [
    ({}, ["sms", "web", "whatsapp"]),
    ({"priority": "urgent"}, ["sms"]),
    ({"priority": "normal"}, ["web", "whatsapp"]),
    ({"reason": "fallback"}, ["web"]),
    ({"channel": "whatsapp"}, ["whatsapp"]),
    ({"verified": True}, ["sms"]),
    ({"verified": False}, ["web", "whatsapp"]),
    ({"assignee": "unassigned"}, ["sms", "web"]),
    ({"status": "resolved"}, ["old"]),
    ({"status": "all", "channel": "web"}, ["web", "old"]),
])
def test_each_filter(any_session_factory, seeded, filters, expected):
    ids, _ = shown(any_session_factory, **filters)
    assert ids == [seeded[name] for name in expected]


def test_mine_and_a_staff_id(any_session_factory, seeded):
    assert shown(any_session_factory, me=seeded["jo"], assignee="mine")[0] == [seeded["whatsapp"]]
    assert shown(any_session_factory, me=seeded["sam"], assignee="mine")[0] == []
    assert shown(any_session_factory, me=seeded["sam"], assignee=seeded["jo"])[0] == [seeded["whatsapp"]]


@pytest.mark.parametrize("search, expected", [
    ("alex", ["sms"]),                  # name, any case
    ("mc-4827", ["sms"]),               # reference
    ("07700 900123", ["sms"]),          # phone as typed: E.164 of the patient and of the SMS sender
    ("+44 7700 900999", ["whatsapp"]),  # an unverified sender's number
    ("SWOLLEN", ["sms"]),               # message text, any case
    ("100%", ["web"]),                  # LIKE wildcards taken literally
    ("organic_serums", ["web"]),
    ("organic%serums", []),
    ("nobody here", []),
])
def test_each_kind_of_search(any_session_factory, seeded, search, expected):
    ids, _ = shown(any_session_factory, status="all", search=search)
    assert ids == [seeded[name] for name in expected]


def test_message_search_is_bounded_to_recent_messages(any_session_factory, seeded):
    # "organic serums" is only in the 200-day-old message: too old for the text search.
    assert shown(any_session_factory, status="all", search="organic serums")[0] == []


def test_escape_like():
    assert escape_like("a%b_c\\d") == "a\\%b\\_c\\\\d"


def test_paging(any_session_factory, rows):
    conversations = []
    for minutes in range(7):
        conversation = rows.conversation("web")
        rows.escalation(conversation, at=START - timedelta(minutes=60 - minutes))
        conversations.append(conversation)
    resolved = rows.conversation("web")
    rows.escalation(resolved, status="resolved")
    pages = [shown(any_session_factory, page=n, page_size=3, status="all") for n in (1, 2, 3, 4)]
    assert [ids for ids, _ in pages] == [conversations[:3], conversations[3:6], [conversations[6], resolved], []]
    assert (pages[0][1].total, pages[0][1].pages, pages[0][1].open_total) == (8, 3, 7)


def test_preview_is_the_start_of_the_newest_message(any_session_factory, rows):
    conversation = rows.conversation("web")
    rows.message(conversation, "first", at=START - timedelta(minutes=2))
    rows.message(conversation, "word " * 60, author="bot", at=START - timedelta(minutes=1))
    rows.escalation(conversation)
    _, found = shown(any_session_factory)
    [item] = found.items
    assert item.preview_author == "bot"
    assert item.preview.endswith("…") and len(item.preview) <= inbox.PREVIEW_CHARS + 1
    assert item.preview.startswith("word word")


def test_unread_is_per_staff_member(any_session_factory, seeded):
    factory = any_session_factory

    def unread(me):
        _, found = shown(factory, me=me)
        return {item.conversation_id for item in found.items if item.unread}

    everything = {seeded["sms"], seeded["web"], seeded["whatsapp"]}
    assert unread(seeded["jo"]) == unread(seeded["sam"]) == everything
    with factory.begin() as session:
        newest = max(m.id for m in inbox.transcript_page(session, seeded["web"]).messages)
        mark_read(session, seeded["jo"], seeded["web"], newest)
        mark_read(session, seeded["jo"], seeded["web"], newest - 1)  # never backwards
    assert unread(seeded["jo"]) == everything - {seeded["web"]}
    assert unread(seeded["sam"]) == everything
    from tests.support.rows import Rows
    Rows(factory).message(seeded["web"], "Hello? Anyone?", at=START)
    assert unread(seeded["jo"]) == everything  # the patient wrote again


def test_bad_filters_are_refused():
    for bad in ({"status": "everything"}, {"priority": "high"}, {"reason": "spam"}, {"channel": "fax"},
                {"assignee": "them"}, {"search": "x" * 101}):
        with pytest.raises(InboxFilterError):
            InboxFilter(**bad)


def test_bulk_resolve_is_silent_audited_and_gives_the_chats_to_the_bot(any_session_factory, seeded):
    with any_session_factory.begin() as session:
        open_ids = session.execute(select(Escalation.id).where(Escalation.status != "resolved")
                                   .order_by(Escalation.id)).scalars().all()
        resolved = resolve_quietly(session, open_ids + [999999], seeded["sam"], START)
    assert resolved == [seeded["sms"], seeded["web"], seeded["whatsapp"]]
    with any_session_factory() as session:
        assert set(session.execute(select(Escalation.status)).scalars()) == {"resolved"}
        assert set(session.execute(select(Conversation.owner)).scalars()) == {"bot", "staff"}
        owners = dict(session.execute(select(Conversation.id, Conversation.owner)).all())
        assert {owners[c] for c in resolved} == {"bot"}
        entries = session.execute(select(AuditLog).where(AuditLog.action == "hand_back")).scalars().all()
        assert sorted(int(e.subject_id) for e in entries) == resolved
        assert all(e.detail["bulk"] and e.detail["patient_told"] is False for e in entries)
        assert all(e.actor_id == str(seeded["sam"]) for e in entries)
