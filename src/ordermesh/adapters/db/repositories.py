"""Repositories over SQLAlchemy Core. Statements are built once at import; the hot path
(reserve, add orders, ledger rows) is one round-trip per statement and batched with
executemany wherever rows are many."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, time
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from ordermesh.adapters.db import tables as t
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
from ordermesh.ports.clock import Clock
from ordermesh.ports.storage import ConcurrencyConflict, StockKey


def insert_ignoring_conflicts(conn: Connection, table: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, for the dialect at hand."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table).on_conflict_do_nothing()


def _chunks(items: Sequence[Any], size: int = 900) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- catalogue -----------------------------------------------------------------------------
_KNOWN = (
    select(t.products.c.sku, t.bundle_components.c.component_sku, t.bundle_components.c.quantity)
    .select_from(
        t.products.outerjoin(
            t.bundle_components, t.bundle_components.c.bundle_sku == t.products.c.sku
        )
    )
    .where(t.products.c.sku.in_(bindparam("skus", expanding=True)))
)


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
    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.conn, self.clock = conn, clock

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
            for sku, component, quantity in self.conn.execute(_KNOWN, {"skus": list(chunk)}):
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
        return {channel_sku: sku for channel_sku, sku in rows}

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
    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.conn, self.clock = conn, clock

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
        rows = self.conn.execute(select(t.locations.c.code, t.locations.c.kind))
        return {code: LocationKind(kind) for code, kind in rows}


# -- stock ---------------------------------------------------------------------------------
_s = t.stock_levels.c
_AVAILABLE = select(_s.sku, _s.location, _s.on_hand - _s.reserved).where(
    _s.sku.in_(bindparam("skus", expanding=True))
)
_KEY = (_s.sku == bindparam("k_sku")) & (_s.location == bindparam("k_loc"))
_RESERVE = (
    update(t.stock_levels)
    .where(_KEY, _s.on_hand - _s.reserved >= bindparam("q"))
    .values(reserved=_s.reserved + bindparam("q"), updated_at=bindparam("now"))
)
_RELEASE = (
    update(t.stock_levels)
    .where(_KEY, _s.reserved >= bindparam("q"))
    .values(reserved=_s.reserved - bindparam("q"), updated_at=bindparam("now"))
)
_SHIP = (
    update(t.stock_levels)
    .where(_KEY, _s.reserved >= bindparam("q"))
    .values(
        on_hand=_s.on_hand - bindparam("q"),
        reserved=_s.reserved - bindparam("q"),
        updated_at=bindparam("now"),
    )
)
_SET_LEVEL = (
    update(t.stock_levels)
    .where(_KEY)
    .values(
        on_hand=bindparam("on_hand"), reserved=bindparam("reserved"), updated_at=bindparam("now")
    )
)
_INSERT_MOVEMENTS = insert(t.stock_movements)


class SqlStockRepository:
    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.conn, self.clock = conn, clock
        self.for_update = conn.dialect.name != "sqlite"
        """SQLite's BEGIN IMMEDIATE already holds the one write lock; PostgreSQL locks rows."""

    def available(self, skus: Collection[str]) -> dict[StockKey, int]:
        if not skus:
            return {}
        result: dict[StockKey, int] = {}
        for chunk in _chunks(list(skus)):
            for sku, location, units in self.conn.execute(_AVAILABLE, {"skus": list(chunk)}):
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
        query = (
            select(_s.sku, _s.location, _s.on_hand, _s.reserved)
            .where(tuple_(_s.sku, _s.location).in_(ordered))
            .order_by(_s.sku, _s.location)
        )
        if self.for_update:
            query = query.with_for_update()
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

    def _guarded(
        self, statement: Any, sku: str, location: str, quantity: int, now: datetime
    ) -> bool:
        params = {"k_sku": sku, "k_loc": location, "q": quantity, "now": now}
        return self.conn.execute(statement, params).rowcount == 1

    def reserve(self, amounts: Mapping[StockKey, int]) -> list[StockKey]:
        now = self.clock.now()
        done: list[StockKey] = []
        # A fixed order (by SKU, then location) so concurrent reservations never deadlock.
        for key in sorted(amounts):
            if self._guarded(_RESERVE, key[0], key[1], amounts[key], now):
                done.append(key)
                continue
            for undo in done:
                self._guarded(_RELEASE, undo[0], undo[1], amounts[undo], now)
            return [key]
        return []

    def _must(self, statement: Any, amounts: Mapping[StockKey, int], what: str) -> None:
        now = self.clock.now()
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
        now = self.clock.now()
        self.conn.execute(
            _INSERT_MOVEMENTS,
            [
                {
                    "sku": m.sku,
                    "location": m.location,
                    "kind": str(m.kind),
                    "on_hand_delta": m.on_hand_delta,
                    "reserved_delta": m.reserved_delta,
                    "reason": m.reason,
                    "reference": m.reference,
                    "actor": actor,
                    "occurred_at": now,
                }
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


def address_json(address: Address | None) -> dict[str, Any] | None:
    if address is None:
        return None
    return {k: v for k, v in asdict(address).items() if v is not None}


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
_INSERT_ORDERS = insert(t.orders)
_INSERT_LINES = insert(t.order_lines)
_INSERT_ALLOCATIONS = insert(t.allocations)
_INSERT_HISTORY = insert(t.order_history)


class SqlOrderRepository:
    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.conn, self.clock = conn, clock
        self._seen: dict[str, Order] = {}
        self._stored_allocations: dict[str, int] = {}

    def seen(self) -> Iterable[Order]:
        return self._seen.values()

    def _track(self, order: Order) -> Order:
        self._seen[order.id] = order
        self._stored_allocations[order.id] = len(order.allocations)
        return order

    def add(self, orders: Sequence[Order]) -> None:
        if not orders:
            return
        now = self.clock.now()
        self.conn.execute(
            _INSERT_ORDERS,
            [dict(_order_values(o, now), id=o.id, created_at=now, version=1) for o in orders],
        )
        self.conn.execute(
            _INSERT_LINES,
            [
                {
                    "order_id": o.id,
                    "line_no": line.line_no,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price_minor": _minor(line.unit_price),
                    "tax_minor": _minor(line.tax),
                    "discount_minor": _minor(line.discount),
                    "channel_line_id": line.channel_line_id,
                    "channel_sku": line.channel_sku,
                }
                for o in orders
                for line in o.lines
            ],
        )
        self._insert_allocations([(o.id, a) for o in orders for a in o.allocations])
        self._insert_history(orders)
        for order in orders:
            order.version = 1
            self._track(order)

    def _insert_allocations(self, items: Sequence[tuple[str, Allocation]]) -> None:
        if items:
            self.conn.execute(
                _INSERT_ALLOCATIONS,
                [
                    {
                        "order_id": oid,
                        "line_no": a.line_no,
                        "sku": a.sku,
                        "location": a.location,
                        "quantity": a.quantity,
                    }
                    for oid, a in items
                ],
            )

    def _insert_history(self, orders: Iterable[Order]) -> None:
        rows = [
            {
                "order_id": o.id,
                "action": h.action,
                "from_status": str(h.from_status),
                "to_status": str(h.to_status),
                "actor": h.actor,
                "reason": h.reason,
                "at": h.at,
            }
            for o in orders
            for h in o.new_history
        ]
        if rows:
            self.conn.execute(_INSERT_HISTORY, rows)
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
            stored = self._stored_allocations.get(order.id, 0)
            if len(order.allocations) < stored:
                # Reservations given back (cancel, ship, re-plan): the table mirrors the order.
                self.conn.execute(delete(t.allocations).where(t.allocations.c.order_id == order.id))
                stored = 0
            self._insert_allocations([(order.id, a) for a in order.allocations[stored:]])
            self._stored_allocations[order.id] = len(order.allocations)
            self._insert_history([order])

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


# -- inbox ---------------------------------------------------------------------------------
class SqlInboxRepository:
    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.conn, self.clock = conn, clock

    def store(
        self, items: Sequence[tuple[str, str, str]], received_at: datetime
    ) -> set[tuple[str, str]]:
        if not items:
            return set()
        statement = insert_ignoring_conflicts(self.conn, t.inbox).returning(
            t.inbox.c.source, t.inbox.c.key, sort_by_parameter_order=True
        )
        rows = [
            {"source": s, "key": k, "payload": p, "received_at": received_at} for s, k, p in items
        ]
        inserted: set[tuple[str, str]] = set()
        for chunk in _chunks(rows, 500):
            inserted.update(tuple(r) for r in self.conn.execute(statement, list(chunk)))
        return {(s, k) for s, k, _ in items} - inserted

    def mark_processed(
        self, keys: Iterable[tuple[str, str]], at: datetime, error: str | None = None
    ) -> None:
        params = [{"b_source": s, "b_key": k, "processed_at": at, "error": error} for s, k in keys]
        if params:
            self.conn.execute(
                update(t.inbox)
                .where(
                    t.inbox.c.source == bindparam("b_source"), t.inbox.c.key == bindparam("b_key")
                )
                .values(processed_at=bindparam("processed_at"), error=bindparam("error")),
                params,
            )
