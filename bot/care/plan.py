"""Keep the care outbox (care_messages) in step with the bookings: `plan_care(session, profile, now)`.

One pass, a handful of queries whatever the number of bookings:

- for each booked session still ahead of patients who agreed to care messages (care_consent true)
  and have a phone number: a preparation, a reminder and an aftercare check-in row, each due as the
  schedule says; a session just taken place (booked or completed) still gets its check-in;
- for each course whose planned sessions are all booked or done: a maintenance row after its last
  session;
- a due time inside the quiet hours moves to their end, unless that is too late to matter: then the
  row is "skipped" (detail "quiet hours"); a new booking too close for a message gets it "skipped"
  ("too late");
- rows still "scheduled" follow their session: moved when it moved (or the schedule changed),
  "cancelled" (detail why) when it was cancelled, missed or deleted, when consent was withdrawn or
  the phone number removed, when the kind was switched off, or (maintenance) when the course went on.

Idempotent: the unique (appointment, kind) makes a second pass (or a second replica's at the same
moment) add nothing (ON CONFLICT DO NOTHING); only rows still "scheduled" are ever changed, by
updates guarded with `status = 'scheduled'`, so a row a sender claimed meanwhile is left to it.
Sent rows stay as they are: a session moved after its reminder went does not get a second one.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Dict, List, Optional, Set, Tuple

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from bot.care.schedule import CareSchedule, Window
from bot.db.models import Appointment, CareMessage, Patient, TreatmentCourse
from bot.settings import ClinicProfile

logger = logging.getLogger(__name__)

SESSION_KINDS = ("preparation", "reminder", "aftercare_checkin")
BEFORE_SESSION = ("preparation", "reminder")
COUNTED = ("booked", "completed")
# How far back a just-finished session still gets its check-in planned (the check-in is the next day).
CHECKIN_LOOKBACK = timedelta(days=3)
INSERT_BATCH = 500


@dataclass
class PlanReport:
    """What one planning pass changed, by outcome."""

    created: int = 0
    moved: int = 0
    cancelled: int = 0
    skipped: int = 0
    unchanged: int = 0

    def describe(self) -> str:
        """"created 3, moved 1, cancelled 0, skipped 2, unchanged 10"."""
        return (f"created {self.created}, moved {self.moved}, cancelled {self.cancelled}, "
                f"skipped {self.skipped}, unchanged {self.unchanged}")


@dataclass(frozen=True)
class Candidate:
    """One session of a patient who may receive care messages."""

    appointment_id: int
    patient_id: int
    course_id: int
    starts_at: datetime
    status: str


@dataclass(frozen=True)
class Wanted:
    """A row the plan wants: its status ("scheduled" or "skipped"), due time and why skipped."""

    status: str
    due_at: datetime
    detail: Optional[str] = None


def place(window: Window, schedule: CareSchedule, profile: ClinicProfile, now: datetime,
          new: bool) -> Wanted:
    """Where a message of `window` goes: its due time out of the quiet hours, or skipped.

    `new`: the row does not exist yet, so a message already too late is recorded as skipped."""
    due = schedule.quiet_hours.next_allowed(window.due, profile.timezone)
    if due > window.latest:
        return Wanted("skipped", window.due, "quiet hours")
    if new and window.latest < now:
        return Wanted("skipped", window.due, "too late")
    return Wanted("scheduled", due)


def plan_care(session: Session, profile: ClinicProfile, now: datetime) -> PlanReport:
    """Create, move and cancel care rows so the outbox matches bookings and consent as of `now`."""
    schedule = profile.care
    report = PlanReport()
    enabled = set(schedule.enabled_kinds)
    maintenance_lookback = timedelta(days=schedule["maintenance"].days_after + schedule["maintenance"].latest_days
                                     + 1)
    since = now - max(CHECKIN_LOOKBACK, maintenance_lookback)
    candidates = _candidates(session, since)
    anchors = _maintenance_anchors(session, candidates) if "maintenance" in enabled else set()
    by_id = {candidate.appointment_id: candidate for candidate in candidates}
    existing = _existing(session, since)

    wanted: Dict[Tuple[int, str], Wanted] = {}
    for candidate in candidates:
        for kind in _kinds_for(candidate, anchors, enabled, now):
            window = schedule[kind].window(candidate.starts_at, profile)
            key = (candidate.appointment_id, kind)
            wanted[key] = place(window, schedule, profile, now, new=key not in existing)

    unwanted = [row.appointment_id for key, row in existing.items()
                if row.status == "scheduled" and key not in wanted and row.appointment_id not in by_id]
    states = _states(session, sorted(set(unwanted)))
    changes: List[dict] = []
    for key, row in existing.items():
        if row.status != "scheduled":
            report.unchanged += 1
            continue
        want = wanted.get(key)
        if want is None:
            detail = _why_not(row, by_id.get(row.appointment_id), enabled, anchors, states)
            changes.append(_change(row, "cancelled", detail, row.due_at))
            report.cancelled += 1
        elif want.status == "skipped":
            changes.append(_change(row, "skipped", want.detail, want.due_at))
            report.skipped += 1
        elif want.due_at != row.due_at:
            changes.append(_change(row, "scheduled", None, want.due_at))
            report.moved += 1
        else:
            report.unchanged += 1
    _apply(session, changes, now)

    new_rows = [dict(appointment_id=key[0], patient_id=by_id[key[0]].patient_id, kind=key[1], due_at=want.due_at,
                     status=want.status, detail=want.detail, created_at=now, updated_at=now)
                for key, want in wanted.items() if key not in existing]
    _insert_missing(session, new_rows)
    report.created += sum(1 for row in new_rows if row["status"] == "scheduled")
    report.skipped += sum(1 for row in new_rows if row["status"] == "skipped")
    logger.info("care plan: %s", report.describe())
    return report


def _eligible(since: datetime) -> tuple:
    """Where-clauses of the sessions that may have care messages: booked or completed since `since`,
    of patients with care consent and a phone number (over Appointment, TreatmentCourse, Patient)."""
    return (Patient.care_consent.is_(True), Patient.phone_e164.isnot(None),
            Appointment.status.in_(COUNTED), Appointment.starts_at >= since)


def _change(row: CareMessage, status: str, detail: Optional[str], due_at: datetime) -> dict:
    """One guarded update of a scheduled row (see `_apply`)."""
    return {"row_id": row.id, "new_status": status, "new_detail": detail, "new_due_at": due_at}


def _apply(session: Session, changes: List[dict], now: datetime) -> None:
    """Write the changes, each only if its row is still "scheduled": a sender may have claimed it
    since it was read, and a claimed row is the sender's alone."""
    if not changes:
        return
    statement = (update(CareMessage)
                 .where(CareMessage.id == bindparam("row_id"), CareMessage.status == "scheduled")
                 .values(status=bindparam("new_status"), detail=bindparam("new_detail"),
                         due_at=bindparam("new_due_at"), updated_at=now)
                 .execution_options(synchronize_session=False))
    for start in range(0, len(changes), INSERT_BATCH):
        session.execute(statement, changes[start:start + INSERT_BATCH])


