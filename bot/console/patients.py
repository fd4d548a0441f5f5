"""The whole patient: GET /staff/patients/{id}?before=M, their identity, bookings, care messages and
every conversation on every channel in one timeline (bot.clinic.patient_record), newest page last.

Every view is audited (`patient_viewed` on the patient: how many messages, which page, whether the
date of birth was shown). The phone number is masked but for its last 3 digits (enough to tell two
numbers apart on a call). The date of birth, which with the clinic reference is what proves who a
patient is in a chat, is shown to clinicians and admins only: front-desk staff do not need it to
answer, and not showing it keeps the proof out of more eyes.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, Optional
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.appkeys import SESSION_FACTORY
from bot.clinic import audit, patient_record
from bot.clinic import inbox as queries
from bot.console import present
from bot.console.options import CONSOLE_OPTIONS
from bot.console.security import PREFIX, current_staff
from bot.console.views import _before_param, _int_param, _now, _tz, render

PATIENTS_PATH = f"{PREFIX}/patients"
DATE_OF_BIRTH_ROLES = ("clinician", "admin")
SHOWN_DIGITS = 3


def patient_url(patient_id: int, before: Optional[int] = None) -> str:
    """The patient page: the newest messages, or the page before message `before`."""
    path = f"{PATIENTS_PATH}/{patient_id}"
    return path if before is None else f"{path}?before={before}"


def masked_phone(phone: Optional[str]) -> str:
    """The number with every digit but the last 3 hidden ("+•• •••• ••••123" style, kept its length)."""
    if not phone:
        return ""
    digits = sum(ch.isdigit() for ch in phone)
    seen, out = 0, []
    for ch in phone:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > digits - SHOWN_DIGITS else "•")
        else:
            out.append(ch)
    return "".join(out)


def identity(found: patient_record.Identity, role: str) -> Dict[str, Any]:
    """Who the patient is, as this staff member may see it."""
    return {"id": found.id, "name": found.full_name, "ref": found.clinic_ref,
            "phone": masked_phone(found.phone_e164),
            "date_of_birth": f"{found.date_of_birth.day} {found.date_of_birth:%B %Y}" if role in DATE_OF_BIRTH_ROLES else None,
            "preferred_channel": present.CHANNEL_LABELS.get(found.preferred_channel, found.preferred_channel)}


def timeline_item(item: patient_record.TimelineItem, tz: ZoneInfo, now: datetime) -> Dict[str, Any]:
    """One timeline line: the message, its channel badge and its conversation's link."""
    return {**present.message(item.message, tz, now), "channel": item.channel,
            "channel_label": present.CHANNEL_LABELS.get(item.channel, item.channel),
            "conversation_id": item.conversation_id,
            "conversation_url": present.transcript_url(item.conversation_id)}


def paging(page: patient_record.TimelinePage, patient_id: int) -> Dict[str, Any]:
    """The links beside a timeline page (None when not needed)."""
    earlier = page.first_id if page.earlier else None
    return {"earlier_url": patient_url(patient_id, earlier) if earlier is not None else None,
            "later_url": patient_url(patient_id, page.later_before) if page.later else None,
            "newest_url": patient_url(patient_id) if page.later else None, "newest": not page.later}


async def patient_page(request: web.Request) -> web.Response:
    """GET /staff/patients/{id}?before=M: the whole patient (400 for a malformed id, 404 for an unknown one)."""
    staff = current_staff(request)
    patient_id = _int_param(request, "id")
    before = _before_param(request)
    now, tz, options = _now(request), _tz(request), request.app[CONSOLE_OPTIONS]
    with request.app[SESSION_FACTORY].begin() as db:
        found = patient_record.identity(db, patient_id)
        if found is None:
            raise web.HTTPNotFound(text="There is no such patient.")
        panel = queries.patient_panel(db, patient_id, now)
        page = patient_record.timeline_page(db, patient_id, before, limit=options.transcript_page_messages,
                                            max_chars=options.transcript_page_chars)
        shown: Dict[str, Any] = {"messages": len(page.items), "conversations": page.conversations,
                                 "care_messages": len(panel.care) if panel else 0,
                                 "date_of_birth": staff.role in DATE_OF_BIRTH_ROLES}
        if before is not None:
            shown["before_message_id"] = before
        audit.record(db, actor_type="staff", actor_id=staff.id, action="patient_viewed", subject_type="patient",
                     subject_id=patient_id, detail=shown, now=now)
    return await render(request, "console/patient.html", {
        "title": f"Patient {found.clinic_ref}", "page": "patient",
        "identity": identity(found, staff.role),
        "patient": present.patient_panel(panel, tz, now) if panel else None,
        "timeline": [timeline_item(item, tz, now) for item in page.items],
        "paging": paging(page, patient_id), "conversations": page.conversations,
    })


def add_patient_routes(app: web.Application) -> None:
    """The patient page (any id text reaches it: a malformed one is a 400, not a missing route)."""
    app.router.add_get(PATIENTS_PATH + "/{id}", patient_page, name="console_patient")
