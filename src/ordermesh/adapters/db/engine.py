"""Engines for SQLite (WAL, one deliberate writer) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_PRAGMAS = (
    "journal_mode=WAL",
    f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    # In WAL mode NORMAL is durable against application crashes; only an OS crash or power
    # loss can lose the last transactions, never corrupt the database.
    "synchronous=NORMAL",
    "foreign_keys=ON",
    "cache_size=-65536",
    # Checkpoint every ~40 MB of WAL rather than every 4 MB: an order dirties ~25 pages, so
    # the default checkpointed every ~40 orders, copying the same hot index pages each time
    # (commit p99 6 ms → 0.3 ms, mean −20%).
    "wal_autocheckpoint=10000",
)
"""Every SQLite connection's settings."""
SQLITE_WRITER_PRAGMAS = (
    *SQLITE_PRAGMAS,
    # A write group keeps each command in a savepoint, whose journal of the pages it changes
    # is a temporary file unless kept in memory. Writers only: they never sort large results.
    "temp_store=MEMORY",
)
"""The writers' settings (the benchmarks' bare-driver baseline uses them too)."""
PENDING_WRITES = "ordermesh.pending_writes"
"""Key in a connection's `info` of a callable that sends writes a unit of work has queued."""


def _send_pending_writes_first(engine: Engine) -> None:
    # Queued writes must reach the database before any statement SQLAlchemy runs on the same
    # connection, so that statement sees them and rows keep the order they were written in.
    @event.listens_for(engine, "before_cursor_execute")
    def _flush(conn: Any, _cursor: Any, _sql: Any, _params: Any, _ctx: Any, _many: Any) -> None:
        flush = conn.info.get(PENDING_WRITES)
        if flush is not None:
            flush()


PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Like `pool_pre_ping`, but only for connections that sat idle in the pool: a connection
    used a moment ago is alive, and a ping per transaction is a round trip per command (10% of
    an order's time on PostgreSQL). A dead idle connection (server restarted, idle timeout) is
    replaced before anyone uses it, as SQLAlchemy's recipe for pessimistic disconnects does."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(str(exc)) from exc
        if not alive:
            raise DisconnectionError("the connection did not answer a ping")


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

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A short write transaction, queued in arrival order behind this process's other
        writers on SQLite (instead of spinning on SQLite's busy handler)."""
        if self.write_lock is not None:
            self.write_lock.acquire()
        try:
            with self.writer.begin() as conn:
                yield conn
        finally:
            if self.write_lock is not None:
                self.write_lock.release()

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def _sqlite_engine(
    url: str,
    *,
    begin: str,
    pool_size: int,
    pragmas: tuple[str, ...] = SQLITE_PRAGMAS,
    **kwargs: Any,
) -> Engine:
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
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock at the start, so a writer never fails half-way
        # with SQLITE_BUSY on lock upgrade. Sent on the driver's connection: every
        # transaction starts here, and SQLAlchemy's statement machinery would double its cost.
        connection.connection.driver_connection.execute(begin)

    _send_pending_writes_first(engine)
    return engine


def connect(url: str, *, pool_size: int = 10) -> Database:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        writer = _sqlite_engine(
            url, begin="BEGIN IMMEDIATE", pool_size=pool_size, pragmas=SQLITE_WRITER_PRAGMAS
        )
        reader = _sqlite_engine(url, begin="BEGIN", pool_size=pool_size)
        return Database(url, writer, reader, threading.Lock())
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size)
    _ping_when_idle(engine)
    _send_pending_writes_first(engine)
    return Database(url, engine, engine, None)


def connect_unpooled(url: str) -> Database:
    """One connection per use; for short CLI commands and subprocesses in tests."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        db = connect(url, pool_size=1)
        return db
    engine = create_engine(url, poolclass=NullPool)
    _send_pending_writes_first(engine)
    return Database(url, engine, engine, None)
