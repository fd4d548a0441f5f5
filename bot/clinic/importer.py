"""Import the clinic's bookings export (CSV) into the clinic database.

Columns (header row required, any order, names case-insensitive):

    patient_ref,full_name,phone,date_of_birth,email,treatment,course_sessions,session_start,
    duration_min,status          (one line in the file)

plus optional columns:

- `practitioner` (when the column is absent, practitioners already stored are kept);
- `booking_id`, the clinic system's own number for the booking (at most 64 characters): see identity;
- `care_consent` (yes, no, true, false, 1, 0; empty keeps what is stored), whether the patient agreed
  to care messages written first (bot/care); `care_consent_source` (free text such as "consent form",
  at most 64 characters; "booking import" when a consent value comes without one) and
  `care_consent_at` (ISO 8601 with an offset, not in the future; the import time when the consent is
  given or changed without one). A source or time without a consent value on the same row is an error.

`session_start` is ISO 8601 with an offset (2026-11-20T10:00:00+00:00; a trailing Z means UTC);
`date_of_birth` is yyyy-mm-dd; `status` is booked, completed, cancelled or no-show (no_show too);
`phone` may be empty and is stored as E.164, read with the default region; `email` may be empty.

All or nothing: the whole file is checked first and every problem is reported with its file line
(the header is line 1); if there is any, nothing is written. Then everything is written in one
transaction. Importing the same file again changes nothing; a changed row updates its appointment,
patient and course in place. Later rows win for a patient's name, phone and email and a course's
planned sessions; a patient's date of birth must agree across rows, and so must their care consent
(rows that leave it empty do not count; a source or time given on two rows must be the same).

Identity: an appointment is `patient_ref|session_start in UTC`, unless its row has a `booking_id`:
then it is `patient_ref|booking_id`, and a changed `session_start` moves that appointment (its
`starts_at` is updated in place, and with it its care messages). A row with a booking_id whose
appointment was imported before without one (same patient_ref and session_start) takes that
appointment over, so a clinic can start sending booking_id without duplicating its bookings; a
session moved in the very export that first carries booking_id cannot be recognised and is new.
Appointments the file does not list are left alone (an export may be partial).

A consent change (given, refused, or a new source or time) is audited (`care_consent_changed`, with
the value, its source and time, never the phone). STOP on a channel is separate (consent records)
and an import does not undo it.

Counts: a row is "unchanged" when it created or changed nothing; a patient's or course's change
is credited to its first row in the file.
"""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, TypeVar, Union

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.clinic import audit
from bot.clinic.bookings import booking_source_key_for, normalise_phone, normalise_reference, source_key_for
from bot.db.models import Appointment, Patient, TreatmentCourse

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = (
    "patient_ref", "full_name", "phone", "date_of_birth", "email", "treatment",
    "course_sessions", "session_start", "duration_min", "status",
)
OPTIONAL_COLUMNS = ("practitioner", "booking_id", "care_consent", "care_consent_source", "care_consent_at")
CONSENT_VALUES = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}
DEFAULT_CONSENT_SOURCE = "booking import"
MAX_CONSENT_SOURCE_CHARS = 64
MAX_BOOKING_ID_CHARS = 64
STATUSES = {
    "booked": "booked",
    "completed": "completed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "no-show": "no_show",
    "no_show": "no_show",
}
MAX_ERRORS_SHOWN = 20
MAX_COURSE_SESSIONS = 100
MAX_DURATION_MIN = 600
QUERY_CHUNK = 500
DEFAULT_PROGRESS_EVERY = 1000

ProgressCallback = Callable[[int, int], None]
T = TypeVar("T")


class BookingImportError(Exception):
    """The file cannot be imported; `errors` lists every problem found ("line 7: ...")."""

    def __init__(self, errors: Sequence[str]):
        self.errors = list(errors)
        super().__init__(self.describe())

    def describe(self, limit: int = MAX_ERRORS_SHOWN) -> str:
        """A message listing up to `limit` problems, saying that nothing was imported."""
        count = len(self.errors)
        lines = [f"the bookings file has {count} problem{'s' if count != 1 else ''}; nothing was imported:"]
        lines += [f"  {error}" for error in self.errors[:limit]]
        if count > limit:
            lines.append(f"  ... and {count - limit} more")
        return "\n".join(lines)


