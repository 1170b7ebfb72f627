"""Engines for SQLite (WAL, one deliberate writer) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import logging
import sqlite3
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

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_PRAGMAS = (
    "journal_mode=WAL",
    f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    # In WAL mode NORMAL is durable against application crashes; only an OS crash or power
    # loss can lose the last transactions, never corrupt the database.
    "synchronous=NORMAL",
    "foreign_keys=ON",
    "cache_size=-65536",
    # One-off connections only: a pooled database's writers leave checkpoints to its own
    # thread (`WalCheckpointer`, which turns this off), so that no writer's commit pays for
    # copying the WAL back. Without that thread a writer checkpoints every ~40 MB of WAL
    # rather than every 4 MB: an order dirties ~25 pages, and the default copied the same hot
    # index pages every ~40 orders.
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


CHECKPOINT_EVERY_SECONDS = 0.25
START_WAL_OVER_AFTER_FRAMES = 1_000
"""A WAL copied back in full once it holds this many frames (4 MB at 4 KB pages) is made to
start over from its beginning (see `WalCheckpointer`)."""
MAX_CATCH_UP_COPIES, FEW_FRAMES = 4, 64
"""Before a WAL starts over, the thread copies again (at most 4 more times) until a copy finds
64 frames or fewer: what is left for the writer to copy."""


class WalCheckpointer:
    """Copies committed WAL frames back into the SQLite database file on its own thread and
    connection, a quarter of a second after writes, instead of inside the commit that crosses
    `wal_autocheckpoint`. That commit stalls for the copy (20-30 ms at 1,000 orders/s), with
    every writer queued behind it: the slowest 1 % of API writes. A PASSIVE checkpoint never
    waits for readers or writers, so the thread stalls nobody; the driver releases the GIL
    while SQLite copies, so it runs beside the writer on another core.

    Copying back alone does not shorten the WAL: SQLite starts it over only when a write
    transaction begins while every frame is copied back, and under sustained writes the next
    one always begins before the copy ends. The WAL then grew to the autocheckpoint threshold
    and a writer's commit checkpointed after all, every second at 1,000 orders/s. So once a
    long WAL is copied back, this thread copies again until little is left, and the next
    writer copies the last frames just before its BEGIN (`start_over_if_due`), so that its
    transaction starts the WAL over.

    The writers of a database with this thread never checkpoint themselves
    (`wal_autocheckpoint=0`). Nothing can be copied past the snapshot of a long read (the
    dashboard's stock cover reads for seconds), so the WAL grew past the threshold meanwhile,
    and once the read ended, a writer's commit copied the whole backlog: 87 ms, measured
    under the API benchmark. This thread copies it instead. Without the thread (one-off
    connections) writers checkpoint at the threshold as before."""

    def __init__(self, path: str, every: float = CHECKPOINT_EVERY_SECONDS) -> None:
        self.path, self.every = path, every
        self._writes = threading.Event()
        self._stop = threading.Event()
        self._start_over = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def wrote(self) -> None:
        self._writes.set()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            while not self._stop.is_set():
                if not self._writes.wait(timeout=1.0):
                    continue
                if self._stop.wait(self.every):
                    break
                self._writes.clear()
                try:
                    self._checkpoint(conn)
                except sqlite3.Error as failed:
                    # A busy or locked database is checkpointed next time.
                    log.debug("background checkpoint skipped: %s", failed)
                except Exception:
                    # The writers leave every checkpoint to this thread: it must not die.
                    log.exception("background checkpoint failed; trying again after writes")
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if busy or copied < frames or frames < START_WAL_OVER_AFTER_FRAMES:
            return
        # Again, for what was committed during each copy, until a copy finds little: the
        # writer who starts the WAL over then copies only the last moment's frames before
        # its BEGIN. Copying is several times faster than writing, so this ends in a few.
        for _ in range(MAX_CATCH_UP_COPIES):
            before = copied
            busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if busy or copied < frames:
                return
            if copied - before <= FEW_FRAMES:
                break
        self._start_over.set()

    def start_over_if_due(self, writer: sqlite3.Connection) -> None:
        """Called on a writer's connection before it begins: once a long WAL was copied back,
        copies what was committed since, so that this transaction starts the WAL over (5-10
        ms under the API benchmark's load on a 763 MB database, 2 of them CPU). The writer
        does it in its turn: this thread taking the writers' lock for it instead held the
        lock 11 ms, most of it waiting for the GIL."""
        if not self._start_over.is_set():
            return
        self._start_over.clear()
        try:
            # Busy (this thread is copying) returns at once: tried again after its copy.
            writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as failed:
            # The write matters more; the WAL starts over another time.
            log.debug("starting the WAL over skipped: %s", failed)

    def stop(self) -> None:
        self._stop.set()
        self._writes.set()
        self._thread.join(timeout=10)


@dataclass
class Database:
    """The engines of one database. On SQLite, `write_lock` queues this process's writers in
    Python, so they wait their turn in order instead of spinning on SQLite's busy handler."""

    url: str
    writer: Engine
    reader: Engine
    write_lock: threading.Lock | None
    checkpointer: WalCheckpointer | None = None

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
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def _sqlite_engine(
    url: str,
    *,
    begin: str,
    pool_size: int,
    pragmas: tuple[str, ...] = SQLITE_PRAGMAS,
    checkpointer: WalCheckpointer | None = None,
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
        if checkpointer is not None:
            cursor.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job alone
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock at the start, so a writer never fails half-way
        # with SQLITE_BUSY on lock upgrade. Sent on the driver's connection: every
        # transaction starts here, and SQLAlchemy's statement machinery would double its cost.
        driver = connection.connection.driver_connection
        if checkpointer is not None:
            checkpointer.start_over_if_due(driver)  # needs no transaction open
        driver.execute(begin)

    if checkpointer is not None:
        event.listen(engine, "commit", lambda _conn: checkpointer.wrote())

    _send_pending_writes_first(engine)
    return engine


def connect(url: str, *, pool_size: int = 10) -> Database:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        checkpointer = None
        if parsed.database and parsed.database != ":memory:" and pool_size > 1:
            checkpointer = WalCheckpointer(parsed.database)
        writer = _sqlite_engine(
            url,
            begin="BEGIN IMMEDIATE",
            pool_size=pool_size,
            pragmas=SQLITE_WRITER_PRAGMAS,
            checkpointer=checkpointer,
        )
        reader = _sqlite_engine(url, begin="BEGIN", pool_size=pool_size)
        return Database(url, writer, reader, threading.Lock(), checkpointer)
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
