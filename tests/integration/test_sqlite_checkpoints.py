"""The SQLite WAL is copied back into the database file by the database's own thread, so no
writer's commit stalls for it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from ordermesh.adapters.db.engine import Database, connect


def _rows_in_the_database_file(path: Path) -> int:
    # `immutable` reads the main file alone, ignoring the WAL: only checkpointed rows show.
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not even the table is in the file yet
    finally:
        conn.close()


def test_committed_writes_reach_the_database_file_without_a_writer_checkpointing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wal.db"
    db = connect(f"sqlite:///{path}")
    try:
        assert db.checkpointer is not None
        with db.write() as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        for n in range(200):
            with db.write() as conn:
                conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": f"row {n}"})

        deadline = time.monotonic() + 10
        while _rows_in_the_database_file(path) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)

        # Far below the writers' autocheckpoint threshold: only the background thread can
        # have copied these pages.
        assert _rows_in_the_database_file(path) == 200
    finally:
        db.dispose()
    assert not db.checkpointer._thread.is_alive()


def test_a_one_off_connection_starts_no_checkpoint_thread(tmp_path: Path) -> None:
    db = connect(f"sqlite:///{tmp_path / 'once.db'}", pool_size=1)
    try:
        assert db.checkpointer is None
    finally:
        db.dispose()


WAL_HEADER_BYTES, FRAME_HEADER_BYTES, PAGE_BYTES = 32, 24, 4096


def _wal_frames(path: Path) -> int:
    """How many frames the WAL file has room for: SQLite writes a restarted WAL over its
    beginning, so the file's size is the longest the WAL has been."""
    wal = path.with_name(path.name + "-wal")
    size = wal.stat().st_size if wal.exists() else 0
    return max(0, size - WAL_HEADER_BYTES) // (FRAME_HEADER_BYTES + PAGE_BYTES)


@contextmanager
def _a_table_of_blobs(path: Path) -> Iterator[Database]:
    """A pooled database (so with its checkpoint thread, here every 50 ms) holding table t."""
    db = connect(f"sqlite:///{path}")
    try:
        assert db.checkpointer is not None
        db.checkpointer.every = 0.05
        with db.write() as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)"))
        yield db
    finally:
        db.dispose()


def _write_a_blob(db: Database) -> None:
    """One commit of 4-5 WAL frames: three overflow pages and a leaf."""
    with db.write() as conn:
        conn.execute(text("INSERT INTO t (v) VALUES (randomblob(3 * 4096))"))


def test_under_sustained_writes_the_wal_starts_over_long_before_a_writer_must_checkpoint(
    tmp_path: Path,
) -> None:
    # Back-to-back commits, as under the API's load: without the WAL starting over, it grew
    # to the writers' autocheckpoint threshold (10,000 frames), and the commit that crossed
    # it copied the WAL back itself while every other writer waited.
    path = tmp_path / "busy.db"
    with _a_table_of_blobs(path) as db:
        longest = 0
        for _ in range(4_000):  # about twice the threshold in all
            _write_a_blob(db)
            longest = max(longest, _wal_frames(path))
        with db.reader.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 4_000
    assert longest < 5_000


def test_a_writer_whose_connection_cannot_checkpoint_still_writes(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    db = connect(f"sqlite:///{path}")
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        assert db.checkpointer is not None
        raw.execute("BEGIN")
        raw.execute("SELECT count(*) FROM sqlite_master").fetchall()
        db.checkpointer._start_over.set()
        # A connection inside a transaction cannot checkpoint ("database table is locked").
        db.checkpointer.start_over_if_due(raw)
        raw.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        raw.execute("COMMIT")
        with db.reader.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    finally:
        raw.close()
        db.dispose()


def _wal_starts(path: Path) -> int:
    """The WAL header's checkpoint sequence: one more each time the WAL starts over."""
    with open(path.with_name(path.name + "-wal"), "rb") as wal:
        return int.from_bytes(wal.read(16)[12:16], "big")


def test_after_a_long_read_the_backlog_is_copied_back_and_the_wal_starts_over(
    tmp_path: Path,
) -> None:
    # Nothing can be copied back past a reader's snapshot. The writers' own checkpoints are
    # off, so none of their commits copies the backlog once the read ends: the thread does,
    # and the WAL still starts over.
    path = tmp_path / "long-read.db"
    with _a_table_of_blobs(path) as db:
        with db.write() as conn:
            autocheckpoint = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
        assert autocheckpoint == 0
        with db.reader.connect() as reading, reading.begin():
            assert reading.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
            for _ in range(3_000):  # past the one-off connections' threshold of 10,000
                _write_a_blob(db)
            assert _wal_frames(path) > 10_000
            assert _rows_in_the_database_file(path) == 0
            started_over = _wal_starts(path)
        deadline = time.monotonic() + 10
        while _wal_starts(path) == started_over and time.monotonic() < deadline:
            _write_a_blob(db)
            time.sleep(0.01)
        assert _wal_starts(path) > started_over
        assert _rows_in_the_database_file(path) >= 3_000
