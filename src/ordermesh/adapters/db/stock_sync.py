"""Stock sync storage: per-account policies, per-SKU buffers, and the push queue.

The queue keeps one row per listing (the latest figure wins). Its states:
`pending` (a figure the channel does not show yet) → `sending` (claimed under a lease) →
`sent` (the channel confirmed the latest figure) or back to `pending` (the send failed, or the
figure changed while it was in flight); `rejected` when the channel refused the listing for
good, until a new figure comes. `new` exists only inside the transaction that creates a row."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, and_, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import Database
from ordermesh.adapters.db.outbox import backoff
from ordermesh.adapters.db.repositories import Driver
from ordermesh.domain.availability import (
    DEFAULT_LOW_STOCK,
    BufferOverride,
    HybridPolicy,
    Level,
    Listing,
    StockPolicy,
    available_to_sell,
    is_urgent,
)
from ordermesh.domain.inventory import LocationKind
from ordermesh.ports.clock import Clock
from ordermesh.ports.stock_sync import (
    Figure,
    ListingFigure,
    Push,
    PushOutcome,
    PushResult,
    QueueStatus,
    StockPicture,
)

_p = t.stock_pushes.c
_l = t.channel_listings.c
_WAITING = ("pending", "sending")
RETRY_CAP = timedelta(minutes=5)
"""Longest wait between retries of a push: a channel back from an outage is caught up soon."""


def _percent(bp: int) -> Decimal:
    return Decimal(bp) / 100


def _bp(percent: Decimal) -> int:
    return int((percent * 100).to_integral_value())


def _chunks(items: Sequence[Any], size: int = 5000) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _upsert(conn: Connection, table: Any, values: dict[str, Any], keys: Sequence[str]) -> None:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(table).values(values)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={k: statement.excluded[k] for k in values if k not in keys},
        )
    )


def _json_list(value: Any) -> tuple[str, ...] | None:
    # The driver's own cursor returns JSON as text on SQLite and parsed on PostgreSQL.
    if isinstance(value, str):
        value = orjson.loads(value)
    return tuple(value) if value is not None else None


_LISTINGS = (
    "SELECT channel_account, channel_sku, sku, fulfilled_by FROM channel_listings WHERE {own} "
    "OR sku IN (SELECT bundle_sku FROM bundle_components WHERE {part})"
)
_PRODUCTS = (
    "SELECT p.sku, p.low_stock_threshold, b.component_sku, b.quantity FROM products p "
    "LEFT JOIN bundle_components b ON b.bundle_sku = p.sku WHERE {skus}"
)
_LEVELS = (
    "SELECT s.sku, s.location, l.kind, s.on_hand, s.reserved FROM stock_levels s "
    "JOIN locations l ON l.code = s.location WHERE {skus}"
)
_POLICIES = (
    "SELECT channel_account, locations, buffer_units, buffer_percent_bp, max_quantity, "
    "last_units_threshold, rank, hybrid, fba_locations FROM stock_sync_policies WHERE {accounts}"
)
_BUFFERS = (
    "SELECT channel_account, sku, buffer_units, buffer_percent_bp FROM stock_sync_buffers "
    "WHERE {skus}"
)


def load_picture(driver: Driver, skus: Collection[str]) -> StockPicture:
    """Every listing whose figure depends on these SKUs (all listings if none are given), and
    the stock and configuration that decide their figures.

    Runs after every stock movement, so it is five statements on the driver's own cursor."""
    wanted = sorted(set(skus))
    rows: list[Any] = []
    if wanted:
        for chunk in _chunks(wanted, 2000):
            own, own_params = driver.among("sku", chunk)
            part, part_params = driver.among("component_sku", chunk)
            rows += driver.execute(
                _LISTINGS.format(own=own, part=part), [*own_params, *part_params]
            ).fetchall()
    else:
        rows = driver.execute(
            "SELECT channel_account, channel_sku, sku, fulfilled_by FROM channel_listings"
        ).fetchall()
    listings = tuple(sorted({Listing(*row) for row in rows}, key=lambda lst: (lst.sku, lst.key)))
    if not listings:
        return StockPicture((), {}, {}, {}, {}, {}, {})
    listed = sorted({lst.sku for lst in listings})
    accounts = sorted({lst.channel_account for lst in listings})
    listed_on = set(accounts)
    bundles: dict[str, dict[str, int]] = {}
    low_stock: dict[str, int] = {}
    for chunk in _chunks(listed):
        where, params = driver.among("p.sku", chunk)
        for sku, threshold, component, per_kit in driver.execute(
            _PRODUCTS.format(skus=where), params
        ).fetchall():
            low_stock[sku] = threshold
            if component is not None:
                bundles.setdefault(sku, {})[component] = per_kit
    stocked = sorted(
        {c for parts in bundles.values() for c in parts} | (set(listed) - set(bundles))
    )
    kinds: dict[str, LocationKind] = {}
    levels: dict[str, list[Level]] = {}
    for chunk in _chunks(stocked):
        where, params = driver.among("s.sku", chunk)
        for sku, location, kind, on_hand, reserved in driver.execute(
            _LEVELS.format(skus=where), params
        ).fetchall():
            kinds[location] = LocationKind(kind)
            levels.setdefault(sku, []).append(
                Level(sku, location, kinds[location], on_hand, reserved)
            )
    where, params = driver.among("channel_account", accounts)
    policies = {
        row[0]: StockPolicy(
            channel_account=row[0],
            locations=_json_list(row[1]),
            buffer_units=row[2],
            buffer_percent=_percent(row[3]),
            max_quantity=row[4],
            last_units_threshold=row[5],
            rank=row[6],
            hybrid=HybridPolicy(row[7]),
            fba_locations=_json_list(row[8]),
        )
        for row in driver.execute(_POLICIES.format(accounts=where), params).fetchall()
    }
    overrides: dict[tuple[str, str], BufferOverride] = {}
    for chunk in _chunks(listed):
        where, params = driver.among("sku", chunk)
        for account, sku, units, bp in driver.execute(
            _BUFFERS.format(skus=where), params
        ).fetchall():
            if account in listed_on:
                overrides[(account, sku)] = BufferOverride(units, _percent(bp))
    return StockPicture(listings, policies, overrides, kinds, levels, bundles, low_stock)


