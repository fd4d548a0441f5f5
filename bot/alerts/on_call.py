"""Which urgent cases the on-call phone should hear about, claimed once across replicas.

An urgent escalation still waiting (nobody took it) `urgent_page_after_minutes` after it was
opened, while the clinic is open, is paged once (a case from before opening counts its wait
from the opening: it is paged N minutes after the clinic opens if nobody has taken it by then): `claim_pages` sets `paged_at` and audits it in
the caller's transaction, locking the rows it claims (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
two replicas never claim the same case; SQLite serialises writers anyway). Outside opening hours
nothing is paged: the patient has already been told the clinic is closed and given the
emergency guidance. The SMS names no patient and nothing they wrote, only that a case is
waiting and where the console is.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import List, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clinic import audit
from bot.clinic.hours import is_open
from bot.db.models import Escalation
from bot.settings import ClinicProfile

CLAIM_LIMIT = 20  # pages claimed in one run; the rest wait for the next run
CONSOLE_PATH = "/staff"


def page_text(clinic_name: str, public_base_url: str) -> str:
    """The on-call SMS: that an urgent case waits, and the console's address; no patient detail."""
    return f"Urgent case waiting in the {clinic_name} console: {public_base_url.rstrip('/')}{CONSOLE_PATH}"


def _open_since(profile: ClinicProfile, now: datetime) -> Optional[datetime]:
    """When the clinic opened today if it is open at `now`, else None."""
    if not is_open(profile, now):
        return None
    local = now.astimezone(profile.timezone)
    opens = profile.opening_hours.days[local.weekday()][0]
    return datetime.combine(local.date(), opens, tzinfo=profile.timezone)


def claim_pages(session: Session, profile: ClinicProfile, now: datetime, limit: int = CLAIM_LIMIT) -> List[int]:
    """Mark the urgent cases waiting too long as paged (audited); their escalation ids, oldest first.

    Nothing when no on-call phone is configured or the clinic is closed at `now`."""
    opened = _open_since(profile, now)
    wait = timedelta(minutes=profile.urgent_page_after_minutes)
    if not profile.on_call_phone or opened is None or now - opened < wait:
        return []
    cutoff = now - wait
    escalations = list(session.execute(
        select(Escalation)
        .where(Escalation.priority == "urgent", Escalation.status == "waiting",
               Escalation.assigned_to.is_(None), Escalation.paged_at.is_(None), Escalation.created_at <= cutoff)
        .order_by(Escalation.created_at, Escalation.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # rendered on PostgreSQL; SQLite has no row locks
    ).scalars())
    for escalation in escalations:
        escalation.paged_at = now
        audit.record(session, actor_type="system", actor_id=None, action="on_call_paged",
                     subject_type="escalation", subject_id=escalation.id,
                     detail={"after_minutes": profile.urgent_page_after_minutes}, now=now)
    return [escalation.id for escalation in escalations]


def release_page(session: Session, escalation_id: int, now: datetime, reason: str) -> None:
    """The SMS for this case could not be sent: clear `paged_at` so the next run tries again (audited)."""
    escalation = session.get(Escalation, escalation_id, with_for_update=True)
    if escalation is None:
        return
    escalation.paged_at = None
    audit.record(session, actor_type="system", actor_id=None, action="on_call_page_failed",
                 subject_type="escalation", subject_id=escalation_id, detail={"reason": reason[:200]}, now=now)
