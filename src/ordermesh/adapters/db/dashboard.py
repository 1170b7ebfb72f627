"""The overview's heavy figures, kept up to date so that a page never reads months of orders.

A worker job folds the orders created since the last run (found through the `created_at`
index, from a watermark) into small rollups: orders per purchase day and channel, units per
purchase day and SKU, channel SKUs on order lines that no product stands for. A page reads the
rollup plus the few orders created after the watermark, so the orders-per-day chart and the
unmapped list are exact and current. Stock alerts and days of cover also need every stock
level, so the job keeps a snapshot of them, shown with the time it was taken.

Before the job has run once (a fresh install, the tests) every figure is computed on demand,
as it was before the rollups existed.

Nothing here runs on the order write path: an import costs what it cost before."""

from __future__ import annotations

import heapq
import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import Database
from ordermesh.ports.clock import Clock

log = logging.getLogger(__name__)

SETTLE = timedelta(minutes=5)
"""How far behind now the watermark stays: an order is stamped `created_at` just before its
transaction commits, so one stamped earlier than the watermark may still become visible
after it; five minutes is far longer than any import transaction. Pages count the orders
after the watermark themselves, so this delay never shows."""
CHUNK = {"sqlite": 500, "postgresql": 5_000}
"""Orders folded per transaction. On SQLite every write waits for the one write lock, so a
fold of thousands of orders (thousands of upserted day × SKU rows) would show up as a stall in
the API's write latency; PostgreSQL locks rows, and there fewer, bigger chunks catch a big
back-fill up faster."""
KEEP = 50
"""Rows kept in a snapshot: more than any panel shows."""
SKU_DAYS_KEPT = 40
"""Days of units per SKU kept: days of cover averages over 30."""
ROLLUP = "rollup"
ALERTS = "stock_alerts"
RECENT_DAYS = "recent_days"
DAYS_BY_STATUS = 6
"""Complete days before today kept per channel and status: enough for "this week"."""
COVER = "stock_cover"

_o = t.orders.c
_ln = t.order_lines.c
_s = t.stock_levels.c
_p = t.products.c
_od = t.dashboard_order_days.c
_sd = t.dashboard_sku_days.c
_um = t.dashboard_unmapped_skus.c
_snap = t.dashboard_snapshots.c


class _Raced(Exception):
    """Another worker moved the watermark first: its fold stands, ours is dropped."""


@dataclass(frozen=True, slots=True)
class Folded:
    orders: int
    watermark: datetime | None


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def _window(now: datetime, days: int) -> tuple[date, datetime]:
    """The first day of a `days`-day window ending today (UTC), and its first instant."""
    first = now.astimezone(UTC).date() - timedelta(days=days - 1)
    return first, datetime.combine(first, time.min, tzinfo=UTC)