def _candidates(session: Session, since: datetime) -> List[Candidate]:
    """Sessions (booked or completed) since `since` of patients with care consent and a phone number."""
    rows = session.execute(
        select(Appointment.id, TreatmentCourse.patient_id, Appointment.course_id, Appointment.starts_at,
               Appointment.status)
        .join(TreatmentCourse, Appointment.course_id == TreatmentCourse.id)
        .join(Patient, Patient.id == TreatmentCourse.patient_id)
        .where(*_eligible(since))
    ).all()
    return [Candidate(*row) for row in rows]


def _maintenance_anchors(session: Session, candidates: List[Candidate]) -> Set[int]:
    """The appointments that are the last counted session of a course whose planned sessions are all
    booked or done (among the candidates' courses)."""
    course_ids = sorted({candidate.course_id for candidate in candidates})
    finished: Dict[int, datetime] = {}
    for start in range(0, len(course_ids), INSERT_BATCH):
        chunk = course_ids[start:start + INSERT_BATCH]
        counts = session.execute(
            select(Appointment.course_id, func.count(Appointment.id), func.max(Appointment.starts_at),
                   TreatmentCourse.planned_sessions)
            .join(TreatmentCourse, Appointment.course_id == TreatmentCourse.id)
            .where(Appointment.course_id.in_(chunk), Appointment.status.in_(COUNTED))
            .group_by(Appointment.course_id, TreatmentCourse.planned_sessions)
        ).all()
        finished.update({course_id: last for course_id, count, last, planned in counts
                         if planned > 0 and count >= planned})
    return {candidate.appointment_id for candidate in candidates
            if finished.get(candidate.course_id) == candidate.starts_at}


