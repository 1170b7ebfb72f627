"""Order use cases: create, import from channels, allocate, cancel, hold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ordermesh.domain import commands as c
from ordermesh.domain import events
from ordermesh.domain.catalogue import map_channel_skus
from ordermesh.domain.errors import (
    AlreadyExists,
    DomainError,
    NotFound,
    UnknownSkus,
    ValidationFailed,
)
from ordermesh.domain.fulfilment import OrderPlan, plan_allocation, refuse_if_short
from ordermesh.domain.ids import new_id
from ordermesh.domain.inventory import Movement, MovementKind
from ordermesh.domain.money import Money, is_currency_code
from ordermesh.domain.orders import (
    BEFORE_SHIPMENT,
    Allocation,
    FulfilledBy,
    Order,
    OrderLine,
    OrderStatus,
)
from ordermesh.ports.storage import ConcurrencyConflict, StockKey, UnitOfWork
from ordermesh.services.handlers.stock_sync import note_channel_sales, queue_pushes_for
from ordermesh.services.messagebus import Deps

MANUAL = "manual"
_REPLANS = 5


# -- allocation ----------------------------------------------------------------------------
def allocate(
    uow: UnitOfWork,
    orders: Sequence[Order],
    deps: Deps,
    *,
    actor: str,
    bundles: dict[str, dict[str, int]] | None = None,
    allow_backorder: bool = True,
) -> list[OrderPlan]:
    """Reserve stock for these orders, first come first served, in the caller's transaction.

    Plans from figures read without locks, then applies the plan with guarded updates; if a
    guard fails someone else took the stock, so read again and re-plan."""
    if not orders:
        return []
    if bundles is None:
        line_skus = {line.sku for o in orders for line in o.lines}
        bundles = {sku: parts for sku, parts in uow.catalogue.known(line_skus).items() if parts}
    stocked = {sku for o in orders for (_, sku) in o.demand(bundles)}
    kinds = uow.locations.kinds()
    for _ in range(_REPLANS):
        plan = plan_allocation(orders, uow.stock.available(stocked), kinds, bundles, deps.policy)
        if not allow_backorder:
            for order_plan in plan.orders:
                refuse_if_short(order_plan)
        totals = plan.reserved_by_key()
        if not uow.stock.reserve(totals):
            break
    else:
        raise ConcurrencyConflict("stock kept changing while allocating; try again")
    now = deps.clock.now()
    uow.stock.record(
        [
            Movement(
                r.sku,
                r.location,
                MovementKind.RESERVATION,
                0,
                r.quantity,
                "reserved",
                op.order.channel_order_id,
            )
            for op in plan.orders
            for r in op.reservations
        ],
        actor,
    )
    for op in plan.orders:
        op.order.add_allocations(op.reservations, op.shortfall, actor=actor, at=now)
    if totals:
        uow.publish(events.StockChanged(tuple(sorted(totals)), str(MovementKind.RESERVATION)))
        queue_pushes_for(uow, totals)
    return plan.orders


def _give_back(
    uow: UnitOfWork,
    order: Order,
    allocations: list[Allocation],
    *,
    actor: str,
    shipped: bool = False,
) -> None:
    if not allocations:
        return
    amounts: dict[StockKey, int] = {}
    for a in allocations:
        amounts[(a.sku, a.location)] = amounts.get((a.sku, a.location), 0) + a.quantity
    if shipped:
        uow.stock.ship(amounts)
        kind, on_hand, reason = MovementKind.SHIPMENT, -1, "shipped"
    else:
        uow.stock.release(amounts)
        kind, on_hand, reason = MovementKind.RELEASE, 0, "released"
    uow.stock.record(
        [
            Movement(sku, loc, kind, on_hand * units, -units, reason, order.channel_order_id)
            for (sku, loc), units in sorted(amounts.items())
        ],
        actor,
    )
    uow.publish(events.StockChanged(tuple(sorted(amounts)), str(kind)))
    queue_pushes_for(uow, amounts)


def _pending_demand_changed(uow: UnitOfWork, orders: Sequence[Order]) -> None:
    """Orders that entered or left `pending` (placed, not yet released by the channel): their
    units count against available-to-sell without a reservation, so the listings of their SKUs
    (and of the components of a bundle) are recomputed and queued in this transaction. Runs
    after the orders are written, so the figures read their new status."""
    skus = {line.sku for o in orders if o.fulfilled_by is FulfilledBy.MERCHANT for line in o.lines}
    if not skus:
        return
    parts = uow.catalogue.known(skus)
    stocked = skus | {c for s in skus for c in parts.get(s) or {}}
    queue_pushes_for(uow, [(sku, "") for sku in stocked])


@dataclass
class Allocated:
    order_id: str
    status: str
    short: list[tuple[int, str, int]] = field(default_factory=list)
    """(line, sku, units missing) for a backordered order."""


def _result(plan: OrderPlan) -> Allocated:
    short = [(line_no, sku, missing) for (line_no, sku), missing in sorted(plan.shortfall.items())]
    return Allocated(plan.order.id, str(plan.order.status), short)


# -- manual orders -------------------------------------------------------------------------
def _money(amount: str | None, currency: str, field_name: str) -> Money | None:
    if amount is None or amount == "":
        return None
    try:
        money = Money.of(amount, currency)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field=field_name) from exc
    if money.amount < 0:
        raise ValidationFailed("an amount cannot be negative", field=field_name)
    return money


def _lines(new_lines: Sequence[c.NewLine], currency: str) -> list[OrderLine]:
    lines = []
    for i, new in enumerate(new_lines):
        where = f"lines[{i}]"
        if not isinstance(new.quantity, int) or new.quantity < 1:
            raise ValidationFailed(
                f"line {i + 1}: quantity must be at least 1", field=f"{where}.quantity"
            )
        lines.append(
            OrderLine(
                line_no=i + 1,
                sku=new.sku,
                quantity=new.quantity,
                unit_price=_money(new.unit_price, currency, f"{where}.unit_price"),
                tax=_money(new.tax, currency, f"{where}.tax"),
                discount=_money(new.discount, currency, f"{where}.discount"),
                channel_line_id=new.channel_line_id or str(i + 1),
                channel_sku=new.sku,
            )
        )
    return lines


def create_order(cmd: c.CreateOrder, uow: UnitOfWork, deps: Deps) -> Allocated:
    if not cmd.lines:
        raise ValidationFailed("an order needs at least one line", field="lines")
    if not is_currency_code(cmd.currency):
        raise ValidationFailed(
            f"{cmd.currency!r} is not an ISO 4217 currency code", field="currency"
        )
    lines = _lines(cmd.lines, cmd.currency)
    known = uow.catalogue.known({line.sku for line in lines})
    unknown = sorted({line.sku for line in lines} - set(known))
    if unknown:
        raise UnknownSkus(unknown)
    order_id = new_id("ord")
    channel_order_id = cmd.channel_order_id or f"M-{order_id[-10:]}"
    if cmd.channel_order_id and uow.orders.by_channel_ids(MANUAL, [channel_order_id]):
        raise AlreadyExists(
            f"a manual order {channel_order_id} already exists", field="channel_order_id"
        )
    now = deps.clock.now()
    total = None
    priced = [line for line in lines if line.unit_price is not None]
    if priced:
        total = Money.zero(cmd.currency)
        for line in priced:
            assert line.unit_price is not None
            total = total + line.unit_price * line.quantity
            if line.tax:
                total = total + line.tax
            if line.discount:
                total = total - line.discount
    order = Order(
        id=order_id,
        channel=MANUAL,
        channel_account=MANUAL,
        channel_order_id=channel_order_id,
        status=OrderStatus.OPEN,
        purchase_date=now,
        lines=lines,
        currency=cmd.currency,
        marketplace=cmd.marketplace,
        ship_by=cmd.ship_by,
        is_prime=cmd.is_prime,
        is_business=cmd.is_business,
        buyer_name=cmd.buyer_name or (cmd.shipping_address.name if cmd.shipping_address else None),
        buyer_email=cmd.buyer_email,
        shipping_address=cmd.shipping_address,
        total=total,
        tags=list(cmd.tags),
        channel_updated_at=now,
    )
    order.record_placed(actor=cmd.actor, reason="created by hand", at=now)
    bundles = {sku: parts for sku, parts in known.items() if parts}
    [plan] = allocate(
        uow, [order], deps, actor=cmd.actor, bundles=bundles, allow_backorder=cmd.allow_backorder
    )
    uow.orders.add([order])
    uow.commit()
    return _result(plan)


# -- channel imports -----------------------------------------------------------------------
_STATE_ON_ARRIVAL = {
    c.ChannelState.PENDING: OrderStatus.PENDING,
    c.ChannelState.RELEASED: OrderStatus.OPEN,
    c.ChannelState.CANCELLED: OrderStatus.CANCELLED,
    c.ChannelState.SHIPPED: OrderStatus.SHIPPED,
    c.ChannelState.PARTIALLY_SHIPPED: OrderStatus.PARTIALLY_SHIPPED,
    c.ChannelState.DELIVERED: OrderStatus.DELIVERED,
}


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    """Snapshots older than (or as old as) what we already have."""
    duplicates: int = 0
    """Payloads we had already received (same source and key)."""
    held: int = 0
    rejected: dict[str, str] = field(default_factory=dict)
    """channel order id → why the snapshot was refused (kept in the inbox with that reason)."""
    order_ids: dict[str, str] = field(default_factory=dict)
    """channel order id → our order id, for every order the batch touched."""

    def __iadd__(self, other: ImportResult) -> ImportResult:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.duplicates += other.duplicates
        self.held += other.held
        self.rejected.update(other.rejected)
        self.order_ids.update(other.order_ids)
        return self


def import_order(cmd: c.ImportOrder, uow: UnitOfWork, deps: Deps) -> ImportResult:
    return import_orders(c.ImportOrders((cmd,)), uow, deps)


def _new_from_channel(snapshot: c.ChannelOrder, sku_map: dict[str, str], now: datetime) -> Order:
    unknown = [ch.channel_sku for ch in snapshot.lines if ch.channel_sku not in sku_map]
    lines = _channel_lines(snapshot, sku_map)
    order = Order(
        id=new_id("ord"),
        channel=snapshot.channel,
        channel_account=snapshot.channel_account,
        channel_order_id=snapshot.channel_order_id,
        status=_STATE_ON_ARRIVAL[snapshot.state],
        purchase_date=snapshot.purchase_date,
        lines=lines,
        currency=snapshot.currency,
        channel_updated_at=snapshot.updated_at,
    )
    _copy_details(order, snapshot)
    order.record_placed(actor=snapshot.channel, reason=f"imported as {order.status}", at=now)
    if unknown and order.status in BEFORE_SHIPMENT:
        order.hold(
            "unknown_sku",
            reason=f"no product or listing for channel SKU(s) {', '.join(sorted(set(unknown)))}",
            actor="ordermesh",
            at=now,
        )
    if snapshot.buyer_cancel_reason is not None:
        order.note_buyer_cancel_request(snapshot.buyer_cancel_reason, at=now)
    return order


def _channel_lines(snapshot: c.ChannelOrder, sku_map: Mapping[str, str]) -> list[OrderLine]:
    """The snapshot's lines as order lines (a channel SKU we do not know stands for itself)."""
    return [
        OrderLine(
            line_no=i + 1,
            sku=sku_map.get(ch.channel_sku) or ch.channel_sku,
            quantity=ch.quantity,
            unit_price=_money(ch.unit_price, snapshot.currency, f"lines[{i}].unit_price"),
            tax=_money(ch.tax, snapshot.currency, f"lines[{i}].tax"),
            discount=_money(ch.discount, snapshot.currency, f"lines[{i}].discount"),
            channel_line_id=ch.channel_line_id,
            channel_sku=ch.channel_sku,
        )
        for i, ch in enumerate(snapshot.lines)
    ]


