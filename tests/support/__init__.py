"""Scaffolding shared by the tests, `tests/scale` and `bench`: databases, fakes, servers, signers.

Test modules import from here, never from each other. tests/conftest.py registers the fixture
modules (database, settings, rows) for every test; the others are plain imports.

- database.py: a SQLite file migrated once per run and copied per test (`session_factory`),
  PostgreSQL databases (`postgres_url`, `any_session_factory`), the demo clinic for model tests.
- settings.py: `settings_for(database_url, **changes)`, the `settings` fixture, `make_clinic()`.
- rows.py: `Rows`, one builder per table (`rows` fixture), and `staff_id`.
- clock.py: START, and a `Clock` the test moves by hand.
- deliverers.py: `RecordingDeliverer`, a channel that records instead of sending.
- trackers.py: rasa_sdk trackers and dispatchers for the custom actions.
- phrases.py: what no answer may say.
- signers.py: Twilio and Meta webhook signatures.
- fuzzing.py: Hypothesis strategies for hostile input, and checks of what the database holds (tests/fuzz).
- sockets.py: a socket.io client connected without a network, for calling event handlers directly.
- platforms.py: `PlatformStub`, Twilio's and Meta's send APIs on loopback.
- background.py: an aiohttp app served from a thread of its own.
- processes.py: `ManagedProcess` and the action server (no pytest: `bench` uses it too).
- ports.py: free TCP ports.
"""