@dataclass(frozen=True, slots=True)
class _Row:
    quantity: int
    confirmed_quantity: int | None
    status: str


_KEEP = (
    "UPDATE stock_pushes SET quantity = ?, urgent = ?, status = ?, changed_at = ? "
    "WHERE channel_account = ? AND channel_sku = ?"
)
_FRESH = (
    "UPDATE stock_pushes SET quantity = ?, urgent = ?, status = ?, changed_at = ?, "
    "enqueued_at = ?, available_at = ?, attempts = 0 WHERE channel_account = ? AND channel_sku = ?"
)
_INSERT = (
    "INSERT INTO stock_pushes (channel_account, channel_sku, sku, quantity, urgent, status, "
    "enqueued_at, changed_at, available_at, attempts, sent_count, failed_count) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0) ON CONFLICT DO NOTHING"
)


def _next(row: _Row | None, figure: Figure) -> tuple[str, int, bool, str] | None:
    """How writing a newer figure changes a listing's row: ("keep" its place in the queue or
    take a "fresh" one, quantity, urgent, status), or None when nothing changes."""
    new = figure.quantity
    if row is None or row.status == "new":
        return ("fresh", new, is_urgent(None, new, figure.low_stock_threshold), "pending")
    confirmed = row.confirmed_quantity
    urgent = is_urgent(confirmed, new, figure.low_stock_threshold)
    if row.status == "sending":
        # The in-flight push settles against this newer figure and is made due again.
        return None if new == row.quantity else ("keep", new, urgent, "sending")
    if new == confirmed:
        # The channel already shows it: a waiting push would only repeat it.
        if row.status == "sent" and row.quantity == new:
            return None
        return ("keep", new, False, "sent")
    if row.status in ("pending", "rejected") and new == row.quantity:
        return None
    if row.status == "pending":
        return ("keep", new, urgent, "pending")
    return ("fresh", new, urgent, "pending")


