"""Stock sync storage: per-account policies, per-SKU buffers, and the push queue.

The queue keeps one row per listing (the latest figure wins). Its states:
`pending` (a figure the channel does not show yet) → `sending` (claimed under a lease) →
`sent` (the channel confirmed the latest figure) or back to `pending` (the send failed, or the
figure changed while it was in flight); `rejected` when the channel refused the listing for
good, until a new figure comes. `new` exists only inside the transaction that creates a row.
A bulk push in flight (`sending_bulk`: a listings feed) can be overtaken by an urgent figure
(`overtaken_quantity`) without leaving `sending`; its settling then decides whether the latest
figure must go out once more."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import Database
from ordermesh.adapters.db.outbox import backoff
from ordermesh.adapters.db.repositories import LISTINGS_OF, Driver
from ordermesh.domain.availability import (
    DEFAULT_LOW_STOCK,
    BufferOverride,
    HybridPolicy,
    InFlightDemand,
    Level,
    Listing,
    StockPolicy,
    available_to_sell,
    is_urgent,
)
from ordermesh.domain.inventory import LocationKind
from ordermesh.ports.clock import Clock
from ordermesh.ports.stock_sync import (
    ChannelSale,
    Drift,
    DriftReport,
    Expected,
    Figure,
    ListingFigure,
    Push,
    PushOutcome,
    PushResult,
    QueueStatus,
    Reconciliation,
    StockPicture,
)

_p = t.stock_pushes.c
_l = t.channel_listings.c
_WAITING = ("pending", "sending")
_SOLD_OUT_FIRST = case((_p.quantity > 0, 1), else_=0)


def _overtakable(now: datetime) -> Any:
    """A listing in a bulk push still in flight whose figure has changed since (and since any
    urgent figure that already overtook it). Claimed by the urgent lane only, and only once its
    figure is urgent: the feed may take minutes, a listing going to 0 cannot wait for it."""
    return and_(
        _p.status == "sending",
        _p.sending_bulk.is_(True),
        _p.claimed_until >= now,
        _p.available_at <= now,
        _p.quantity != func.coalesce(_p.overtaken_quantity, _p.sending_quantity),
    )


RETRY_CAP = timedelta(minutes=5)
"""Longest wait between retries of a push: a channel back from an outage is caught up soon."""
STALE_GRACE = timedelta(seconds=10)
"""How long a push the channel refused as stale waits for the sale behind it to be imported."""


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


_PRODUCTS = (
    "SELECT p.sku, p.low_stock_threshold, b.component_sku, b.quantity FROM products p "
    "LEFT JOIN bundle_components b ON b.bundle_sku = p.sku WHERE {skus}"
)
_PENDING = (
    # Orders a channel has taken but not released (Amazon Pending) reserve nothing, yet their
    # units are gone: what they would take of each stocked SKU, bundles exploded. Grouped by
    # line SKU and component, so a bundle found again through another chunk of components
    # gives the same row, not a second count.
    "SELECT l.sku, b.component_sku, b.quantity, SUM(l.quantity) FROM order_lines l "
    "JOIN orders o ON o.id = l.order_id "
    "LEFT JOIN bundle_components b ON b.bundle_sku = l.sku "
    "WHERE o.status = 'pending' AND o.fulfilled_by = 'merchant' "
    "AND ({own} OR l.sku IN (SELECT bundle_sku FROM bundle_components WHERE {part})) "
    "GROUP BY l.sku, b.component_sku, b.quantity"
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


ABSOLUTE_PUSH_CHANNELS = frozenset({"amazon"})
"""Channels whose quantity updates overwrite, with no compare-and-set: their listings carry an
in-flight margin. Shopify's `changeFromQuantity` refuses a stale push instead."""
RETRYING_AFTER = 3
"""Failed attempts in a row after which a waiting push counts as piling up."""


