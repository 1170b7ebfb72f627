"""Engines for SQLite (WAL, one deliberate writer) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and pick psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@dataclass
class Database:
    """The engines of one database. On SQLite, `write_lock` queues this process's writers in
    Python, so they wait their turn in order instead of spinning on SQLite's busy handler."""

    url: str
    writer: Engine
    reader: Engine
    write_lock: threading.Lock | None

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def _sqlite_engine(url: str, *, begin: str, pool_size: int, **kwargs: Any) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (so BEGIN IMMEDIATE
        # and SAVEPOINT work), then set the pragmas that make SQLite a safe shared store.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # In WAL mode NORMAL is durable against application crashes; only an OS crash or power
        # loss can lose the last transactions, never corrupt the database.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock at the start, so a writer never fails half-way
        # with SQLITE_BUSY on lock upgrade.
        connection.exec_driver_sql(begin)

    return engine


def connect(url: str, *, pool_size: int = 10) -> Database:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        writer = _sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=pool_size)
        reader = _sqlite_engine(url, begin="BEGIN", pool_size=pool_size)
        return Database(url, writer, reader, threading.Lock())
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    return Database(url, engine, engine, None)


def connect_unpooled(url: str) -> Database:
    """One connection per use; for short CLI commands and subprocesses in tests."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        db = connect(url, pool_size=1)
        return db
    engine = create_engine(url, poolclass=NullPool)
    return Database(url, engine, engine, None)
