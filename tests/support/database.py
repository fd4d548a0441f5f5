"""Clinic databases for tests, migrated with the real Alembic migration (never `create_all`).

Fixtures (registered for every test by tests/conftest.py):

- `db_url`: a SQLite file in the test's tmp_path, not created yet (tests of the migration itself,
  and of commands that migrate, start from it).
- `migrated_sqlite_template` (session): a SQLite file upgraded to head once per run; every migrated
  SQLite database of a test is a copy of it (a copy takes milliseconds, the migration ~0.4 s).
- `session_factory`: `db_url` holding a copy of the template, as a session factory.
- `postgres_admin_dsn` (session): a DSN to CREATE DATABASE from, on TEST_POSTGRES_URL (default
  postgresql://postgres@127.0.0.1:5432, trust auth). Skipped when the server is unreachable,
  unless the CI environment variable is set: then the test fails instead.
- `postgres_url`: a fresh, randomly named, empty PostgreSQL database, dropped afterwards.
- `any_db_url` / `any_session_factory`: the same test once per backend (ids "sqlite",
  "postgresql"); the PostgreSQL database is migrated by Alembic in the test.

Helpers: `demo_clinic_database()` (a copy of the template with the demo clinic, for the tests that
run the trained model), `unreachable_engine()` / `unreachable_database()`, `sessions_on(url)`, `admin_execute()` and
`fresh_postgres_database()` (used by tests/scale and bench too).
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest

POSTGRES_SERVER_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
ADMIN_DATABASES = ("postgres", "test")


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of the SQLite file at `path`."""
    return f"sqlite:///{path}"


def sqlite_path(url: str) -> Path:
    """The file a `sqlite:///` URL names."""
    assert url.startswith("sqlite:///"), f"not a SQLite file URL: {url}"
    return Path(url[len("sqlite:///"):])


def migrate_sqlite_file(path: Path) -> Path:
    """Create the SQLite file at `path` and upgrade it to head with Alembic; the path."""
    from bot.db.migrate import upgrade_database

    upgrade_database(sqlite_url(path))
    return path


def copy_sqlite_file(source: Path, target: Path) -> None:
    """Copy a SQLite database file with SQLite's backup API (safe whatever its journal mode)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(source)) as reader, contextlib.closing(sqlite3.connect(target)) as writer:
        reader.backup(writer)


def demo_clinic_database(template: Path, path: Path) -> str:
    """A copy of the migrated `template` at `path` holding the demo clinic seeded now; its URL.

    For the tests that run the trained model and the action server against the demo patients.
    """
    from bot.clinic.demo import seed_demo_clinic
    from tests.support.settings import settings_for

    url = sqlite_url(path)
    copy_sqlite_file(template, path)
    with sessions_on(url) as factory:
        seed_demo_clinic(factory, datetime.now(timezone.utc), settings_for(url).clinic.timezone)
    return url


@contextlib.contextmanager
def sessions_on(url: str) -> Iterator:
    """A session factory over `url` for the block; its engine is disposed of afterwards."""
    from bot.db.session import create_db_engine, make_session_factory

    engine = create_db_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def unreachable_engine():
    """An engine for a PostgreSQL server that is not there (connection refused at once)."""
    from bot.db.session import create_db_engine

    return create_db_engine("postgresql+psycopg2://clinic@127.0.0.1:9/clinic")


def unreachable_database():
    """A session factory over `unreachable_engine()`."""
    from bot.db.session import make_session_factory

    return make_session_factory(unreachable_engine())


def in_ci() -> bool:
    """True when the CI environment variable is set to something other than a false value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def admin_execute(dsn: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
    import psycopg2

    connection = psycopg2.connect(dsn, connect_timeout=5)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@contextlib.contextmanager
def fresh_postgres_database(admin_dsn: str, prefix: str) -> Iterator[str]:
    """A new, empty database named `<prefix>_<hex>` next to `admin_dsn`'s, dropped after the block;
    its SQLAlchemy URL (psycopg2 driver)."""
    server, _, _ = admin_dsn.rpartition("/")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin_execute(admin_dsn, f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://{server.split('://', 1)[1]}/{name}"
    finally:
        admin_execute(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite database file in this test's temporary folder (not created yet)."""
    return sqlite_url(tmp_path / "clinic.db")


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated to head once per run, copied by every test that needs the schema."""
    return migrate_sqlite_file(tmp_path_factory.mktemp("template") / "clinic.db")


def _copy_template(template: Path, url: str) -> str:
    """`url`'s file as a copy of the migrated template (unless something made the file already)."""
    path = sqlite_path(url)
    if path.exists():
        migrate_sqlite_file(path)
    else:
        copy_sqlite_file(template, path)
    return url


@pytest.fixture
def session_factory(db_url: str, migrated_sqlite_template: Path):
    """A session factory over this test's SQLite database, migrated to head."""
    with sessions_on(_copy_template(migrated_sqlite_template, db_url)) as factory:
        yield factory


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
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres_url(postgres_admin_dsn: str):
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with fresh_postgres_database(postgres_admin_dsn, "clinic_test") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db_url(request) -> str:
    """Each backend in turn: a SQLite file, then a fresh PostgreSQL database (both empty)."""
    return request.getfixturevalue("db_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
def any_session_factory(any_db_url: str, request):
    """A session factory over each backend in turn, migrated to head (SQLite: the template's copy)."""
    if any_db_url.startswith("sqlite"):
        _copy_template(request.getfixturevalue("migrated_sqlite_template"), any_db_url)
    else:
        from bot.db.migrate import upgrade_database

        upgrade_database(any_db_url)
    with sessions_on(any_db_url) as factory:
        yield factory