class DashboardFigures:
    def __init__(self, db: Database, clock: Clock, *, cover_days: int = 30) -> None:
        self.db, self.clock, self.cover_days = db, clock, cover_days

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """One consistent view: the watermark and the rollup it stands for are read together
        (SQLite's read transaction gives that; PostgreSQL needs repeatable read)."""
        with self.db.reader.connect() as conn:
            if not self.db.is_sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    # -- the worker's jobs ---------------------------------------------------------------
    def refresh(self) -> Folded:
        """Fold the new orders in, take a new snapshot of the stock alerts and of the
        orders of the last days by channel and status."""
        folded = self.roll_up()
        self.snapshot_alerts()
        self.snapshot_recent_days()
        return folded

    def roll_up(self) -> Folded:
        """Fold every order created since the watermark (up to `SETTLE` ago) into the
        rollups, a chunk per transaction."""
        target = self.clock.now() - SETTLE
        total = 0
        with self.db.reader.connect() as conn:
            start = _watermark(conn)
        while start is None or start < target:
            with self.db.reader.connect() as conn:
                end = _chunk_end(conn, start, target, CHUNK[self.db.dialect])
                rows = conn.execute(_new_lines(start, end)).all()
            try:
                total += self._fold(start, end, rows)
            except _Raced:
                log.info("another worker rolled the dashboard figures up first")
                break
            start = end
        if total:
            oldest = (self.clock.now().date() - timedelta(days=SKU_DAYS_KEPT)).isoformat()
            with self.db.write() as conn:
                conn.execute(t.dashboard_sku_days.delete().where(_sd.day < oldest))
        return Folded(total, start)

    def _fold(self, start: datetime | None, end: datetime, rows: list[Any]) -> int:
        orders: dict[tuple[str, str], int] = defaultdict(int)
        units: dict[tuple[str, str], int] = defaultdict(int)
        unmapped: dict[tuple[str, str], tuple[str, int]] = {}
        seen: set[str] = set()
        for r in rows:
            day = _day(r.purchase_date)
            if r.id not in seen:
                seen.add(r.id)
                orders[(day, r.channel)] += 1
            if r.sku is None:
                continue
            units[(day, r.sku)] += r.quantity
            if r.unknown and r.channel_sku is not None:
                key = (r.channel_account, r.channel_sku)
                unmapped[key] = (r.sku, unmapped.get(key, ("", 0))[1] + 1)
        with self.db.write() as conn:
            _move_watermark(conn, start, end, self.clock.now())
            _add(conn, t.dashboard_order_days, ("day", "channel"), "orders", orders)
            _add(conn, t.dashboard_sku_days, ("day", "sku"), "units", units)
            if unmapped:
                _add(
                    conn,
                    t.dashboard_unmapped_skus,
                    ("channel_account", "channel_sku"),
                    "lines",
                    {k: n for k, (_, n) in unmapped.items()},
                    extra={k: {"sku": sku} for k, (sku, _) in unmapped.items()},
                )
        return len(seen)

    def snapshot_alerts(self) -> None:
        with self.db.reader.connect() as conn:
            total, rows = _alerts(conn, KEEP)
        self._save(ALERTS, {"total": total, "rows": rows})

    def snapshot_recent_days(self) -> None:
        """Orders bought on each of the last complete days, by channel and status: statuses
        move all day (allocated, shipped), so this is a snapshot, not a rollup."""
        now = self.clock.now()
        first, since = _window(now, DAYS_BY_STATUS + 1)
        today = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
        by_day: dict[str, dict[str, dict[str, int]]] = {
            (first + timedelta(days=i)).isoformat(): {} for i in range(DAYS_BY_STATUS)
        }
        day = func.date(_o.purchase_date)
        query = (
            select(day, _o.channel, _o.status, func.count())
            .where(_o.purchase_date >= since, _o.purchase_date < today)
            .group_by(day, _o.channel, _o.status)
        )
        with self.db.reader.connect() as conn:
            for bought, channel, status, n in conn.execute(query):
                by_day.setdefault(str(bought)[:10], {}).setdefault(channel, {})[status] = int(n)
        self._save(RECENT_DAYS, {"days": by_day})

    def order_counts(
        self, since: datetime, channel: str | None
    ) -> tuple[dict[str, dict[str, int]], datetime | None]:
        """Orders bought since `since`: {channel: {status: count}}, and, when the days
        before today come from the snapshot, when it was taken. Today is always counted
        live (a day's orders, through the purchase date index)."""
        now = self.clock.now().astimezone(UTC)
        today = datetime.combine(now.date(), time.min, tzinfo=UTC)
        counts: dict[str, dict[str, int]] = {}

        def add(ch: str, status: str, n: int) -> None:
            mine = counts.setdefault(ch, {})
            mine[status] = mine.get(status, 0) + n

        as_of = None
        start = since
        with self.db.reader.connect() as conn:
            if since < today and since.time() == time.min:
                row = conn.execute(
                    select(_snap.as_of, _snap.payload).where(_snap.name == RECENT_DAYS)
                ).first()
                wanted = [
                    (since.date() + timedelta(days=i)).isoformat()
                    for i in range((today.date() - since.date()).days)
                ]
                days = {} if row is None else dict(row.payload["days"])
                if row is not None and row.as_of >= today and all(d in days for d in wanted):
                    as_of, start = row.as_of, today
                    for d in wanted:
                        for ch, by_status in days[d].items():
                            if not channel or ch == channel:
                                for status, n in by_status.items():
                                    add(ch, status, int(n))
            # Grouped by an expression, not the bare column: otherwise SQLite walks the
            # channel index for the GROUP BY and reads every order ever placed.
            by_channel = _o.channel.concat("")
            query = select(by_channel, _o.status, func.count()).where(_o.purchase_date >= start)
            if channel:
                query = query.where(_o.channel == channel)
            for ch, status, n in conn.execute(query.group_by(by_channel, _o.status)):
                add(ch, status, int(n))
        return counts, as_of

    def snapshot_cover(self) -> None:
        """Days of cover: reads every stock level, so kept as a snapshot, less often."""
        with self._read() as conn:
            rows = _cover(conn, self.clock.now(), self.cover_days, KEEP)
        self._save(COVER, {"days": self.cover_days, "rows": rows})

    def _save(self, name: str, payload: dict[str, Any]) -> None:
        dialect = sqlite if self.db.is_sqlite else postgresql
        row = {"name": name, "as_of": self.clock.now(), "payload": payload}
        statement = dialect.insert(t.dashboard_snapshots).values(row)
        with self.db.write() as conn:
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["name"],
                    set_={"as_of": statement.excluded.as_of, "payload": statement.excluded.payload},
                )
            )

    def cover_taken_at(self) -> datetime | None:
        """When `snapshot_cover` last ran; None before it first did."""
        return self.snapshot_times().get(COVER)

    # -- what pages read -------------------------------------------------------------------
    def snapshot_times(self) -> dict[str, datetime]:
        """When each snapshot on the overview was taken; none before the job first ran."""
        with self.db.reader.connect() as conn:
            rows = conn.execute(
                select(_snap.name, _snap.as_of).where(_snap.name.in_((ALERTS, COVER, RECENT_DAYS)))
            )
            return {row.name: row.as_of for row in rows}

    def stock_alerts(self, limit: int) -> tuple[int, list[dict[str, Any]]]:
        with self.db.reader.connect() as conn:
            saved = _snapshot(conn, ALERTS)
            if saved is None or limit > KEEP:
                return _alerts(conn, limit)
        return int(saved["total"]), list(saved["rows"])[:limit]

    def stock_cover(self, days: int, limit: int) -> list[dict[str, Any]]:
        with self._read() as conn:
            saved = _snapshot(conn, COVER)
            if saved is None or saved.get("days") != days or limit > KEEP:
                return _cover(conn, self.clock.now(), days, limit)
        return list(saved["rows"])[:limit]

    def orders_per_day(self, days: int, channel: str | None) -> dict[str, Any]:
        """Orders bought per UTC day and channel over the last `days` days, every day
        present: the rollup, plus the orders created after its watermark."""
        first, since = _window(self.clock.now(), days)
        labels = [(first + timedelta(days=i)).isoformat() for i in range(days)]
        index = {d: i for i, d in enumerate(labels)}
        series: dict[str, list[int]] = {}

        def count(day: str, ch: str, n: int) -> None:
            i = index.get(day)
            if i is not None:
                series.setdefault(ch, [0] * days)[i] += n

        with self._read() as conn:
            watermark = _watermark(conn)
            if watermark is None:
                day = func.date(_o.purchase_date)
                query = select(day, _o.channel, func.count()).where(_o.purchase_date >= since)
                if channel:
                    query = query.where(_o.channel == channel)
                for d, ch, n in conn.execute(query.group_by(day, _o.channel)):
                    count(str(d)[:10], ch, int(n))
            else:
                rolled = select(_od.day, _od.channel, _od.orders).where(_od.day >= labels[0])
                tail = select(_o.purchase_date, _o.channel).where(_o.created_at >= watermark)
                if channel:
                    rolled = rolled.where(_od.channel == channel)
                    tail = tail.where(_o.channel == channel)
                for d, ch, n in conn.execute(rolled):
                    count(d, ch, int(n))
                # Only the minutes since the watermark: filtered here, not by purchase date
                # in SQL, so the database walks the created_at index and nothing else.
                for bought, ch in conn.execute(tail):
                    count(_day(bought), ch, 1)
        return {"days": labels, "channels": dict(sorted(series.items()))}

    def unmapped_channel_skus(self, limit: int) -> list[dict[str, Any]]:
        """Channel SKUs on order lines that no catalogue SKU stands for yet."""
        with self._read() as conn:
            watermark = _watermark(conn)
            found: dict[tuple[str, str], int] = defaultdict(int)
            if watermark is not None:
                rolled = (
                    select(_um.channel_account, _um.channel_sku, _um.lines)
                    .outerjoin(t.products, _p.sku == _um.sku)
                    .where(_p.sku.is_(None))
                )
                for account, channel_sku, n in conn.execute(rolled):
                    found[(account, channel_sku)] += int(n)
            for account, channel_sku in conn.execute(_unmapped_lines(watermark)):
                found[(account, channel_sku)] += 1
        return [
            {"channel_account": account, "channel_sku": channel_sku, "lines": n}
            for (account, channel_sku), n in sorted(found.items())[:limit]
        ]


