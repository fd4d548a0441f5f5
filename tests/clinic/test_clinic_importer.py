"""Bookings CSV import on SQLite and PostgreSQL: all-or-nothing, idempotent, every problem by line."""
from __future__ import annotations

import csv
import logging
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import List

import pytest
from clinic_testing import DATA, LONDON, frozen_now, utc
from sqlalchemy import func, select

from bot.clinic.bookings import course_progress, find_patient_by_ref, next_booked_session
from bot.clinic.importer import BookingImportError, ImportReport, import_bookings
from bot.clinic.timefmt import describe_when
from bot.db.models import Appointment, AuditLog, Patient, TreatmentCourse

HEADER = "patient_ref,full_name,phone,date_of_birth,email,treatment,course_sessions,session_start,duration_min,status"
GOOD_ROW = "MC-5001,Good Row,07700 900051,1980-05-05,,Hair mesotherapy,6,2026-11-20T10:00:00+00:00,45,booked"


def dump(factory) -> dict:
    """Every column of every patient, course and appointment, to compare before and after."""
    tables = {}
    with factory.begin() as session:
        for model in (Patient, TreatmentCourse, Appointment):
            rows = session.execute(select(model).order_by(model.id)).scalars().all()
            tables[model.__tablename__] = [
                {column.name: getattr(row, column.name) for column in model.__table__.columns} for row in rows
            ]
    return tables


def count(factory, model) -> int:
    """Rows in a table."""
    with factory.begin() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def write_csv(path: Path, *lines: str) -> Path:
    """A CSV file from raw lines."""
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def import_errors(factory, path: Path) -> List[str]:
    """The problems an import reports (it must fail)."""
    with pytest.raises(BookingImportError) as raised:
        import_bookings(factory, path, "GB")
    return raised.value.errors


def test_good_file(any_session_factory) -> None:
    report = import_bookings(any_session_factory, DATA / "bookings_good.csv", "GB")
    assert report == ImportReport(rows=7, patients_created=3, patients_updated=0, appointments_created=7,
                                  appointments_updated=0, unchanged=0)
    now = frozen_now("2026-11-18 12:00")
    with any_session_factory.begin() as session:
        jordan = find_patient_by_ref(session, "MC-2001")
        casey = session.execute(select(Patient).where(Patient.clinic_ref == "MC-2002")).scalar_one()
        robin = session.execute(select(Patient).where(Patient.clinic_ref == "MC-2003")).scalar_one()
        assert (jordan.full_name, jordan.phone_e164) == ("Jordan Lee", "+447700900001")
        assert (casey.phone_e164, casey.email, casey.date_of_birth) == ("+447700900002", None, date(1975, 6, 30))
        assert robin.phone_e164 is None
        upcoming = next_booked_session(session, jordan.id, now)
        assert describe_when(upcoming.starts_at, now, LONDON) == "on Monday at 14:00"
        assert upcoming.number_in_course == 3  # the no-show is not counted
        progress = course_progress(session, jordan.id, now)
        assert (progress.completed, progress.planned, progress.remaining) == (2, 6, 4)
        statuses = session.execute(
            select(Appointment.source_key, Appointment.status, Appointment.starts_at).order_by(Appointment.id)
        ).all()
    assert statuses[1][1] == "no_show" and statuses[6][1] == "no_show"
    assert statuses[4] == ("MC-2002|2026-11-20T09:30:00+00:00", "cancelled", utc(2026, 11, 20, 9, 30))
    assert statuses[6][2] == utc(2026, 7, 1, 14, 0)  # 15:00+01:00


def test_same_file_twice_changes_nothing(any_session_factory) -> None:
    import_bookings(any_session_factory, DATA / "bookings_good.csv", "GB")
    before = dump(any_session_factory)
    report = import_bookings(any_session_factory, DATA / "bookings_good.csv", "GB")
    assert report == ImportReport(rows=7, patients_created=0, patients_updated=0, appointments_created=0,
                                  appointments_updated=0, unchanged=7)
    assert dump(any_session_factory) == before