class InFlightDemandReader:
    """Gathers what the in-flight margin needs: per listing of an Amazon account, the units
    sold over the last `window` of imported time, and how far the account's import lags.

    The sales counts change only when orders come in, so they are read once per account and
    cursor (and at most every `refresh`), not on every stock movement."""

    def __init__(
        self,
        clock: Clock,
        *,
        sync_interval: timedelta,
        window: timedelta = timedelta(hours=1),
        refresh: timedelta = timedelta(seconds=30),
    ) -> None:
        self.clock, self.sync_interval = clock, sync_interval
        self.planned_wait: Callable[[str], float] | None = None
        """Seconds the worker plans to wait before the account's next sync (its cadence
        stretches Amazon's syncs to fill pages); `sync_interval` until it has planned one."""
        self.window, self.refresh = window, refresh
        self.enabled = True
        """False pushes plain figures (a benchmark comparing with interval sync turns it off)."""
        self._lock = threading.Lock()
        self._sold: dict[str, tuple[datetime, datetime, dict[str, int]]] = {}

    def read(
        self, driver: Driver, listings: Sequence[Listing]
    ) -> dict[tuple[str, str], InFlightDemand]:
        accounts = sorted({lst.channel_account for lst in listings if lst.pushed})
        if not accounts or not self.enabled:
            return {}
        where, params = driver.among("id", accounts)
        cursors = {
            account: _aware(cursor)
            for account, cursor in driver.execute(
                f"SELECT id, cursor FROM channel_accounts WHERE {where} AND channel IN "
                f"({', '.join('?' for _ in ABSOLUTE_PUSH_CHANNELS)}) AND cursor IS NOT NULL",
                [*params, *sorted(ABSOLUTE_PUSH_CHANNELS)],
            ).fetchall()
        }
        if not cursors:
            return {}
        now = self.clock.now()
        demand: dict[tuple[str, str], InFlightDemand] = {}
        for account, cursor in cursors.items():
            sold = self._sold_by_listing(driver, account, cursor, now)
            planned = self.planned_wait(account) if self.planned_wait is not None else 0.0
            interval = timedelta(seconds=planned) if planned > 0 else self.sync_interval
            lag = max(now - cursor, timedelta(0)) + interval
            for lst in listings:
                units = sold.get(lst.channel_sku, 0)
                if lst.channel_account == account and lst.pushed and units:
                    demand[lst.key] = InFlightDemand(units, self.window, lag)
        return demand

    def _sold_by_listing(
        self, driver: Driver, account: str, cursor: datetime, now: datetime
    ) -> dict[str, int]:
        with self._lock:
            cached = self._sold.get(account)
            if cached is not None and cached[0] == cursor and now - cached[1] < self.refresh:
                return cached[2]
        # The window ends at the cursor: later orders are the very ones not imported yet.
        rows = driver.execute(
            "SELECT l.channel_sku, SUM(l.quantity) FROM orders o "
            "JOIN order_lines l ON l.order_id = o.id WHERE o.channel_account = ? "
            "AND o.purchase_date > ? AND o.purchase_date <= ? AND o.status <> 'cancelled' "
            "AND l.channel_sku IS NOT NULL GROUP BY l.channel_sku",
            [account, driver.time(cursor - self.window), driver.time(cursor)],
        ).fetchall()
        sold = {channel_sku: int(units) for channel_sku, units in rows}
        with self._lock:
            self._sold[account] = (cursor, now, sold)
        return sold


