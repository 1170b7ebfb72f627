"""Throwaway databases for a benchmark run, seeded through ordermesh's own commands."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from sqlalchemy import text

from ordermesh.bootstrap import Ordermesh, bootstrap
from ordermesh.config import Settings
from ordermesh.domain import commands as c
from ordermesh.domain.catalogue import Product
from ordermesh.domain.inventory import Location, LocationKind

PG_ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
WAREHOUSE = "WH1"
PLENTY = 1_000_000_000
"""Units on hand per SKU: orders allocate, never backorder, during a run."""


@dataclass(frozen=True)
class Target:
    backend: str
    """"sqlite" or "postgresql"."""
    url: str
    """SQLAlchemy URL, for ordermesh."""
    raw: str
    """What the bare driver connects to: a file path (sqlite3) or a libpq DSN (psycopg)."""


class Unavailable(Exception):
    """The backend cannot be benchmarked here; the reason is recorded instead of figures."""


@contextmanager
def sqlite_target() -> Iterator[Target]:
    folder = tempfile.mkdtemp(prefix="ordermesh-bench-")
    path = os.path.join(folder, "bench.db")
    try:
        yield Target("sqlite", f"sqlite:///{path}", path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_target() -> Iterator[Target]:
    name = f"ordermesh_bench_{os.getpid()}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        raise Unavailable(f"PostgreSQL unreachable at {PG_ADMIN_DSN}: {exc}".strip()) from exc
    try:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
        dsn = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
        yield Target("postgresql", dsn.replace("postgresql://", "postgresql+psycopg://", 1), dsn)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def targets(backends: list[str]) -> Iterator[tuple[str, object]]:
    """(backend, context manager) pairs; entering one may raise Unavailable."""
    for backend in backends:
        yield backend, sqlite_target() if backend == "sqlite" else postgres_target()


def open_ordermesh(target: Target) -> Ordermesh:
    return bootstrap(Settings(database_url=target.url, env="test", db_pool_size=20))


def sku_name(i: int) -> str:
    return f"SKU-{i:06d}"


def seed(om: Ordermesh, skus: int, chunk: int = 5_000) -> list[str]:
    """One warehouse and `skus` products, each with PLENTY units on hand."""
    om.handle(c.CreateLocation(Location(WAREHOUSE, "Bench warehouse", LocationKind.WAREHOUSE)))
    names = [sku_name(i) for i in range(skus)]
    for start in range(0, skus, chunk):
        part = names[start : start + chunk]
        om.handle(c.UpsertProducts(tuple(Product(s, f"Product {s}") for s in part)))
        om.handle(
            c.ImportStockCounts(
                tuple(c.StockRow(i, s, WAREHOUSE, PLENTY) for i, s in enumerate(part, 1)),
                reference="bench seed",
            )
        )
    return names


def restock_if_low(om: Ordermesh, floor: int = PLENTY // 2) -> int:
    """Count SKUs back up to PLENTY when runs have eaten into them (never inside a timed run)."""
    with om.db.reader.connect() as conn:
        low = conn.execute(
            text("SELECT sku, location, reserved FROM stock_levels WHERE on_hand - reserved < :f"),
            {"f": floor},
        ).all()
    if low:
        om.handle(
            c.ImportStockCounts(
                tuple(
                    c.StockRow(i, sku, location, PLENTY + reserved)
                    for i, (sku, location, reserved) in enumerate(low, 1)
                ),
                reference="bench restock",
            )
        )
    return len(low)