def _copy_details(order: Order, snapshot: c.ChannelOrder) -> None:
    """Fields a channel may fill in later (Amazon shows the address once payment clears)."""
    order.marketplace = snapshot.marketplace or order.marketplace
    order.ship_by = snapshot.ship_by or order.ship_by
    order.deliver_by = snapshot.deliver_by or order.deliver_by
    order.is_prime = snapshot.is_prime
    order.is_business = snapshot.is_business
    order.fulfilled_by = snapshot.fulfilled_by
    order.service_level = snapshot.service_level or order.service_level
    order.buyer_name = snapshot.buyer_name or order.buyer_name
    order.buyer_email = snapshot.buyer_email or order.buyer_email
    order.shipping_address = snapshot.shipping_address or order.shipping_address
    if snapshot.total is not None:
        order.total = _money(snapshot.total, snapshot.currency, "total")


def _follow_channel(uow: UnitOfWork, order: Order, snapshot: c.ChannelOrder, now: datetime) -> bool:
    """Apply what the channel says happened. Returns True if the order should be allocated."""
    actor, state = snapshot.channel, snapshot.state
    if state == c.ChannelState.RELEASED and order.status is OrderStatus.PENDING:
        order.release(actor=actor, at=now)
        return True
    if state == c.ChannelState.CANCELLED and order.status in BEFORE_SHIPMENT | {
        OrderStatus.PARTIALLY_SHIPPED
    }:
        released = order.cancel(actor=actor, reason="cancelled on the channel", at=now)
        _give_back(uow, order, released, actor=actor)
        return False
    if state in (
        c.ChannelState.SHIPPED,
        c.ChannelState.DELIVERED,
    ) and order.status in BEFORE_SHIPMENT | {OrderStatus.PARTIALLY_SHIPPED}:
        if order.status is OrderStatus.ALLOCATED or order.status is OrderStatus.PARTIALLY_SHIPPED:
            shipped = order.ship_all(actor=actor, reason="shipped, as the channel reports", at=now)
            _give_back(uow, order, shipped, actor=actor, shipped=True)
        else:
            # Shipped without us (e.g. by hand before ordermesh saw it): give back what we hold
            # and follow the channel, recording that it was the channel's word.
            released = order.deallocate(actor=actor, reason="shipped outside ordermesh", at=now)
            _give_back(uow, order, released, actor=actor)
            order.follow(
                OrderStatus.SHIPPED, actor=actor, reason="shipped outside ordermesh", at=now
            )
    if state == c.ChannelState.DELIVERED and order.status is OrderStatus.SHIPPED:
        order.transition(
            OrderStatus.DELIVERED, actor=actor, reason="delivered, as the channel reports", at=now
        )
    return False