class SqlStockSyncRepository:
    """The stock-sync tables inside a unit of work's transaction."""

    def __init__(self, conn: Connection, clock: Clock, driver: Driver | None = None) -> None:
        self.conn, self.clock = conn, clock
        self.driver = driver or Driver(conn)

    def picture(self, skus: Collection[str]) -> StockPicture:
        picture = load_picture(self.driver, skus)
        if self.driver.is_sqlite:
            return picture  # one writer at a time: nobody can move stock while we work
        # In key order, inserts and locks alike, so two writers cannot deadlock.
        keys = sorted(lst.key for lst in picture.listings if lst.pushed)
        if not keys:
            return picture
        at = self.driver.time(self.clock.now())
        by_sku = {lst.key: lst.sku for lst in picture.listings}
        self.driver.executemany(
            _INSERT, [(a, cs, by_sku[(a, cs)], 0, False, "new", at, at, at) for a, cs in keys]
        )
        # Recomputations of the same listings queue up on these locks; reading the stock
        # again once they are held sees at least what the previous holder saw.
        self._rows(keys, lock=True)
        return load_picture(self.driver, skus)

    def _rows(
        self, keys: Sequence[tuple[str, str]], *, lock: bool = False
    ) -> dict[tuple[str, str], _Row]:
        found: dict[tuple[str, str], _Row] = {}
        by_account: dict[str, list[str]] = {}
        for account, channel_sku in sorted(keys):
            by_account.setdefault(account, []).append(channel_sku)
        for account, channel_skus in by_account.items():
            for chunk in _chunks(channel_skus):
                where, params = self.driver.among("channel_sku", chunk)
                rows = self.driver.execute(
                    "SELECT channel_sku, quantity, confirmed_quantity, status FROM stock_pushes "
                    f"WHERE channel_account = ? AND {where} ORDER BY channel_sku"
                    + (" FOR UPDATE" if lock else ""),
                    [account, *params],
                ).fetchall()
                for channel_sku, quantity, confirmed, status in rows:
                    found[(account, channel_sku)] = _Row(quantity, confirmed, status)
        return found

    def queue(self, figures: Sequence[Figure]) -> int:
        if not figures:
            return 0
        at = self.driver.time(self.clock.now())
        rows = self._rows([(f.channel_account, f.channel_sku) for f in figures])
        keep: list[tuple[Any, ...]] = []
        fresh: list[tuple[Any, ...]] = []
        inserts: list[tuple[Any, ...]] = []
        due = 0
        for f in figures:
            row = rows.get((f.channel_account, f.channel_sku))
            change = _next(row, f)
            if change is None:
                continue
            shape, quantity, urgent, status = change
            if status == "pending" and (row is None or row.status != "pending"):
                due += 1
            if row is None:
                inserts.append(
                    (f.channel_account, f.channel_sku, f.sku, quantity, urgent, status, at, at, at)
                )
            elif shape == "keep":
                keep.append((quantity, urgent, status, at, f.channel_account, f.channel_sku))
            else:
                fresh.append(
                    (quantity, urgent, status, at, at, at, f.channel_account, f.channel_sku)
                )
        self.driver.executemany(_INSERT, inserts)
        self.driver.executemany(_KEEP, keep)
        self.driver.executemany(_FRESH, fresh)
        return due

    def configure(self, policy: StockPolicy) -> None:
        _upsert(
            self.conn,
            t.stock_sync_policies,
            {
                "channel_account": policy.channel_account,
                "locations": list(policy.locations) if policy.locations is not None else None,
                "buffer_units": policy.buffer_units,
                "buffer_percent_bp": _bp(policy.buffer_percent),
                "max_quantity": policy.max_quantity,
                "last_units_threshold": policy.last_units_threshold,
                "rank": policy.rank,
                "hybrid": str(policy.hybrid),
                "fba_locations": list(policy.fba_locations)
                if policy.fba_locations is not None
                else None,
                "updated_at": self.clock.now(),
            },
            ["channel_account"],
        )

    def set_buffer(self, channel_account: str, sku: str, override: BufferOverride | None) -> None:
        bf = t.stock_sync_buffers.c
        if override is None:
            self.conn.execute(
                delete(t.stock_sync_buffers).where(
                    bf.channel_account == channel_account, bf.sku == sku
                )
            )
            return
        _upsert(
            self.conn,
            t.stock_sync_buffers,
            {
                "channel_account": channel_account,
                "sku": sku,
                "buffer_units": override.units,
                "buffer_percent_bp": _bp(override.percent),
                "updated_at": self.clock.now(),
            },
            ["channel_account", "sku"],
        )


