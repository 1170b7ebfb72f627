"""(a) allocation through the service layer and (b) the bare driver doing the same work.

Every operation is one order of 3 lines, allocated in one transaction. The raw version does
what any hand-written allocator must at least do: insert the order and its lines and apply
three guarded stock updates, in one transaction, with the same pragmas; ordermesh does that
plus the ledger, allocation, history and outbox rows it promises."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.databases import WAREHOUSE, Target, restock_if_low
from bench.timing import Figures, Work, alternate
from ordermesh.adapters.db.engine import SQLITE_WRITER_PRAGMAS
from ordermesh.bootstrap import Ordermesh
from ordermesh.domain import commands as c
from ordermesh.domain.ids import new_id
from ordermesh.domain.orders import Address

ADDRESS = Address("Ada Buyer", "Unter den Linden 1", "Berlin", "10117", "DE")
LINES = 3
PRICE = "12.50"


def pick(rng: random.Random, pool: list[str]) -> list[str]:
    return rng.sample(pool, LINES)


# -- through ordermesh ---------------------------------------------------------------------
def ordermesh_work(om: Ordermesh, pool: list[str]) -> Callable[[], tuple[Work, Callable[[], None]]]:
    def make() -> tuple[Work, Callable[[], None]]:
        def work(rng: random.Random) -> bool:
            lines = tuple(c.NewLine(sku, 1, PRICE) for sku in pick(rng, pool))
            result = om.handle(c.CreateOrder(lines, ADDRESS, currency="EUR", buyer_name="Ada"))
            return result.status == "allocated"

        return work, lambda: None

    return make


# -- bare drivers --------------------------------------------------------------------------
_ADDRESS_JSON = json.dumps({k: v for k, v in asdict(ADDRESS).items() if v is not None})
_ORDER_COLUMNS = (
    "id, channel, channel_account, channel_order_id, status, purchase_date, is_prime, "
    "is_business, fulfilled_by, buyer_name, shipping_address, currency, total_minor, tags, "
    "holds, created_at, updated_at, version"
)
_LINE_COLUMNS = "order_id, line_no, sku, quantity, unit_price_minor, channel_line_id, channel_sku"


def _order_row(now: Any) -> tuple[Any, ...]:
    oid = new_id("ord")
    return (
        oid,
        "manual",
        "manual",
        f"M-{oid[-10:]}",
        "allocated",
        now,
        False,
        False,
        "merchant",
        "Ada",
        _ADDRESS_JSON,
        "EUR",
        3750,
        "[]",
        "[]",
        now,
        now,
        1,
    )


def _line_rows(oid: str, skus: list[str]) -> list[tuple[Any, ...]]:
    return [(oid, n, sku, 1, 1250, str(n), sku) for n, sku in enumerate(skus, 1)]


class InsufficientRaw(Exception):
    pass


def sqlite_raw_work(
    path: str, lock: threading.Lock, pool: list[str]
) -> Callable[[], tuple[Work, Callable[[], None]]]:
    insert_order = f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES ({', '.join('?' * 18)})"
    insert_line = f"INSERT INTO order_lines ({_LINE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    reserve = (
        "UPDATE stock_levels SET reserved = reserved + ?, updated_at = ? "
        "WHERE sku = ? AND location = ? AND on_hand - reserved >= ?"
    )

    def make() -> tuple[Work, Callable[[], None]]:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        # Exactly the settings of ordermesh's writers (WAL, synchronous=NORMAL, …).
        for pragma in SQLITE_WRITER_PRAGMAS:
            conn.execute(f"PRAGMA {pragma}")

        def work(rng: random.Random) -> bool:
            skus = sorted(pick(rng, pool))
            now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
            row = _order_row(now)
            # The same in-process writer queue as ordermesh's, so both wait their turn the
            # same way instead of one of them spinning in SQLite's busy handler.
            with lock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(insert_order, row)
                    conn.executemany(insert_line, _line_rows(row[0], skus))
                    for sku in skus:
                        if conn.execute(reserve, (1, now, sku, WAREHOUSE, 1)).rowcount != 1:
                            raise InsufficientRaw(sku)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            return True

        return work, conn.close

    return make


def postgres_raw_work(dsn: str, pool: list[str]) -> Callable[[], tuple[Work, Callable[[], None]]]:
    insert_order = (
        f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES "
        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s::jsonb, %s::jsonb, "
        "%s, %s, %s)"
    )
    insert_line = f"INSERT INTO order_lines ({_LINE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    reserve = (
        "UPDATE stock_levels SET reserved = reserved + %s, updated_at = %s "
        "WHERE sku = %s AND location = %s AND on_hand - reserved >= %s"
    )

    def make() -> tuple[Work, Callable[[], None]]:
        conn = psycopg.connect(dsn)

        def work(rng: random.Random) -> bool:
            skus = sorted(pick(rng, pool))
            now = datetime.now(UTC)
            row = _order_row(now)
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(insert_order, row)
                cur.executemany(insert_line, _line_rows(row[0], skus))
                # Sorted, so concurrent orders lock rows in one order and never deadlock.
                for sku in skus:
                    cur.execute(reserve, (1, now, sku, WAREHOUSE, 1))
                    if cur.rowcount != 1:
                        raise InsufficientRaw(sku)
            return True

        return work, conn.close

    return make


# -- the benchmark -------------------------------------------------------------------------
def settle(target: Target) -> None:
    """Start each timed run from the same state: the previous run's dirty pages written out and
    its dead stock rows vacuumed, so that neither side pays for the other's leftovers (a
    checkpoint or autovacuum falling due would otherwise land on whichever runs next)."""
    if target.backend == "sqlite":
        conn = sqlite3.connect(target.raw, isolation_level=None, timeout=30)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        return
    with psycopg.connect(target.raw, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) stock_levels")
        conn.execute("CHECKPOINT")


def run(
    om: Ordermesh,
    target: Target,
    pools: dict[str, list[str]],
    clients: list[int],
    seconds: float,
    warmup: float,
    progress: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """One row per (dataset, clients): ordermesh and raw figures and their ratio."""
    rows = []
    lock = threading.Lock()

    def fresh_start() -> None:
        restock_if_low(om)
        settle(target)

    for dataset, pool in pools.items():
        for n in clients:
            if target.backend == "sqlite":
                raw_make = sqlite_raw_work(target.raw, lock, pool)
            else:
                raw_make = postgres_raw_work(target.raw, pool)

            ours, raw, halves = alternate(
                ordermesh_work(om, pool), raw_make, n, seconds, warmup, fresh_start
            )
            row = _row(target.backend, dataset, len(pool), ours, raw) | {
                "ratio_of_each_pair": [round(r, 3) for r in halves]
            }
            progress(
                f"  allocation {target.backend} {dataset} x{n}: {ours.per_second:.0f}/s "
                f"(p50 {ours.p50_ms:.2f} ms, p99 {ours.p99_ms:.2f} ms) vs raw "
                f"{raw.per_second:.0f}/s → {row['ratio']:.2f} "
                f"(pairs {halves[0]:.2f}, {halves[1]:.2f})"
            )
            rows.append(row)
    return rows


def _row(backend: str, dataset: str, skus: int, ours: Figures, raw: Figures) -> dict[str, Any]:
    ratio = ours.per_second / raw.per_second if raw.per_second else 0.0
    return {
        "backend": backend,
        "dataset": dataset,
        "skus": skus,
        "clients": ours.clients,
        "ordermesh": ours.as_dict(),
        "raw": raw.as_dict(),
        "ratio": round(ratio, 3),
    }