@dataclass(frozen=True)
class ImportReport:
    """What an import did."""

    rows: int
    patients_created: int
    patients_updated: int
    appointments_created: int
    appointments_updated: int
    unchanged: int


@dataclass(frozen=True)
class BookingRow:
    """One checked row of the file."""

    line: int
    ref: str
    full_name: str
    phone: Optional[str]
    date_of_birth: date
    email: Optional[str]
    treatment: str
    course_sessions: int
    starts_at: datetime
    duration_min: int
    status: str
    practitioner: Optional[str]
    has_practitioner: bool
    booking_id: Optional[str] = None
    care_consent: Optional[bool] = None
    care_consent_source: Optional[str] = None
    care_consent_at: Optional[datetime] = None

    @property
    def source_key(self) -> str:
        """The appointment's identity across imports (by booking_id when the row has one)."""
        if self.booking_id:
            return booking_source_key_for(self.ref, self.booking_id)
        return self.start_key

    @property
    def start_key(self) -> str:
        """The identity the appointment has without a booking_id."""
        return source_key_for(self.ref, self.starts_at)


@dataclass(frozen=True)
class ConsentChange:
    """A patient's care consent as the file states it: value, and source and time when given."""

    value: bool
    source: Optional[str]
    at: Optional[datetime]


# ---------------------------------------------------------------- reading and checking


