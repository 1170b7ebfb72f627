"""Allocation: deciding which location's stock fills each order line.

The planner is pure: it takes the demand and the figures read from storage, and says what to
reserve where. Storage then applies the plan with guarded updates; a guard that fails means
someone else took the stock, and the caller plans again with fresh figures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ordermesh.domain.errors import InsufficientStock, ShortLine
from ordermesh.domain.inventory import LocationKind
from ordermesh.domain.orders import Allocation, FulfilledBy, Order

StockKey = tuple[str, str]
"""(sku, location code)"""


class AllocationPolicy(Protocol):
    """Chooses locations for one demand. Routing rules will plug in here."""

    def choose(
        self, sku: str, quantity: int, available: Mapping[str, int]
    ) -> list[tuple[str, int]]:
        """Given units available per location (only eligible ones, all > 0), return
        (location, units) to reserve. May return fewer units than asked: the rest is short."""
        ...


class MostStockFirst:
    """The location that can fill the whole line with the most stock; else split across
    locations from the fullest down; whatever is left is backordered."""

    def choose(
        self, sku: str, quantity: int, available: Mapping[str, int]
    ) -> list[tuple[str, int]]:
        # Ties go to the location code first in order, so a plan is reproducible.
        ranked = sorted(available.items(), key=lambda item: (-item[1], item[0]))
        if ranked and ranked[0][1] >= quantity:
            return [(ranked[0][0], quantity)]
        picks: list[tuple[str, int]] = []
        remaining = quantity
        for location, units in ranked:
            if remaining == 0:
                break
            take = min(units, remaining)
            picks.append((location, take))
            remaining -= take
        return picks


def eligible_kinds(fulfilled_by: FulfilledBy) -> frozenset[LocationKind]:
    """Merchant orders ship from the seller's own stock; marketplace orders from the network's."""
    if fulfilled_by is FulfilledBy.MARKETPLACE:
        return frozenset({LocationKind.MARKETPLACE})
    return frozenset({LocationKind.WAREHOUSE, LocationKind.THREE_PL})


@dataclass(slots=True)
class OrderPlan:
    order: Order
    reservations: list[Allocation] = field(default_factory=list)
    shortfall: dict[tuple[int, str], int] = field(default_factory=dict)

    def short_lines(
        self, available: Mapping[tuple[int, str], int] | None = None
    ) -> list[ShortLine]:
        lines = []
        for (line_no, sku), missing in sorted(self.shortfall.items()):
            requested = missing + sum(
                r.quantity for r in self.reservations if r.line_no == line_no and r.sku == sku
            )
            lines.append(ShortLine(line_no, sku, requested, requested - missing))
        return lines


@dataclass(slots=True)
class AllocationPlan:
    orders: list[OrderPlan]

    def reserved_by_key(self) -> dict[StockKey, int]:
        """Total units to reserve per (sku, location), for one guarded update per key."""
        totals: dict[StockKey, int] = {}
        for order_plan in self.orders:
            for r in order_plan.reservations:
                totals[(r.sku, r.location)] = totals.get((r.sku, r.location), 0) + r.quantity
        return totals


def plan_allocation(
    orders: Iterable[Order],
    available: Mapping[StockKey, int],
    location_kinds: Mapping[str, LocationKind],
    bundles: Mapping[str, Mapping[str, int]],
    policy: AllocationPolicy | None = None,
) -> AllocationPlan:
    """Plan reservations for orders in the given sequence (first come, first served).

    `available` is on_hand − reserved per (sku, location) as just read; it is not modified."""
    policy = policy or MostStockFirst()
    left = dict(available)
    by_sku: dict[str, dict[str, int]] = {}
    for (sku, location), units in left.items():
        by_sku.setdefault(sku, {})[location] = units
    plans = []
    for order in orders:
        plan = OrderPlan(order)
        kinds = eligible_kinds(order.fulfilled_by)
        for (line_no, sku), quantity in sorted(order.demand(bundles).items()):
            candidates = {
                loc: units
                for loc, units in by_sku.get(sku, {}).items()
                if units > 0 and location_kinds.get(loc) in kinds
            }
            taken = 0
            for location, units in policy.choose(sku, quantity, candidates):
                if units <= 0 or units > candidates.get(location, 0):
                    raise ValueError(f"allocation policy chose {units} of {sku} at {location}")
                plan.reservations.append(Allocation(line_no, sku, location, units))
                by_sku[sku][location] -= units
                taken += units
            if taken < quantity:
                plan.shortfall[(line_no, sku)] = quantity - taken
        plans.append(plan)
    return AllocationPlan(plans)


def refuse_if_short(plan: OrderPlan) -> None:
    """For callers that want all or nothing: one error naming every short line."""
    if plan.shortfall:
        raise InsufficientStock(plan.short_lines())