def test_changed_rows_update_in_place(any_session_factory) -> None:
    import_bookings(any_session_factory, DATA / "bookings_good.csv", "GB")
    report = import_bookings(any_session_factory, DATA / "bookings_changed.csv", "GB")
    # Jordan's name, phone and email; practitioner on line 2, status on line 5, duration on line 7.
    assert report == ImportReport(rows=7, patients_created=0, patients_updated=1, appointments_created=0,
                                  appointments_updated=3, unchanged=4)
    assert count(any_session_factory, Appointment) == 7 and count(any_session_factory, Patient) == 3
    with any_session_factory.begin() as session:
        jordan = session.execute(select(Patient).where(Patient.clinic_ref == "MC-2001")).scalar_one()
        assert (jordan.full_name, jordan.phone_e164, jordan.email) == (
            "Jordan Lee-Smith", "+447700900011", "jordan.ls@example.com",
        )
        by_key = {a.source_key: a for a in session.execute(select(Appointment)).scalars()}
    assert by_key["MC-2001|2026-11-02T10:00:00+00:00"].practitioner == "Dr Priya Shah"
    assert by_key["MC-2001|2026-11-23T14:00:00+00:00"].status == "cancelled"
    assert by_key["MC-2002|2026-11-27T09:30:00+00:00"].duration_min == 90

    # A file without the practitioner column leaves practitioners alone.
    import_bookings(any_session_factory, DATA / "bookings_good.csv", "GB")
    with any_session_factory.begin() as session:
        key = "MC-2001|2026-11-02T10:00:00+00:00"
        practitioner = session.execute(select(Appointment.practitioner).where(Appointment.source_key == key))
        assert practitioner.scalar_one() == "Dr Priya Shah"


def test_broken_file_reports_every_line_and_writes_nothing(any_session_factory) -> None:
    errors = import_errors(any_session_factory, DATA / "bookings_broken.csv")
    assert errors == [
        "line 3: date_of_birth must be a real date written yyyy-mm-dd",
        "line 4: phone is not a valid phone number (default region GB)",
        "line 5: status must be booked, completed, cancelled or no-show, got 'pending'",
        "line 6: course_sessions must be a whole number, got 'six'",
        "line 7: duration_min must be a whole number, got '45.5'",
        "line 8: session_start '2026-11-20T16:00:00' has no UTC offset (write it like 2026-11-20T10:00:00+00:00)",
        "line 9: has 4 fields, expected 10",
    ]
    assert count(any_session_factory, Patient) == 0 and count(any_session_factory, Appointment) == 0


