"""Engine and session factory for the clinic database (SQLAlchemy 1.4, future style).

Nothing here connects at import time: callers build an engine from the settings' URL and
open short transactions with `with session_factory.begin() as session:`.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, create_engine, make_url
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

SQLITE_POOL_SIZE = 4
SQLITE_POOL_OVERFLOW = 8


def create_db_engine(database_url: str) -> Engine:
    """Create an engine; for SQLite, make the file's folder and turn on foreign keys and WAL."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # SQLAlchemy 1.4 opens a new SQLite connection per session by default (NullPool); keeping a
        # few open saves the connect and PRAGMAs on every message.
        engine = create_engine(
            url, future=True, connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=QueuePool, pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_OVERFLOW,
        )
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(url, future=True, pool_pre_ping=True)


def _configure_sqlite(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    """Per connection: enforce foreign keys; WAL lets readers and one writer work at once."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker:
    """A session factory bound to `engine`; use `with factory.begin() as session:`."""
    return sessionmaker(engine, future=True, expire_on_commit=False)