def _check_header(fieldnames: Optional[Sequence[str]]) -> List[str]:
    """Problems with the header row (missing, unknown or repeated columns)."""
    if not fieldnames:
        return ["line 1: the file is empty; expected a header row"]
    names = [name.strip().lower() for name in fieldnames]
    errors = []
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        errors.append(f"line 1: missing column(s): {', '.join(missing)}")
    # Blank names (a spreadsheet's trailing commas) are ignored, with whatever is under them.
    unknown = [name for name in names if name and name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        errors.append(
            f"line 1: unknown column(s): {', '.join(unknown)} "
            f"(expected {','.join(REQUIRED_COLUMNS)}, optionally {', '.join(OPTIONAL_COLUMNS)})"
        )
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        errors.append(f"line 1: repeated column(s): {', '.join(repeated)}")
    return errors


def _parse_int(text: str, column: str, low: int, high: int, problems: List[str]) -> int:
    """A whole number between low and high, or 0 with a problem noted."""
    try:
        value = int(text)
    except ValueError:
        problems.append(f"{column} must be a whole number, got {text!r}")
        return 0
    if not low <= value <= high:
        problems.append(f"{column} must be between {low} and {high}, got {value}")
    return value


def _parse_moment(text: str, problems: List[str], column: str = "session_start") -> Optional[datetime]:
    """An aware UTC datetime from ISO 8601 with an offset."""
    cleaned = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    try:
        value = datetime.fromisoformat(cleaned)
    except ValueError:
        problems.append(f"{column} is not an ISO 8601 date and time: {text!r}")
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        problems.append(f"{column} {text!r} has no UTC offset (write it like 2026-11-20T10:00:00+00:00)")
        return None
    return value.astimezone(timezone.utc)


def _parse_consent(
    value: Dict[str, str], now: datetime, problems: List[str]
) -> Tuple[Optional[bool], Optional[str], Optional[datetime]]:
    """care_consent, its source and its time from a row (None for what is not given)."""
    given = value["care_consent"]
    consent = CONSENT_VALUES.get(given.lower()) if given else None
    if given and consent is None:
        problems.append(f"care_consent must be yes, no, true, false, 1 or 0, got {given!r}")
    source = " ".join(value["care_consent_source"].split()) or None
    if source and len(source) > MAX_CONSENT_SOURCE_CHARS:
        problems.append(f"care_consent_source is longer than {MAX_CONSENT_SOURCE_CHARS} characters")
    at = None
    if value["care_consent_at"]:
        at = _parse_moment(value["care_consent_at"], problems, "care_consent_at")
        if at is not None and at > now:
            problems.append("care_consent_at is in the future")
    for column in ("care_consent_source", "care_consent_at"):
        if value[column] and not given:
            problems.append(f"{column} is given without a care_consent value")
    return consent, source, at


def _parse_row(
    raw: Dict[str, str], line: int, region: str, today: date, now: datetime
) -> Tuple[Optional[BookingRow], List[str]]:
    """A checked row, or the problems that stop it (values of personal fields are not echoed)."""
    problems: List[str] = []
    value = {column: (raw.get(column) or "").strip() for column in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
    for column in ("patient_ref", "full_name", "date_of_birth", "treatment", "course_sessions",
                   "session_start", "duration_min", "status"):
        if not value[column]:
            problems.append(f"{column} is empty")
    ref = normalise_reference(value["patient_ref"])

    phone = None
    if value["phone"]:
        phone = normalise_phone(value["phone"], region)
        if phone is None:
            problems.append(f"phone is not a valid phone number (default region {region})")

    born = None
    if value["date_of_birth"]:
        try:
            born = date.fromisoformat(value["date_of_birth"])
        except ValueError:
            problems.append("date_of_birth must be a real date written yyyy-mm-dd")
        else:
            if born > today:
                problems.append("date_of_birth is in the future")

    email = value["email"] or None
    if email and ("@" not in email or " " in email):
        problems.append("email does not look like an email address")

    sessions = duration = 0
    if value["course_sessions"]:
        sessions = _parse_int(value["course_sessions"], "course_sessions", 1, MAX_COURSE_SESSIONS, problems)
    if value["duration_min"]:
        duration = _parse_int(value["duration_min"], "duration_min", 1, MAX_DURATION_MIN, problems)
    starts_at = _parse_moment(value["session_start"], problems) if value["session_start"] else None
    status = STATUSES.get(value["status"].lower()) if value["status"] else None
    if value["status"] and status is None:
        problems.append(f"status must be booked, completed, cancelled or no-show, got {value['status']!r}")
    booking_id = value["booking_id"] or None
    if booking_id and len(booking_id) > MAX_BOOKING_ID_CHARS:
        problems.append(f"booking_id is longer than {MAX_BOOKING_ID_CHARS} characters")
    consent, consent_source, consent_at = _parse_consent(value, now, problems)

    if problems:
        return None, [f"line {line}: {problem}" for problem in problems]
    assert born is not None and starts_at is not None and status is not None  # empty or bad: a problem
    return BookingRow(
        line=line, ref=ref, full_name=" ".join(value["full_name"].split()), phone=phone,
        date_of_birth=born, email=email, treatment=" ".join(value["treatment"].split()),
        course_sessions=sessions, starts_at=starts_at, duration_min=duration, status=status,
        practitioner=value["practitioner"] or None, has_practitioner="practitioner" in raw,
        booking_id=booking_id, care_consent=consent, care_consent_source=consent_source,
        care_consent_at=consent_at,
    ), []


def _raw_rows(path: Path) -> Iterator[Tuple[int, Dict[str, str], List[str]]]:
    """(line, row by lower-case column, problems with its shape) for each non-blank data row."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        errors = _check_header(header)
        if errors or header is None:  # no header at all is one of the errors
            raise BookingImportError(errors)
        names = [name.strip().lower() for name in header]
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue
            problems = []
            if len(fields) != len(names):
                problems.append(f"line {reader.line_num}: has {len(fields)} fields, expected {len(names)}")
            yield reader.line_num, dict(zip(names, fields)), problems


def read_bookings(
    path: Path, default_region: str, today: date, now: Optional[datetime] = None
) -> List[BookingRow]:
    """Every row of the file, checked; raises BookingImportError listing all problems."""
    now = now or datetime.now(timezone.utc)
    rows: List[BookingRow] = []
    errors: List[str] = []
    try:
        for line, raw, shape_problems in _raw_rows(path):
            if shape_problems:
                errors.extend(shape_problems)
                continue
            row, problems = _parse_row(raw, line, default_region, today, now)
            errors.extend(problems)
            if row is not None:
                rows.append(row)
    except UnicodeDecodeError as error:
        problem = f"the file is not UTF-8 text ({error.reason} at byte {error.start})"
        raise BookingImportError([problem]) from error
    except csv.Error as error:
        raise BookingImportError([f"the file is not readable as CSV: {error}"]) from error
    except OSError as error:
        raise BookingImportError([f"cannot read {path}: {error.strerror or error}"]) from error
    errors.extend(_cross_row_problems(rows))
    if errors:
        raise BookingImportError(errors)
    return rows


def _cross_row_problems(rows: Sequence[BookingRow]) -> List[str]:
    """Rows that contradict each other: same session twice, two birthdays or consents, one phone for two refs."""
    errors = []
    first_by_key: Dict[str, int] = {}
    first_by_ref: Dict[str, BookingRow] = {}
    phone_owner: Dict[str, Tuple[str, int]] = {}
    first_given: Dict[Tuple[str, str], BookingRow] = {}
    for row in rows:
        earlier = first_by_key.setdefault(row.source_key, row.line)
        if earlier != row.line:
            same = "booking_id" if row.booking_id else "session_start"
            errors.append(f"line {row.line}: same patient_ref and {same} as line {earlier}")
        first = first_by_ref.setdefault(row.ref, row)
        if first.date_of_birth != row.date_of_birth:
            errors.append(
                f"line {row.line}: date_of_birth differs from line {first.line} for the same patient_ref"
            )
        for column in ("care_consent", "care_consent_source", "care_consent_at"):
            if getattr(row, column) is None:
                continue
            given = first_given.setdefault((row.ref, column), row)
            if getattr(given, column) != getattr(row, column):
                errors.append(f"line {row.line}: {column} differs from line {given.line} for the same patient_ref")
        if row.phone:
            owner_ref, owner_line = phone_owner.setdefault(row.phone, (row.ref, row.line))
            if owner_ref != row.ref:
                errors.append(
                    f"line {row.line}: phone is also given for another patient_ref on line {owner_line}"
                )
    return errors


# ---------------------------------------------------------------- writing


def _chunks(items: Sequence[T], size: int = QUERY_CHUNK) -> Iterator[Sequence[T]]:
    """`items` in slices of at most `size` (keeps IN lists within database limits)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _load_patients(session: Session, refs: Iterable[str]) -> Dict[str, Patient]:
    """Existing patients by reference."""
    found: Dict[str, Patient] = {}
    for chunk in _chunks(sorted(set(refs))):
        for patient in session.execute(select(Patient).where(Patient.clinic_ref.in_(chunk))).scalars():
            found[patient.clinic_ref] = patient
    return found


def _load_courses(session: Session, patient_ids: Iterable[int]) -> Dict[Tuple[int, str], TreatmentCourse]:
    """Existing courses by (patient id, treatment)."""
    found: Dict[Tuple[int, str], TreatmentCourse] = {}
    for chunk in _chunks(sorted(set(patient_ids))):
        query = select(TreatmentCourse).where(TreatmentCourse.patient_id.in_(chunk))
        for course in session.execute(query).scalars():
            found[(course.patient_id, course.treatment)] = course
    return found


def _load_appointments(session: Session, keys: Iterable[str]) -> Dict[str, Appointment]:
    """Existing appointments by source key."""
    found: Dict[str, Appointment] = {}
    for chunk in _chunks(sorted(set(keys))):
        query = select(Appointment).where(Appointment.source_key.in_(chunk))
        for appointment in session.execute(query).scalars():
            found[appointment.source_key] = appointment
    return found


def _phone_conflicts(session: Session, latest: Dict[str, BookingRow]) -> List[str]:
    """Phones in the file that belong to a patient the file does not move them away from."""
    wanted = {row.phone: row for row in latest.values() if row.phone}
    errors = []
    for chunk in _chunks(sorted(wanted)):
        query = select(Patient.clinic_ref, Patient.phone_e164).where(Patient.phone_e164.in_(chunk))
        for owner_ref, phone in session.execute(query).all():
            row = wanted[phone]
            if owner_ref == row.ref:
                continue
            owner_row = latest.get(owner_ref)
            if owner_row is None or owner_row.phone == phone:
                errors.append(f"line {row.line}: phone already belongs to another patient in the database")
    return errors


def _consents(rows: Sequence[BookingRow]) -> Dict[str, ConsentChange]:
    """Each patient's care consent as the file gives it (rows agree: checked when reading)."""
    found: Dict[str, ConsentChange] = {}
    for row in rows:
        if row.care_consent is None:
            continue
        known = found.get(row.ref)
        found[row.ref] = ConsentChange(
            value=row.care_consent,
            source=row.care_consent_source or (known.source if known else None),
            at=row.care_consent_at or (known.at if known else None),
        )
    return found


def _apply_consent(patient: Patient, consent: ConsentChange, now: datetime) -> Optional[Dict[str, object]]:
    """Store the file's consent on the patient; what changed (for the audit log), or None."""
    changed_value = patient.care_consent != consent.value
    source = consent.source or (DEFAULT_CONSENT_SOURCE if changed_value else patient.care_consent_source)
    at = consent.at or (now if changed_value else patient.care_consent_at)
    if not changed_value and (source, at) == (patient.care_consent_source, patient.care_consent_at):
        return None
    previous = patient.care_consent
    patient.care_consent, patient.care_consent_source, patient.care_consent_at = consent.value, source, at
    return {"consent": consent.value, "previous": previous, "source": source,
            "at": at.isoformat() if at else None}


def _audit_consents(session: Session, changes: Sequence[Tuple[Patient, Dict[str, object]]], now: datetime) -> None:
    """One audit entry per patient whose care consent changed (ids, value, source; never the phone)."""
    for patient, detail in changes:
        audit.record(session, actor_type="system", actor_id=None, action="care_consent_changed",
                     subject_type="patient", subject_id=patient.id, detail=detail, now=now)


def _upsert_patients(
    session: Session, latest: Dict[str, BookingRow], first_line: Dict[str, int], changed_lines: set,
    consents: Dict[str, ConsentChange], now: datetime,
) -> Tuple[Dict[str, Patient], int, int]:
    """Create or update each patient from their last row; returns (patients, created, updated)."""
    patients = _load_patients(session, latest)
    created = updated = 0
    moving_phone = [
        patients[ref] for ref, row in latest.items()
        if ref in patients and patients[ref].phone_e164 and patients[ref].phone_e164 != row.phone
    ]
    if moving_phone:  # free the old numbers first, so swapping numbers cannot break uniqueness
        for moving in moving_phone:
            moving.phone_e164 = None
        session.flush()
    consent_changes: List[Tuple[Patient, Dict[str, object]]] = []
    for ref, row in latest.items():
        values = {"full_name": row.full_name, "phone_e164": row.phone, "date_of_birth": row.date_of_birth,
                  "email": row.email}
        patient = patients.get(ref)
        is_new = patient is None
        if patient is None:
            patients[ref] = patient = Patient(clinic_ref=ref, **values)
            session.add(patient)
            created += 1
            changed_lines.add(first_line[ref])
        consent = consents.get(ref)
        consent_change = _apply_consent(patient, consent, now) if consent else None
        if consent_change:
            consent_changes.append((patient, consent_change))
        if is_new:
            continue
        moved = patient in moving_phone
        differences = {key: new for key, new in values.items() if getattr(patient, key) != new}
        for key, new in differences.items():
            setattr(patient, key, new)
        if differences or moved or consent_change:
            updated += 1
            changed_lines.add(first_line[ref])
    session.flush()
    _audit_consents(session, consent_changes, now)
    return patients, created, updated


def _upsert_courses(
    session: Session, rows: Sequence[BookingRow], patients: Dict[str, Patient], changed_lines: set
) -> Dict[Tuple[int, str], TreatmentCourse]:
    """Create or update each (patient, treatment) course; planned sessions from its last row."""
    courses = _load_courses(session, (patient.id for patient in patients.values()))
    planned: Dict[Tuple[int, str], Tuple[int, int]] = {}
    for row in rows:
        key = (patients[row.ref].id, row.treatment)
        first = planned.get(key, (row.line, 0))[0]
        planned[key] = (first, row.course_sessions)
    for key, (first, sessions) in planned.items():
        course = courses.get(key)
        if course is None:
            course = TreatmentCourse(patient_id=key[0], treatment=key[1], planned_sessions=sessions)
            courses[key] = course
            session.add(course)
            changed_lines.add(first)
        elif course.planned_sessions != sessions:
            course.planned_sessions = sessions
            changed_lines.add(first)
    session.flush()
    return courses


def _existing_appointments(session: Session, rows: Sequence[BookingRow]) -> Dict[str, Appointment]:
    """Stored appointments by the identity of the row they belong to.

    A row with a booking_id whose appointment is not stored under it takes over the appointment stored
    under its start-time identity (imported before booking_id was sent), when no other row of the file
    claims that appointment.
    """
    existing = _load_appointments(session, (row.source_key for row in rows))
    identities = {row.source_key for row in rows}
    claims: Dict[str, List[BookingRow]] = {}
    for row in rows:
        if row.booking_id and row.source_key not in existing and row.start_key not in identities:
            claims.setdefault(row.start_key, []).append(row)
    legacy = _load_appointments(session, claims)
    for start_key, appointment in legacy.items():
        if len(claims[start_key]) == 1:  # the caller re-keys it to the row's identity
            existing[claims[start_key][0].source_key] = appointment
    return existing


def _write(
    session: Session, rows: Sequence[BookingRow], progress: Optional[ProgressCallback], progress_every: int,
    now: datetime,
) -> ImportReport:
    """Upsert patients, courses and appointments for checked rows in the caller's transaction."""
    latest = {row.ref: row for row in rows}
    first_line: Dict[str, int] = {}
    for row in rows:
        first_line.setdefault(row.ref, row.line)
    conflicts = _phone_conflicts(session, latest)
    if conflicts:
        raise BookingImportError(conflicts)

    changed_lines: set = set()
    patients, patients_created, patients_updated = _upsert_patients(
        session, latest, first_line, changed_lines, _consents(rows), now
    )
    courses = _upsert_courses(session, rows, patients, changed_lines)
    existing = _existing_appointments(session, rows)

    created = updated = unchanged = 0
    for done, row in enumerate(rows, start=1):
        course = courses[(patients[row.ref].id, row.treatment)]
        appointment = existing.get(row.source_key)
        if appointment is None:
            session.add(Appointment(
                course_id=course.id, starts_at=row.starts_at, duration_min=row.duration_min,
                status=row.status, practitioner=row.practitioner, source_key=row.source_key,
            ))
            created += 1
        else:
            values = {"course_id": course.id, "duration_min": row.duration_min, "status": row.status,
                      "starts_at": row.starts_at, "source_key": row.source_key}
            if row.has_practitioner:
                values["practitioner"] = row.practitioner
            differences = {key: new for key, new in values.items() if getattr(appointment, key) != new}
            for key, new in differences.items():
                setattr(appointment, key, new)
            if differences:
                updated += 1
            elif row.line not in changed_lines:
                unchanged += 1
        if done % progress_every == 0:
            session.flush()
            if progress:
                progress(done, len(rows))
    session.flush()
    if progress and len(rows) % progress_every:
        progress(len(rows), len(rows))
    return ImportReport(
        rows=len(rows), patients_created=patients_created, patients_updated=patients_updated,
        appointments_created=created, appointments_updated=updated, unchanged=unchanged,
    )


def import_bookings(
    session_factory: sessionmaker,
    path: Union[str, Path],
    default_region: str,
    progress: Optional[ProgressCallback] = None,
    progress_every: int = DEFAULT_PROGRESS_EVERY,
    now: Optional[datetime] = None,
) -> ImportReport:
    """Check the whole file, then import it in one transaction; BookingImportError if anything is wrong."""
    now = now or datetime.now(timezone.utc)
    rows = read_bookings(Path(path), default_region, now.date(), now)
    with session_factory.begin() as session:
        report = _write(session, rows, progress, max(1, progress_every), now)
    logger.info(
        "bookings import: %d rows, %d patients created, %d updated, "
        "%d appointments created, %d updated, %d unchanged",
        report.rows, report.patients_created, report.patients_updated,
        report.appointments_created, report.appointments_updated, report.unchanged,
    )
    return report