@pytest.mark.parametrize(
    "bad_row, message",
    [
        ("MC-5002,Ann,07700 900052,05/05/1980,,Hair mesotherapy,6,2026-11-20T10:00:00+00:00,45,booked",
         "line 3: date_of_birth must be a real date written yyyy-mm-dd"),
        ("MC-5002,Ann,07700 900052,2099-05-05,,Hair mesotherapy,6,2026-11-20T10:00:00+00:00,45,booked",
         "line 3: date_of_birth is in the future"),
        ("MC-5002,Ann,07700 900052 99,1980-05-05,,Hair mesotherapy,6,2026-11-20T10:00:00+00:00,45,booked",
         "line 3: phone is not a valid phone number (default region GB)"),
        ("MC-5002,Ann,07700 900052,1980-05-05,,Hair mesotherapy,6,2026-11-20T10:00:00+00:00,45,moved",
         "line 3: status must be booked, completed, cancelled or no-show, got 'moved'"),
        ("MC-5002,Ann,07700 900052,1980-05-05,,Hair mesotherapy,0,2026-11-20T10:00:00+00:00,45,booked",
         "line 3: course_sessions must be between 1 and 100, got 0"),
        ("MC-5002,Ann,07700 900052,1980-05-05,,Hair mesotherapy,6,2026-11-20T10:00:00+00:00,,booked",
         "line 3: duration_min is empty"),
        ("MC-5002,Ann,07700 900052,1980-05-05,,Hair mesotherapy,6,20/11/2026 10:00,45,booked",
         "line 3: session_start is not an ISO 8601 date and time: '20/11/2026 10:00'"),
        ("MC-5002,Ann,07700 900052,1980-05-05,,Hair mesotherapy,6,2026-11-20T10:00:00,45,booked",
         "line 3: session_start '2026-11-20T10:00:00' has no UTC offset (write it like 2026-11-20T10:00:00+00:00)"),
        ("MC-5002,Ann,07700 900052,1980-05-05,ann-at-example,Hair mesotherapy,6,2026-11-20T10:00:00+00:00,45,booked",
         "line 3: email does not look like an email address"),
        (",Ann,07700 900052,1980-05-05,,Hair mesotherapy,6,2026-11-20T10:00:00+00:00,45,booked",
         "line 3: patient_ref is empty"),
        ("MC-5002,Ann,07700 900052,1980-05-05,,Hair mesotherapy,6,2026-11-20T10:00:00+00:00,45,booked,extra",
         "line 3: has 11 fields, expected 10"),
        ("MC-5001,Good Row,07700 900051,1980-05-05,,Hair mesotherapy,6,2026-11-20T10:00:00Z,45,completed",
         "line 3: same patient_ref and session_start as line 2"),
        ("MC-5001,Good Row,07700 900051,1980-05-06,,Hair mesotherapy,6,2026-11-27T10:00:00+00:00,45,booked",
         "line 3: date_of_birth differs from line 2 for the same patient_ref"),
        ("MC-5002,Ann,+447700900051,1980-05-05,,Hair mesotherapy,6,2026-11-20T10:00:00+00:00,45,booked",
         "line 3: phone is also given for another patient_ref on line 2"),
    ],
)
def test_each_kind_of_broken_row(session_factory, tmp_path: Path, bad_row: str, message: str) -> None:
    assert import_errors(session_factory, write_csv(tmp_path / "b.csv", HEADER, GOOD_ROW, bad_row)) == [message]
    assert count(session_factory, Patient) == 0


def test_broken_file_leaves_existing_data_unchanged(any_session_factory, tmp_path: Path) -> None:
    import_bookings(any_session_factory, DATA / "bookings_good.csv", "GB")
    before = dump(any_session_factory)
    changed = (DATA / "bookings_changed.csv").read_text(encoding="utf-8").splitlines()
    broken = write_csv(tmp_path / "b.csv", *changed, changed[-1].replace("no_show", "gone"))
    assert import_errors(any_session_factory, broken) == [
        "line 9: status must be booked, completed, cancelled or no-show, got 'gone'",
    ]
    assert dump(any_session_factory) == before


def test_phone_of_a_patient_not_in_the_file(session_factory, tmp_path: Path) -> None:
    import_bookings(session_factory, DATA / "bookings_good.csv", "GB")
    before = dump(session_factory)
    other = GOOD_ROW.replace("07700 900051", "07700 900001")  # Jordan's number, MC-2001 not in this file
    assert import_errors(session_factory, write_csv(tmp_path / "b.csv", HEADER, other)) == [
        "line 2: phone already belongs to another patient in the database",
    ]
    assert dump(session_factory) == before


def test_patients_can_swap_phone_numbers(session_factory, tmp_path: Path) -> None:
    first = GOOD_ROW
    second = "MC-5002,Ann,07700 900052,1980-05-05,,Hair mesotherapy,6,2026-11-21T10:00:00+00:00,45,booked"
    import_bookings(session_factory, write_csv(tmp_path / "a.csv", HEADER, first, second), "GB")
    swapped = write_csv(tmp_path / "b.csv", HEADER, first.replace("900051", "900052"), second.replace("900052", "900051"))
    report = import_bookings(session_factory, swapped, "GB")
    assert (report.patients_updated, report.unchanged) == (2, 0)
    with session_factory.begin() as session:
        phones = dict(session.execute(select(Patient.clinic_ref, Patient.phone_e164)).all())
    assert phones == {"MC-5001": "+447700900052", "MC-5002": "+447700900051"}


