"""Pending orders (taken by the channel, not released, nothing reserved) count against
available-to-sell on every channel."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ordermesh.domain.availability import (
    Level,
    Listing,
    Rule,
    StockPolicy,
    available_to_sell,
)
from ordermesh.domain.inventory import LocationKind

KINDS = {"WH1": LocationKind.WAREHOUSE, "FBA": LocationKind.MARKETPLACE}
SHOP, AMAZON = "shopify", "amazon"


def stock(**free: int) -> dict[str, list[Level]]:
    return {
        sku: [Level(sku, "WH1", LocationKind.WAREHOUSE, units, 0)] for sku, units in free.items()
    }


def figures(listings, levels, pending=None, policies=(), bundles=None):
    return available_to_sell(
        listings,
        policies={p.channel_account: p for p in policies},
        overrides={},
        kinds=KINDS,
        levels=levels,
        bundles=bundles or {},
        pending=pending,
    )


def test_pending_units_come_off_every_channels_figure_and_are_explained():
    listings = [Listing(SHOP, "mug", "MUG"), Listing(AMAZON, "MUG-1", "MUG")]
    shown = figures(listings, stock(MUG=5), {"MUG": 2})
    for e in shown.values():
        assert (e.free, e.pending_orders, e.quantity) == (5, 2, 3)
        assert Rule.PENDING_ORDERS in e.rules
        assert "pending orders: 2" in e.notes


def test_without_pending_orders_nothing_changes():
    [before] = figures([Listing(SHOP, "mug", "MUG")], stock(MUG=5)).values()
    [after] = figures([Listing(SHOP, "mug", "MUG")], stock(MUG=5), {"OTHER": 3}).values()
    assert before == after
    assert (after.quantity, after.pending_orders, after.rules) == (5, 0, ())


def test_more_pending_than_free_shows_zero_not_a_negative():
    [e] = figures([Listing(SHOP, "mug", "MUG")], stock(MUG=2), {"MUG": 5}).values()
    assert (e.quantity, e.pending_orders) == (0, 2)


def test_a_pending_bundle_takes_its_components_from_the_listings_of_the_parts():
    bundles = {"SET": {"MUG": 2, "TEE": 1}}
    listings = [
        Listing(SHOP, "mug", "MUG"),
        Listing(SHOP, "tee", "TEE"),
        Listing(SHOP, "set", "SET"),
    ]
    # One pending SET is 2 MUG + 1 TEE, exploded by the reader into component units.
    shown = figures(listings, stock(MUG=6, TEE=5), {"MUG": 2, "TEE": 1}, bundles=bundles)
    assert shown[(SHOP, "mug")].quantity == 4
    assert shown[(SHOP, "tee")].quantity == 4
    kits = shown[(SHOP, "set")]
    # 3 kits free before, 2 after (4 MUG left): one kit's worth taken.
    assert (kits.free, kits.pending_orders, kits.quantity) == (3, 1, 2)


def test_the_buffer_applies_to_what_the_pending_orders_leave():
    policy = StockPolicy(SHOP, buffer_units=1, buffer_percent=Decimal(10))
    [e] = figures([Listing(SHOP, "mug", "MUG")], stock(MUG=20), {"MUG": 10}, [policy]).values()
    # 20 free − 10 pending = 10; buffer 1 + ceil(10 % of 10) = 2
    assert (e.pending_orders, e.buffer, e.quantity) == (10, 2, 8)
    assert e.notes == ("pending orders: 10", "2 of 10 held back as a buffer (account)")


def test_the_last_units_rule_counts_what_pending_orders_leave():
    policies = [
        StockPolicy(SHOP, last_units_threshold=2, rank=1),
        StockPolicy(AMAZON, last_units_threshold=2, rank=2),
    ]
    listings = [Listing(SHOP, "mug", "MUG"), Listing(AMAZON, "MUG-1", "MUG")]
    shown = figures(listings, stock(MUG=5), {"MUG": 3}, policies)
    assert shown[(SHOP, "mug")].quantity == 2
    assert shown[(AMAZON, "MUG-1")].quantity == 0
    assert Rule.LAST_UNITS_WITHHELD in shown[(AMAZON, "MUG-1")].rules


def test_a_marketplace_fulfilled_listing_is_untouched():
    levels = {"MUG": [Level("MUG", "FBA", LocationKind.MARKETPLACE, 7, 0)]}
    [e] = figures([Listing(AMAZON, "MUG-F", "MUG", "marketplace")], levels, {"MUG": 3}).values()
    assert (e.quantity, e.pending_orders, e.pushed) == (7, 0, False)


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
def test_a_released_order_nets_out_its_reservation_replaces_its_pending_demand(
    free: int, reserved_before: int, units: int
):
    """Pending, the order's units are pending demand; released and allocated, the same units
    are a reservation: the figure is the same either way."""
    on_hand = free + reserved_before + units
    as_pending = {"MUG": [Level("MUG", "WH1", LocationKind.WAREHOUSE, on_hand, reserved_before)]}
    as_reserved = {
        "MUG": [Level("MUG", "WH1", LocationKind.WAREHOUSE, on_hand, reserved_before + units)]
    }
    listing = [Listing(SHOP, "mug", "MUG")]
    [pending] = figures(listing, as_pending, {"MUG": units}).values()
    [allocated] = figures(listing, as_reserved).values()
    assert pending.quantity == allocated.quantity == free