def import_orders(cmd: c.ImportOrders, uow: UnitOfWork, deps: Deps) -> ImportResult:
    """Store every payload in the inbox, then upsert orders by (account, channel order id).

    A payload seen before is a no-op; a snapshot older than the one applied is ignored; a new
    order is allocated in the same transaction unless it is pending or held."""
    result = ImportResult()
    now = deps.clock.now()
    unique: dict[tuple[str, str], c.ImportOrder] = {}
    for item in cmd.orders:
        if item.order.state not in c.ChannelState.ALL:
            raise ValidationFailed(f"unknown channel state {item.order.state!r}", field="state")
        unique.setdefault((item.source, item.key), item)
    result.duplicates = len(cmd.orders) - len(unique)
    seen_before = uow.inbox.store([(i.source, i.key, i.payload) for i in unique.values()], now)
    result.duplicates += len(seen_before)
    # The latest snapshot of each order wins; earlier ones in the same batch are superseded.
    latest: dict[tuple[str, str], c.ChannelOrder] = {}
    keys_of: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for key, item in unique.items():
        if key in seen_before:
            continue
        o = item.order
        ident = (o.channel_account, o.channel_order_id)
        keys_of.setdefault(ident, []).append(key)
        if ident not in latest or o.updated_at >= latest[ident].updated_at:
            latest[ident] = o
    refused: dict[tuple[str, str], str] = {}
    by_account: dict[str, list[c.ChannelOrder]] = {}
    for snapshot in latest.values():
        by_account.setdefault(snapshot.channel_account, []).append(snapshot)

    new_orders: list[Order] = []
    changed: list[Order] = []
    to_allocate: list[Order] = []
    pending_moved: list[Order] = []
    for account, snapshots in by_account.items():
        existing = uow.orders.by_channel_ids(account, [s.channel_order_id for s in snapshots])
        channel_skus = {line.channel_sku for s in snapshots for line in s.lines}
        listings = uow.catalogue.listings(account, channel_skus)
        known = uow.catalogue.known(channel_skus | set(listings.values()))
        sku_map, _ = map_channel_skus(channel_skus, listings, known)
        for snapshot in sorted(snapshots, key=lambda s: (s.purchase_date, s.channel_order_id)):
            order = existing.get(snapshot.channel_order_id)
            # A same-second change carries the same timestamp: it is applied (its inbox key,
            # which fingerprints the content, differs); only a strictly older one is stale.
            if (
                order is not None
                and order.channel_updated_at is not None
                and snapshot.updated_at < order.channel_updated_at
            ):
                result.unchanged += 1
                continue
            try:
                if order is None:
                    order = _new_from_channel(snapshot, sku_map, now)
                    new_orders.append(order)
                    result.created += 1
                    if order.status is OrderStatus.PENDING:
                        pending_moved.append(order)
                    if order.can_allocate:
                        to_allocate.append(order)
                    elif order.holds:
                        result.held += 1
                else:
                    was_pending = order.status is OrderStatus.PENDING
                    _apply_update(uow, order, snapshot, now, to_allocate)
                    changed.append(order)
                    if was_pending != (order.status is OrderStatus.PENDING):
                        pending_moved.append(order)
                    result.updated += 1
            except DomainError as refusal:
                # One snapshot we cannot accept must not keep the rest of the batch out.
                refused[(account, snapshot.channel_order_id)] = refusal.message
                result.rejected[snapshot.channel_order_id] = refusal.message
                continue
            result.order_ids[snapshot.channel_order_id] = order.id
    note_channel_sales(uow, new_orders)
    allocate(
        uow, sorted(to_allocate, key=lambda o: (o.purchase_date, o.id)), deps, actor="ordermesh"
    )
    uow.orders.add(new_orders)
    uow.orders.save(changed)
    # A released order's reservation (made above) replaces its pending demand: recomputed
    # now that its new status is written, the two net out.
    _pending_demand_changed(uow, pending_moved)
    refused_keys = {k for ident in refused for k in keys_of[ident]}
    for ident, reason in refused.items():
        uow.inbox.mark_processed(keys_of[ident], now, error=reason)
    uow.inbox.mark_processed(
        [k for k in unique if k not in seen_before and k not in refused_keys], now
    )
    uow.commit()
    return result


