"""Turn the inbox's views into what a receptionist reads: labels, clinic-local times, waiting times.

Each function returns plain JSON-ready dicts, used both by the templates (first paint) and by the
JSON API (live redraws), so the two always show the same thing.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, Optional
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from bot.clinic.bookings import CourseProgress, SessionView
from bot.clinic.inbox import (
    AuditItem,
    CareItem,
    ConversationView,
    EscalationView,
    InboxItem,
    MessageItem,
    NoteItem,
    PatientPanel,
    RequestItem,
    TranscriptPage,
)
from bot.clinic.summaries import readable_summary
from bot.clinic.timefmt import describe_when

CHANNEL_LABELS = {"web": "Web chat", "sms": "SMS", "whatsapp": "WhatsApp"}
REASON_LABELS = {
    "asked_for_person": "Asked for a person",
    "fallback": "The assistant could not answer",
    "booking_change": "Booking change",
    "red_flag": "Urgent symptom (red flag)",
    "engine_error": "Technical fault",
    "verification_locked": "Identity check locked",
}
STATUS_LABELS = {"waiting": "Waiting", "assigned": "Assigned", "resolved": "Resolved"}
REQUEST_LABELS = {"reschedule": "Reschedule a session", "cancel": "Cancel a session",
                  "delete_data": "Delete my data"}
AUTHOR_LABELS = {"patient": "Patient", "bot": "Assistant", "staff": "Staff", "system": "System"}
SESSION_STATUS_LABELS = {"booked": "Booked", "completed": "Completed", "cancelled": "Cancelled",
                         "no_show": "Did not attend"}
CARE_KIND_LABELS = {"preparation": "Preparation", "reminder": "Reminder",
                    "aftercare_checkin": "Aftercare check-in", "maintenance": "Maintenance"}
CARE_KINDS_BEFORE_THE_SESSION = ("preparation", "reminder")
CARE_STATUS_LABELS = {"scheduled": "Scheduled", "sending": "Sending", "sent": "Sent", "delivered": "Delivered",
                      "read": "Read", "failed": "Failed", "skipped": "Skipped", "cancelled": "Cancelled",
                      "unknown": "Unknown (may or may not have gone)"}
CARE_STATUSES_GONE = ("sent", "delivered", "read", "unknown")
FILTER_LABELS = {"open": "Open (waiting or assigned)", "waiting": "Waiting", "assigned": "Assigned",
                 "resolved": "Resolved", "all": "All"}
PRIORITY_LABELS = {"urgent": "Urgent", "normal": "Normal"}
VERIFIED_LABELS = {"yes": "Verified patients", "no": "Not verified"}
# The inbox's views: (label, status, assignee); the other filters stay as they are.
INBOX_VIEWS = (("All open", "open", ""), ("Mine", "open", "mine"), ("Unassigned", "open", "unassigned"),
               ("Resolved", "resolved", ""))
PREVIEW_AUTHORS = {"patient": "Patient", "bot": "Assistant", "staff": "Staff", "system": "System"}


def inbox_url(filters: Dict[str, Any], page: int = 1, **changes: str) -> str:
    """The inbox with these filters (and `changes` to them) on page `page`; empty values left out."""
    fields = {k: v for k, v in {**filters, **changes}.items() if k != "mine" and v not in ("", None, False)}
    if page > 1:
        fields["page"] = page
    query = urlencode(fields)
    return f"/staff?{query}" if query else "/staff"


def inbox_views(filters: Dict[str, Any]) -> list:
    """The view links: [{"label", "url", "current"}]."""
    return [{"label": label, "url": inbox_url(filters, status=status, assignee=assignee),
             "current": filters.get("status") == status and filters.get("assignee", "") == assignee}
            for label, status, assignee in INBOX_VIEWS]


def inbox_choices() -> Dict[str, Dict[str, str]]:
    """The options of the inbox's filter selects (value -> label)."""
    return {"priority": PRIORITY_LABELS, "reason": REASON_LABELS, "channel": CHANNEL_LABELS,
            "verified": VERIFIED_LABELS}


def local_time(moment: Optional[datetime], tz: ZoneInfo, now: datetime) -> str:
    """Like "Fri 21 Nov 2026, 14:05", in the clinic's timezone (empty for None)."""
    if moment is None:
        return ""
    local = moment.astimezone(tz)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


