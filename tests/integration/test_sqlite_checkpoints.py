"""The SQLite WAL is copied back into the database file by the database's own thread, so no
writer's commit stalls for it."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from ordermesh.adapters.db.engine import connect


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