def _apply_update(
    uow: UnitOfWork, order: Order, snapshot: c.ChannelOrder, now: datetime, to_allocate: list[Order]
) -> None:
    """Bring a known order up to the channel's newer snapshot. What can refuse is checked
    before anything changes, so a refused snapshot leaves the order as it was."""
    if snapshot.currency != order.currency:
        raise ValidationFailed(
            f"the channel now says {snapshot.currency}; the order was placed in {order.currency}",
            field="currency",
        )
    if snapshot.total is not None:
        _money(snapshot.total, snapshot.currency, "total")
    given = _channel_lines(snapshot, {})
    _copy_details(order, snapshot)
    # An order first imported from a summary (no prices) gets them from the full snapshot.
    order.complete_lines(given)
    order.channel_updated_at = snapshot.updated_at
    if snapshot.buyer_cancel_reason is not None:
        order.note_buyer_cancel_request(snapshot.buyer_cancel_reason, at=now)
    if _follow_channel(uow, order, snapshot, now) and order.can_allocate:
        to_allocate.append(order)


# -- commands on one order -----------------------------------------------------------------
def _get(uow: UnitOfWork, order_id: str) -> Order:
    order = uow.orders.get(order_id)
    if order is None:
        raise NotFound(f"no order {order_id}", field="order_id")
    return order