class SqlPushQueue:
    """The push queue for senders and for people watching it, in short transactions."""

    def __init__(self, db: Database, clock: Clock, *, lease: timedelta = timedelta(minutes=2)):
        self.db, self.clock, self.lease = db, clock, lease

    def claim(self, channel_account: str, limit: int) -> list[Push]:
        now = self.clock.now()
        due = (
            select(_p.channel_sku)
            .where(
                _p.channel_account == channel_account,
                or_(
                    and_(_p.status == "pending", _p.available_at <= now),
                    # A sender that died mid-push leaves its lease to run out.
                    and_(_p.status == "sending", _p.claimed_until < now),
                ),
            )
            .order_by(_p.urgent.desc(), _p.enqueued_at, _p.channel_sku)
            .limit(limit)
        )
        if not self.db.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        with self.db.write() as conn:
            # Two statements, not `IN (subquery)`: PostgreSQL may run a LIMIT … SKIP LOCKED
            # subquery more than once and claim more rows than asked for.
            keys = list(conn.execute(due).scalars())
            if not keys:
                return []
            rows = conn.execute(
                update(t.stock_pushes)
                .where(_p.channel_account == channel_account, _p.channel_sku.in_(keys))
                .values(
                    status="sending",
                    sending_quantity=_p.quantity,
                    attempts=_p.attempts + 1,
                    claimed_until=now + self.lease,
                )
                .returning(
                    _p.channel_account,
                    _p.channel_sku,
                    _p.sku,
                    _p.quantity,
                    _p.confirmed_quantity,
                    _p.urgent,
                    _p.attempts,
                    _p.enqueued_at,
                )
            ).all()
        rows = sorted(rows, key=lambda r: (not r.urgent, r.enqueued_at, r.channel_sku))
        return [Push(*row[:7]) for row in rows]

    def settle(self, pushes: Sequence[Push], results: Mapping[str, PushResult]) -> None:
        if not pushes:
            return
        now = self.clock.now()
        account = pushes[0].channel_account
        products = t.products.c
        with self.db.write() as conn:
            query = (
                select(
                    _p.channel_sku,
                    _p.quantity,
                    _p.confirmed_quantity,
                    _p.sending_quantity,
                    _p.status,
                    _p.changed_at,
                    func.coalesce(products.low_stock_threshold, DEFAULT_LOW_STOCK).label(
                        "low_stock_threshold"
                    ),
                )
                .select_from(t.stock_pushes.outerjoin(t.products, products.sku == _p.sku))
                .where(
                    _p.channel_account == account,
                    _p.channel_sku.in_([p.channel_sku for p in pushes]),
                )
                .order_by(_p.channel_sku)
            )
            if not self.db.is_sqlite:
                query = query.with_for_update(of=t.stock_pushes)
            current = {row[0]: row for row in conn.execute(query)}
            for push in pushes:
                row = current.get(push.channel_sku)
                if row is None or row.status != "sending" or row.sending_quantity != push.quantity:
                    continue  # the lease ran out and another sender took it over
                values = _settled(row, push, results.get(push.channel_sku), now)
                conn.execute(
                    update(t.stock_pushes)
                    .where(_p.channel_account == account, _p.channel_sku == push.channel_sku)
                    .values(values)
                )

    def status(self, channel_account: str | None = None) -> list[QueueStatus]:
        waiting = _p.status.in_(_WAITING)
        query = select(
            _p.channel_account,
            func.sum(case((waiting, 1), else_=0)),
            func.sum(case((and_(waiting, _p.urgent), 1), else_=0)),
            func.min(case((waiting, _p.enqueued_at))),
            func.sum(case((_p.status == "sending", 1), else_=0)),
            func.sum(_p.sent_count),
            func.sum(_p.failed_count),
            func.sum(case((_p.status == "rejected", 1), else_=0)),
            func.max(_p.last_sent_at),
        ).group_by(_p.channel_account)
        if channel_account is not None:
            query = query.where(_p.channel_account == channel_account)
        now = self.clock.now()
        with self.db.reader.connect() as conn:
            rows = conn.execute(query.order_by(_p.channel_account)).all()
            # The latest error per account: later rows overwrite earlier ones.
            errors: dict[str, str] = dict(
                conn.execute(
                    select(_p.channel_account, _p.last_error)
                    .where(_p.last_error.is_not(None))
                    .order_by(_p.changed_at)
                ).all()
            )
        return [
            QueueStatus(
                channel_account=account,
                depth=int(depth or 0),
                urgent=int(urgent or 0),
                oldest_pending_age=(now - _aware(oldest)) if oldest is not None else None,
                in_flight=int(in_flight or 0),
                sent=int(sent or 0),
                failed_attempts=int(failed or 0),
                rejected=int(rejected or 0),
                last_error=errors.get(account),
                last_sent_at=_aware(last_sent) if last_sent is not None else None,
            )
            for account, depth, urgent, oldest, in_flight, sent, failed, rejected, last_sent in rows
        ]

    def explain(self, channel_account: str, channel_sku: str) -> ListingFigure | None:
        with self.db.reader.connect() as conn:
            sku = conn.execute(
                select(_l.sku).where(
                    _l.channel_account == channel_account, _l.channel_sku == channel_sku
                )
            ).scalar()
            if sku is None:
                return None
            picture = load_picture(Driver(conn), [sku])
            push = conn.execute(
                select(
                    _p.quantity, _p.confirmed_quantity, _p.status, _p.urgent, _p.last_error
                ).where(_p.channel_account == channel_account, _p.channel_sku == channel_sku)
            ).first()
        figures = available_to_sell(
            [lst for lst in picture.listings if lst.sku == sku],
            policies=picture.policies,
            overrides=picture.overrides,
            kinds=picture.kinds,
            levels=picture.levels,
            bundles=picture.bundles,
        )
        queued = push is not None and push.status != "new"
        return ListingFigure(
            explanation=figures[(channel_account, channel_sku)],
            queued=push.quantity if queued and push is not None else None,
            confirmed=push.confirmed_quantity if push is not None else None,
            status=push.status if queued and push is not None else None,
            urgent=bool(push.urgent) if push is not None else False,
            last_error=push.last_error if push is not None else None,
        )


