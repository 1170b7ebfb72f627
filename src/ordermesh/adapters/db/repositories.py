"""Repositories over SQLAlchemy Core. Statements are built once at import; the hot path
(reserve, add orders, ledger rows) is one round-trip per statement and batched with
executemany wherever rows are many."""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime, time
from functools import lru_cache
from typing import Any

import orjson
import psycopg
from sqlalchemy import Connection, bindparam, delete, insert, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import PENDING_WRITES
from ordermesh.domain.catalogue import ChannelListing, Dimensions, Product
from ordermesh.domain.errors import StockInvariantBroken
from ordermesh.domain.inventory import Location, LocationKind, Movement, StockLevel
from ordermesh.domain.money import Money
from ordermesh.domain.orders import (
    Address,
    Allocation,
    FulfilledBy,
    Hold,
    Order,
    OrderLine,
    OrderStatus,
)
from ordermesh.domain.shipments import Confirmation, Shipment, ShipmentLine
from ordermesh.ports.clock import Clock
from ordermesh.ports.storage import ConcurrencyConflict, StockKey


def insert_ignoring_conflicts(conn: Connection, table: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, for the dialect at hand."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table).on_conflict_do_nothing()


def _chunks(items: Sequence[Any], size: int = 900) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Driver:
    """The driver's own cursor, for the statements every order runs.

    Going through SQLAlchemy costs about 50 µs a statement (compiled-cache lookup, parameter
    processing, result wrapping), more than SQLite takes to run it, and an order runs a dozen.
    So the hot statements are written once in SQL, rendered once per dialect, and run on the
    connection's own cursor, inside the same transaction. Values are converted here the way
    the table types would (aware UTC times; JSON as text).

    With `defer`, inserts whose outcome nobody reads before commit (ledger, order, history,
    outbox rows) are queued and sent together, in order — one pipeline on PostgreSQL — before
    the next read, before any SQLAlchemy statement on the connection (see engine.py), and at
    commit. A failing insert still fails the transaction; it is only reported a little later."""

    def __init__(self, conn: Connection, *, defer: bool = False) -> None:
        self.is_sqlite = conn.dialect.name == "sqlite"
        self.dbapi: Any = conn.connection.driver_connection
        self.cursor = self.dbapi.cursor()
        self.raw_cursor: Any = None
        self.defer = defer
        self.pending: list[tuple[str, Sequence[Sequence[Any]]]] = []
        self.prefetched_kinds: list[Any] | None = None
        self.prefetched_stock: tuple[set[str], list[Any]] | None = None
        self.prefetched_listings: tuple[frozenset[str], list[Any]] | None = None
        self._info = conn.info
        if defer:
            conn.info[PENDING_WRITES] = self._before_sqlalchemy

    def sql(self, statement: str) -> str:
        """Render `?` placeholders (`?j` for JSON values) for this dialect, once per statement."""
        return _render(statement, self.is_sqlite)

    def time(self, value: datetime | None) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC times")
        if self.is_sqlite:
            # The text SQLAlchemy's SQLite DateTime stores, so both paths read back alike.
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        if not statement.startswith("SELECT"):
            self.flush()
            self.forget_reads(statement)
        elif any(_may_read(statement, sql) for sql, _ in self.pending):
            # A read waits only for the queued writes to tables it names (the stock
            # movements of an allocation need not go ahead of the listings query).
            self.flush()
        self.cursor.execute(self.sql(statement), params)
        return self.cursor

    def prefetch(self, statement: str, params: Sequence[Any], skus: Sequence[str]) -> list[Any]:
        """Run `statement` (the SKUs asked about) and, in the same round trip, read the stock
        of `skus`, the locations' kinds and the channel listings whose figures depend on
        `skus`: the stock kept for this transaction until its next write, the listings until
        a write to the listings or bundles.

        Allocation reads without locks and applies its plan with guarded updates, so figures
        read a moment earlier in the same round trip are as good as figures read later; the
        stock sync that follows the reservation asks which listings the moved SKUs feed."""
        self.flush()
        where, stock_params = self.among("sku", skus)
        own, own_params = self.among("sku", skus)
        part, part_params = self.among("component_sku", skus)
        # One statement rather than four in a pipeline: psycopg sends and waits for each
        # pipelined statement on its own, which costs more client time than the server's
        # work on these reads. Each row is tagged with the part it answers.
        combined = (
            f"SELECT 0, q.*, NULL, NULL FROM ({statement}) q "
            "UNION ALL SELECT 1, sku, location, on_hand - reserved, NULL, NULL "
            f"FROM stock_levels WHERE {where} "
            "UNION ALL SELECT 2, code, kind, NULL, NULL, NULL FROM locations "
            "UNION ALL SELECT 3, channel_account, channel_sku, NULL, sku, fulfilled_by "
            + LISTINGS_OF.format(own=own, part=part).removeprefix(_LISTING_COLUMNS)
        )
        rows: list[Any] = []
        stock: list[Any] = []
        kinds: list[Any] = []
        listings: list[Any] = []
        for tag, a, b, c, d, e in self._read_before_begin(
            combined, [*params, *stock_params, *own_params, *part_params]
        ):
            if tag == 0:
                rows.append((a, b, c))
            elif tag == 1:
                stock.append((a, b, c))
            elif tag == 2:
                kinds.append((a, b))
            else:
                listings.append((a, b, d, e))
        self.prefetched_stock = (set(skus), stock)
        self.prefetched_kinds = kinds
        self.prefetched_listings = (frozenset(skus), listings)
        return rows

    def _read_before_begin(self, statement: str, params: Sequence[Any]) -> list[Any]:
        """Run a read; on PostgreSQL, when it is the transaction's first statement, on its own
        before the transaction begins. Under READ COMMITTED every statement has a snapshot of
        its own, so the read sees what it would see just after BEGIN, and BEGIN then goes in
        the pipeline of the first writes instead of a round trip of its own."""
        dbapi = self.dbapi
        if (
            self.is_sqlite
            or self.pending
            or dbapi.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
            or dbapi.isolation_level not in (None, psycopg.IsolationLevel.READ_COMMITTED)
        ):
            return list(self.execute(statement, params).fetchall())
        dbapi.autocommit = True
        try:
            return list(self.cursor.execute(self.sql(statement), params).fetchall())
        finally:
            dbapi.autocommit = False

    def listings_of(self, skus: Collection[str]) -> list[Any] | None:
        """The prefetched `LISTINGS_OF` rows when they answer for exactly these SKUs."""
        found = self.prefetched_listings
        if found is None or found[0] != frozenset(skus):
            return None
        return found[1]

    def forget_reads(self, statement: str | None = None) -> None:
        """Drop what a write may have changed: stock and locations after any write, the
        listings only after a write that names them (or one we cannot see: `None`)."""
        self.prefetched_stock = None
        self.prefetched_kinds = None
        if statement is None or "channel_listings" in statement or "bundle_components" in statement:
            self.prefetched_listings = None

    def _before_sqlalchemy(self) -> None:
        # Whatever SQLAlchemy runs may change stock or locations: prefetched reads expire.
        self.forget_reads()
        self.flush()

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        self.forget_reads(statement)
        if self.defer:
            self.pending.append((self.sql(statement), rows))
        else:
            self.cursor.executemany(self.sql(statement), rows)

    def rowcounts(self, statement: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        """Run one statement per row and say how many rows each touched; on PostgreSQL all in
        one round trip, still executed one after the other in the given order."""
        self.flush()
        self.forget_reads(statement)
        sql = self.sql(statement)
        if not rows:
            return []
        if self.is_sqlite:
            return [int(self.cursor.execute(sql, row).rowcount) for row in rows]
        # One pipelined batch; a result set per statement, holding a row if it touched one.
        self.cursor.executemany(f"{sql} RETURNING 1", rows, returning=True)
        counts = []
        while True:
            counts.append(len(self.cursor.fetchall()))
            if not self.cursor.nextset():
                return counts

    def flush(self, *, commit: bool = False) -> None:
        """Send the queued writes. On PostgreSQL plain inserts go as one statement (see
        `_one_statement`), after any updates queued ahead of them (a reservation checked at
        commit), all in one pipeline; with `commit` COMMIT goes in the same round trip
        (SQLAlchemy's own commit that follows finds nothing left to do).

        When nothing of the transaction has reached the server yet (an order read its stock
        before BEGIN), committing sends its reservations and inserts as a single statement in
        autocommit, a transaction of its own: one message instead of a pipeline of BEGIN, each
        update, the inserts and COMMIT, and a failing part (the stock taken meanwhile) undoes
        all of it alike."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        if self.is_sqlite:
            for sql, rows in pending:
                self.cursor.executemany(sql, rows)
            return
        first_insert = next(
            (i for i, (sql, _) in enumerate(pending) if _insert_parts(sql) is not None),
            len(pending),
        )
        one = _one_statement(pending[first_insert:]) if first_insert < len(pending) else None
        ahead = pending[:first_insert] if one is not None else pending
        try:
            if one is not None and not ahead and not commit:
                self._raw().execute(*one)
                return
            if (
                commit
                and one is not None
                and self._alone_in_transaction()
                and all(sql == _RESERVE_AT_COMMIT_PG for sql, _ in ahead)
            ):
                reservations = [row for _, rows in ahead for row in rows]
                self._commit_as_one(reservations, one)
                return
            # COMMIT in the same round trip: the stock rows this order locked are released
            # one round trip sooner, and concurrent orders for the same SKUs wait less.
            with self.dbapi.pipeline():
                for sql, rows in ahead:
                    self.cursor.executemany(sql, rows)
                if one is not None:
                    self._raw().execute(*one)
                if commit:
                    self.dbapi.commit()
        except psycopg.errors.CheckViolation as exc:
            reserved = any(sql == _RESERVE_AT_COMMIT_PG for sql, _ in ahead)
            if reserved and exc.diag.constraint_name == NEVER_OVERSOLD:
                _lost_race.recently = True
                raise ConcurrencyConflict(
                    "another order took the stock this one planned on; planning again"
                ) from exc
            raise

    def _alone_in_transaction(self) -> bool:
        """Nothing of this transaction has reached the server yet: its writes can go as one
        statement in autocommit, which is a transaction of its own."""
        dbapi = self.dbapi
        return dbapi.info.transaction_status == psycopg.pq.TransactionStatus.IDLE and (
            dbapi.isolation_level in (None, psycopg.IsolationLevel.READ_COMMITTED)
        )

    def _commit_as_one(self, reservations: Sequence[Sequence[Any]], inserts: Any) -> None:
        """Reservations (see `_reserving`) and `inserts` (`_one_statement`) as one statement."""
        text, values = inserts
        if reservations:
            head = _reserving(len(reservations), len(values))
            if text.startswith("WITH "):
                text = f"{head}, {text.removeprefix('WITH ')}"
            else:
                text = f"{head} {text}"
            values = [*values, *(v for row in reservations for v in row)]
        dbapi = self.dbapi
        dbapi.autocommit = True
        try:
            self._raw().execute(text, values)
        finally:
            dbapi.autocommit = False

    def _raw(self) -> Any:
        if self.raw_cursor is None:
            self.raw_cursor = psycopg.RawCursor(self.dbapi)
        return self.raw_cursor

    def reserve_at_commit(self, rows: Sequence[Sequence[Any]]) -> bool:
        """Queue reservations (quantity, time, sku, location) to go with the transaction's
        other writes instead of a round trip of their own, and say whether they were queued.

        Only on PostgreSQL, and not right after this thread lost such a race: there the
        guard is the table's `never_oversold` check, so a shortage fails the whole
        transaction and the command runs again from fresh figures. That retry takes the
        guarded updates, which wait for the row and re-plan inside the transaction, so that
        a burst of orders for the last units does not fail over and over."""
        if self.is_sqlite or not self.defer or getattr(_lost_race, "recently", False):
            _lost_race.recently = False
            return False
        self.forget_reads(_RESERVE_AT_COMMIT)
        self.pending.append((_RESERVE_AT_COMMIT_PG, rows))
        return True

    def among(self, column: str, values: Sequence[Any]) -> tuple[str, Sequence[Any]]:
        """`column IN (…)` and its parameters. On PostgreSQL a list longer than a few values
        is one array parameter, so that the statement text (and its prepared statement) is
        the same whatever its length. A short list, as an order's SKUs are, keeps one
        parameter each: against an array of unknown length the planner prefers a fresh plan
        for every call, which for an order's prefetch cost more server time than running it."""
        if self.is_sqlite or len(values) <= _EACH_PARAMETER_UP_TO:
            return f"{column} IN ({', '.join('?' * len(values))})", values
        return f"{column} = ANY(?)", [list(values)]

    def discard(self) -> None:
        """Forget queued writes (the transaction is being rolled back) and leave the
        connection, which goes back to the pool, with no trace of this unit of work."""
        self.pending = []
        self.forget_reads()
        if self._info.get(PENDING_WRITES) == self._before_sqlalchemy:
            del self._info[PENDING_WRITES]


@lru_cache(maxsize=1024)
def _may_read(query: str, write: str) -> bool:
    """Whether `query` may read what the (rendered) `write` statement changes: yes unless the
    written table is known and `query` does not name it."""
    found = re.match(r"(?:INSERT INTO|UPDATE|DELETE FROM) (\w+)", write)
    return found is None or re.search(rf"\b{found.group(1)}\b", query) is not None


_MAX_PARAMS_IN_ONE = 10_000
"""Above this (a large import), queued inserts are pipelined: one statement's text per row
count would crowd the driver's cache of prepared statements."""


def _one_statement(pending: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> Any:
    """Queued PostgreSQL inserts as one statement, `WITH w0 AS (INSERT … VALUES (…), (…)), …
    INSERT …`, and its parameters; or None if they cannot be (not plain inserts, too many).

    psycopg's pipeline sends and polls for each row's statement on its own: for an order's
    dozen rows that costs several times the server's work. One statement is one message.
    Foreign keys are checked at the end of the statement, so the members' order does not
    matter; rows of one table keep their order (a table written by two different statements
    is left to the pipeline, whose order is the order they were queued in)."""
    merged: dict[str, list[Sequence[Any]]] = {}
    table_statement: dict[str, str] = {}
    params = 0
    for sql, rows in pending:
        parts = _insert_parts(sql)
        if parts is None or table_statement.setdefault(parts[0], sql) != sql:
            return None
        merged.setdefault(sql, []).extend(rows)
        params += len(rows) * len(rows[0]) if rows else 0
        if params > _MAX_PARAMS_IN_ONE:
            return None
    values: list[Any] = []
    for rows in merged.values():
        for one in rows:
            values.extend(one)
    return _combined(tuple((sql, len(rows)) for sql, rows in merged.items())), values


@lru_cache(maxsize=256)
def _combined(shape: tuple[tuple[str, int], ...]) -> str:
    """The text of `_one_statement` for these statements and row counts, with numbered
    placeholders for a raw cursor: psycopg would otherwise parse a text this long again on
    every call (it caches only short statements)."""
    statements = []
    for sql, count in shape:
        _, head, row = _insert_parts(sql)  # type: ignore[misc]
        statements.append(head + ", ".join([row] * count))
    members = ", ".join(f"w{n} AS ({s})" for n, s in enumerate(statements[:-1]))
    text = f"WITH {members} {statements[-1]}" if members else statements[-1]
    numbers = iter(range(1, text.count("%s") + 1))
    return re.sub("%s", lambda _: f"${next(numbers)}", text)


@lru_cache(maxsize=256)
def _insert_parts(sql: str) -> tuple[str, str, str] | None:
    """`INSERT INTO t (…) VALUES (row)` → (t, `INSERT INTO t (…) VALUES `, `(row)`); None for
    anything else (ON CONFLICT, RETURNING, updates)."""
    if not sql.startswith("INSERT INTO "):
        return None
    start = sql.find(" VALUES (")
    if start < 0:
        return None
    depth, end = 0, -1
    for i in range(start + 8, len(sql)):
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            depth -= 1
            if depth == 0:
                end = i + 1
                break
    if end != len(sql):
        return None
    return sql.split(" ", 3)[2], sql[: start + 8], sql[start + 8 :]


@lru_cache(maxsize=512)
def _render(statement: str, is_sqlite: bool) -> str:
    if is_sqlite:
        return statement.replace("?j", "?")
    return statement.replace("?j", "CAST(%s AS JSONB)").replace("?", "%s")


_EACH_PARAMETER_UP_TO = 8
"""Lists up to this long get a parameter per value (see `Driver.among`): eight texts at most
per statement, well inside the driver's cache of prepared statements."""

_lost_race = threading.local()
"""`recently`: this thread's last reservation checked at commit found its stock taken."""

NEVER_OVERSOLD = "ck_stock_levels_never_oversold"
_RESERVE_AT_COMMIT = (
    "UPDATE stock_levels SET reserved = reserved + ?, updated_at = ? WHERE sku = ? AND location = ?"
)
"""No guard in the WHERE clause: the `never_oversold` check refuses a reservation beyond
on_hand. The row exists: allocation plans only on levels it read, and levels are never
deleted."""
_RESERVE_AT_COMMIT_PG = _render(_RESERVE_AT_COMMIT, is_sqlite=False)


@lru_cache(maxsize=256)
def _reserving(count: int, after: int) -> str:
    """The head of a WITH that reserves `count` (quantity, time, sku, location) rows given as
    the parameters after the first `after`, for `_combined`'s members or its lone insert to
    follow. It locks the rows first, in the order every other reservation and
    `SqlStockRepository.lock` take them (by SKU, then location, in code-point order, as
    Python sorts), so that concurrent writers never deadlock."""
    rows = ", ".join(
        f"(${n + 1}::integer, ${n + 2}::timestamptz, ${n + 3}::text, ${n + 4}::text)"
        for n in range(after, after + 4 * count, 4)
    )
    return (
        f"WITH rq (q, t, sku, location) AS (VALUES {rows}), "
        "rl AS MATERIALIZED (SELECT s.sku, s.location, rq.q, rq.t FROM stock_levels s "
        "JOIN rq ON s.sku = rq.sku AND s.location = rq.location "
        'ORDER BY s.sku COLLATE "C", s.location COLLATE "C" FOR UPDATE OF s), '
        "ru AS (UPDATE stock_levels s SET reserved = s.reserved + rl.q, updated_at = rl.t "
        "FROM rl WHERE s.sku = rl.sku AND s.location = rl.location)"
    )


def json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


_KINDS = "SELECT code, kind FROM locations"
_AVAILABLE = "SELECT sku, location, on_hand - reserved FROM stock_levels WHERE {where}"
_LISTING_COLUMNS = "SELECT channel_account, channel_sku, sku, fulfilled_by "
LISTINGS_OF = (
    _LISTING_COLUMNS + "FROM channel_listings WHERE {own} "
    "OR sku IN (SELECT bundle_sku FROM bundle_components WHERE {part})"
)
"""The channel listings whose figures depend on some SKUs: their own, and the bundles' made
of them."""


# -- catalogue -----------------------------------------------------------------------------
def product_from_row(row: Any, components: dict[str, int]) -> Product:
    dims = None
    if row.length_mm is not None and row.width_mm is not None and row.height_mm is not None:
        dims = Dimensions(row.length_mm, row.width_mm, row.height_mm)
    cost = (
        Money.from_minor(row.unit_cost_minor, row.cost_currency)
        if row.unit_cost_minor is not None and row.cost_currency
        else None
    )
    return Product(
        sku=row.sku,
        title=row.title,
        gtin=row.gtin,
        asin=row.asin,
        brand=row.brand,
        product_type=row.product_type,
        tags=tuple(row.tags or ()),
        weight_g=row.weight_g,
        dimensions=dims,
        unit_cost=cost,
        hs_code=row.hs_code,
        country_of_origin=row.country_of_origin,
        low_stock_threshold=row.low_stock_threshold,
        components=components,
    )


def _product_row(product: Product, now: datetime) -> dict[str, Any]:
    dims = product.dimensions
    return {
        "sku": product.sku,
        "title": product.title,
        "gtin": product.gtin,
        "asin": product.asin,
        "brand": product.brand,
        "product_type": product.product_type,
        "tags": list(product.tags),
        "weight_g": product.weight_g,
        "length_mm": dims.length_mm if dims else None,
        "width_mm": dims.width_mm if dims else None,
        "height_mm": dims.height_mm if dims else None,
        "unit_cost_minor": product.unit_cost.to_minor() if product.unit_cost else None,
        "cost_currency": product.unit_cost.currency if product.unit_cost else None,
        "hs_code": product.hs_code,
        "country_of_origin": product.country_of_origin,
        "low_stock_threshold": product.low_stock_threshold,
        "is_bundle": product.is_bundle,
        "updated_at": now,
    }


class SqlCatalogueRepository:
    def __init__(self, conn: Connection, clock: Clock, driver: Driver | None = None) -> None:
        self.conn, self.clock = conn, clock
        self.driver = driver or Driver(conn)

    def get(self, sku: str) -> Product | None:
        row = self.conn.execute(select(t.products).where(t.products.c.sku == sku)).first()
        if row is None:
            return None
        components = dict(
            self.conn.execute(
                select(t.bundle_components.c.component_sku, t.bundle_components.c.quantity).where(
                    t.bundle_components.c.bundle_sku == sku
                )
            ).all()
        )
        return product_from_row(row, {k: int(v) for k, v in components.items()})

    def known(self, skus: Collection[str]) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        if not skus:
            return found
        for chunk in _chunks(list(skus)):
            where, params = self.driver.among("p.sku", chunk)
            statement = (
                "SELECT p.sku, b.component_sku, b.quantity FROM products p "
                f"LEFT JOIN bundle_components b ON b.bundle_sku = p.sku WHERE {where}"
            )
            if self.driver.is_sqlite or not self.driver.defer or len(skus) > len(chunk):
                rows = self.driver.execute(statement, params).fetchall()
            else:
                # Whoever asks which SKUs exist is usually about to allocate them: their stock
                # and the locations' kinds come back in the same round trip (see Driver).
                rows = self.driver.prefetch(statement, params, chunk)
            for sku, component, quantity in rows:
                parts = found.setdefault(sku, {})
                if component is not None:
                    parts[component] = quantity
        return found

    def upsert(self, products: Sequence[Product]) -> tuple[int, int]:
        if not products:
            return 0, 0
        now = self.clock.now()
        existing = set(self.known([p.sku for p in products]))
        rows = [_product_row(p, now) for p in products]
        new = [dict(r, created_at=now) for r in rows if r["sku"] not in existing]
        changed = [dict(r, b_sku=r["sku"]) for r in rows if r["sku"] in existing]
        if new:
            self.conn.execute(insert(t.products), new)
        if changed:
            values = {k: bindparam(k) for k in rows[0] if k != "sku"}
            self.conn.execute(
                update(t.products).where(t.products.c.sku == bindparam("b_sku")).values(values),
                changed,
            )
        bundle_skus = [p.sku for p in products if p.is_bundle or p.sku in existing]
        if bundle_skus:
            self.conn.execute(
                delete(t.bundle_components).where(t.bundle_components.c.bundle_sku.in_(bundle_skus))
            )
        components = [
            {"bundle_sku": p.sku, "component_sku": c, "quantity": q}
            for p in products
            for c, q in p.components.items()
        ]
        if components:
            self.conn.execute(insert(t.bundle_components), components)
        return len(new), len(changed)

    def listings(self, channel_account: str, channel_skus: Collection[str]) -> dict[str, str]:
        if not channel_skus:
            return {}
        rows = self.conn.execute(
            select(t.channel_listings.c.channel_sku, t.channel_listings.c.sku).where(
                t.channel_listings.c.channel_account == channel_account,
                t.channel_listings.c.channel_sku.in_(list(channel_skus)),
            )
        )
        return {row[0]: row[1] for row in rows}

    def upsert_listing(self, listing: ChannelListing) -> None:
        values = {
            "sku": listing.sku,
            "asin": listing.asin,
            "variant_id": listing.variant_id,
            "fulfilled_by": listing.fulfilled_by,
        }
        done = self.conn.execute(
            update(t.channel_listings)
            .where(
                t.channel_listings.c.channel_account == listing.channel_account,
                t.channel_listings.c.channel_sku == listing.channel_sku,
            )
            .values(values)
        )
        if done.rowcount == 0:
            self.conn.execute(
                insert(t.channel_listings).values(
                    channel_account=listing.channel_account,
                    channel_sku=listing.channel_sku,
                    created_at=self.clock.now(),
                    **values,
                )
            )


# -- locations -----------------------------------------------------------------------------
def location_from_row(row: Any) -> Location:
    hours, minutes = (int(part) for part in row.cutoff.split(":"))
    return Location(
        code=row.code,
        name=row.name,
        kind=LocationKind(row.kind),
        address=dict(row.address or {}),
        working_days=tuple(d for d in row.working_days.split(",") if d),
        cutoff=time(hours, minutes),
        timezone=row.timezone,
    )


class SqlLocationRepository:
    def __init__(self, conn: Connection, clock: Clock, driver: Driver | None = None) -> None:
        self.conn, self.clock = conn, clock
        self.driver = driver or Driver(conn)

    def get(self, code: str) -> Location | None:
        row = self.conn.execute(select(t.locations).where(t.locations.c.code == code)).first()
        return location_from_row(row) if row else None

    def add(self, location: Location) -> None:
        self.conn.execute(
            insert(t.locations).values(
                code=location.code,
                name=location.name,
                kind=str(location.kind),
                address=location.address,
                working_days=",".join(location.working_days),
                cutoff=location.cutoff.strftime("%H:%M"),
                timezone=location.timezone,
                created_at=self.clock.now(),
            )
        )

    def kinds(self) -> dict[str, LocationKind]:
        rows = self.driver.prefetched_kinds
        if rows is None:
            rows = self.driver.execute(_KINDS).fetchall()
        return {code: LocationKind(kind) for code, kind in rows}


# -- stock ---------------------------------------------------------------------------------
_s = t.stock_levels.c
_KEY = (_s.sku == bindparam("k_sku")) & (_s.location == bindparam("k_loc"))
# The guarded updates, parameters (q, now, sku, location, q) — _SHIP takes q twice first.
# An update that touches no row means the guard failed.
_RESERVE = (
    "UPDATE stock_levels SET reserved = reserved + ?, updated_at = ? "
    "WHERE sku = ? AND location = ? AND on_hand - reserved >= ?"
)
_RELEASE = (
    "UPDATE stock_levels SET reserved = reserved - ?, updated_at = ? "
    "WHERE sku = ? AND location = ? AND reserved >= ?"
)
_SHIP = (
    "UPDATE stock_levels SET reserved = reserved - ?, on_hand = on_hand - ?, "
    "updated_at = ? WHERE sku = ? AND location = ? AND reserved >= ?"
)
_SET_LEVEL = (
    update(t.stock_levels)
    .where(_KEY)
    .values(
        on_hand=bindparam("on_hand"), reserved=bindparam("reserved"), updated_at=bindparam("now")
    )
)
_INSERT_MOVEMENTS = (
    "INSERT INTO stock_movements (sku, location, kind, on_hand_delta, reserved_delta, reason, "
    "reference, actor, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


_AT_COMMIT_UP_TO = 20
"""Reservations of up to this many levels (an order's, not an import batch's) are checked at
commit on PostgreSQL: a lost race costs a retry of one order, not of a batch."""


def _guard_params(
    statement: str, sku: str, location: str, quantity: int, now: Any
) -> tuple[Any, ...]:
    head = (quantity, quantity) if statement is _SHIP else (quantity,)
    return (*head, now, sku, location, quantity)


class SqlStockRepository:
    def __init__(self, conn: Connection, clock: Clock, driver: Driver | None = None) -> None:
        self.conn, self.clock = conn, clock
        self.driver = driver or Driver(conn)
        self.for_update = conn.dialect.name != "sqlite"
        """SQLite's BEGIN IMMEDIATE already holds the one write lock; PostgreSQL locks rows."""

    def available(self, skus: Collection[str]) -> dict[StockKey, int]:
        if not skus:
            return {}
        result: dict[StockKey, int] = {}
        prefetched = self.driver.prefetched_stock
        if prefetched is not None and prefetched[0].issuperset(skus):
            for sku, location, units in prefetched[1]:
                if sku in skus:
                    result[(sku, location)] = units
            return result
        for chunk in _chunks(list(skus)):
            where, params = self.driver.among("sku", chunk)
            rows = self.driver.execute(_AVAILABLE.format(where=where), params).fetchall()
            for sku, location, units in rows:
                result[(sku, location)] = units
        return result

    def lock(self, keys: Sequence[StockKey]) -> dict[StockKey, StockLevel]:
        ordered = sorted(set(keys))
        if not ordered:
            return {}
        now = self.clock.now()
        self.conn.execute(
            insert_ignoring_conflicts(self.conn, t.stock_levels),
            [
                {"sku": sku, "location": loc, "on_hand": 0, "reserved": 0, "updated_at": now}
                for sku, loc in ordered
            ],
        )
        query = select(_s.sku, _s.location, _s.on_hand, _s.reserved).where(
            tuple_(_s.sku, _s.location).in_(ordered)
        )
        if self.for_update:
            # Rows are locked in the order they are read: code-point order, as every
            # reservation locks them, whatever the database's collation would sort by.
            query = query.order_by(_s.sku.collate("C"), _s.location.collate("C"))
            query = query.with_for_update()
        else:
            query = query.order_by(_s.sku, _s.location)
        return {
            (sku, loc): StockLevel(sku, loc, on_hand, reserved)
            for sku, loc, on_hand, reserved in self.conn.execute(query)
        }

    def save(self, levels: Iterable[StockLevel], movements: Sequence[Movement], actor: str) -> None:
        now = self.clock.now()
        rows = [
            {
                "k_sku": lv.sku,
                "k_loc": lv.location,
                "on_hand": lv.on_hand,
                "reserved": lv.reserved,
                "now": now,
            }
            for lv in levels
        ]
        if rows:
            self.conn.execute(_SET_LEVEL, rows)
        self.record(movements, actor)

    def _guarded(self, statement: str, sku: str, location: str, quantity: int, now: Any) -> bool:
        [count] = self.driver.rowcounts(
            statement, [_guard_params(statement, sku, location, quantity, now)]
        )
        return count == 1

    def reserve(self, amounts: Mapping[StockKey, int]) -> list[StockKey]:
        now = self.driver.time(self.clock.now())
        # A fixed order (by SKU, then location) so concurrent reservations never deadlock.
        keys = sorted(amounts)
        if len(keys) <= _AT_COMMIT_UP_TO and self.driver.reserve_at_commit(
            [(amounts[key], now, *key) for key in keys]
        ):
            return []
        counts = self.driver.rowcounts(
            _RESERVE,
            [_guard_params(_RESERVE, sku, loc, amounts[(sku, loc)], now) for sku, loc in keys],
        )
        failed = [key for key, count in zip(keys, counts, strict=True) if count != 1]
        if not failed:
            return []
        done = [key for key, count in zip(keys, counts, strict=True) if count == 1]
        self.driver.rowcounts(
            _RELEASE,
            [_guard_params(_RELEASE, sku, loc, amounts[(sku, loc)], now) for sku, loc in done],
        )
        return failed[:1]

    def _must(self, statement: str, amounts: Mapping[StockKey, int], what: str) -> None:
        now = self.driver.time(self.clock.now())
        for key in sorted(amounts):
            if not self._guarded(statement, key[0], key[1], amounts[key], now):
                raise StockInvariantBroken(
                    key[0], key[1], f"cannot {what} {amounts[key]}: not reserved"
                )

    def release(self, amounts: Mapping[StockKey, int]) -> None:
        self._must(_RELEASE, amounts, "release")

    def ship(self, amounts: Mapping[StockKey, int]) -> None:
        self._must(_SHIP, amounts, "ship")

    def record(self, movements: Sequence[Movement], actor: str) -> None:
        if not movements:
            return
        now = self.driver.time(self.clock.now())
        self.driver.executemany(
            _INSERT_MOVEMENTS,
            [
                (
                    m.sku,
                    m.location,
                    str(m.kind),
                    m.on_hand_delta,
                    m.reserved_delta,
                    m.reason,
                    m.reference,
                    actor,
                    now,
                )
                for m in movements
            ],
        )


# -- orders --------------------------------------------------------------------------------
def _money(minor: int | None, currency: str) -> Money | None:
    return None if minor is None else Money.from_minor(minor, currency)


def _minor(money: Money | None) -> int | None:
    return None if money is None else money.to_minor()


def _holds_json(holds: Sequence[Hold]) -> list[dict[str, str]]:
    return [
        {"kind": h.kind, "reason": h.reason, "actor": h.actor, "at": h.at.isoformat()}
        for h in holds
    ]


def _holds_from(data: Any) -> list[Hold]:
    return [
        Hold(h["kind"], h["reason"], h["actor"], datetime.fromisoformat(h["at"]))
        for h in data or ()
    ]


_ADDRESS_FIELDS = tuple(f.name for f in fields(Address))


def address_json(address: Address | None) -> dict[str, Any] | None:
    if address is None:
        return None
    # Not dataclasses.asdict: it deep-copies every value, a fifth of an import's time.
    found = ((name, getattr(address, name)) for name in _ADDRESS_FIELDS)
    return {name: value for name, value in found if value is not None}


def _order_values(order: Order, now: datetime) -> dict[str, Any]:
    return {
        "channel": order.channel,
        "channel_account": order.channel_account,
        "channel_order_id": order.channel_order_id,
        "marketplace": order.marketplace,
        "status": str(order.status),
        "purchase_date": order.purchase_date,
        "ship_by": order.ship_by,
        "deliver_by": order.deliver_by,
        "is_prime": order.is_prime,
        "is_business": order.is_business,
        "fulfilled_by": str(order.fulfilled_by),
        "service_level": order.service_level,
        "buyer_name": order.buyer_name,
        "buyer_email": order.buyer_email,
        "shipping_address": address_json(order.shipping_address),
        "currency": order.currency,
        "total_minor": _minor(order.total),
        "tags": list(order.tags),
        "holds": _holds_json(order.holds),
        "buyer_cancel_requested": order.buyer_cancel_requested,
        "channel_updated_at": order.channel_updated_at,
        "updated_at": now,
    }


_o = t.orders.c
_INSERT_ORDERS = (
    "INSERT INTO orders (id, channel, channel_account, channel_order_id, marketplace, status, "
    "purchase_date, ship_by, deliver_by, is_prime, is_business, fulfilled_by, service_level, "
    "buyer_name, buyer_email, shipping_address, currency, total_minor, tags, holds, "
    "buyer_cancel_requested, channel_updated_at, created_at, updated_at, version) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?j, ?, ?, ?j, ?j, ?, ?, ?, ?, 1)"
)
_INSERT_LINES = (
    "INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price_minor, tax_minor, "
    "discount_minor, channel_line_id, channel_sku) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_COMPLETE_LINE = (
    "UPDATE order_lines SET unit_price_minor = ?, tax_minor = ?, discount_minor = ?, "
    "channel_line_id = ? WHERE order_id = ? AND line_no = ?"
)
_INSERT_ALLOCATIONS = (
    "INSERT INTO allocations (order_id, line_no, sku, location, quantity) VALUES (?, ?, ?, ?, ?)"
)
_INSERT_HISTORY = (
    "INSERT INTO order_history (order_id, action, from_status, to_status, actor, reason, at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class SqlOrderRepository:
    def __init__(self, conn: Connection, clock: Clock, driver: Driver | None = None) -> None:
        self.conn, self.clock = conn, clock
        self.driver = driver or Driver(conn)
        self._seen: dict[str, Order] = {}
        self._stored_allocations: dict[str, list[Allocation]] = {}
        self._stored_shipments: dict[str, dict[str, Shipment]] = {}
        self._stored_lines: dict[str, list[OrderLine]] = {}

    def seen(self) -> Iterable[Order]:
        return self._seen.values()

    def _track(self, order: Order) -> Order:
        self._seen[order.id] = order
        self._stored_allocations[order.id] = list(order.allocations)
        self._stored_lines[order.id] = list(order.lines)
        if order.shipments:
            self._stored_shipments[order.id] = {s.id: s for s in order.shipments}
        return order

    def add(self, orders: Sequence[Order]) -> None:
        if not orders:
            return
        drv = self.driver
        now = drv.time(self.clock.now())
        drv.executemany(
            _INSERT_ORDERS,
            [
                (
                    o.id,
                    o.channel,
                    o.channel_account,
                    o.channel_order_id,
                    o.marketplace,
                    str(o.status),
                    drv.time(o.purchase_date),
                    drv.time(o.ship_by),
                    drv.time(o.deliver_by),
                    o.is_prime,
                    o.is_business,
                    str(o.fulfilled_by),
                    o.service_level,
                    o.buyer_name,
                    o.buyer_email,
                    json_text(address_json(o.shipping_address)),
                    o.currency,
                    _minor(o.total),
                    json_text(list(o.tags)),
                    json_text(_holds_json(o.holds)),
                    o.buyer_cancel_requested,
                    drv.time(o.channel_updated_at),
                    now,
                    now,
                )
                for o in orders
            ],
        )
        drv.executemany(
            _INSERT_LINES,
            [
                (
                    o.id,
                    line.line_no,
                    line.sku,
                    line.quantity,
                    _minor(line.unit_price),
                    _minor(line.tax),
                    _minor(line.discount),
                    line.channel_line_id,
                    line.channel_sku,
                )
                for o in orders
                for line in o.lines
            ],
        )
        self._insert_allocations([(o.id, a) for o in orders for a in o.allocations])
        self._insert_history(orders)
        for order in orders:
            if order.shipments:
                save_shipments(self.conn, order.shipments, {})
        for order in orders:
            order.version = 1
            self._track(order)

    def _insert_allocations(self, items: Sequence[tuple[str, Allocation]]) -> None:
        self.driver.executemany(
            _INSERT_ALLOCATIONS,
            [(oid, a.line_no, a.sku, a.location, a.quantity) for oid, a in items],
        )

    def _insert_history(self, orders: Iterable[Order]) -> None:
        at = self.driver.time
        rows = [
            (o.id, h.action, str(h.from_status), str(h.to_status), h.actor, h.reason, at(h.at))
            for o in orders
            for h in o.new_history
        ]
        self.driver.executemany(_INSERT_HISTORY, rows)
        for order in orders:
            order.new_history.clear()

    def _load(self, rows: Sequence[Any]) -> list[Order]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        lines: dict[str, list[Any]] = {}
        allocs: dict[str, list[Allocation]] = {}
        for chunk in _chunks(ids):
            for line in self.conn.execute(
                select(t.order_lines)
                .where(t.order_lines.c.order_id.in_(list(chunk)))
                .order_by(t.order_lines.c.order_id, t.order_lines.c.line_no)
            ):
                lines.setdefault(line.order_id, []).append(line)
            for oid, found in self.allocations_of(chunk).items():
                allocs[oid] = found
        shipped = load_shipments(self.conn, [r.id for r in rows if r.status in HAS_SHIPMENTS])
        orders = []
        for row in rows:
            currency = row.currency
            address = row.shipping_address
            order = Order(
                id=row.id,
                channel=row.channel,
                channel_account=row.channel_account,
                channel_order_id=row.channel_order_id,
                status=OrderStatus(row.status),
                purchase_date=row.purchase_date,
                lines=[
                    OrderLine(
                        line_no=ln.line_no,
                        sku=ln.sku,
                        quantity=ln.quantity,
                        unit_price=_money(ln.unit_price_minor, currency),
                        tax=_money(ln.tax_minor, currency),
                        discount=_money(ln.discount_minor, currency),
                        channel_line_id=ln.channel_line_id,
                        channel_sku=ln.channel_sku,
                    )
                    for ln in lines.get(row.id, [])
                ],
                currency=currency,
                marketplace=row.marketplace,
                ship_by=row.ship_by,
                deliver_by=row.deliver_by,
                is_prime=row.is_prime,
                is_business=row.is_business,
                fulfilled_by=FulfilledBy(row.fulfilled_by),
                service_level=row.service_level,
                buyer_name=row.buyer_name,
                buyer_email=row.buyer_email,
                shipping_address=Address(**address) if address else None,
                total=_money(row.total_minor, currency),
                tags=list(row.tags or ()),
                holds=_holds_from(row.holds),
                allocations=allocs.get(row.id, []),
                shipments=shipped.get(row.id, []),
                buyer_cancel_requested=row.buyer_cancel_requested,
                channel_updated_at=row.channel_updated_at,
                version=row.version,
            )
            orders.append(self._track(order))
        return orders

    def get(self, order_id: str) -> Order | None:
        if order_id in self._seen:
            return self._seen[order_id]
        found = self._load(self.conn.execute(select(t.orders).where(_o.id == order_id)).all())
        return found[0] if found else None

    def by_channel_ids(
        self, channel_account: str, channel_order_ids: Collection[str]
    ) -> dict[str, Order]:
        rows: list[Any] = []
        for chunk in _chunks(list(channel_order_ids)):
            rows.extend(
                self.conn.execute(
                    select(t.orders).where(
                        _o.channel_account == channel_account, _o.channel_order_id.in_(list(chunk))
                    )
                ).all()
            )
        return {o.channel_order_id: o for o in self._load(rows)}

    def allocations_of(self, order_ids: Collection[str]) -> dict[str, list[Allocation]]:
        found: dict[str, list[Allocation]] = {}
        a = t.allocations.c
        for chunk in _chunks(list(order_ids)):
            for row in self.conn.execute(
                select(a.order_id, a.line_no, a.sku, a.location, a.quantity)
                .where(a.order_id.in_(list(chunk)))
                .order_by(a.id)
            ):
                found.setdefault(row.order_id, []).append(
                    Allocation(row.line_no, row.sku, row.location, row.quantity)
                )
        return found

    def save(self, orders: Iterable[Order]) -> None:
        now = self.clock.now()
        for order in orders:
            values = _order_values(order, now)
            done = self.conn.execute(
                update(t.orders)
                .where(_o.id == order.id, _o.version == order.version)
                .values(version=_o.version + 1, **values)
            )
            if done.rowcount != 1:
                raise ConcurrencyConflict(f"order {order.id} was changed by someone else")
            order.version += 1
            self._save_completed_lines(order)
            before = self._stored_allocations.get(order.id, [])
            stored = len(before)
            if order.allocations[:stored] != before:
                # Reservations given back or shrunk (cancel, ship, re-plan): the table mirrors
                # the order.
                self.conn.execute(delete(t.allocations).where(t.allocations.c.order_id == order.id))
                stored = 0
            self._insert_allocations([(order.id, a) for a in order.allocations[stored:]])
            self._stored_allocations[order.id] = list(order.allocations)
            if order.shipments:
                stored_shipments = self._stored_shipments.get(order.id, {})
                save_shipments(self.conn, order.shipments, stored_shipments)
                self._stored_shipments[order.id] = {s.id: s for s in order.shipments}
            self._insert_history([order])

    def _save_completed_lines(self, order: Order) -> None:
        """Lines only ever gain details after they are stored (`Order.complete_lines`)."""
        stored = self._stored_lines.get(order.id)
        if stored is None or stored == order.lines:
            return
        changed = [
            (
                _minor(line.unit_price),
                _minor(line.tax),
                _minor(line.discount),
                line.channel_line_id,
                order.id,
                line.line_no,
            )
            for before, line in zip(stored, order.lines, strict=False)
            if before != line
        ]
        self.driver.executemany(_COMPLETE_LINE, changed)
        self._stored_lines[order.id] = list(order.lines)

    def backordered(self, skus: Collection[str], limit: int) -> list[Order]:
        query = select(t.orders).where(_o.status == str(OrderStatus.BACKORDERED))
        if skus:
            # A bundle line waits for its components, so a component's arrival concerns it too.
            bundles = select(t.bundle_components.c.bundle_sku).where(
                t.bundle_components.c.component_sku.in_(list(skus))
            )
            wanting = select(t.order_lines.c.order_id).where(
                or_(t.order_lines.c.sku.in_(list(skus)), t.order_lines.c.sku.in_(bundles))
            )
            query = query.where(_o.id.in_(wanting))
        query = query.order_by(_o.purchase_date, _o.id).limit(limit)
        return self._load(self.conn.execute(query).all())


# -- shipments, persisted with their order ---------------------------------------------------
HAS_SHIPMENTS = frozenset(
    str(s)
    for s in (
        OrderStatus.PARTIALLY_SHIPPED,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.COMPLETED,
        OrderStatus.CANCELLED,
    )
)
"""Only an order in these states can have shipments, so loading others costs no query."""
_sh = t.shipments.c
_sl = t.shipment_lines.c


def load_shipments(conn: Connection, order_ids: Sequence[str]) -> dict[str, list[Shipment]]:
    found: dict[str, list[Shipment]] = {}
    for chunk in _chunks(list(order_ids)):
        rows = conn.execute(
            select(t.shipments).where(_sh.order_id.in_(list(chunk))).order_by(_sh.id)
        ).all()
        if not rows:
            continue
        lines: dict[str, list[ShipmentLine]] = {}
        for line in conn.execute(
            select(t.shipment_lines)
            .where(_sl.shipment_id.in_(select(_sh.id).where(_sh.order_id.in_(list(chunk)))))
            .order_by(_sl.shipment_id, _sl.line_no)
        ):
            lines.setdefault(line.shipment_id, []).append(
                ShipmentLine(line.line_no, line.sku, line.quantity)
            )
        for r in rows:
            found.setdefault(r.order_id, []).append(
                Shipment(
                    id=r.id,
                    order_id=r.order_id,
                    lines=tuple(lines.get(r.id, ())),
                    carrier=r.carrier,
                    tracking_number=r.tracking_number,
                    shipped_at=r.shipped_at,
                    location=r.location,
                    actor=r.actor,
                    created_at=r.created_at,
                    service=r.service,
                    tracking_url=r.tracking_url,
                    confirmation=Confirmation(r.confirmation),
                    channel_message=r.channel_message,
                    channel_reference=r.channel_reference,
                    answered_at=r.answered_at,
                )
            )
    return found


def save_shipments(
    conn: Connection, shipments: Sequence[Shipment], stored: Mapping[str, Shipment]
) -> None:
    """Insert new shipments; write the channel's answer on those it changed (a shipment's
    lines and tracking never change once recorded)."""
    new = [s for s in shipments if s.id not in stored]
    if new:
        conn.execute(
            insert(t.shipments),
            [
                {
                    "id": s.id,
                    "order_id": s.order_id,
                    "location": s.location,
                    "carrier": s.carrier,
                    "service": s.service,
                    "tracking_number": s.tracking_number,
                    "tracking_url": s.tracking_url,
                    "shipped_at": s.shipped_at,
                    "confirmation": str(s.confirmation),
                    "channel_message": s.channel_message,
                    "channel_reference": s.channel_reference,
                    "answered_at": s.answered_at,
                    "actor": s.actor,
                    "created_at": s.created_at,
                }
                for s in new
            ],
        )
        conn.execute(
            insert(t.shipment_lines),
            [
                {"shipment_id": s.id, "line_no": sl.line_no, "sku": sl.sku, "quantity": sl.quantity}
                for s in new
                for sl in s.lines
            ],
        )
    for s in shipments:
        if s.id in stored and stored[s.id] is not s:
            conn.execute(
                update(t.shipments)
                .where(_sh.id == s.id)
                .values(
                    confirmation=str(s.confirmation),
                    channel_message=s.channel_message,
                    channel_reference=s.channel_reference,
                    answered_at=s.answered_at,
                )
            )


# -- inbox ---------------------------------------------------------------------------------
_MARK_PROCESSED = "UPDATE inbox SET processed_at = ?, error = ? WHERE source = ? AND key = ?"


class SqlInboxRepository:
    def __init__(self, conn: Connection, clock: Clock, driver: Driver | None = None) -> None:
        self.conn, self.clock = conn, clock
        self.driver = driver or Driver(conn)

    def store(
        self, items: Sequence[tuple[str, str, str]], received_at: datetime
    ) -> set[tuple[str, str]]:
        if not items:
            return set()
        at = self.driver.time(received_at)
        inserted: set[tuple[str, str]] = set()
        for chunk in _chunks(items, 500):
            # One multi-row statement per chunk: what is already there is skipped, and
            # RETURNING names what was new.
            values = ", ".join(["(?, ?, ?, ?)"] * len(chunk))
            params = [value for s, k, p in chunk for value in (s, k, p, at)]
            rows = self.driver.execute(
                f"INSERT INTO inbox (source, key, payload, received_at) VALUES {values} "
                "ON CONFLICT DO NOTHING RETURNING source, key",
                params,
            ).fetchall()
            inserted.update((source, key) for source, key in rows)
        return {(s, k) for s, k, _ in items} - inserted

    def mark_processed(
        self, keys: Iterable[tuple[str, str]], at: datetime, error: str | None = None
    ) -> None:
        when = self.driver.time(at)
        self.driver.executemany(_MARK_PROCESSED, [(when, error, s, k) for s, k in keys])
