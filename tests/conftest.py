"""Shared fixtures: clinic databases migrated with Alembic (SQLite, and PostgreSQL when reachable).

- `db_url`: a SQLite file in the test's tmp_path.
- `session_factory`: that database, upgraded with the real Alembic migration (not create_all,
  so every test also proves the migration).
- `postgres_url`: a fresh, randomly named database on TEST_POSTGRES_URL (default
  postgresql://postgres@127.0.0.1:5432, trust auth), dropped afterwards. Skipped when the server
  is unreachable, unless the CI environment variable is set: then the test fails instead.
- `any_db_url` / `any_session_factory`: the same test once per backend (ids "sqlite", "postgresql").
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

POSTGRES_SERVER_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
ADMIN_DATABASES = ("postgres", "test")


def _in_ci() -> bool:
    """True when the CI environment variable is set to something other than a false value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> str:
    """A DSN for a database we can CREATE DATABASE from; skips (or fails on CI) if none answers."""
    import psycopg2

    problems = []
    for name in ADMIN_DATABASES:
        dsn = f"{POSTGRES_SERVER_URL}/{name}"
        try:
            psycopg2.connect(dsn, connect_timeout=3).close()
            return dsn
        except psycopg2.OperationalError as error:
            problems.append(f"{name}: {' '.join(str(error).split())}")
    message = f"PostgreSQL not reachable at {POSTGRES_SERVER_URL} ({'; '.join(problems)})"
    if _in_ci():
        pytest.fail(message)
    pytest.skip(message)


def _admin_execute(dsn: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
    import psycopg2

    connection = psycopg2.connect(dsn, connect_timeout=5)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@pytest.fixture
def postgres_url(postgres_admin_dsn: str):
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"clinic_test_{uuid.uuid4().hex[:12]}"
    _admin_execute(postgres_admin_dsn, f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://{POSTGRES_SERVER_URL.split('://', 1)[1]}/{name}"
    finally:
        _admin_execute(postgres_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite database file in this test's temporary folder."""
    return f"sqlite:///{tmp_path / 'clinic.db'}"


def _migrated_factory(url: str):
    """Upgrade `url` with Alembic; yield a session factory; dispose of the engine after."""
    from bot.db.migrate import upgrade_database
    from bot.db.session import create_db_engine, make_session_factory

    upgrade_database(url)
    engine = create_db_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def session_factory(db_url: str):
    """A session factory over a SQLite database migrated to head."""
    yield from _migrated_factory(db_url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db_url(request) -> str:
    """Each backend in turn: a SQLite file, then a fresh PostgreSQL database."""
    return request.getfixturevalue("db_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
def any_session_factory(any_db_url: str):
    """A session factory over each backend in turn, migrated to head."""
    yield from _migrated_factory(any_db_url)


TRAINED_MODEL = Path(__file__).resolve().parents[1] / "models" / "clinic.tar.gz"


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The model `make train` built; its absence is a failure, never a skip."""
    if not TRAINED_MODEL.exists():
        pytest.fail(f"{TRAINED_MODEL} is missing: run `make train` (make test does it first)")
    return TRAINED_MODEL