def _watermark(conn: Connection) -> datetime | None:
    row = conn.execute(select(_snap.as_of).where(_snap.name == ROLLUP)).first()
    return None if row is None else row[0]


def _snapshot(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(select(_snap.payload).where(_snap.name == name)).first()
    return None if row is None else dict(row[0])


def _chunk_end(conn: Connection, start: datetime | None, target: datetime, size: int) -> datetime:
    """Where a chunk of `size` orders after `start` ends (at most `target`)."""
    query = select(_o.created_at).where(_o.created_at < target)
    if start is not None:
        query = query.where(_o.created_at >= start)
    row = conn.execute(query.order_by(_o.created_at).offset(size).limit(1)).first()
    if row is None or (start is not None and row[0] <= start):
        return target
    end: datetime = row[0]
    return end


def _new_lines(start: datetime | None, end: datetime) -> Any:
    """The lines of the orders created in [start, end), each with whether a product has its
    SKU (an order without lines still comes, once, to be counted)."""
    query = (
        select(
            _o.id,
            _o.channel,
            _o.channel_account,
            _o.purchase_date,
            _ln.sku,
            _ln.quantity,
            _ln.channel_sku,
            _p.sku.is_(None).label("unknown"),
        )
        .select_from(
            t.orders.outerjoin(t.order_lines, _ln.order_id == _o.id).outerjoin(
                t.products, _p.sku == _ln.sku
            )
        )
        .where(_o.created_at < end)
    )
    if start is not None:
        query = query.where(_o.created_at >= start)
    return query


def _move_watermark(conn: Connection, start: datetime | None, end: datetime, now: datetime) -> None:
    """Compare and set, in the transaction that adds the chunk: two workers can never both
    add the same orders."""
    if start is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    t.dashboard_snapshots.insert().values(
                        name=ROLLUP, as_of=end, payload={"first_run": now.isoformat()}
                    )
                )
        except IntegrityError as raced:
            raise _Raced from raced
        return
    moved = conn.execute(
        t.dashboard_snapshots.update()
        .where(_snap.name == ROLLUP, _snap.as_of == start)
        .values(as_of=end)
    )
    if moved.rowcount != 1:
        raise _Raced


