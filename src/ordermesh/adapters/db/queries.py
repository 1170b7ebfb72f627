"""The read side: what the API, dashboard and CLI show. Plain selects on the reader engine,
returning dicts ready to render; no domain objects are built to be thrown away."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Select, and_, exists, func, or_, select, text, union_all

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.dashboard import DashboardFigures
from ordermesh.adapters.db.engine import Database
from ordermesh.adapters.db.migrate import alembic_config, current_revision
from ordermesh.domain.errors import ValidationFailed
from ordermesh.domain.ids import new_id
from ordermesh.domain.money import Money
from ordermesh.ports.clock import Clock

_o = t.orders.c
_s = t.stock_levels.c


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(*values: Any) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(orjson.dumps(plain)).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = orjson.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(values, list):
            raise ValueError
        return values
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise ValidationFailed("the cursor is not one this API gave out", field="cursor") from exc


def _money(minor: int | None, currency: str | None) -> str | None:
    if minor is None or not currency:
        return None
    return str(Money.from_minor(minor, currency).amount)


def order_summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "channel": row.channel,
        "channel_account": row.channel_account,
        "channel_order_id": row.channel_order_id,
        "marketplace": row.marketplace,
        "status": row.status,
        "purchase_date": row.purchase_date,
        "ship_by": row.ship_by,
        "deliver_by": row.deliver_by,
        "is_prime": row.is_prime,
        "is_business": row.is_business,
        "fulfilled_by": row.fulfilled_by,
        "buyer_name": row.buyer_name,
        "currency": row.currency,
        "total": _money(row.total_minor, row.currency),
        "tags": list(row.tags or ()),
        "holds": list(row.holds or ()),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


class SqlQueries:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock
        self.figures = DashboardFigures(db, clock)
        """The overview's rollups and snapshots; the worker keeps them up to date."""

    def _rows(self, query: Select[Any]) -> list[Any]:
        with self.db.reader.connect() as conn:
            return list(conn.execute(query))

    # -- orders ----------------------------------------------------------------------------
    def list_orders(
        self,
        *,
        status: list[str] | None = None,
        channel: str | None = None,
        sku: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        search: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Newest first, keyset-paginated on (created_at, id) so deep pages stay fast."""
        query = select(t.orders)
        if status:
            query = query.where(_o.status.in_(status))
        if channel:
            query = query.where(_o.channel == channel)
        if sku:
            query = query.where(
                _o.id.in_(select(t.order_lines.c.order_id).where(t.order_lines.c.sku == sku))
            )
        if created_from:
            query = query.where(_o.created_at >= created_from)
        if created_to:
            query = query.where(_o.created_at < created_to)
        if search:
            term = search.strip()
            like = f"%{term.replace('%', '').replace('_', '')}%"
            query = query.where(
                or_(
                    _o.id == term,
                    _o.channel_order_id == term,
                    _o.channel_order_id.like(f"{term}%"),
                    _o.buyer_name.ilike(like),
                    _o.buyer_email.ilike(like),
                )
            )
        if cursor:
            values = decode_cursor(cursor)
            if len(values) != 2:
                raise ValidationFailed("the cursor is not one this API gave out", field="cursor")
            created, last_id = datetime.fromisoformat(values[0]), values[1]
            query = query.where(
                or_(_o.created_at < created, and_(_o.created_at == created, _o.id < last_id))
            )
        rows = self._rows(query.order_by(_o.created_at.desc(), _o.id.desc()).limit(limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
        return Page([order_summary(r) for r in rows], next_cursor)

    def iter_orders(self, batch: int = 1000) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            page = self.list_orders(limit=batch, cursor=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get_order(self, order_id: str) -> dict[str, Any] | None:
        with self.db.reader.connect() as conn:
            row = conn.execute(select(t.orders).where(or_(_o.id == order_id))).first()
            if row is None:
                return None
            lines = conn.execute(
                select(t.order_lines)
                .where(t.order_lines.c.order_id == row.id)
                .order_by(t.order_lines.c.line_no)
            ).all()
            allocs = conn.execute(
                select(t.allocations)
                .where(t.allocations.c.order_id == row.id)
                .order_by(t.allocations.c.id)
            ).all()
            history = conn.execute(
                select(t.order_history)
                .where(t.order_history.c.order_id == row.id)
                .order_by(t.order_history.c.id)
            ).all()
            shipments = order_shipments(conn, row.id)
        order = order_summary(row)
        order.update(
            service_level=row.service_level,
            buyer_email=row.buyer_email,
            shipping_address=row.shipping_address,
            buyer_cancel_requested=row.buyer_cancel_requested,
            channel_updated_at=row.channel_updated_at,
            lines=[
                {
                    "line_no": ln.line_no,
                    "sku": ln.sku,
                    "channel_sku": ln.channel_sku,
                    "channel_line_id": ln.channel_line_id,
                    "quantity": ln.quantity,
                    "unit_price": _money(ln.unit_price_minor, row.currency),
                    "tax": _money(ln.tax_minor, row.currency),
                    "discount": _money(ln.discount_minor, row.currency),
                }
                for ln in lines
            ],
            allocations=[
                {"line_no": a.line_no, "sku": a.sku, "location": a.location, "quantity": a.quantity}
                for a in allocs
            ],
            history=[
                {
                    "action": h.action,
                    "from_status": h.from_status,
                    "to_status": h.to_status,
                    "actor": h.actor,
                    "reason": h.reason,
                    "at": h.at,
                }
                for h in history
            ],
            shipments=shipments,
        )
        return order

    def channel_payloads(self, order_id: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """The raw payloads the channel sent for an order (from the inbox), newest first."""
        with self.db.reader.connect() as conn:
            row = conn.execute(
                select(_o.channel, _o.channel_account, _o.channel_order_id).where(_o.id == order_id)
            ).first()
            if row is None:
                return []
            return inbox_payloads(
                conn,
                f"{row.channel}:{row.channel_account}",
                row.channel_order_id,
                limit=limit,
            )

    def count_orders_by_status(self) -> dict[str, int]:
        rows = self._rows(select(_o.status, func.count()).group_by(_o.status))
        return dict(rows)

    # -- stock -----------------------------------------------------------------------------
    def stock_levels(
        self,
        *,
        sku: str | None = None,
        location: str | None = None,
        low_stock: bool = False,
        limit: int = 500,
        cursor: str | None = None,
    ) -> Page:
        query = select(_s.sku, _s.location, _s.on_hand, _s.reserved, _s.updated_at)
        if sku:
            query = query.where(_s.sku == sku)
        if location:
            query = query.where(_s.location == location)
        if low_stock:
            query = query.join(t.products, t.products.c.sku == _s.sku).where(
                _s.on_hand - _s.reserved <= t.products.c.low_stock_threshold
            )
        if cursor:
            values = decode_cursor(cursor)
            query = query.where(
                or_(_s.sku > values[0], and_(_s.sku == values[0], _s.location > values[1]))
            )
        rows = self._rows(query.order_by(_s.sku, _s.location).limit(limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        items = [
            {
                "sku": r.sku,
                "location": r.location,
                "on_hand": r.on_hand,
                "reserved": r.reserved,
                "available": r.on_hand - r.reserved,
                "updated_at": r.updated_at,
            }
            for r in rows
        ]
        next_cursor = encode_cursor(rows[-1].sku, rows[-1].location) if more and rows else None
        return Page(items, next_cursor)

    def movements(
        self,
        *,
        sku: str | None = None,
        location: str | None = None,
        reference: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        m = t.stock_movements.c
        query = select(t.stock_movements)
        if sku:
            query = query.where(m.sku == sku)
        if location:
            query = query.where(m.location == location)
        if reference:
            query = query.where(m.reference == reference)
        if cursor:
            query = query.where(m.id < int(decode_cursor(cursor)[0]))
        rows = self._rows(query.order_by(m.id.desc()).limit(limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        items = [
            {
                "id": r.id,
                "sku": r.sku,
                "location": r.location,
                "kind": r.kind,
                "on_hand_delta": r.on_hand_delta,
                "reserved_delta": r.reserved_delta,
                "reason": r.reason,
                "reference": r.reference,
                "actor": r.actor,
                "occurred_at": r.occurred_at,
            }
            for r in rows
        ]
        return Page(items, encode_cursor(rows[-1].id) if more and rows else None)

    def ledger_totals(self, sku: str, location: str) -> tuple[int, int]:
        m = t.stock_movements.c
        rows = self._rows(
            select(
                func.coalesce(func.sum(m.on_hand_delta), 0),
                func.coalesce(func.sum(m.reserved_delta), 0),
            ).where(m.sku == sku, m.location == location)
        )
        on_hand, reserved = rows[0]
        return int(on_hand), int(reserved)

    # -- catalogue -------------------------------------------------------------------------
    def products(
        self, *, search: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page:
        p = t.products.c
        query = select(t.products)
        if search:
            like = f"%{search.strip()}%"
            query = query.where(
                or_(p.sku.ilike(like), p.title.ilike(like), p.gtin == search, p.asin == search)
            )
        if cursor:
            query = query.where(p.sku > decode_cursor(cursor)[0])
        rows = self._rows(query.order_by(p.sku).limit(limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        components = self._components([r.sku for r in rows if r.is_bundle])
        items = [product_dict(r, components.get(r.sku, {})) for r in rows]
        return Page(items, encode_cursor(rows[-1].sku) if more and rows else None)

    def product(self, sku: str) -> dict[str, Any] | None:
        rows = self._rows(select(t.products).where(t.products.c.sku == sku))
        if not rows:
            return None
        return product_dict(rows[0], self._components([sku]).get(sku, {}))

    def _components(self, skus: list[str]) -> dict[str, dict[str, int]]:
        if not skus:
            return {}
        b = t.bundle_components.c
        found: dict[str, dict[str, int]] = {}
        for bundle, component, quantity in self._rows(
            select(b.bundle_sku, b.component_sku, b.quantity).where(b.bundle_sku.in_(skus))
        ):
            found.setdefault(bundle, {})[component] = quantity
        return found

    def locations(self) -> list[dict[str, Any]]:
        rows = self._rows(select(t.locations).order_by(t.locations.c.code))
        return [
            {
                "code": r.code,
                "name": r.name,
                "kind": r.kind,
                "address": r.address,
                "working_days": [d for d in r.working_days.split(",") if d],
                "cutoff": r.cutoff,
                "timezone": r.timezone,
            }
            for r in rows
        ]

    def listings(
        self, *, sku: str | None = None, channel_account: str | None = None
    ) -> list[dict[str, Any]]:
        c = t.channel_listings.c
        query = select(t.channel_listings)
        if sku:
            query = query.where(c.sku == sku)
        if channel_account:
            query = query.where(c.channel_account == channel_account)
        return [
            {
                "channel_account": r.channel_account,
                "channel_sku": r.channel_sku,
                "sku": r.sku,
                "asin": r.asin,
                "variant_id": r.variant_id,
                "fulfilled_by": r.fulfilled_by,
            }
            for r in self._rows(query.order_by(c.channel_account, c.channel_sku))
        ]

    def outbox_status(self) -> dict[str, Any]:
        ob = t.outbox.c
        rows = self._rows(
            select(ob.status, func.count(), func.min(ob.created_at)).group_by(ob.status)
        )
        counts = {status: n for status, n, _ in rows}
        oldest = next((oldest for status, _, oldest in rows if status == "pending"), None)
        return {"counts": counts, "oldest_pending": oldest}

    # -- webhooks and readiness (appended for the REST API) --------------------------------
    def webhooks(self) -> list[dict[str, Any]]:
        """Subscribed endpoints, without their signing secrets."""
        w = t.webhook_endpoints.c
        rows = self._rows(
            select(w.id, w.url, w.event_types, w.active, w.created_at).order_by(w.created_at)
        )
        return [
            {
                "id": r.id,
                "url": r.url,
                "event_types": list(r.event_types or ()),
                "active": r.active,
                "created_at": r.created_at,
            }
            for r in rows
        ]

    def add_webhook(self, url: str, event_types: list[str]) -> dict[str, Any]:
        """Subscribe an endpoint; the answer holds its signing secret, the only time it is shown.

        Configuration, not a domain change: no event is written for it."""
        row = {
            "id": new_id("whk"),
            "url": url,
            "secret": f"whsec_{secrets.token_urlsafe(32)}",
            "event_types": list(event_types),
            "active": True,
            "created_at": self.clock.now(),
        }
        lock = self.db.write_lock
        if lock is not None:
            lock.acquire()
        try:
            with self.db.writer.begin() as conn:
                conn.execute(t.webhook_endpoints.insert().values(**row))
        finally:
            if lock is not None:
                lock.release()
        return row

    def schema_state(self) -> tuple[str | None, frozenset[str]]:
        """The database's migration revision and the revisions this code expects (the heads).

        Raises if the database cannot be reached."""
        heads = getattr(self, "_heads", None)
        if heads is None:
            heads = frozenset(ScriptDirectory.from_config(alembic_config(self.db)).get_heads())
            self._heads = heads
        return current_revision(self.db), heads

    def bundles(self, *, limit: int = 100, cursor: str | None = None) -> Page:
        """Products made of other products, with their components."""
        p = t.products.c
        query = select(t.products).where(p.is_bundle.is_(True))
        if cursor:
            query = query.where(p.sku > decode_cursor(cursor)[0])
        rows = self._rows(query.order_by(p.sku).limit(limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        components = self._components([r.sku for r in rows])
        items = [product_dict(r, components.get(r.sku, {})) for r in rows]
        return Page(items, encode_cursor(rows[-1].sku) if more and rows else None)

    # -- the operations dashboard (appended for the web dashboard) -------------------------
    def order_channels(self) -> list[str]:
        """Every channel an order came from, and every connected channel, for filters."""
        found = {r[0] for r in self._rows(select(t.channel_accounts.c.channel).distinct())}
        # A handful of channels among a million orders: one seek in the channel index per
        # channel (the next one after the last found), instead of reading every order.
        with self.db.reader.connect() as conn:
            last = conn.execute(select(func.min(_o.channel))).scalar()
            while last is not None:
                found.add(last)
                last = conn.execute(select(func.min(_o.channel)).where(_o.channel > last)).scalar()
        return sorted(found)

    def order_counts(
        self, since: datetime, *, channel: str | None = None
    ) -> dict[str, dict[str, int]]:
        """Orders bought since `since`: {channel: {status: count}}. Whole days before today
        come from the worker's snapshot of the last days (`snapshot_times()["recent_days"]`)
        when it has one; today is counted live."""
        return self.figures.order_counts(since, channel)[0]

    def orders_at_risk(
        self, within: timedelta, *, channel: str | None = None, limit: int = 20
    ) -> tuple[int, list[dict[str, Any]]]:
        """Unshipped orders whose ship-by falls before now + `within` (late ones included),
        soonest first: how many, and the first `limit`."""
        cond = and_(
            _o.status.in_(OPEN_WORK),
            _o.ship_by.is_not(None),
            _o.ship_by <= self.clock.now() + within,
        )
        if channel:
            cond = and_(cond, _o.channel == channel)
        total = self._rows(select(func.count()).select_from(t.orders).where(cond))[0][0]
        # The soonest of each unshipped status from the (status, ship-by) index, then the
        # soonest of those: asked for the soonest of all at once, PostgreSQL walks the ship-by
        # index from the oldest order and skips every shipped one.
        soonest = union_all(
            *(
                select(_o.id, _o.ship_by)
                .where(cond, _o.status == status)
                .order_by(_o.ship_by, _o.id)
                .limit(limit)
                .subquery()
                .select()
                for status in OPEN_WORK
            )
        ).subquery()
        first = select(soonest.c.id).order_by(soonest.c.ship_by, soonest.c.id).limit(limit)
        rows = self._rows(select(t.orders).where(_o.id.in_(first)).order_by(_o.ship_by, _o.id))
        return int(total), [order_summary(r) for r in rows]

    def orders_waiting(
        self, kind: str, *, channel: str | None = None, limit: int = 10
    ) -> tuple[int, list[dict[str, Any]]]:
        """`backordered` orders or `held` orders: how many, and the oldest `limit`."""
        cond = _o.status == "backordered" if kind == "backordered" else _HELD
        if channel:
            cond = and_(cond, _o.channel == channel)
        total = self._rows(select(func.count()).select_from(t.orders).where(cond))[0][0]
        # The waiting orders first (status or held index), then the oldest among them: asked
        # for the oldest directly, SQLite with statistics walks every order by creation time
        # to skip a sort, and backorders are the newest. OFFSET 0 keeps the subquery apart.
        waiting = select(_o.id, _o.created_at).where(cond).offset(0).subquery()
        oldest = select(waiting.c.id).order_by(waiting.c.created_at, waiting.c.id).limit(limit)
        rows = self._rows(select(t.orders).where(_o.id.in_(oldest)).order_by(_o.created_at, _o.id))
        return int(total), [order_summary(r) for r in rows]

    def stock_alerts(self, *, limit: int = 20) -> tuple[int, list[dict[str, Any]]]:
        """SKUs at or below their low-stock threshold across all locations, emptiest first:
        how many, and the first `limit` with on hand, reserved, available and threshold.
        From the worker's latest snapshot (see `snapshot_times`), computed if none yet."""
        return self.figures.stock_alerts(limit)

    def snapshot_times(self) -> dict[str, datetime]:
        """When the overview's snapshots (stock alerts, stock cover) were taken."""
        return self.figures.snapshot_times()

    def orders_per_day(self, days: int = 90, *, channel: str | None = None) -> dict[str, Any]:
        """Orders bought per UTC day and channel over the last `days` days, every day present:
        {"days": ["2026-09-01", …], "channels": {channel: [count per day]}}."""
        return self.figures.orders_per_day(days, channel)

    def stock_cover(self, days: int = 30, *, limit: int = 15) -> list[dict[str, Any]]:
        """Days of cover of the SKUs that sold in the last `days` days, fewest first: units
        available now divided by the average units sold per day (cancelled orders left out).
        From the worker's latest snapshot, computed if none yet."""
        return self.figures.stock_cover(days, limit)

    def order_list(
        self,
        *,
        status: str | None = None,
        channel: str | None = None,
        marketplace: str | None = None,
        sku: str | None = None,
        search: str | None = None,
        sort: str = "newest",
        page: int = 1,
        per_page: int = 50,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of the orders list (1-based) and whether another page follows."""
        order = DASHBOARD_SORTS.get(sort, DASHBOARD_SORTS["newest"])
        if sku:
            query, by_id = _orders_with_sku(sku)
            # Our order ids sort by creation time: newest first is the (sku, order id) index
            # walked backwards, stopping at the page, however many orders the SKU has.
            order = {"newest": (by_id.desc(),), "oldest": (by_id.asc(),)}.get(sort, order)
        else:
            query = select(t.orders)
        if status == "held":
            query = query.where(_HELD)
        elif status:
            query = query.where(_o.status == status)
        if channel:
            query = query.where(_o.channel == channel)
        if marketplace:
            query = query.where(_o.marketplace == marketplace)
        if search and search.strip():
            term = search.strip()
            exact = or_(_o.id == term, _o.channel_order_id == term)
            # A whole order id finds that order alone, not every id it is a prefix of.
            found = self._rows(select(_o.id).where(exact).limit(1))
            query = query.where(exact if found else _prefixes(term))
        offset = (max(page, 1) - 1) * per_page
        rows = self._rows(query.order_by(*order).offset(offset).limit(per_page + 1))
        return [order_summary(r) for r in rows[:per_page]], len(rows) > per_page

    def order_refs(self, order_ids: list[str]) -> dict[str, str]:
        """Our order id → the channel's order id, the number staff know an order by."""
        if not order_ids:
            return {}
        rows = self._rows(select(_o.id, _o.channel_order_id).where(_o.id.in_(order_ids)))
        return {r.id: r.channel_order_id for r in rows}

    def channel_accounts(self) -> list[dict[str, Any]]:
        """Connected channel accounts and their sync state, never their credentials."""
        a = t.channel_accounts.c
        return [
            {
                "id": r.id,
                "channel": r.channel,
                "name": r.name,
                "status": r.status,
                "status_reason": r.status_reason,
                "cursor": r.cursor,
                "last_sync_at": r.last_sync_at,
                "last_error": r.last_error,
                "created_at": r.created_at,
            }
            for r in self._rows(
                select(
                    a.id,
                    a.channel,
                    a.name,
                    a.status,
                    a.status_reason,
                    a.cursor,
                    a.last_sync_at,
                    a.last_error,
                    a.created_at,
                ).order_by(a.channel, a.name)
            )
        ]

    def unmapped_channel_skus(self, *, limit: int = 50) -> list[dict[str, Any]]:
        """Channel SKUs on order lines that no catalogue SKU stands for yet."""
        return self.figures.unmapped_channel_skus(limit)


# -- shipments and raw channel payloads of one order ------------------------------------------
_sh = t.shipments.c
_sl = t.shipment_lines.c
_in = t.inbox.c


def order_shipments(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    """An order's shipments, oldest first, with their lines, the channel's answer and how the
    confirmation's delivery is going (its outbox message: attempts, last error)."""
    ob = t.outbox.c
    rows = conn.execute(
        select(
            t.shipments,
            ob.status.label("delivery_status"),
            ob.attempts.label("delivery_attempts"),
            ob.last_error.label("delivery_error"),
            ob.available_at.label("delivery_next_at"),
        )
        .select_from(t.shipments.outerjoin(t.outbox, ob.idempotency_key == _sh.id))
        .where(_sh.order_id == order_id)
        .order_by(_sh.id)
    ).all()
    if not rows:
        return []
    lines: dict[str, list[dict[str, Any]]] = {}
    for ln in conn.execute(
        select(t.shipment_lines)
        .where(_sl.shipment_id.in_([r.id for r in rows]))
        .order_by(_sl.shipment_id, _sl.line_no)
    ):
        lines.setdefault(ln.shipment_id, []).append(
            {"line_no": ln.line_no, "sku": ln.sku, "quantity": ln.quantity}
        )
    return [
        {
            "id": r.id,
            "carrier": r.carrier,
            "service": r.service,
            "tracking_number": r.tracking_number,
            "tracking_url": r.tracking_url,
            "shipped_at": r.shipped_at,
            "location": r.location,
            "lines": lines.get(r.id, []),
            "confirmation": r.confirmation,
            "channel_message": r.channel_message,
            "channel_reference": r.channel_reference,
            "answered_at": r.answered_at,
            "actor": r.actor,
            "created_at": r.created_at,
            "delivery": None
            if r.delivery_status is None
            else {
                "status": r.delivery_status,
                "attempts": r.delivery_attempts,
                "last_error": r.delivery_error,
                "next_attempt_at": r.delivery_next_at if r.delivery_status == "pending" else None,
            },
        }
        for r in rows
    ]


def inbox_payloads(
    conn: Connection, source: str, channel_order_id: str, *, limit: int = 20
) -> list[dict[str, Any]]:
    """Inbox rows of one order: connectors key each version `<channel order id>@<time>#…`."""
    prefix = f"{channel_order_id}@"
    query = select(_in.key, _in.payload, _in.received_at, _in.processed_at, _in.error).where(
        _in.source == source
    )
    # The range walks the (source, key) index ('A' follows '@'); a LIKE alone would not use
    # it on PostgreSQL. SQLite compares bytes, so there the range is exactly the prefix;
    # elsewhere a version key (`<id>@<digits>…`) still falls inside it and the LIKE keeps
    # out the neighbours a collation may let in.
    query = query.where(_in.key >= prefix, _in.key < f"{channel_order_id}A")
    if conn.dialect.name != "sqlite":
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(_in.key.like(f"{escaped}%", escape="\\"))
    rows = conn.execute(query.order_by(_in.id.desc()).limit(limit)).all()
    return [
        {
            "key": r.key,
            "payload": r.payload,
            "received_at": r.received_at,
            "processed_at": r.processed_at,
            "error": r.error,
        }
        for r in rows
    ]


def product_dict(row: Any, components: dict[str, int]) -> dict[str, Any]:
    return {
        "sku": row.sku,
        "title": row.title,
        "gtin": row.gtin,
        "asin": row.asin,
        "brand": row.brand,
        "product_type": row.product_type,
        "tags": list(row.tags or ()),
        "weight_g": row.weight_g,
        "dimensions_mm": (
            {"length": row.length_mm, "width": row.width_mm, "height": row.height_mm}
            if row.length_mm is not None
            else None
        ),
        "unit_cost": _money(row.unit_cost_minor, row.cost_currency),
        "cost_currency": row.cost_currency,
        "hs_code": row.hs_code,
        "country_of_origin": row.country_of_origin,
        "low_stock_threshold": row.low_stock_threshold,
        "is_bundle": row.is_bundle,
        "components": components,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


# -- the operations dashboard ------------------------------------------------------------
# Orders that still need work: not shipped, not cancelled. What "at risk" and "held" look at.
OPEN_WORK = ("pending", "open", "allocated", "backordered")
DASHBOARD_SORTS = {
    "newest": (_o.created_at.desc(), _o.id.desc()),
    "oldest": (_o.created_at.asc(), _o.id.asc()),
    "ship_by": (_o.ship_by.asc(), _o.id.asc()),
    "ship_by_desc": (_o.ship_by.desc(), _o.id.desc()),
}


_HELD = and_(_o.status.concat("").in_(OPEN_WORK), text(t.HELD_ORDER))
"""Has a hold and still needs work. The hold test is the very text of the partial index of
held orders, so the database uses it; the status is tested as an expression so that SQLite,
which keeps no statistics unless told to, does not prefer a status index and read every open
order instead."""


def _orders_with_sku(sku: str) -> tuple[Select[Any], Any]:
    """Orders with a line of `sku`, once each (through the line of that SKU with the lowest
    number), and the order id column to sort them by."""
    ln = t.order_lines.c
    other = t.order_lines.alias("other_line")
    first_of_sku = ~exists().where(
        other.c.order_id == ln.order_id, other.c.sku == ln.sku, other.c.line_no < ln.line_no
    )
    query = (
        select(t.orders)
        .select_from(t.order_lines.join(t.orders, _o.id == ln.order_id))
        .where(ln.sku == sku, first_of_sku)
    )
    return query, ln.order_id


def _prefixes(term: str) -> Any:
    """A channel order id or a buyer name that starts with the term.

    Prefixes as index ranges (not LIKE, not contains), so a search stays an index lookup on a
    million orders; a buyer name is tried as typed and capitalised ("ada" finds "Ada")."""
    return or_(
        *(
            and_(column >= value, column < value + "\uffff")
            for column, value in (
                (_o.channel_order_id, term),
                (_o.buyer_name, term),
                (_o.buyer_name, term.title()),
            )
        )
    )
