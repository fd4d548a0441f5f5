"""Actions run against a real, migrated SQLite database holding the demo clinic, at a frozen time.

Trackers and dispatchers: tests/support/trackers.py; `settings` and the database: tests/support."""
from datetime import datetime, timezone

import pytest
from freezegun import freeze_time

from actions.common import ClinicServices, use_services
from bot.clinic.demo import seed_demo_clinic
from tests.support.trackers import VERIFIED_ALEX, make_tracker, user_message  # noqa: F401  (older imports)

# Saturday 21 November 2026, 12:00 in London (UTC in winter). The demo patient's last session was
# yesterday at 10:00 and the next is on Tuesday 24 November at 14:00.
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def clinic(settings, session_factory):
    """The demo clinic seeded at NOW, the actions pointed at it, and the clock frozen at NOW."""
    seed_demo_clinic(session_factory, NOW, settings.clinic.timezone)
    use_services(ClinicServices(settings, session_factory))
    with freeze_time(NOW):
        yield session_factory
    use_services(None)