def load_picture(
    driver: Driver, skus: Collection[str], demand: InFlightDemandReader | None = None
) -> StockPicture:
    """Every listing whose figure depends on these SKUs (all listings if none are given), and
    the stock and configuration that decide their figures.

    Runs after every stock movement, so it is five statements on the driver's own cursor."""
    wanted = sorted(set(skus))
    rows: list[Any] = []
    prefetched = driver.listings_of(wanted) if wanted else None
    if prefetched is not None:
        rows = prefetched
    elif wanted:
        for chunk in _chunks(wanted, 2000):
            own, own_params = driver.among("sku", chunk)
            part, part_params = driver.among("component_sku", chunk)
            rows += driver.execute(
                LISTINGS_OF.format(own=own, part=part), [*own_params, *part_params]
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
    taken: dict[tuple[str, str | None], int] = {}
    for chunk in _chunks(stocked):
        own, own_params = driver.among("l.sku", chunk)
        part, part_params = driver.among("component_sku", chunk)
        for sku, component, per_kit, units in driver.execute(
            _PENDING.format(own=own, part=part), [*own_params, *part_params]
        ).fetchall():
            taken[(component or sku, sku if component else None)] = int(units) * (per_kit or 1)
    pending: dict[str, int] = {}
    wanted_stock = set(stocked)
    for (stocked_sku, _), units in taken.items():
        if stocked_sku in wanted_stock:
            pending[stocked_sku] = pending.get(stocked_sku, 0) + units
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
    return StockPicture(
        listings,
        policies,
        overrides,
        kinds,
        levels,
        bundles,
        low_stock,
        demand.read(driver, listings) if demand is not None else {},
        pending,
    )


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


# Only a figure our push set (last_sent_at) is compared with the sale: a sale after it was
# taken off that figure by the channel; a push after the sale may have overwritten the channel's
# own decrement, so it stays. (A figure read back from the channel by reconciliation keeps the
# older push time: a sale already in it is taken off again, which leaves `confirmed` too low
# and only ever costs one extra push, never a skipped one.)
_SOLD = (
    "UPDATE stock_pushes SET confirmed_quantity = CASE WHEN confirmed_quantity > ? "
    "THEN confirmed_quantity - ? ELSE 0 END WHERE channel_account = ? AND channel_sku = ? "
    "AND confirmed_quantity IS NOT NULL AND last_sent_at < ?"
)


def _next(row: _Row | None, figure: Figure) -> tuple[str, int, bool, str] | None:
    """How writing a newer figure changes a listing's row: ("keep" its place in the queue or
    take a "fresh" one, quantity, urgent, status), or None when nothing changes."""
    new = figure.quantity
    if row is None or row.status == "new":
        return ("fresh", new, is_urgent(None, new, figure.low_stock_threshold), "pending")
    confirmed = row.confirmed_quantity
    urgent = is_urgent(confirmed, new, figure.low_stock_threshold, ours=row.quantity)
    if row.status == "sending":
        # The in-flight push settles against this newer figure and is made due again. Urgent
        # (and so overtaking a feed in flight) by the same rule as a waiting push: one showing
        # 0 while a feed carries 5 cannot oversell a 4 before the feed lands, but it can the
        # moment it does, and the 4 would join the corrections due then anyway. Sent now, it
        # shows at once, and stands on an Amazon that applies a patch after the feed it
        # overtook; set once more after the landing, it costs one patch more.
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

    def __init__(
        self,
        conn: Connection,
        clock: Clock,
        driver: Driver | None = None,
        *,
        demand: InFlightDemandReader | None = None,
    ) -> None:
        self.conn, self.clock = conn, clock
        self.driver = driver or Driver(conn)
        self.demand = demand
        self.due = 0
        """Pushes made due in this transaction: the push loops are woken when it commits."""

    def picture(self, skus: Collection[str]) -> StockPicture:
        picture = load_picture(self.driver, skus, self.demand)
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
        return load_picture(self.driver, skus, self.demand)

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
        self.due += due
        return due

    def note_channel_sales(self, sales: Sequence[ChannelSale]) -> None:
        # In key order, as `picture` locks them, so two imports cannot deadlock.
        self.driver.executemany(
            _SOLD,
            [
                (
                    s.quantity,
                    s.quantity,
                    s.channel_account,
                    s.channel_sku,
                    self.driver.time(s.purchased_at),
                )
                for s in sorted(
                    sales, key=lambda s: (s.channel_account, s.channel_sku, s.purchased_at)
                )
                if s.quantity > 0
            ],
        )

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

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        lease: timedelta = timedelta(minutes=2),
        demand: InFlightDemandReader | None = None,
    ):
        self.db, self.clock, self.lease, self.demand = db, clock, lease, demand

    def claim(
        self,
        channel_account: str,
        limit: int,
        *,
        urgent_only: bool = False,
        bulk_only: bool = False,
    ) -> list[Push]:
        if urgent_only and bulk_only:
            raise ValueError("a claim is urgent-only or bulk-only, not both")
        now = self.clock.now()
        ready = [
            and_(_p.status == "pending", _p.available_at <= now),
            # A sender that died mid-push leaves its lease to run out.
            and_(_p.status == "sending", _p.claimed_until < now),
        ]
        if urgent_only:
            ready.append(_overtakable(now))
        due = (
            select(_p.channel_sku, _p.status, _p.claimed_until)
            .where(
                _p.channel_account == channel_account,
                or_(*ready),
                *([_p.urgent.is_(True)] if urgent_only else []),
                *([_p.urgent.is_(False)] if bulk_only else []),
            )
            # Among urgent pushes those at 0 first: a listing whose stock is gone costs an
            # oversell for every second it waits, one going from 3 to 2 does not yet. Then the
            # oldest: ordered by figure, a steady stream of 1s kept a 5 waiting for a minute
            # when the urgent lane ran near its patch budget.
            .order_by(_p.urgent.desc(), _SOLD_OUT_FIRST, _p.enqueued_at, _p.channel_sku)
            .limit(limit)
        )
        if not self.db.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        returned = (
            _p.channel_account,
            _p.channel_sku,
            _p.sku,
            _p.quantity,
            _p.confirmed_quantity,
            _p.urgent,
            _p.attempts,
            _p.enqueued_at,
        )
        with self.db.write() as conn:
            # Two statements, not `IN (subquery)`: PostgreSQL may run a LIMIT … SKIP LOCKED
            # subquery more than once and claim more rows than asked for.
            found = conn.execute(due).all()
            if not found:
                return []
            # A live lease in `sending` is a bulk push being overtaken; a lapsed one is claimed
            # afresh.
            overtaken = sorted(
                key
                for key, status, until in found
                if status == "sending" and until is not None and _aware(until) >= now
            )
            overtaken_keys = frozenset(overtaken)
            fresh = [key for key, _, _ in found if key not in overtaken_keys]
            rows: list[tuple[Any, bool]] = []
            if fresh:
                rows += [
                    (row, False)
                    for row in conn.execute(
                        update(t.stock_pushes)
                        .where(_p.channel_account == channel_account, _p.channel_sku.in_(fresh))
                        .values(
                            status="sending",
                            sending_quantity=_p.quantity,
                            sending_bulk=bulk_only,
                            overtaken_quantity=None,
                            attempts=_p.attempts + 1,
                            claimed_until=now + self.lease,
                        )
                        .returning(*returned)
                    )
                ]
            if overtaken:
                rows += [
                    (row, True)
                    for row in conn.execute(
                        update(t.stock_pushes)
                        .where(
                            _p.channel_account == channel_account,
                            _p.channel_sku.in_(overtaken),
                        )
                        .values(overtaken_quantity=_p.quantity)
                        .returning(*returned)
                    )
                ]
        rows.sort(
            key=lambda r: (not r[0].urgent, r[0].quantity > 0, r[0].enqueued_at, r[0].channel_sku)
        )
        return [Push(*row[:7], overtaking=overtaking) for row, overtaking in rows]

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
                    _p.sending_bulk,
                    _p.overtaken_quantity,
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
            # Most of a feed's pushes settle alike: sent, and still the latest figure. Those go
            # in one executemany; one UPDATE each took 3.7 s for a 3,165-listing feed, and
            # every correction after an overtaken feed waited for it.
            confirmed: list[dict[str, Any]] = []
            template: dict[str, Any] | None = None
            for push in pushes:
                row = current.get(push.channel_sku)
                result = results.get(push.channel_sku)
                if push.overtaking:
                    values = _overtook(row, push, result, now)
                    if values is None:
                        continue
                elif (
                    row is None or row.status != "sending" or row.sending_quantity != push.quantity
                ):
                    continue  # the lease ran out and another sender took it over
                else:
                    values = _settled(row, push, result, now)
                    if row.overtaken_quantity is not None:
                        values = _overtaken(row, push, result, values, now)
                    elif values["status"] == "sent" and "sent_count" in values:
                        template = template or values
                        confirmed.append({"key": push.channel_sku, "shows": push.quantity})
                        continue
                conn.execute(
                    update(t.stock_pushes)
                    .where(_p.channel_account == account, _p.channel_sku == push.channel_sku)
                    .values(values)
                )
            if template is not None:
                conn.execute(
                    update(t.stock_pushes)
                    .where(_p.channel_account == account, _p.channel_sku == bindparam("key"))
                    .values(template | {"confirmed_quantity": bindparam("shows")}),
                    confirmed,
                )

    def overtaken(self, channel_account: str, channel_skus: Sequence[str]) -> list[str]:
        found: list[str] = []
        with self.db.reader.connect() as conn:
            for chunk in _chunks(sorted(set(channel_skus))):
                found += conn.execute(
                    select(_p.channel_sku).where(
                        _p.channel_account == channel_account,
                        _p.channel_sku.in_(chunk),
                        _p.status == "sending",
                        _p.sending_bulk.is_(True),
                        _p.overtaken_quantity.is_not(None),
                    )
                ).scalars()
        return found

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
            func.sum(
                case((and_(_p.status == "pending", _p.attempts >= RETRYING_AFTER), 1), else_=0)
            ),
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
                retrying=int(retrying or 0),
            )
            for (
                account,
                depth,
                urgent,
                oldest,
                in_flight,
                sent,
                failed,
                rejected,
                last_sent,
                retrying,
            ) in rows
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
            found = self._figures(conn, sku, {(channel_account, channel_sku)})
        return found[0] if found else None

    def listings_of(self, sku: str) -> list[ListingFigure]:
        with self.db.reader.connect() as conn:
            return self._figures(conn, sku, None)

    def _figures(
        self, conn: Connection, sku: str, only: set[tuple[str, str]] | None
    ) -> list[ListingFigure]:
        """The listings of a SKU and of the bundles made of it (or just `only`), explained."""
        picture = load_picture(Driver(conn), [sku], self.demand)
        listings = [lst for lst in picture.listings if only is None or lst.key in only]
        figures = available_to_sell(
            # A SKU's listings share units among themselves: always decide them together.
            [lst for lst in picture.listings if lst.sku in {x.sku for x in listings}],
            policies=picture.policies,
            overrides=picture.overrides,
            kinds=picture.kinds,
            levels=picture.levels,
            bundles=picture.bundles,
            demand=picture.demand,
            pending=picture.pending,
        )
        pushes: dict[tuple[str, str], Any] = {}
        for account in sorted({lst.channel_account for lst in listings}):
            wanted = [lst.channel_sku for lst in listings if lst.channel_account == account]
            for row in conn.execute(
                select(
                    _p.channel_sku,
                    _p.quantity,
                    _p.confirmed_quantity,
                    _p.status,
                    _p.urgent,
                    _p.last_error,
                ).where(_p.channel_account == account, _p.channel_sku.in_(wanted))
            ):
                pushes[(account, row.channel_sku)] = row
        found = []
        for lst in listings:
            push = pushes.get(lst.key)
            queued = push is not None and push.status != "new"
            found.append(
                ListingFigure(
                    explanation=figures[lst.key],
                    queued=push.quantity if queued else None,
                    confirmed=push.confirmed_quantity if push is not None else None,
                    status=push.status if queued else None,
                    urgent=bool(push.urgent) if push is not None else False,
                    last_error=push.last_error if push is not None else None,
                )
            )
        return found

    def expected(self, channel_account: str) -> list[Expected]:
        with self.db.reader.connect() as conn:
            rows = conn.execute(
                select(_p.channel_sku, _p.sku, _p.confirmed_quantity)
                .where(
                    _p.channel_account == channel_account,
                    _p.status == "sent",
                    _p.confirmed_quantity.is_not(None),
                )
                .order_by(_p.channel_sku)
            ).all()
        return [Expected(channel_sku, sku, quantity) for channel_sku, sku, quantity in rows]

    def record_drift(
        self,
        channel_account: str,
        drifts: Sequence[Drift],
        *,
        checked: int,
        error: str | None,
        heal: Collection[str],
    ) -> int:
        now = self.clock.now()
        healed = 0
        with self.db.write() as conn:
            if drifts:
                conn.execute(
                    insert(t.stock_drift),
                    [
                        {
                            "channel_account": channel_account,
                            "channel_sku": d.channel_sku,
                            "sku": d.sku,
                            "found_at": now,
                            "ours": d.ours,
                            "theirs": d.theirs,
                        }
                        for d in drifts
                    ],
                )
            for d in drifts:
                if d.channel_sku not in heal:
                    continue
                # Only a listing still as it was read: a push since then has set it anyway.
                # What the channel shows becomes the figure it confirmed, so the push that
                # follows compares against the truth and counts as urgent if it must lower it.
                healed += conn.execute(
                    update(t.stock_pushes)
                    .where(
                        _p.channel_account == channel_account,
                        _p.channel_sku == d.channel_sku,
                        _p.status == "sent",
                        _p.confirmed_quantity == d.ours,
                    )
                    .values(
                        status="pending",
                        confirmed_quantity=d.theirs,
                        urgent=d.theirs is None or d.theirs > d.ours,
                        enqueued_at=now,
                        changed_at=now,
                        available_at=now,
                        attempts=0,
                    )
                ).rowcount
            _upsert(
                conn,
                t.stock_reconciliations,
                {
                    "channel_account": channel_account,
                    "checked_at": now,
                    "checked": checked,
                    "drifted": len(drifts),
                    "error": error[:2000] if error else None,
                },
                ["channel_account"],
            )
        return healed

    def seen_drift(self, channel_account: str, drifts: Sequence[Drift]) -> set[str]:
        if not drifts:
            return set()
        d_ = t.stock_drift.c
        wanted = {(d.channel_sku, d.ours, d.theirs) for d in drifts}
        seen: set[str] = set()
        with self.db.reader.connect() as conn:
            for chunk in _chunks(sorted({d.channel_sku for d in drifts}), 1000):
                for channel_sku, ours, theirs in conn.execute(
                    select(d_.channel_sku, d_.ours, d_.theirs).where(
                        d_.channel_account == channel_account,
                        d_.channel_sku.in_(chunk),
                        d_.found_at >= self.clock.now() - timedelta(days=1),
                    )
                ):
                    if (channel_sku, ours, theirs) in wanted:
                        seen.add(channel_sku)
        return seen

    def drift_report(self, channel_account: str | None = None, limit: int = 100) -> DriftReport:
        d_, r_ = t.stock_drift.c, t.stock_reconciliations.c
        runs = select(t.stock_reconciliations).order_by(r_.channel_account)
        recent = select(t.stock_drift).order_by(d_.found_at.desc(), d_.id.desc()).limit(limit)
        if channel_account is not None:
            runs = runs.where(r_.channel_account == channel_account)
            recent = recent.where(d_.channel_account == channel_account)
        with self.db.reader.connect() as conn:
            run_rows = conn.execute(runs).all()
            drift_rows = conn.execute(recent).all()
        return DriftReport(
            runs=tuple(
                Reconciliation(r.channel_account, r.checked_at, r.checked, r.drifted, r.error)
                for r in run_rows
            ),
            recent=tuple(
                Drift(r.channel_sku, r.sku, r.ours, r.theirs, r.found_at, r.channel_account)
                for r in drift_rows
            ),
        )