def _existing(session: Session, since: datetime) -> Dict[Tuple[int, str], CareMessage]:
    """The outbox rows the plan may touch or must not duplicate: every row still scheduled, and every
    row of a candidate session (two queries)."""
    found: Dict[Tuple[int, str], CareMessage] = {}
    for row in session.execute(select(CareMessage).where(CareMessage.status == "scheduled")).scalars():
        found[(row.appointment_id, row.kind)] = row
    of_candidates = (
        select(CareMessage)
        .join(Appointment, Appointment.id == CareMessage.appointment_id)
        .join(TreatmentCourse, Appointment.course_id == TreatmentCourse.id)
        .join(Patient, Patient.id == TreatmentCourse.patient_id)
        .where(CareMessage.status != "scheduled", *_eligible(since))
    )
    for row in session.execute(of_candidates).scalars():
        found[(row.appointment_id, row.kind)] = row
    return found


def _kinds_for(candidate: Candidate, anchors: Set[int], enabled: Set[str], now: datetime) -> List[str]:
    """The kinds this session should have: those before it while it is booked and ahead, its check-in
    while it is recent, and maintenance after a course's last session."""
    kinds = []
    if candidate.status == "booked" and candidate.starts_at > now:
        kinds += [kind for kind in BEFORE_SESSION if kind in enabled]
    if "aftercare_checkin" in enabled and candidate.starts_at >= now - CHECKIN_LOOKBACK:
        kinds.append("aftercare_checkin")
    if candidate.appointment_id in anchors:
        kinds.append("maintenance")
    return kinds


def _why_not(row: CareMessage, candidate: Optional[Candidate], enabled: Set[str], anchors: Set[int],
             states: Dict[int, Tuple[str, Optional[bool], Optional[str]]]) -> str:
    """Why a scheduled row is no longer wanted (never message text)."""
    if row.kind not in enabled:
        return "switched off"
    if candidate is None:
        status, consent, phone = states.get(row.appointment_id, ("deleted", None, None))
        if status in ("cancelled", "no_show", "deleted"):
            return f"session {status.replace('_', '-')}"
        if consent is not True:
            return "consent withdrawn"
        if phone is None:
            return "no phone number"
        return "too late"
    if row.kind == "maintenance" and row.appointment_id not in anchors:
        return "course continues"
    return "too late"


def _states(session: Session, appointment_ids: List[int]) -> Dict[int, Tuple[str, Optional[bool], Optional[str]]]:
    """Appointment id -> (its status, its patient's care consent, phone number), for these ids."""
    states: Dict[int, Tuple[str, Optional[bool], Optional[str]]] = {}
    for start in range(0, len(appointment_ids), INSERT_BATCH):
        rows = session.execute(
            select(Appointment.id, Appointment.status, Patient.care_consent, Patient.phone_e164)
            .join(TreatmentCourse, Appointment.course_id == TreatmentCourse.id)
            .join(Patient, Patient.id == TreatmentCourse.patient_id)
            .where(Appointment.id.in_(appointment_ids[start:start + INSERT_BATCH]))
        ).all()
        states.update({row[0]: (row[1], row[2], row[3]) for row in rows})
    return states


def _insert_missing(session: Session, rows: List[dict]) -> None:
    """Insert the rows in batches; one another planner inserted meanwhile is left as it is (the unique
    (appointment, kind) decides, ON CONFLICT DO NOTHING)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(CareMessage).on_conflict_do_nothing(index_elements=["appointment_id", "kind"])
    for start in range(0, len(rows), INSERT_BATCH):
        session.execute(statement, rows[start:start + INSERT_BATCH])


@dataclass(frozen=True)
class Upcoming:
    """A scheduled message as `care preview` lists it: no phone number, no text."""

    due_at: datetime
    kind: str
    clinic_ref: str
    channel: str


def upcoming(session: Session, now: datetime, until: datetime) -> List[Upcoming]:
    """The scheduled messages due before `until` (overdue ones too), soonest first."""
    rows = session.execute(
        select(CareMessage.due_at, CareMessage.kind, Patient.clinic_ref, Patient.preferred_channel)
        .join(Patient, Patient.id == CareMessage.patient_id)
        .where(CareMessage.status == "scheduled", CareMessage.due_at <= until)
        .order_by(CareMessage.due_at, CareMessage.id)
    ).all()
    return [Upcoming(due_at, kind, ref, channel if channel in ("sms", "whatsapp") else "sms")
            for due_at, kind, ref, channel in rows]