def when(moment: Optional[datetime], tz: ZoneInfo, now: datetime) -> str:
    """Like "today at 14:05" or "on Friday at 10:00" (empty for None)."""
    return describe_when(moment, now, tz) if moment is not None else ""


def duration(seconds: float) -> str:
    """A waiting time: "less than a minute", "12 min", "2 h 5 min", "3 days 4 h"."""
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    day_word = "day" if days == 1 else "days"
    return f"{days} {day_word} {hours} h" if hours else f"{days} {day_word}"


def patient_label(name: Optional[str], ref: Optional[str]) -> str:
    """Like "Alex Morgan (MC-4827)", or "Not verified"."""
    if name is None:
        return "Not verified"
    return f"{name} ({ref})" if ref else name


def iso(moment: Optional[datetime]) -> Optional[str]:
    """ISO 8601 with the UTC offset, or None."""
    return moment.isoformat() if moment is not None else None


def inbox_item(item: InboxItem, tz: ZoneInfo, now: datetime, me: int) -> Dict[str, Any]:
    """One inbox row."""
    waiting = None if item.waiting_since is None else duration((now - item.waiting_since).total_seconds())
    return {
        "escalation_id": item.escalation_id,
        "conversation_id": item.conversation_id,
        "url": f"/staff/conversations/{item.conversation_id}",
        "priority": item.priority,
        "urgent": item.urgent,
        "priority_label": "Urgent" if item.urgent else "Normal",
        "status": item.status,
        "status_label": STATUS_LABELS.get(item.status, item.status),
        "channel": item.channel,
        "channel_label": CHANNEL_LABELS.get(item.channel, item.channel),
        "reason": item.reason,
        "reason_label": REASON_LABELS.get(item.reason, item.reason),
        "summary": readable_summary(item.summary),
        "merged_note": merged_note(item.merged_reports, item.merged_into_conversation),
        "verified": item.patient_id is not None,
        "patient_label": patient_label(item.patient_name, item.patient_ref),
        "assigned_label": ("you" if item.assigned_to == me else (item.assigned_email or "someone"))
        if item.assigned_to else "nobody",
        "mine": item.assigned_to == me,
        "created_at": iso(item.created_at),
        "created_label": when(item.created_at, tz, now),
        "resolved_label": when(item.resolved_at, tz, now),
        "waiting_since": iso(item.waiting_since),
        "waiting_label": waiting or ("answered" if item.status != "resolved" else "resolved"),
        "waiting": waiting is not None,
        "preview": item.preview,
        "preview_author": PREVIEW_AUTHORS.get(item.preview_author or "", "") if item.preview else "",
        "unread": item.unread,
    }


def request_item(item: RequestItem, tz: ZoneInfo, now: datetime) -> Dict[str, Any]:
    """One staff request."""
    return {
        "id": item.id,
        "kind": item.kind,
        "kind_label": REQUEST_LABELS.get(item.kind, item.kind),
        "wishes": item.wishes,
        "status": item.status,
        "patient_label": patient_label(item.patient_name, item.patient_ref),
        "session_label": when(item.appointment_starts_at, tz, now),
        "created_label": when(item.created_at, tz, now),
        "done_label": when(item.done_at, tz, now),
        "channel_label": CHANNEL_LABELS.get(item.channel, item.channel),
        "conversation_url": f"/staff/conversations/{item.conversation_id}" if item.conversation_id else None,
        "done_url": f"/staff/requests/{item.id}/done",
        # A "delete my data" request is closed by erasing (admins), never by "Mark done" alone.
        "erasable": item.kind == "delete_data",
        "erase_url": f"/staff/requests/{item.id}/erase" if item.kind == "delete_data" else None,
    }


ERASURE_COUNT_LABELS = {
    "conversations": "conversations",
    "messages": "messages (the patient's, the assistant's and staff replies)",
    "staff_notes": "internal staff notes",
    "escalations": "escalations (inbox entries)",
    "events": "assistant memory entries (Rasa tracker events)",
    "verification_attempts": "identity-check attempts",
    "staff_requests_cleared": "requests whose wording is blanked (this one, and the patient's finished ones)",
}


