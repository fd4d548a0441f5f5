"""The inbox page: search, filters, views, paging, previews, unread markers, bulk resolve, bad parameters."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from bot.db.models import AuditLog, Conversation, Escalation
from tests.support.clock import START

ROW_IDS = re.compile(r'<tr class="inbox-row[^"]*" data-conversation-id="(\d+)"')


def row_ids(html):
    return [int(c) for c in ROW_IDS.findall(html)]


def row_of(html, conversation_id):
    row = html[html.index(f'data-conversation-id="{conversation_id}"'):]
    return row[:row.index("</tr>")]


def seed(rows, accounts):
    alex = rows.patient()
    verified = rows.conversation("sms", "+447700900123", patient_id=alex)
    rows.message(verified, "My scalp itches a lot", at=START - timedelta(minutes=10))
    rows.escalation(verified, reason="asked_for_person", at=START - timedelta(minutes=10),
                    summary="verified patient; recent topics: ask_wash_hair, request_human")
    spam = []
    for number in range(3):
        conversation = rows.conversation("web")
        rows.message(conversation, f"BUY CHEAP PILLS {number}", at=START - timedelta(minutes=5))
        rows.escalation(conversation, reason="red_flag", priority="urgent", at=START - timedelta(minutes=5 - number))
        spam.append(conversation)
    mine = rows.conversation("whatsapp", "+447700900999")
    rows.message(mine, "Can I move my session?", at=START - timedelta(hours=1))
    rows.escalation(mine, reason="booking_change", status="assigned", assigned_to=accounts["staff"],
                    at=START - timedelta(hours=1))
    return {"verified": verified, "spam": spam, "mine": mine}


async def test_search_and_filters_on_the_page_and_in_the_json(console, accounts, rows):
    ids = seed(rows, accounts)
    await console.signed_in_as("staff@clinic.example")
    cases = {
        "q=alex": [ids["verified"]],
        "q=07700+900123": [ids["verified"]],
        "q=cheap+pills": ids["spam"],
        "priority=urgent": ids["spam"],
        "reason=booking_change": [ids["mine"]],
        "channel=sms": [ids["verified"]],
        "verified=yes": [ids["verified"]],
        "verified=no": ids["spam"] + [ids["mine"]],
        "assignee=mine": [ids["mine"]],
        "mine=1": [ids["mine"]],
        f"assignee={accounts['staff']}": [ids["mine"]],
        "assignee=unassigned": ids["spam"] + [ids["verified"]],
        "priority=urgent&q=pills+1": [ids["spam"][1]],
    }
    for query, expected in cases.items():
        response, text = await console.page(f"/staff?{query}")
        assert response.status == 200, query
        assert row_ids(text) == expected, query
        data = await (await console.client.get(f"/staff/api/inbox?{query}")).json()
        assert [r["conversation_id"] for r in data["escalations"]] == expected, query


async def test_rows_show_a_preview_a_readable_summary_and_the_views(console, accounts, rows):
    ids = seed(rows, accounts)
    await console.signed_in_as("staff@clinic.example")
    _, text = await console.page("/staff?channel=sms")
    row = row_of(text, ids["verified"])
    assert "My scalp itches a lot" in row and "Patient:" in row
    assert "Washing hair after a session; Asked for a person" in row
    assert "ask_wash_hair" not in text and "request_human" not in text
    # The views keep the other filters; the current one is marked.
    assert '<a href="/staff?status=open&amp;channel=sms" aria-current="page">All open</a>' in text
    assert 'href="/staff?status=open&amp;channel=sms&amp;assignee=mine">Mine</a>' in text
    assert 'href="/staff?status=open&amp;channel=sms&amp;assignee=unassigned">Unassigned</a>' in text
    assert 'href="/staff?status=resolved&amp;channel=sms">Resolved</a>' in text


async def test_paging_links_keep_the_filters(console, accounts, rows, session_factory):
    conversations = []
    for minutes in range(53):
        conversation = rows.conversation("web")
        rows.escalation(conversation, at=START - timedelta(minutes=100 - minutes))
        conversations.append(conversation)
    await console.signed_in_as("staff@clinic.example")
    _, text = await console.page("/staff?channel=web")
    assert row_ids(text) == conversations[:50]
    assert "53 matching, page 1 of 2" in text
    assert 'id="inbox-next" href="/staff?status=open&amp;channel=web&amp;page=2"' in text
    _, text = await console.page("/staff?channel=web&page=2")
    assert row_ids(text) == conversations[50:]
    assert 'id="inbox-previous" href="/staff?status=open&amp;channel=web"' in text
    data = await (await console.client.get("/staff/api/inbox?channel=web&page=2")).json()
    assert data["paging"]["page"] == 2 and data["paging"]["next_url"] is None
    with session_factory() as session:
        viewed = session.execute(select(AuditLog).where(AuditLog.action == "inbox_viewed")
                                 .order_by(AuditLog.id)).scalars().all()
    assert viewed[-1].detail["conversation_ids"] == conversations[50:] and viewed[-1].detail["page"] == 2


async def test_bad_parameters_are_400_with_a_message(console, accounts, rows):
    await console.signed_in_as("staff@clinic.example")
    for query, words in (("status=everything", "status must be one of"), ("priority=high", "priority"),
                         ("reason=spam", "reason"), ("channel=fax", "channel"), ("verified=maybe", "verified"),
                         ("assignee=them", "assignee"), ("page=-1", "page"), ("page=x", "page"),
                         ("page=99999999999", "page"), (f"q={'x' * 101}", "search")):
        for path in ("/staff", "/staff/api/inbox"):
            response = await console.client.get(f"{path}?{query}")
            assert response.status == 400, (path, query)
            assert words in await response.text(), (path, query)


async def test_unread_markers_are_per_staff_member(console, accounts, rows, clock):
    ids = seed(rows, accounts)
    await console.signed_in_as("staff@clinic.example")
    _, text = await console.page("/staff?channel=sms")
    assert '<span class="visually-hidden">unread</span>' in row_of(text, ids["verified"])
    await console.page(f"/staff/conversations/{ids['verified']}")
    _, text = await console.page("/staff?channel=sms")
    assert "unread" not in row_of(text, ids["verified"])
    data = await (await console.client.get("/staff/api/inbox")).json()
    assert {r["conversation_id"]: r["unread"] for r in data["escalations"]}[ids["verified"]] is False
    await console.post("/staff/logout")
    await console.signed_in_as("clinician@clinic.example")
    _, text = await console.page("/staff?channel=sms")
    assert '<span class="visually-hidden">unread</span>' in row_of(text, ids["verified"])
    rows.message(ids["verified"], "Hello?", at=START)
    await console.post("/staff/logout")
    clock.advance(minutes=1)  # a sign-in at the very moment of a sign-out counts as ended
    await console.signed_in_as("staff@clinic.example")
    _, text = await console.page("/staff?channel=sms")
    assert '<span class="visually-hidden">unread</span>' in row_of(text, ids["verified"])  # wrote again


async def test_bulk_resolve_hands_back_silently_and_audits_each(console, accounts, rows, session_factory,
                                                                 deliverers):
    ids = seed(rows, accounts)
    with session_factory() as session:
        spam_escalations = session.execute(select(Escalation.id).where(
            Escalation.conversation_id.in_(ids["spam"])).order_by(Escalation.id)).scalars().all()
    await console.signed_in_as("staff@clinic.example")
    _, text = await console.page("/staff")
    assert 'form="bulk-resolve" name="escalation_id"' in text and "Resolve selected" in text
    fields = [("escalation_id", str(e)) for e in spam_escalations]
    refused = await console.client.post("/staff/inbox/resolve", data=fields, allow_redirects=False)
    assert refused.status == 403  # no CSRF token
    response = await console.client.post("/staff/inbox/resolve", allow_redirects=False, data=fields + [
        ("csrf_token", console.csrf), ("next", "/staff?priority=urgent")])
    assert response.status == 303 and response.headers["Location"] == "/staff?priority=urgent"
    _, text = await console.page("/staff?priority=urgent")
    assert "Resolved 3 conversations" in text and "the patients were not told" in text
    assert row_ids(text) == []
    with session_factory() as session:
        owners = dict(session.execute(select(Conversation.id, Conversation.owner)).all())
        entries = session.execute(select(AuditLog).where(AuditLog.action == "hand_back")).scalars().all()
    assert {owners[c] for c in ids["spam"]} == {"bot"} and owners[ids["verified"]] == "staff"
    assert sorted(int(e.subject_id) for e in entries) == ids["spam"]
    assert all(e.detail["bulk"] and e.actor_id == str(accounts["staff"]) for e in entries)
    assert all(d.deliveries == [] for d in deliverers.values())  # nobody was told
    again = await console.post("/staff/inbox/resolve", {"escalation_id": str(spam_escalations[0])}, json_api=True)
    assert (await again.json())["message"] == "Nothing resolved: those were already resolved."


async def test_bulk_resolve_is_for_staff_and_admins_and_checks_its_input(console, accounts, rows):
    ids = seed(rows, accounts)
    await console.signed_in_as("clinician@clinic.example")
    _, text = await console.page("/staff")
    assert "Resolve selected" not in text
    assert (await console.post("/staff/inbox/resolve", {"escalation_id": "1"})).status == 403
    await console.post("/staff/logout")
    await console.signed_in_as("admin@clinic.example")
    nothing = await console.post("/staff/inbox/resolve", {}, json_api=True)
    assert nothing.status == 422 and "select some rows" in (await nothing.json())["error"]
    bad = await console.post("/staff/inbox/resolve", {"escalation_id": "x"})
    assert bad.status == 400
    assert ids["spam"]