def allocate_order(cmd: c.AllocateOrder, uow: UnitOfWork, deps: Deps) -> Allocated:
    order = _get(uow, cmd.order_id)
    if cmd.only_if_ready and not order.can_allocate:
        return Allocated(order.id, str(order.status))
    if order.holds:
        kinds = ", ".join(h.kind for h in order.holds)
        raise ValidationFailed(
            f"order {order.channel_order_id} is on hold ({kinds}); release it first", field="holds"
        )
    if order.status not in (OrderStatus.OPEN, OrderStatus.BACKORDERED):
        raise ValidationFailed(
            f"order {order.channel_order_id} is {order.status}; only open or backordered orders are allocated",
            field="status",
        )
    [plan] = allocate(uow, [order], deps, actor=cmd.actor, allow_backorder=cmd.allow_backorder)
    uow.orders.save([order])
    uow.commit()
    return _result(plan)


def allocate_backorders(cmd: c.AllocateBackorders, uow: UnitOfWork, deps: Deps) -> list[Allocated]:
    waiting = [o for o in uow.orders.backordered(cmd.skus, limit=500) if not o.holds]
    plans = allocate(uow, waiting, deps, actor=cmd.actor)
    progressed = [p for p in plans if p.reservations]
    uow.orders.save([p.order for p in progressed])
    uow.commit()
    return [_result(p) for p in progressed]