def _add(
    conn: Connection,
    table: Any,
    keys: tuple[str, str],
    counter: str,
    amounts: dict[tuple[str, str], int],
    extra: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> None:
    if not amounts:
        return
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={counter: table.c[counter] + statement.excluded[counter]},
    )
    rows = [
        {keys[0]: a, keys[1]: b, counter: n, **(extra or {}).get((a, b), {})}
        for (a, b), n in sorted(amounts.items())
    ]
    conn.execute(statement, rows)


def _alerts(conn: Connection, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """SKUs at or below their low-stock threshold across all locations, emptiest first:
    how many, and the first `limit`."""
    available = func.coalesce(func.sum(_s.on_hand - _s.reserved), 0)
    query = (
        select(
            _p.sku,
            _p.title,
            _p.low_stock_threshold,
            func.coalesce(func.sum(_s.on_hand), 0).label("on_hand"),
            func.coalesce(func.sum(_s.reserved), 0).label("reserved"),
            available.label("available"),
        )
        .select_from(t.products.outerjoin(t.stock_levels, _s.sku == _p.sku))
        .where(_p.is_bundle.is_(False))
        .group_by(_p.sku, _p.title, _p.low_stock_threshold)
        .having(available <= _p.low_stock_threshold)
    )
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(query.order_by(available, _p.sku).limit(limit)).all()
    return int(total), [
        {
            "sku": r.sku,
            "title": r.title,
            "threshold": r.low_stock_threshold,
            "on_hand": int(r.on_hand),
            "reserved": int(r.reserved),
            "available": int(r.available),
            "out_of_stock": int(r.available) <= 0,
        }
        for r in rows
    ]


def _cover(conn: Connection, now: datetime, days: int, limit: int) -> list[dict[str, Any]]:
    """Days of cover of the SKUs sold over the last `days` UTC days (today included), fewest
    first: units available now over the average units sold a day, cancelled orders left
    out. The rollup counts every order it folded; the cancelled ones among them are taken
    off here (few, found through the status index)."""
    first, since = _window(now, days)
    watermark = _watermark(conn)
    sold: dict[str, int] = defaultdict(int)
    sold_lines = select(_ln.sku, func.sum(_ln.quantity)).join(t.orders, _o.id == _ln.order_id)
    if watermark is None:
        recent = sold_lines.where(_o.purchase_date >= since, _o.status != "cancelled")
        for sku, units in conn.execute(recent.group_by(_ln.sku)):
            sold[sku] += int(units)
    else:
        rolled = (
            select(_sd.sku, func.sum(_sd.units))
            .where(_sd.day >= first.isoformat())
            .group_by(_sd.sku)
        )
        for sku, units in conn.execute(rolled):
            sold[sku] += int(units)
        # Bought in the window means created in it too: the status index's range is short.
        cancelled = sold_lines.where(
            _o.status == "cancelled",
            and_(_o.created_at >= since, _o.created_at < watermark),
            _o.purchase_date >= since,
        )
        for sku, units in conn.execute(cancelled.group_by(_ln.sku)):
            sold[sku] -= int(units)
        # Summed by the database, lines of the new orders found by order id: the orders not
        # yet folded are the last minutes' (all of a burst, or of a benchmark). A loop over
        # their lines here held the GIL for seconds while the API's writer waited for it,
        # and as a join SQLite walked every line in the SKU index (4× slower at 20k orders).
        new_orders = select(_o.id).where(
            _o.created_at >= watermark, _o.status != "cancelled", _o.purchase_date >= since
        )
        tail = select(_ln.sku, func.sum(_ln.quantity)).where(_ln.order_id.in_(new_orders))
        for sku, units in conn.execute(tail.group_by(_ln.sku)):
            sold[sku] += int(units)
    selling = {sku: units for sku, units in sold.items() if units > 0}
    if not selling:
        return []
    available: dict[str, int] = defaultdict(int)
    stocked = select(_s.sku, func.sum(_s.on_hand - _s.reserved)).group_by(_s.sku)
    if len(selling) <= 500:
        stocked = stocked.where(_s.sku.in_(sorted(selling)))
    for sku, units in conn.execute(stocked):
        available[sku] = int(units)

    def days_left(sku: str) -> tuple[float, str]:
        return round(available.get(sku, 0) / (selling[sku] / days), 1), sku

    return [
        {"sku": sku, "sold": selling[sku], "available": available.get(sku, 0), "days": left}
        for left, sku in heapq.nsmallest(limit, map(days_left, selling))
    ]


def _unmapped_lines(watermark: datetime | None) -> Any:
    """Lines with no product for their SKU (account, channel SKU): of the orders created
    since the watermark, or of every order when there is none yet. Counted by the caller: a
    GROUP BY here makes SQLite walk an index of every order to avoid sorting."""
    query = (
        select(_o.channel_account, _ln.channel_sku)
        .select_from(
            t.orders.join(t.order_lines, _ln.order_id == _o.id).outerjoin(
                t.products, _p.sku == _ln.sku
            )
        )
        .where(_ln.channel_sku.is_not(None), _p.sku.is_(None))
    )
    if watermark is not None:
        query = query.where(_o.created_at >= watermark)
    return query
