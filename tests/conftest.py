"""Fixtures shared by every test: an ordermesh on SQLite and on PostgreSQL.

Tests that take `database_url` (or `om`) run twice, once per database. The PostgreSQL
database is created for the session on the local server and dropped at the end; each test
starts from empty tables. Without a reachable server those tests skip — except under
CI=true, where they fail, because a green run must have exercised PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ordermesh.adapters.db.engine import connect
from ordermesh.adapters.db.migrate import upgrade
from ordermesh.adapters.db.tables import metadata
from ordermesh.bootstrap import Ordermesh, bootstrap
from ordermesh.config import Settings

PG_ADMIN_URL = os.environ.get(
    "ORDERMESH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_admin_engine():
    return create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test: faster than migrating every time."""
    path = tmp_path_factory.mktemp("template") / "ordermesh.db"
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()  # the last connection to close folds the WAL into the file we copy
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    try:
        admin = _pg_admin_engine()
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        message = f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {exc}"
        if IN_CI:
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)", pytrace=False)
        pytest.skip(message)
    admin.dispose()
    with fresh_postgres() as url:
        yield url


@contextmanager
def fresh_postgres(options: str = "") -> Iterator[str]:
    """A new, migrated database on the local server (CREATE DATABASE `options`), dropped
    after use."""
    admin = _pg_admin_engine()
    name = f"ordermesh_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" {options}'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        db = connect(url, pool_size=2)
        upgrade(db)
        db.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "ordermesh.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """For tests about SQLite alone."""
    path = tmp_path / "ordermesh.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def om(database_url: str) -> Iterator[Ordermesh]:
    """A wired ordermesh on an empty, migrated database (SQLite, then PostgreSQL)."""
    app = bootstrap(Settings(database_url=database_url, env="test", worker=False), migrate=False)
    try:
        yield app
    finally:
        app.close()