def _aware(value: datetime) -> datetime:
    # Aggregates lose the column type on some dialects; the stored times are UTC.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _overtook(
    row: Any, push: Push, result: PushResult | None, now: datetime
) -> dict[str, Any] | None:
    """An urgent figure sent over a bulk push in flight. The bulk push stays in flight: what it
    settles to decides whether the listing must be set once more."""
    if (
        row is None
        or row.status != "sending"
        or not row.sending_bulk
        or row.overtaken_quantity != push.quantity
    ):
        # The bulk push settled first (and queued the latest figure again if it had to), or a
        # newer figure overtook this one.
        return None
    if result is not None and PushOutcome(result.outcome) is PushOutcome.SENT:
        return {
            "confirmed_quantity": push.quantity,
            "sent_count": _p.sent_count + 1,
            "last_sent_at": now,
            "last_error": None,
        }
    error = result.error if result is not None else ""
    return {
        "overtaken_quantity": None,
        "failed_count": _p.failed_count + 1,
        "last_error": (error or "the channel gave no result for this listing")[:2000],
        "available_at": now + backoff(1, cap=RETRY_CAP.total_seconds()),
    }


def _overtaken(
    row: Any, push: Push, result: PushResult | None, values: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """A bulk push settling after an urgent figure overtook it. The channel applied the two in
    an order nobody knows (Amazon may process a feed's messages before or after a patch sent
    while it waited, or only some of them if it failed), so it shows one of the two figures:
    the one read back after the landing (`shown_after`), or else the higher, which is the one
    that can oversell. Unless that is the latest, the latest goes out again at once, urgent if
    what the channel shows would oversell."""
    if row.quantity == push.quantity == row.overtaken_quantity:
        return values
    read = result.shown_after if result is not None else None
    if read is not None and read == row.quantity:
        return values | {"status": "sent", "confirmed_quantity": read, "urgent": False}
    shown = read if read is not None else max(push.quantity, row.overtaken_quantity)
    return values | {
        "status": "pending",
        "confirmed_quantity": shown,
        "urgent": is_urgent(shown, row.quantity, row.low_stock_threshold),
        "enqueued_at": row.changed_at,
        "available_at": now,
    }


def _settled(row: Any, push: Push, result: PushResult | None, now: datetime) -> dict[str, Any]:
    if result is None:
        outcome, error = PushOutcome.RETRY, "the channel gave no result for this listing"
    else:
        outcome, error = PushOutcome(result.outcome), result.error
    values: dict[str, Any] = {
        "sending_quantity": None,
        "sending_bulk": False,
        "overtaken_quantity": None,
        "claimed_until": None,
    }
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
    shown = result.channel_quantity if result is not None else None
    if outcome is PushOutcome.RETRY and shown is not None:
        # The channel refused a compare-and-set: it changed the figure itself, usually for a
        # sale not imported yet. Later pushes compare against what it shows now, once the
        # import has had time to bring that sale in (and lower our figure with it).
        confirmed = shown
        values |= {"confirmed_quantity": shown}
        if row.quantity != shown:
            return values | {
                "status": "pending",
                "urgent": is_urgent(shown, row.quantity, row.low_stock_threshold),
                "available_at": now + STALE_GRACE,
            }
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