def _aware(value: datetime) -> datetime:
    # Aggregates lose the column type on some dialects; the stored times are UTC.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _settled(row: Any, push: Push, result: PushResult | None, now: datetime) -> dict[str, Any]:
    if result is None:
        outcome, error = PushOutcome.RETRY, "the channel gave no result for this listing"
    else:
        outcome, error = PushOutcome(result.outcome), result.error
    values: dict[str, Any] = {"sending_quantity": None, "claimed_until": None}
    confirmed = row.confirmed_quantity
    if outcome is PushOutcome.SENT:
        confirmed = push.quantity
        values |= {
            "confirmed_quantity": confirmed,
            "sent_count": _p.sent_count + 1,
            "last_sent_at": now,
            "attempts": 0,
            "last_error": None,
        }
    else:
        values |= {"failed_count": _p.failed_count + 1, "last_error": (error or outcome)[:2000]}
    if row.quantity == confirmed:
        return values | {"status": "sent", "urgent": False}
    if outcome is PushOutcome.SENT:
        # The figure changed while this push was in flight: the newer one goes out next.
        return values | {
            "status": "pending",
            "urgent": is_urgent(confirmed, row.quantity, row.low_stock_threshold),
            "enqueued_at": row.changed_at,
            "available_at": now,
        }
    if outcome is PushOutcome.REJECTED and row.quantity == push.quantity:
        return values | {"status": "rejected"}
    return values | {
        "status": "pending",
        "available_at": now + backoff(push.attempts, cap=RETRY_CAP.total_seconds()),
    }
