"""A known set of conversations, messages, escalations and care messages for the analytics tests.

`seed_known_figures` writes them; the tests compute every figure by hand from the description
below (all times UTC; the period is 18-20 November 2026 in the clinic's timezone).

In Europe/Paris (UTC+1 in November) the period runs from 17 Nov 23:00 to 20 Nov 23:00 UTC:
- c1 18 Nov 09:00: patient 09:00, bot 09:00:05, patient 09:01 (not understood). No staff.
- c2 18 Nov 22:30 (Paris 23:30 on the 18th): patient 22:30; asked_for_person escalation 22:31,
  staff 22:41 and 22:50, resolved 23:01.
- c3 19 Nov 23:30 (Paris 00:30 on the 20th): patient 23:30; red flag (allergy, breathing) 23:30,
  staff 23:32, still assigned.
- c4 17 Nov 22:30 (Paris 23:30 on the 17th, before the period): patient 22:30; patient 18 Nov 07:59
  (not understood); fallback escalation 18 Nov 08:00, staff 08:05, resolved 08:20; bot care message
  19 Nov 08:00; patient 20 Nov 07:00.
- c5 20 Nov 10:00: patient 10:00; red flag (faint) 10:01 merged into c3's; staff 10:05.
- c6 19 Nov 12:00: patient 12:00; red flag without a recorded category 12:00, waiting.
- c7 20 Nov 23:10 (Paris 00:10 on the 21st, after the period): patient 23:10.
- c8 1 Nov: bot care messages 19 Nov 09:00 and 20 Nov 10:00; patient 21 Nov 10:00.
- c9 18 Nov 12:00: staff 12:05 and a resolved asked_for_person escalation 12:01 (resolved 12:03
  with no staff reply before it: no first response).
Care messages (due, status, sent): 19 Nov 08:00 read sent 08:00 (c4); 19 Nov 09:00 delivered sent
09:00 (c8); 20 Nov 09:00 failed never sent; 20 Nov 10:00 sent 10:00 (c8); 20 Nov 12:00 scheduled;
17 Nov 10:00 sent (c8 message of the 19th; before the period).
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Dict, Optional

from bot.db.models import (
    Appointment,
    CareMessage,
    Conversation,
    Escalation,
    EscalationCategory,
    Message,
    Patient,
    TreatmentCourse,
)

TIMEZONE = "Europe/Paris"
FIRST_DAY, LAST_DAY = date(2026, 11, 18), date(2026, 11, 20)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A UTC time in November 2026."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=timezone.utc)


class _Seed:
    """Writes the rows in one session."""

    def __init__(self, session) -> None:
        self.session = session
        self.count = 0

    def add(self, row):
        self.session.add(row)
        self.session.flush()
        return row

    def conversation(self, created: datetime) -> int:
        self.count += 1
        return self.add(Conversation(channel="sms", external_id=f"+4477009000{self.count:02d}", owner="bot",
                                     created_at=created)).id

    def message(self, conversation_id: int, author: str, when: datetime, fallback: Optional[bool] = None) -> int:
        return self.add(Message(conversation_id=conversation_id, direction="in" if author == "patient" else "out",
                                author=author, text="words", created_at=when, fallback=fallback)).id

    def escalation(self, conversation_id: int, reason: str, when: datetime, *, resolved: Optional[datetime] = None,
                   status: str = "waiting", merged_into: Optional[int] = None, categories=()) -> int:
        row = self.add(Escalation(conversation_id=conversation_id, reason=reason, summary="", created_at=when,
                                  priority="urgent" if reason == "red_flag" else "normal",
                                  status="resolved" if resolved else status, resolved_at=resolved,
                                  merged_into_id=merged_into))
        for category in categories:
            self.add(EscalationCategory(escalation_id=row.id, category=category))
        return row.id


def seed_known_figures(session_factory) -> Dict[str, int]:
    """Write the rows described in the module docstring; the conversations' ids by name."""
    with session_factory.begin() as session:
        seed = _Seed(session)
        ids = {name: seed.conversation(created) for name, created in (
            ("c1", at(18, 9)), ("c2", at(18, 22, 30)), ("c3", at(19, 23, 30)), ("c4", at(17, 22, 30)),
            ("c5", at(20, 10)), ("c6", at(19, 12)), ("c7", at(20, 23, 10)), ("c8", at(1, 9)),
            ("c9", at(18, 12)))}
        seed.message(ids["c1"], "patient", at(18, 9))
        seed.message(ids["c1"], "bot", at(18, 9, 0, 5))
        seed.message(ids["c1"], "patient", at(18, 9, 1), fallback=True)
        seed.message(ids["c2"], "patient", at(18, 22, 30))
        seed.escalation(ids["c2"], "asked_for_person", at(18, 22, 31), resolved=at(18, 23, 1))
        seed.message(ids["c2"], "staff", at(18, 22, 41))
        seed.message(ids["c2"], "staff", at(18, 22, 50))
        seed.message(ids["c3"], "patient", at(19, 23, 30))
        red = seed.escalation(ids["c3"], "red_flag", at(19, 23, 30), status="assigned",
                              categories=("allergy", "breathing"))
        seed.message(ids["c3"], "staff", at(19, 23, 32))
        seed.message(ids["c4"], "patient", at(17, 22, 30))
        seed.message(ids["c4"], "patient", at(18, 7, 59), fallback=True)
        seed.escalation(ids["c4"], "fallback", at(18, 8), resolved=at(18, 8, 20))
        seed.message(ids["c4"], "staff", at(18, 8, 5))
        care_c4 = seed.message(ids["c4"], "bot", at(19, 8))
        seed.message(ids["c4"], "patient", at(20, 7))
        seed.message(ids["c5"], "patient", at(20, 10))
        seed.escalation(ids["c5"], "red_flag", at(20, 10, 1), resolved=at(20, 10, 1), merged_into=red,
                        categories=("faint",))
        seed.message(ids["c5"], "staff", at(20, 10, 5))
        seed.message(ids["c6"], "patient", at(19, 12))
        seed.escalation(ids["c6"], "red_flag", at(19, 12))
        seed.message(ids["c7"], "patient", at(20, 23, 10))
        care_c8_first = seed.message(ids["c8"], "bot", at(19, 9))
        care_c8_second = seed.message(ids["c8"], "bot", at(20, 10))
        seed.message(ids["c8"], "patient", at(21, 10))
        seed.escalation(ids["c9"], "asked_for_person", at(18, 12, 1), resolved=at(18, 12, 3))
        seed.message(ids["c9"], "staff", at(18, 12, 5))
        _care_messages(seed, care_c4, care_c8_first, care_c8_second)
    return ids