@pytest.mark.parametrize(
    "header, message",
    [
        (HEADER.replace(",status", ""), "line 1: missing column(s): status"),
        (HEADER.replace("phone", "mobile"), "line 1: missing column(s): phone"),
        (HEADER + ",notes", "line 1: unknown column(s): notes (expected " + HEADER + ", optionally practitioner, "
         "booking_id, care_consent, care_consent_source, care_consent_at)"),
        (HEADER + ",status", "line 1: repeated column(s): status"),
    ],
)
def test_header_problems(session_factory, tmp_path: Path, header: str, message: str) -> None:
    errors = import_errors(session_factory, write_csv(tmp_path / "b.csv", header, GOOD_ROW))
    assert message in errors


def test_trailing_blank_columns_are_ignored(session_factory, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "excel.csv", HEADER + ",,", GOOD_ROW + ",,")
    assert import_bookings(session_factory, path, "GB").appointments_created == 1


def test_empty_file(session_factory, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    assert import_errors(session_factory, tmp_path / "empty.csv") == [
        "line 1: the file is empty; expected a header row",
    ]


def test_header_only_and_blank_lines_import_nothing(session_factory, tmp_path: Path) -> None:
    report = import_bookings(session_factory, write_csv(tmp_path / "h.csv", HEADER, "", ",,,,,,,,,"), "GB")
    assert report == ImportReport(0, 0, 0, 0, 0, 0)


def test_many_problems_are_listed_up_to_twenty(session_factory, tmp_path: Path) -> None:
    bad = [GOOD_ROW.replace("MC-5001", f"MC-6{n:03d}").replace(",booked", ",maybe") for n in range(25)]
    with pytest.raises(BookingImportError) as raised:
        import_bookings(session_factory, write_csv(tmp_path / "b.csv", HEADER, *bad), "GB")
    message = str(raised.value)
    assert len(raised.value.errors) == 25
    assert message.startswith("the bookings file has 25 problems; nothing was imported:\n  line 2: status")
    assert "line 21: status" in message and "line 22: status" not in message
    assert message.endswith("  ... and 5 more")


def test_utf8_with_byte_order_mark(session_factory) -> None:
    assert (DATA / "bookings_bom.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    report = import_bookings(session_factory, DATA / "bookings_bom.csv", "GB")
    assert (report.rows, report.patients_created) == (1, 1)
    with session_factory.begin() as session:
        assert find_patient_by_ref(session, "MC-3001").full_name == "Zoë Müller"


def test_not_utf8(session_factory, tmp_path: Path) -> None:
    (tmp_path / "latin1.csv").write_bytes((HEADER + "\n" + GOOD_ROW.replace("Good Row", "Zoë")).encode("latin-1"))
    [error] = import_errors(session_factory, tmp_path / "latin1.csv")
    assert error.startswith("the file is not UTF-8 text")


def test_progress_callback(session_factory) -> None:
    calls = []
    import_bookings(session_factory, DATA / "bookings_good.csv", "GB",
                    progress=lambda done, total: calls.append((done, total)), progress_every=3)
    assert calls == [(3, 7), (6, 7), (7, 7)]


def test_import_logs_no_personal_data(session_factory, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    import_bookings(session_factory, DATA / "bookings_good.csv", "GB")
    with pytest.raises(BookingImportError):
        import_bookings(session_factory, DATA / "bookings_broken.csv", "GB")
    logged = " ".join(record.getMessage() for record in caplog.records if record.name.startswith("bot."))
    assert "7 rows" in logged
    for personal in ("Jordan", "Casey", "900001", "1990-01-02", "example.com"):
        assert personal not in logged


def generate_bookings(path: Path, patients: int, sessions_each: int) -> Path:
    """A large, valid bookings file: `patients` patients with `sessions_each` weekly sessions."""
    start = utc(2026, 1, 5, 9)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER.split(","))
        for n in range(patients):
            for week in range(sessions_each):
                when = start + timedelta(weeks=week, minutes=15 * (n % 32))
                writer.writerow([
                    f"MC-{10000 + n}", f"Patient {n}", f"+4477009{n:05d}", "1980-01-01", f"p{n}@example.com",
                    "Hair mesotherapy", sessions_each, when.isoformat(), 45, "completed" if week < 3 else "booked",
                ])
    return path


def test_five_thousand_rows(any_session_factory, tmp_path: Path) -> None:
    path = generate_bookings(tmp_path / "big.csv", patients=1000, sessions_each=5)
    calls = []
    report = import_bookings(any_session_factory, path, "GB", progress=lambda d, t: calls.append((d, t)))
    assert report == ImportReport(rows=5000, patients_created=1000, patients_updated=0,
                                  appointments_created=5000, appointments_updated=0, unchanged=0)
    assert calls == [(1000, 5000), (2000, 5000), (3000, 5000), (4000, 5000), (5000, 5000)]
    again = import_bookings(any_session_factory, path, "GB")
    assert (again.unchanged, again.appointments_created, again.appointments_updated) == (5000, 0, 0)
    assert count(any_session_factory, Appointment) == 5000


def test_copying_a_file_elsewhere_keeps_identity(session_factory, tmp_path: Path) -> None:
    copy = shutil.copy(DATA / "bookings_good.csv", tmp_path / "export-2.csv")
    import_bookings(session_factory, DATA / "bookings_good.csv", "GB")
    assert import_bookings(session_factory, copy, "GB").unchanged == 7


# ---------------------------------------------------------------- care consent and booking ids

IDS_HEADER = HEADER + ",booking_id,care_consent,care_consent_source,care_consent_at"
IMPORTED_AT = utc(2026, 11, 18, 12)


def consent_of(factory, ref: str) -> tuple:
    """(care_consent, care_consent_source, care_consent_at) stored for a patient."""
    with factory.begin() as session:
        patient = session.execute(select(Patient).where(Patient.clinic_ref == ref)).scalar_one()
        return patient.care_consent, patient.care_consent_source, patient.care_consent_at


def consent_audits(factory) -> list:
    """(subject_id, detail) of every care_consent_changed audit entry, oldest first."""
    with factory.begin() as session:
        query = select(AuditLog).where(AuditLog.action == "care_consent_changed").order_by(AuditLog.id)
        return [(entry.actor_type, entry.subject_type, entry.subject_id, entry.detail)
                for entry in session.execute(query).scalars()]


def appointments_by_key(factory) -> dict:
    """source_key -> (id, starts_at, status) of every appointment."""
    with factory.begin() as session:
        rows = session.execute(select(Appointment.source_key, Appointment.id, Appointment.starts_at,
                                      Appointment.status)).all()
    return {key: (id_, starts_at, status) for key, id_, starts_at, status in rows}


def test_consent_columns_are_stored_and_audited(any_session_factory) -> None:
    report = import_bookings(any_session_factory, DATA / "bookings_with_ids.csv", "GB", now=IMPORTED_AT)
    assert (report.patients_created, report.appointments_created) == (3, 4)
    assert consent_of(any_session_factory, "MC-2101") == (True, "consent form", utc(2026, 10, 20, 8, 15))
    assert consent_of(any_session_factory, "MC-2102") == (False, "booking import", IMPORTED_AT)
    assert consent_of(any_session_factory, "MC-2103") == (None, None, None)  # never asked
    with any_session_factory.begin() as session:
        ids = dict(session.execute(select(Patient.clinic_ref, Patient.id)).all())
    assert consent_audits(any_session_factory) == [
        ("system", "patient", str(ids["MC-2101"]),
         {"consent": True, "previous": None, "source": "consent form", "at": "2026-10-20T08:15:00+00:00"}),
        ("system", "patient", str(ids["MC-2102"]),
         {"consent": False, "previous": None, "source": "booking import", "at": "2026-11-18T12:00:00+00:00"}),
    ]
    assert "900101" not in str(consent_audits(any_session_factory))


def test_same_consent_file_again_changes_nothing(any_session_factory) -> None:
    import_bookings(any_session_factory, DATA / "bookings_with_ids.csv", "GB", now=IMPORTED_AT)
    before = dump(any_session_factory)
    report = import_bookings(any_session_factory, DATA / "bookings_with_ids.csv", "GB",
                             now=IMPORTED_AT + timedelta(days=1))
    assert (report.unchanged, report.patients_updated, report.appointments_updated) == (4, 0, 0)
    assert dump(any_session_factory) == before
    assert len(consent_audits(any_session_factory)) == 2


def test_empty_consent_keeps_what_is_stored_and_a_change_is_recorded(session_factory, tmp_path: Path) -> None:
    import_bookings(session_factory, DATA / "bookings_with_ids.csv", "GB", now=IMPORTED_AT)
    later = IMPORTED_AT + timedelta(days=2)
    rows = [
        "MC-2101,Jamie Fox,07700 900101,1985-03-04,,Hair mesotherapy,6,2026-11-23T14:00:00+00:00,45,booked,B-1002,,,",
        "MC-2102,Alexis Kim,07700 900102,1991-07-08,,Hair mesotherapy,6,2026-11-24T11:00:00+00:00,45,booked,B-1003,1,,",
        "MC-2103,Noor Haddad,07700 900103,1979-01-30,,Hair mesotherapy,6,2026-11-25T11:00:00+00:00,45,booked,B-1004,"
        "No,Phone call,2026-11-19T16:00:00Z",
    ]
    report = import_bookings(session_factory, write_csv(tmp_path / "c.csv", IDS_HEADER, *rows), "GB", now=later)
    assert (report.patients_updated, report.unchanged) == (2, 1)
    assert consent_of(session_factory, "MC-2101") == (True, "consent form", utc(2026, 10, 20, 8, 15))
    assert consent_of(session_factory, "MC-2102") == (True, "booking import", later)
    assert consent_of(session_factory, "MC-2103") == (False, "Phone call", utc(2026, 11, 19, 16))
    assert [detail["previous"] for _, _, _, detail in consent_audits(session_factory)[2:]] == [False, None]

    # A file without the consent columns (as before) leaves every consent alone.
    import_bookings(session_factory, DATA / "bookings_good.csv", "GB")
    assert consent_of(session_factory, "MC-2102") == (True, "booking import", later)
    assert len(consent_audits(session_factory)) == 4


def test_new_source_or_time_for_the_same_consent_is_recorded(session_factory, tmp_path: Path) -> None:
    import_bookings(session_factory, DATA / "bookings_with_ids.csv", "GB", now=IMPORTED_AT)
    row = ("MC-2102,Alexis Kim,07700 900102,1991-07-08,,Hair mesotherapy,6,2026-11-24T11:00:00+00:00,45,booked,"
           "B-1003,no,consent form,2026-11-17T10:00:00+00:00")
    report = import_bookings(session_factory, write_csv(tmp_path / "c.csv", IDS_HEADER, row), "GB", now=IMPORTED_AT)
    assert report.patients_updated == 1
    assert consent_of(session_factory, "MC-2102") == (False, "consent form", utc(2026, 11, 17, 10))
    assert consent_audits(session_factory)[-1][3] == {
        "consent": False, "previous": False, "source": "consent form", "at": "2026-11-17T10:00:00+00:00",
    }


ID_ROW = "MC-5001,Good Row,07700 900051,1980-05-05,,Hair mesotherapy,6,2026-11-20T10:00:00+00:00,45,booked,B-1"


@pytest.mark.parametrize(
    "bad_row, message",
    [
        (ID_ROW + ",maybe,,", "line 2: care_consent must be yes, no, true, false, 1 or 0, got 'maybe'"),
        (ID_ROW + ",yes," + "x" * 65 + ",", "line 2: care_consent_source is longer than 64 characters"),
        (ID_ROW + ",yes,,2026-11-01T10:00:00",
         "line 2: care_consent_at '2026-11-01T10:00:00' has no UTC offset (write it like 2026-11-20T10:00:00+00:00)"),
        (ID_ROW + ",yes,,yesterday", "line 2: care_consent_at is not an ISO 8601 date and time: 'yesterday'"),
        (ID_ROW + ",yes,,2026-11-19T10:00:00+00:00", "line 2: care_consent_at is in the future"),
        (ID_ROW + ",,consent form,", "line 2: care_consent_source is given without a care_consent value"),
        (ID_ROW + ",,,2026-11-01T10:00:00+00:00", "line 2: care_consent_at is given without a care_consent value"),
        (ID_ROW.replace("B-1", "B-" + "9" * 64) + ",yes,,", "line 2: booking_id is longer than 64 characters"),
    ],
)
def test_each_kind_of_broken_consent_or_booking_id(session_factory, tmp_path: Path, bad_row: str, message: str) -> None:
    path = write_csv(tmp_path / "b.csv", IDS_HEADER, bad_row)
    with pytest.raises(BookingImportError) as raised:
        import_bookings(session_factory, path, "GB", now=IMPORTED_AT)
    assert raised.value.errors == [message]
    assert count(session_factory, Patient) == 0


@pytest.mark.parametrize(
    "first, second, message",
    [
        (",yes,,", ",no,,", "line 3: care_consent differs from line 2 for the same patient_ref"),
        (",yes,form A,", ",yes,form B,", "line 3: care_consent_source differs from line 2 for the same patient_ref"),
        (",yes,,2026-11-01T10:00:00Z", ",yes,,2026-11-02T10:00:00Z",
         "line 3: care_consent_at differs from line 2 for the same patient_ref"),
    ],
)
def test_a_patients_consent_must_agree_across_rows(
    session_factory, tmp_path: Path, first: str, second: str, message: str
) -> None:
    other = ID_ROW.replace("B-1", "B-2").replace("2026-11-20", "2026-11-27")
    path = write_csv(tmp_path / "b.csv", IDS_HEADER, ID_ROW + first, other + second)
    with pytest.raises(BookingImportError) as raised:
        import_bookings(session_factory, path, "GB", now=IMPORTED_AT)
    assert raised.value.errors == [message]


def test_consent_on_one_row_and_empty_on_the_others(session_factory, tmp_path: Path) -> None:
    other = ID_ROW.replace("B-1", "B-2").replace("2026-11-20", "2026-11-27")
    path = write_csv(tmp_path / "c.csv", IDS_HEADER, ID_ROW + ",,,", other + ",true,consent form,")
    import_bookings(session_factory, path, "GB", now=IMPORTED_AT)
    assert consent_of(session_factory, "MC-5001") == (True, "consent form", IMPORTED_AT)


def test_moved_session_with_a_booking_id_moves_in_place(any_session_factory, tmp_path: Path) -> None:
    import_bookings(any_session_factory, DATA / "bookings_with_ids.csv", "GB", now=IMPORTED_AT)
    before = appointments_by_key(any_session_factory)
    moved = (DATA / "bookings_with_ids.csv").read_text(encoding="utf-8").replace(
        "2026-11-23T14:00:00+00:00,45,booked,B-1002", "2026-11-26T16:30:00+00:00,45,booked,B-1002")
    report = import_bookings(any_session_factory, write_csv(tmp_path / "m.csv", moved.strip()), "GB",
                             now=IMPORTED_AT)
    assert (report.appointments_created, report.appointments_updated, report.unchanged) == (0, 1, 3)
    after = appointments_by_key(any_session_factory)
    assert sorted(after) == sorted(before) == ["MC-2101|B-1001", "MC-2101|B-1002", "MC-2102|B-1003", "MC-2103|B-1004"]
    assert after["MC-2101|B-1002"] == (before["MC-2101|B-1002"][0], utc(2026, 11, 26, 16, 30), "booked")


def test_same_booking_id_twice_for_a_patient(session_factory, tmp_path: Path) -> None:
    other = ID_ROW.replace("2026-11-20", "2026-11-27")
    path = write_csv(tmp_path / "b.csv", IDS_HEADER, ID_ROW + ",,,", other + ",,,")
    with pytest.raises(BookingImportError) as raised:
        import_bookings(session_factory, path, "GB", now=IMPORTED_AT)
    assert raised.value.errors == ["line 3: same patient_ref and booking_id as line 2"]


def test_cancelled_and_rebooked_at_the_same_time_are_two_bookings(session_factory, tmp_path: Path) -> None:
    cancelled = ID_ROW.replace(",booked,", ",cancelled,")
    rebooked = ID_ROW.replace("B-1", "B-2")
    report = import_bookings(session_factory, write_csv(tmp_path / "r.csv", IDS_HEADER, cancelled + ",,,",
                                                        rebooked + ",,,"), "GB", now=IMPORTED_AT)
    assert report.appointments_created == 2
    assert {key: status for key, (_, _, status) in appointments_by_key(session_factory).items()} == {
        "MC-5001|B-1": "cancelled", "MC-5001|B-2": "booked",
    }


def test_first_file_with_booking_ids_takes_over_the_appointments_imported_without(
    any_session_factory, tmp_path: Path
) -> None:
    import_bookings(any_session_factory, DATA / "bookings_good.csv", "GB")
    before = appointments_by_key(any_session_factory)
    lines = (DATA / "bookings_good.csv").read_text(encoding="utf-8").splitlines()
    with_ids = [lines[0] + ",booking_id"] + [f"{line},B-{n}" for n, line in enumerate(lines[1:], start=1)]
    report = import_bookings(any_session_factory, write_csv(tmp_path / "ids.csv", *with_ids), "GB")
    assert (report.appointments_created, report.appointments_updated) == (0, 7)
    after = appointments_by_key(any_session_factory)
    assert after["MC-2001|B-4"] == before["MC-2001|2026-11-23T14:00:00+00:00"]
    assert after["MC-2002|B-5"] == before["MC-2002|2026-11-20T09:30:00+00:00"]
    assert len(after) == 7

    # From then on a moved session moves in place.
    with_ids[4] = with_ids[4].replace("2026-11-23T14:00:00+00:00", "2026-11-24T15:00:00+00:00")
    import_bookings(any_session_factory, write_csv(tmp_path / "moved.csv", *with_ids), "GB")
    assert appointments_by_key(any_session_factory)["MC-2001|B-4"][:2] == (
        before["MC-2001|2026-11-23T14:00:00+00:00"][0], utc(2026, 11, 24, 15),
    )
    assert count(any_session_factory, Appointment) == 7


def test_appointments_the_file_no_longer_lists_are_left_alone(session_factory, tmp_path: Path) -> None:
    import_bookings(session_factory, DATA / "bookings_with_ids.csv", "GB", now=IMPORTED_AT)
    before = appointments_by_key(session_factory)
    lines = (DATA / "bookings_with_ids.csv").read_text(encoding="utf-8").splitlines()
    report = import_bookings(session_factory, write_csv(tmp_path / "part.csv", lines[0], lines[2]), "GB",
                             now=IMPORTED_AT)
    assert report.unchanged == 1
    assert appointments_by_key(session_factory) == before
