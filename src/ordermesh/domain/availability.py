"""Available-to-sell: the figure each channel listing shows, and why.

One stock figure per SKU and location; each channel account sees the free units
(on hand − reserved) of the locations allowed to serve it, less a safety buffer, capped, and
reshaped by two rules: "last units" (scarce stock is offered on the best-ranked channel only,
so two channels cannot both sell the last unit) and the FBA/merchant hybrid (the merchant
offer stands in while Amazon's network is out of stock). Every figure carries its explanation,
which is what the API and CLI show a seller who asks "why does Amazon say 3?"."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from ordermesh.domain.catalogue import bundle_available
from ordermesh.domain.errors import ValidationFailed
from ordermesh.domain.inventory import LocationKind

DEFAULT_LOW_STOCK = 5
"""Low-stock threshold assumed for a listing whose product is unknown (a product's default)."""
MARKETPLACE_FULFILLED = "marketplace"
"""`ChannelListing.fulfilled_by` of an offer the marketplace ships from its own stock (FBA/AFN)."""


class HybridPolicy(enum.StrEnum):
    WITHDRAW = "withdraw"
    """While the marketplace's network holds stock, the merchant offer shows 0."""
    KEEP = "keep"
    """The merchant offer stays up beside the FBA offer."""


class Rule(enum.StrEnum):
    """What shaped a figure besides plain arithmetic, in the order they apply."""

    BUFFER = "buffer"
    CAP = "cap"
    NOT_PUSHED = "not_pushed"
    """A marketplace-fulfilled (AFN) listing: the marketplace owns that figure."""
    HYBRID_WITHDRAWN = "hybrid_withdrawn"
    HYBRID_OFFERED = "hybrid_offered"
    HYBRID_KEPT = "hybrid_kept"
    LAST_UNITS_OFFERED = "last_units_offered"
    LAST_UNITS_WITHHELD = "last_units_withheld"
    IN_FLIGHT_MARGIN = "in_flight_margin"
    """Units held back for orders the channel has taken and ordermesh has not imported yet."""
    PENDING_ORDERS = "pending_orders"
    """Units taken by orders imported but not released yet (Amazon Pending): the channel has
    counted them, ordermesh has reserved nothing for them."""


@dataclass(frozen=True, slots=True)
class StockPolicy:
    """How one channel account turns stock into a listed quantity."""

    channel_account: str
    locations: tuple[str, ...] | None = None
    """Locations that may serve this account; None means every warehouse and 3PL."""
    buffer_units: int = 0
    buffer_percent: Decimal = Decimal(0)
    """Held back as a share of the free units, rounded up (a buffer never rounds to nothing)."""
    max_quantity: int | None = None
    last_units_threshold: int = 0
    """When a SKU's free units fall to this or below, only the best-ranked listing offers them."""
    rank: int = 100
    """Lower ranks first for the last units."""
    hybrid: HybridPolicy = HybridPolicy.WITHDRAW
    fba_locations: tuple[str, ...] | None = None
    """Where this account's marketplace-fulfilled stock lies; None means every marketplace
    location."""

    def __post_init__(self) -> None:
        if self.buffer_units < 0:
            raise ValidationFailed("a buffer cannot be negative", field="buffer_units")
        if not Decimal(0) <= self.buffer_percent <= Decimal(100):
            raise ValidationFailed("a buffer percentage is 0 to 100", field="buffer_percent")
        if self.max_quantity is not None and self.max_quantity < 0:
            raise ValidationFailed("a maximum quantity cannot be negative", field="max_quantity")
        if self.last_units_threshold < 0:
            raise ValidationFailed(
                "a last-units threshold cannot be negative", field="last_units_threshold"
            )


@dataclass(frozen=True, slots=True)
class BufferOverride:
    """A SKU's own buffer on one account, replacing the account's."""

    units: int = 0
    percent: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.units < 0:
            raise ValidationFailed("a buffer cannot be negative", field="buffer_units")
        if not Decimal(0) <= self.percent <= Decimal(100):
            raise ValidationFailed("a buffer percentage is 0 to 100", field="buffer_percent")


@dataclass(frozen=True, slots=True)
class Level:
    """On-hand and reserved units of a SKU at a location of some kind."""

    sku: str
    location: str
    kind: LocationKind
    on_hand: int
    reserved: int

    @property
    def free(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True, slots=True)
class Listing:
    channel_account: str
    channel_sku: str
    sku: str
    fulfilled_by: str = "merchant"

    @property
    def key(self) -> tuple[str, str]:
        return (self.channel_account, self.channel_sku)

    @property
    def pushed(self) -> bool:
        return self.fulfilled_by != MARKETPLACE_FULFILLED


@dataclass(frozen=True, slots=True)
class LocationFigure:
    sku: str
    location: str
    on_hand: int
    reserved: int
    available: int


@dataclass(frozen=True, slots=True)
class ComponentFigure:
    sku: str
    per_kit: int
    available: int
    kits: int


@dataclass(frozen=True, slots=True)
class Explanation:
    """A listing's figure and everything that went into it."""

    channel_account: str
    channel_sku: str
    sku: str
    quantity: int
    pushed: bool
    free: int
    """Free units (kits, for a bundle) at the serving locations."""
    locations: tuple[LocationFigure, ...]
    components: tuple[ComponentFigure, ...] = ()
    buffer: int = 0
    """Units held back."""
    buffer_units: int = 0
    buffer_percent: Decimal = Decimal(0)
    buffer_source: str = "account"
    """"account", or "sku" when the SKU's own buffer replaced the account's."""
    max_quantity: int | None = None
    rules: tuple[Rule, ...] = ()
    notes: tuple[str, ...] = field(default=())
    """Sentences for a person, one per rule that fired."""
    margin: int = 0
    """Units held back for orders the channel has probably taken but not yet sent us."""
    demand: InFlightDemand | None = None
    """What the margin was estimated from."""
    pending_orders: int = 0
    """Units (kits, for a bundle) of `free` taken by pending orders, which hold no reservation
    until the channel releases them."""


@dataclass(frozen=True, slots=True)
class InFlightDemand:
    """Orders a channel has taken that ordermesh has not imported yet, estimated for one
    listing: its recent sales rate times how far the account's import lags behind.

    An absolute quantity set on a channel that offers no compare-and-set (Amazon) overwrites
    the decrements the channel made for those orders, so they would be sold a second time:
    the margin is held back from the pushed figure instead."""

    units_sold: int
    """Units of the listing sold on the channel within `window` of imported time."""
    window: timedelta
    import_lag: timedelta
    """From the last imported moment (the account's cursor) to the time the pushed figure is
    expected to stand, including the wait for the next import."""

    @property
    def margin(self) -> int:
        """The expected number of unimported units, rounded half up: a listing that sells one
        unit a day does not lose its last unit to a lag of minutes, one that sells one a minute
        over a four-minute lag holds four back."""
        if self.units_sold <= 0 or self.window <= timedelta(0) or self.import_lag <= timedelta(0):
            return 0
        expected = (
            Decimal(self.units_sold)
            * Decimal(self.import_lag.total_seconds())
            / Decimal(self.window.total_seconds())
        )
        return int(expected.to_integral_value(rounding=ROUND_HALF_UP))


def serving_locations(policy: StockPolicy, kinds: Mapping[str, LocationKind]) -> tuple[str, ...]:
    if policy.locations is not None:
        return policy.locations
    return tuple(sorted(c for c, k in kinds.items() if k is not LocationKind.MARKETPLACE))


def fba_locations(policy: StockPolicy, kinds: Mapping[str, LocationKind]) -> tuple[str, ...]:
    if policy.fba_locations is not None:
        return policy.fba_locations
    return tuple(sorted(c for c, k in kinds.items() if k is LocationKind.MARKETPLACE))


def _free_at(
    sku: str,
    places: Iterable[str],
    levels: Mapping[str, Sequence[Level]],
    bundles: Mapping[str, Mapping[str, int]],
    pending: Mapping[str, int] | None = None,
) -> tuple[int, tuple[LocationFigure, ...], tuple[ComponentFigure, ...]]:
    """Free units of a SKU (kits of a bundle: the scarcest component decides) at some places,
    less the `pending` units of each stocked SKU (orders that hold no reservation yet)."""
    wanted = set(places)
    components = bundles.get(sku)
    stocked = sorted(components) if components else [sku]
    figures = tuple(
        LocationFigure(lv.sku, lv.location, lv.on_hand, lv.reserved, max(lv.free, 0))
        for s in stocked
        for lv in sorted(levels.get(s, ()), key=lambda lv: lv.location)
        if lv.location in wanted
    )
    by_sku: dict[str, int] = {}
    for f in figures:
        by_sku[f.sku] = by_sku.get(f.sku, 0) + f.available
    for s in stocked:
        taken = (pending or {}).get(s, 0)
        if taken > 0:
            by_sku[s] = max(by_sku.get(s, 0) - taken, 0)
    if not components:
        return by_sku.get(sku, 0), figures, ()
    kits = bundle_available(components, by_sku)
    parts = tuple(
        ComponentFigure(c, per, by_sku.get(c, 0), by_sku.get(c, 0) // per)
        for c, per in sorted(components.items())
    )
    return kits, figures, parts


def _base(
    listing: Listing,
    policy: StockPolicy,
    override: BufferOverride | None,
    kinds: Mapping[str, LocationKind],
    levels: Mapping[str, Sequence[Level]],
    bundles: Mapping[str, Mapping[str, int]],
    pending: Mapping[str, int],
) -> Explanation:
    if not listing.pushed:
        free, figures, parts = _free_at(listing.sku, fba_locations(policy, kinds), levels, bundles)
        return Explanation(
            listing.channel_account,
            listing.channel_sku,
            listing.sku,
            quantity=free,
            pushed=False,
            free=free,
            locations=figures,
            components=parts,
            rules=(Rule.NOT_PUSHED,),
            notes=("fulfilled by the marketplace from its own stock; ordermesh does not push it",),
        )
    places = serving_locations(policy, kinds)
    free, figures, parts = _free_at(listing.sku, places, levels, bundles)
    taken = 0
    rules: list[Rule] = []
    notes: list[str] = []
    if any(pending.values()):
        unreserved, _, _ = _free_at(listing.sku, places, levels, bundles, pending)
        taken = max(free, 0) - unreserved
    if taken > 0:
        rules.append(Rule.PENDING_ORDERS)
        notes.append(f"pending orders: {taken}")
    left = free - taken
    units, percent, source = policy.buffer_units, policy.buffer_percent, "account"
    if override is not None:
        units, percent, source = override.units, override.percent, "sku"
    buffer = units + math.ceil(Decimal(max(left, 0)) * percent / Decimal(100))
    quantity = max(left - buffer, 0)
    if buffer and left > 0:
        rules.append(Rule.BUFFER)
        notes.append(f"{min(buffer, left)} of {left} held back as a buffer ({source})")
    if policy.max_quantity is not None and quantity > policy.max_quantity:
        rules.append(Rule.CAP)
        notes.append(f"capped at {policy.max_quantity} (of {quantity})")
        quantity = policy.max_quantity
    return Explanation(
        listing.channel_account,
        listing.channel_sku,
        listing.sku,
        quantity=quantity,
        pushed=True,
        free=free,
        locations=figures,
        components=parts,
        buffer=buffer,
        buffer_units=units,
        buffer_percent=percent,
        buffer_source=source,
        max_quantity=policy.max_quantity,
        rules=tuple(rules),
        notes=tuple(notes),
        pending_orders=taken,
    )


def _with(e: Explanation, quantity: int, rule: Rule, note: str) -> Explanation:
    return replace(e, quantity=quantity, rules=(*e.rules, rule), notes=(*e.notes, note))


def available_to_sell(
    listings: Sequence[Listing],
    *,
    policies: Mapping[str, StockPolicy],
    overrides: Mapping[tuple[str, str], BufferOverride],
    kinds: Mapping[str, LocationKind],
    levels: Mapping[str, Sequence[Level]],
    bundles: Mapping[str, Mapping[str, int]],
    demand: Mapping[tuple[str, str], InFlightDemand] | None = None,
    pending: Mapping[str, int] | None = None,
) -> dict[tuple[str, str], Explanation]:
    """The figure of each listing, keyed by (channel account, channel SKU).

    `policies` by channel account (an account without one gets the defaults); `overrides` by
    (channel account, SKU); `levels` by stocked SKU; `bundles` maps a bundle SKU to its
    components; `demand` by listing, for channels whose pushes are absolute; `pending` by
    stocked SKU (bundles exploded): units of orders the channel has taken but not released,
    which no reservation covers yet. Listings of the same SKU are decided together: the rules
    share units among them.
    """
    unreserved = pending or {}

    def policy_of(listing: Listing) -> StockPolicy:
        return policies.get(listing.channel_account) or StockPolicy(listing.channel_account)

    by_sku: dict[str, list[Listing]] = {}
    for listing in listings:
        by_sku.setdefault(listing.sku, []).append(listing)
    result: dict[tuple[str, str], Explanation] = {}
    for sku, group in by_sku.items():
        figures = {
            lst.key: _base(
                lst,
                policy_of(lst),
                overrides.get((lst.channel_account, sku)),
                kinds,
                levels,
                bundles,
                unreserved,
            )
            for lst in group
        }
        _hybrid(group, figures, policy_of, kinds, levels, bundles)
        _last_units(sku, group, figures, policy_of, kinds, levels, bundles, unreserved)
        for key, e in figures.items():
            d = (demand or {}).get(key)
            if d is not None and e.pushed:
                figures[key] = _in_flight(e, d)
        result.update(figures)
    return result


def _in_flight(e: Explanation, demand: InFlightDemand) -> Explanation:
    """Last, so that the margin comes off the figure the channel would otherwise show."""
    margin = min(demand.margin, e.quantity)
    e = replace(e, demand=demand)
    if margin <= 0:
        return e
    minutes = demand.import_lag.total_seconds() / 60
    window = demand.window.total_seconds() / 3600
    return replace(
        _with(
            e,
            e.quantity - margin,
            Rule.IN_FLIGHT_MARGIN,
            f"{margin} held back for orders the channel may have taken in the last "
            f"{minutes:.1f} min and not yet sent ({demand.units_sold} sold in the last "
            f"{window:g} h of imported orders)",
        ),
        margin=margin,
    )


def _hybrid(
    group: Sequence[Listing],
    figures: dict[tuple[str, str], Explanation],
    policy_of: Callable[[Listing], StockPolicy],
    kinds: Mapping[str, LocationKind],
    levels: Mapping[str, Sequence[Level]],
    bundles: Mapping[str, Mapping[str, int]],
) -> None:
    """A merchant offer beside an FBA offer of the same SKU on the same account stands in
    while the marketplace's network is out of stock."""
    fba_accounts = {lst.channel_account for lst in group if not lst.pushed}
    for listing in group:
        if not listing.pushed or listing.channel_account not in fba_accounts:
            continue
        policy = policy_of(listing)
        fba, _, _ = _free_at(listing.sku, fba_locations(policy, kinds), levels, bundles)
        e = figures[listing.key]
        if fba <= 0:
            figures[listing.key] = _with(
                e, e.quantity, Rule.HYBRID_OFFERED, "the FBA offer is out of stock: offered here"
            )
        elif policy.hybrid is HybridPolicy.WITHDRAW:
            figures[listing.key] = _with(
                e, 0, Rule.HYBRID_WITHDRAWN, f"withdrawn while FBA holds {fba}"
            )
        else:
            figures[listing.key] = _with(
                e, e.quantity, Rule.HYBRID_KEPT, f"kept beside the FBA offer ({fba} at FBA)"
            )


def _last_units(
    sku: str,
    group: Sequence[Listing],
    figures: dict[tuple[str, str], Explanation],
    policy_of: Callable[[Listing], StockPolicy],
    kinds: Mapping[str, LocationKind],
    levels: Mapping[str, Sequence[Level]],
    bundles: Mapping[str, Mapping[str, int]],
    pending: Mapping[str, int],
) -> None:
    """With N or fewer free units left, one listing offers them and the others show 0: two
    channels selling the same last unit is exactly the oversell this exists to stop."""
    pushed = [lst for lst in group if lst.pushed]
    threshold = max((policy_of(lst).last_units_threshold for lst in pushed), default=0)
    if threshold <= 0 or len(pushed) < 2:
        return
    places: set[str] = set()
    for lst in pushed:
        places.update(serving_locations(policy_of(lst), kinds))
    total, _, _ = _free_at(sku, places, levels, bundles, pending)
    if total > threshold:
        return
    offering = [lst for lst in pushed if figures[lst.key].quantity > 0]
    if not offering:
        return
    first = min(offering, key=lambda lst: (policy_of(lst).rank, lst.channel_account, lst.key))
    for lst in offering:
        e = figures[lst.key]
        if lst is first:
            figures[lst.key] = _with(
                e,
                e.quantity,
                Rule.LAST_UNITS_OFFERED,
                f"last {total} units (threshold {threshold}): offered on this channel only",
            )
        else:
            figures[lst.key] = _with(
                e,
                0,
                Rule.LAST_UNITS_WITHHELD,
                f"last {total} units (threshold {threshold}): kept for "
                f"{first.channel_account}, ranked first",
            )


def is_urgent(
    shown: int | None, new: int, low_stock_threshold: int, ours: int | None = None
) -> bool:
    """A push that stops an oversell goes first: a listing falling to 0 or to its low-stock
    threshold or below. A rise, or a fall that leaves plenty (40 → 39), can wait its turn.

    `ours` is ordermesh's own previous figure, for a listing whose newer figure has not gone
    out yet. Its fall to the threshold is urgent too where the channel shows even less (0 → 15
    → 3, the 15 still waiting): the listing is selling down, and a low figure is where a
    buyer turned away costs a sale. Left to the bulk feed, such a 3 waited up to 88 s in the
    latency benchmark."""
    if new <= 0:
        return shown is None or shown > 0
    falling = shown is None or new < shown or (ours is not None and new < ours and new != shown)
    return falling and new <= low_stock_threshold
