"""Fixtures shared by the application's tests."""
from __future__ import annotations

import pytest

from bot.db.models import StaffUser


@pytest.fixture
def staff_id(session_factory) -> int:
    """A staff member's id (the account cannot log in: its hash is not a real one)."""
    with session_factory.begin() as session:
        user = StaffUser(email="jo@clinic.example", password_hash="not-a-hash", role="staff")
        session.add(user)
        session.flush()
        return user.id