def _care_messages(seed: _Seed, care_c4: int, care_c8_first: int, care_c8_second: int) -> None:
    """The six care messages of the module docstring (two sessions of one patient)."""
    patient = seed.add(Patient(clinic_ref="MC-9001", full_name="Sam Lee", date_of_birth=date(1990, 1, 1)))
    course = seed.add(TreatmentCourse(patient_id=patient.id, treatment="Hair mesotherapy", planned_sessions=4))
    sessions = [seed.add(Appointment(course_id=course.id, starts_at=at(day, 14), duration_min=45,
                                     source_key=f"analytics-{day}")).id for day in (19, 22)]
    for appointment, kind, due, status, sent, message in (
            (sessions[0], "preparation", at(19, 8), "read", at(19, 8), care_c4),
            (sessions[0], "reminder", at(19, 9), "delivered", at(19, 9), care_c8_first),
            (sessions[0], "aftercare_checkin", at(20, 9), "failed", None, None),
            (sessions[1], "preparation", at(20, 10), "sent", at(20, 10), care_c8_second),
            (sessions[1], "reminder", at(20, 12), "scheduled", None, None),
            (sessions[1], "maintenance", at(17, 10), "sent", at(17, 10), care_c8_first)):
        seed.add(CareMessage(appointment_id=appointment, patient_id=patient.id, kind=kind, due_at=due,
                             status=status, sent_at=sent, message_id=message))
