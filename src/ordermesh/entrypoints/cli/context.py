"""What every command needs: the configured ordermesh, consoles, and a clean way to fail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from ordermesh.bootstrap import Ordermesh, bootstrap
from ordermesh.config import Settings

EXIT_REJECTED = 1
"""Some rows of a file were rejected (or a command was refused)."""
EXIT_REFUSED = 2
"""The input as a whole was refused, or something needed is missing."""


def out() -> Console:
    # Built per call: the test runner swaps sys.stdout between invocations.
    return Console(highlight=False, soft_wrap=True)


def err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_REJECTED) -> NoReturn:
    err().print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]) for e in exc.errors())
        fail(f"invalid ORDERMESH_* settings: {problems}", EXIT_REFUSED)


def safe_url(url: str) -> str:
    """The database URL with its password hidden, fit to print."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def revision(om: Ordermesh) -> str | None:
    """The schema revision the database is at, or None if it was never initialised."""
    try:
        with om.db.reader.connect() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except Exception:
        return None


@contextmanager
def ordermesh(*, migrate: bool = False) -> Iterator[Ordermesh]:
    """A wired ordermesh on the configured database; read commands do not migrate it."""
    config = settings()
    try:
        om = bootstrap(config, migrate=migrate)
    except Exception as exc:
        fail(f"cannot open the database {safe_url(config.database_url)}: {exc}", EXIT_REFUSED)
    try:
        if not migrate and revision(om) is None:
            fail(
                f"the database {safe_url(config.database_url)} is not initialised; "
                "run `ordermesh init` first",
                EXIT_REFUSED,
            )
        yield om
    finally:
        om.close()