def cancel_order(cmd: c.CancelOrder, uow: UnitOfWork, deps: Deps) -> Allocated:
    order = _get(uow, cmd.order_id)
    was_pending = order.status is OrderStatus.PENDING
    released = order.cancel(actor=cmd.actor, reason=cmd.reason, at=deps.clock.now())
    _give_back(uow, order, released, actor=cmd.actor)
    uow.orders.save([order])
    if was_pending:
        _pending_demand_changed(uow, [order])
    uow.commit()
    return Allocated(order.id, str(order.status))


def hold_order(cmd: c.HoldOrder, uow: UnitOfWork, deps: Deps) -> Allocated:
    if not cmd.reason.strip():
        raise ValidationFailed("a hold needs a reason", field="reason")
    order = _get(uow, cmd.order_id)
    order.hold(cmd.kind, reason=cmd.reason, actor=cmd.actor, at=deps.clock.now())
    uow.orders.save([order])
    uow.commit()
    return Allocated(order.id, str(order.status))


def release_hold(cmd: c.ReleaseHold, uow: UnitOfWork, deps: Deps) -> Allocated:
    order = _get(uow, cmd.order_id)
    order.release_hold(actor=cmd.actor, at=deps.clock.now(), kind=cmd.kind, reason=cmd.reason)
    uow.orders.save([order])
    uow.commit()
    return Allocated(order.id, str(order.status))


def allocate_when_hold_released(event: events.HoldReleased, deps: Deps) -> list[c.Command]:
    return [c.AllocateOrder(event.order_id, actor="ordermesh", only_if_ready=True)]