def erasure_plan(counts: Dict[str, int]) -> list:
    """What an erasure covers, one line per kind of record: [{"key", "count", "label"}]."""
    return [{"key": key, "count": counts.get(key, 0), "label": label}
            for key, label in ERASURE_COUNT_LABELS.items()]


def escalation(view: Optional[EscalationView], tz: ZoneInfo, now: datetime,
               me: int) -> Optional[Dict[str, Any]]:
    """The escalation beside a transcript."""
    if view is None:
        return None
    return {
        "id": view.id,
        "priority": view.priority,
        "urgent": view.priority == "urgent",
        "priority_label": "Urgent" if view.priority == "urgent" else "Normal",
        "status": view.status,
        "status_label": STATUS_LABELS.get(view.status, view.status),
        "reason": view.reason,
        "reason_label": REASON_LABELS.get(view.reason, view.reason),
        "summary": readable_summary(view.summary),
        "merged_note": merged_note(view.merged_reports, view.merged_into_conversation),
        "merged_into_url": transcript_url(view.merged_into_conversation) if view.merged_into_conversation else None,
        "merged_urls": [(conversation_id, transcript_url(conversation_id))
                        for conversation_id in view.merged_conversations],
        "assigned_label": ("you" if view.assigned_to == me else (view.assigned_email or "someone"))
        if view.assigned_to else "nobody",
        "created_label": when(view.created_at, tz, now),
        "resolved_label": when(view.resolved_at, tz, now),
    }


def merged_note(merged_reports: int, merged_into_conversation: Optional[int]) -> str:
    """What staff read about urgent reports merged because one network sent too many."""
    if merged_into_conversation is not None:
        return (f"Merged into conversation {merged_into_conversation}: too many urgent reports came from the "
                "same network. The patient was given the urgent guidance.")
    if merged_reports:
        more = "1 more urgent report" if merged_reports == 1 else f"{merged_reports} more urgent reports"
        return f"{more} from the same network merged here (possibly a flood); see the resolved list."
    return ""


def conversation(view: ConversationView, tz: ZoneInfo, now: datetime, me: int) -> Dict[str, Any]:
    """A conversation's header."""
    phone = view.channel in ("sms", "whatsapp")
    return {
        "id": view.id,
        "channel": view.channel,
        "channel_label": CHANNEL_LABELS.get(view.channel, view.channel),
        "address": view.external_id if phone else None,
        "owner": view.owner,
        "owner_label": ("Staff are answering: the assistant is silent" if view.owner == "staff"
                        else "The assistant is answering"),
        "verified": view.patient_id is not None,
        "last_patient_message_label": when(view.last_patient_message_at, tz, now),
        "escalation": escalation(view.escalation, tz, now, me),
    }


def message(item: MessageItem, tz: ZoneInfo, now: datetime) -> Dict[str, Any]:
    """One transcript line."""
    author = AUTHOR_LABELS.get(item.author, item.author)
    if item.author == "staff" and item.staff_email:
        author = f"Staff ({item.staff_email})"
    return {"id": item.id, "author": item.author, "author_label": author, "text": item.text,
            "at": iso(item.created_at), "time_label": local_time(item.created_at, tz, now)}


def transcript_url(conversation_id: int, before: Optional[int] = None) -> str:
    """The conversation page: its newest messages, or the page of messages before message `before`."""
    path = f"/staff/conversations/{conversation_id}"
    return path if before is None else f"{path}?before={before}"


def transcript_paging(page: TranscriptPage, conversation_id: int) -> Dict[str, Any]:
    """The links beside a transcript page: earlier messages, later ones and the newest (None when not needed)."""
    earlier = page.first_id if page.earlier else None
    return {
        "earlier_before": earlier,
        "earlier_url": transcript_url(conversation_id, earlier) if earlier is not None else None,
        "later_url": transcript_url(conversation_id, page.later_before) if page.later else None,
        "newest_url": transcript_url(conversation_id) if page.later else None,
        "newest": not page.later,
    }


def note(item: NoteItem, tz: ZoneInfo, now: datetime) -> Dict[str, Any]:
    """One internal note."""
    return {"id": item.id, "text": item.text, "by": item.staff_email or "former staff member",
            "at": iso(item.created_at), "time_label": local_time(item.created_at, tz, now)}


