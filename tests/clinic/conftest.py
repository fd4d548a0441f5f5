"""Fixtures for the clinic domain tests: a fixed clinic profile, row builders and CSV paths."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Optional

import pytest
from clinic_testing import DATA

from bot.db.models import Appointment, Patient, TreatmentCourse
from bot.settings import ClinicProfile


class ClinicRows:
    """Small helpers that put rows into a test database (caller owns the transaction)."""

    @staticmethod
    def patient(session, ref: str = "MC-1001", name: str = "Alex Morgan", phone: Optional[str] = "+447700900123",
                dob: date = date(1988, 4, 12)) -> Patient:
        """Add a patient."""
        patient = Patient(clinic_ref=ref, full_name=name, phone_e164=phone, date_of_birth=dob)
        session.add(patient)
        session.flush()
        return patient

    @staticmethod
    def course(session, patient: Patient, treatment: str = "Hair mesotherapy", planned: int = 8) -> TreatmentCourse:
        """Add a treatment course."""
        course = TreatmentCourse(patient_id=patient.id, treatment=treatment, planned_sessions=planned)
        session.add(course)
        session.flush()
        return course

    @staticmethod
    def appointment(session, course: TreatmentCourse, starts_at: datetime, status: str = "booked",
                    duration: int = 45, practitioner: Optional[str] = "Dr Priya Shah") -> Appointment:
        """Add an appointment."""
        appointment = Appointment(
            course_id=course.id, starts_at=starts_at, duration_min=duration, status=status,
            practitioner=practitioner, source_key=f"test|{course.id}|{starts_at.isoformat()}",
        )
        session.add(appointment)
        session.flush()
        return appointment


@pytest.fixture
def rows() -> ClinicRows:
    """Row builders."""
    return ClinicRows()


@pytest.fixture(scope="session")
def clinic_profile() -> ClinicProfile:
    """A fixed profile: Europe/London, aftercare 48/48/48/72 h, preparation 48 h."""
    return ClinicProfile.load(DATA / "clinic_profile.yml", {})


@pytest.fixture
def data_dir() -> Path:
    """The folder of test CSV files."""
    return DATA