def session_row(view: SessionView, tz: ZoneInfo, now: datetime) -> Dict[str, Any]:
    """One booked, completed, cancelled or missed session."""
    number = (f"session {view.number_in_course} of {view.planned_sessions}"
              if view.number_in_course else "not counted")
    return {"when": local_time(view.starts_at, tz, now), "relative": when(view.starts_at, tz, now),
            "status_label": SESSION_STATUS_LABELS.get(view.status, view.status), "treatment": view.treatment,
            "number_label": number, "practitioner": view.practitioner or "",
            "duration_min": view.duration_min,
            "confirmed_label": (f"confirmed by the patient {local_time(view.confirmed_at, tz, now)}"
                                if view.confirmed_at else "")}


def care_title(item: CareItem) -> str:
    """The kind of a care message as staff read it: "Preparation (48 h before)", "Aftercare check-in"."""
    label = CARE_KIND_LABELS.get(item.kind, item.kind)
    hours = round((item.session_starts_at - item.due_at).total_seconds() / 3600)
    if item.kind in CARE_KINDS_BEFORE_THE_SESSION and hours > 0:
        return f"{label} ({hours} h before)"
    return label


def care_status(item: CareItem) -> str:
    """What became of it: "Delivered", "Failed (error 30007)", "Skipped (quiet hours)"."""
    label = CARE_STATUS_LABELS.get(item.status, item.status)
    why = (item.detail or "").replace("_", " ").strip()
    if item.status == "failed":
        reasons = [f"error {item.error_code}" if item.error_code else "", why]
        shown = "; ".join(reason for reason in reasons if reason)
        return f"{label} ({shown})" if shown else label
    if item.status in ("skipped", "cancelled") and why:
        return f"{label} ({why})"
    return label


def care_row(item: CareItem, tz: ZoneInfo, now: datetime) -> Dict[str, Any]:
    """One care message beside the bookings: kind, when due or sent (clinic time), status."""
    gone = item.status in CARE_STATUSES_GONE and item.sent_at is not None
    moment = local_time(item.sent_at if gone else item.due_at, tz, now)
    status_time = local_time(item.status_at, tz, now) if item.status in ("delivered", "read", "failed") else ""
    return {"id": item.id, "kind": item.kind, "title": care_title(item), "status": item.status,
            "status_label": care_status(item), "status_time": status_time,
            "time_label": f"{'sent' if gone else 'due'} {moment}",
            "session_label": local_time(item.session_starts_at, tz, now),
            "channel_label": CHANNEL_LABELS.get(item.channel or "", item.channel or "")}


def progress(view: Optional[CourseProgress], tz: ZoneInfo, now: datetime) -> Optional[Dict[str, Any]]:
    """Course progress."""
    if view is None:
        return None
    return {"treatment": view.treatment, "completed": view.completed, "planned": view.planned,
            "remaining": view.remaining,
            "next_label": when(view.next_session.starts_at, tz, now) if view.next_session else ""}


def patient_panel(panel: PatientPanel, tz: ZoneInfo, now: datetime) -> Dict[str, Any]:
    """Who the verified patient is, their sessions and care messages."""
    return {
        "id": panel.patient.id,
        "url": f"/staff/patients/{panel.patient.id}",
        "name": panel.patient.full_name,
        "ref": panel.patient.clinic_ref,
        "phone": panel.patient.phone_e164 or "",
        "preferred_channel": CHANNEL_LABELS.get(panel.patient.preferred_channel,
                                                panel.patient.preferred_channel),
        "upcoming": [session_row(s, tz, now) for s in panel.upcoming],
        "past": [session_row(s, tz, now) for s in panel.past],
        "progress": progress(panel.progress, tz, now),
        "care": [care_row(c, tz, now) for c in panel.care],
    }


def audit_row(item: AuditItem, tz: ZoneInfo, now: datetime) -> Dict[str, Any]:
    """One audit row."""
    actor = item.actor_type
    if item.actor_id:
        actor += f" #{item.actor_id}"
    if item.actor_email:
        actor += f" ({item.actor_email})"
    subject = f"{item.subject_type} #{item.subject_id}" if item.subject_type else ""
    detail = ", ".join(f"{k}={v}" for k, v in sorted((item.detail or {}).items()))
    return {"id": item.id, "at": iso(item.at), "time_label": local_time(item.at, tz, now), "actor": actor,
            "action": item.action, "subject": subject, "detail": detail}
