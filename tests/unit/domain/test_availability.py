"""Available-to-sell: what each channel listing shows, and why."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordermesh.domain.availability import (
    BufferOverride,
    HybridPolicy,
    InFlightDemand,
    Level,
    Listing,
    Rule,
    StockPolicy,
    available_to_sell,
    is_urgent,
)
from ordermesh.domain.errors import ValidationFailed
from ordermesh.domain.inventory import LocationKind

KINDS = {
    "WH1": LocationKind.WAREHOUSE,
    "3PL": LocationKind.THREE_PL,
    "FBA-DE": LocationKind.MARKETPLACE,
}
SHOP = "shopify"
AMAZON = "amazon-de"


def levels(*rows: tuple[str, str, int, int]) -> dict[str, list[Level]]:
    found: dict[str, list[Level]] = {}
    for sku, location, on_hand, reserved in rows:
        found.setdefault(sku, []).append(Level(sku, location, KINDS[location], on_hand, reserved))
    return found


def figures(listings, stock, policies=(), overrides=None, bundles=None):
    return available_to_sell(
        listings,
        policies={p.channel_account: p for p in policies},
        overrides=overrides or {},
        kinds=KINDS,
        levels=stock,
        bundles=bundles or {},
    )


def test_a_listing_offers_free_stock_of_the_warehouse_and_the_3pl_but_not_fba():
    stock = levels(("MUG", "WH1", 10, 3), ("MUG", "3PL", 4, 0), ("MUG", "FBA-DE", 50, 0))
    [e] = figures([Listing(SHOP, "mug", "MUG")], stock).values()
    assert e.quantity == 11
    assert [(f.location, f.on_hand, f.reserved, f.available) for f in e.locations] == [
        ("3PL", 4, 0, 4),
        ("WH1", 10, 3, 7),
    ]
    assert e.rules == ()


def test_an_account_served_by_one_location_sees_only_that_location():
    stock = levels(("MUG", "WH1", 10, 0), ("MUG", "3PL", 4, 0))
    policy = StockPolicy(SHOP, locations=("3PL",))
    [e] = figures([Listing(SHOP, "mug", "MUG")], stock, [policy]).values()
    assert (e.quantity, [f.location for f in e.locations]) == (4, ["3PL"])


def test_a_buffer_holds_back_units_and_a_rounded_up_share_then_the_cap_applies():
    stock = levels(("MUG", "WH1", 100, 0))
    policy = StockPolicy(SHOP, buffer_units=2, buffer_percent=Decimal("2.5"), max_quantity=50)
    [e] = figures([Listing(SHOP, "mug", "MUG")], stock, [policy]).values()
    # 100 free − 2 units − ceil(2.5 % of 100) = 95, capped at 50
    assert (e.free, e.buffer, e.quantity) == (100, 5, 50)
    assert e.rules == (Rule.BUFFER, Rule.CAP)
    assert e.notes == ("5 of 100 held back as a buffer (account)", "capped at 50 (of 95)")


def test_a_skus_own_buffer_replaces_the_accounts():
    stock = levels(("MUG", "WH1", 10, 0))
    policy = StockPolicy(SHOP, buffer_units=5)
    [e] = figures(
        [Listing(SHOP, "mug", "MUG")], stock, [policy], {(SHOP, "MUG"): BufferOverride(units=1)}
    ).values()
    assert (e.quantity, e.buffer_source) == (9, "sku")


def test_a_buffer_larger_than_the_stock_shows_zero_not_a_negative():
    stock = levels(("MUG", "WH1", 3, 1))
    [e] = figures(
        [Listing(SHOP, "mug", "MUG")], stock, [StockPolicy(SHOP, buffer_units=5)]
    ).values()
    assert e.quantity == 0


def test_a_bundle_offers_as_many_kits_as_its_scarcest_component_allows():
    stock = levels(("MUG", "WH1", 10, 0), ("SPOON", "WH1", 7, 1), ("SPOON", "3PL", 1, 0))
    bundles = {"GIFT": {"MUG": 1, "SPOON": 2}}
    [e] = figures([Listing(SHOP, "gift", "GIFT")], stock, bundles=bundles).values()
    assert e.quantity == 3  # 7 spoons free → 3 kits; mugs would allow 10
    assert [(p.sku, p.per_kit, p.available, p.kits) for p in e.components] == [
        ("MUG", 1, 10, 10),
        ("SPOON", 2, 7, 3),
    ]


def test_the_last_units_go_to_the_channel_ranked_first_and_the_others_show_zero():
    stock = levels(("MUG", "WH1", 3, 1))
    policies = [
        StockPolicy(AMAZON, last_units_threshold=2, rank=1),
        StockPolicy(SHOP, last_units_threshold=2, rank=2),
    ]
    listings = [Listing(SHOP, "mug", "MUG"), Listing(AMAZON, "MUG-DE", "MUG")]
    result = figures(listings, stock, policies)
    assert result[(AMAZON, "MUG-DE")].quantity == 2
    assert result[(SHOP, "mug")].quantity == 0
    assert result[(SHOP, "mug")].rules == (Rule.LAST_UNITS_WITHHELD,)
    assert "kept for amazon-de" in result[(SHOP, "mug")].notes[0]


def test_above_the_last_units_threshold_every_channel_offers_its_figure():
    stock = levels(("MUG", "WH1", 3, 0))
    policies = [StockPolicy(AMAZON, last_units_threshold=2, rank=1), StockPolicy(SHOP, rank=2)]
    listings = [Listing(SHOP, "mug", "MUG"), Listing(AMAZON, "MUG-DE", "MUG")]
    assert [e.quantity for e in figures(listings, stock, policies).values()] == [3, 3]


def test_the_merchant_offer_stands_in_while_fba_is_out_of_stock():
    listings = [Listing(AMAZON, "MUG-FBA", "MUG", "marketplace"), Listing(AMAZON, "MUG", "MUG")]
    out = figures(listings, levels(("MUG", "WH1", 5, 0), ("MUG", "FBA-DE", 0, 0)))
    assert out[(AMAZON, "MUG")].quantity == 5
    assert out[(AMAZON, "MUG")].rules == (Rule.HYBRID_OFFERED,)
    assert not out[(AMAZON, "MUG-FBA")].pushed

    back = figures(listings, levels(("MUG", "WH1", 5, 0), ("MUG", "FBA-DE", 20, 0)))
    assert back[(AMAZON, "MUG")].quantity == 0
    assert back[(AMAZON, "MUG")].rules == (Rule.HYBRID_WITHDRAWN,)

    kept = figures(
        listings,
        levels(("MUG", "WH1", 5, 0), ("MUG", "FBA-DE", 20, 0)),
        [StockPolicy(AMAZON, hybrid=HybridPolicy.KEEP)],
    )
    assert kept[(AMAZON, "MUG")].quantity == 5


def test_fba_stock_on_amazon_does_not_withdraw_the_shopify_offer():
    listings = [Listing(AMAZON, "MUG-FBA", "MUG", "marketplace"), Listing(SHOP, "mug", "MUG")]
    out = figures(listings, levels(("MUG", "WH1", 5, 0), ("MUG", "FBA-DE", 20, 0)))
    assert out[(SHOP, "mug")].quantity == 5


def test_a_policy_refuses_nonsense():
    with pytest.raises(ValidationFailed) as err:
        StockPolicy(SHOP, buffer_percent=Decimal(120))
    assert err.value.field == "buffer_percent"


@pytest.mark.parametrize(
    ("shown", "new", "urgent"),
    [(40, 41, False), (40, 39, False), (3, 0, True), (None, 0, True), (8, 5, True), (0, 0, False)],
)
def test_a_push_is_urgent_when_the_listing_falls_to_zero_or_to_its_low_stock_threshold(
    shown, new, urgent
):
    assert is_urgent(shown, new, low_stock_threshold=5) is urgent


@pytest.mark.parametrize(
    ("shown", "ours", "new", "urgent"),
    [(0, 15, 3, True), (0, 2, 3, False), (3, 15, 3, False), (0, 40, 39, False), (2, 8, 6, False)],
)
def test_our_own_figure_falling_low_is_urgent_even_where_the_channel_shows_less(
    shown, ours, new, urgent
):
    assert is_urgent(shown, new, low_stock_threshold=5, ours=ours) is urgent


# -- properties -----------------------------------------------------------------------------
ACCOUNTS = ("amazon-de", "shopify", "ebay")
stock_rows = st.lists(
    st.tuples(
        st.sampled_from(("MUG", "SPOON")),
        st.sampled_from(tuple(KINDS)),
        st.integers(0, 30),
        st.integers(0, 30),
    ),
    max_size=6,
    unique_by=lambda r: (r[0], r[1]),
).map(lambda rows: [(s, loc, max(a, b), min(a, b)) for s, loc, a, b in rows])
policies_st = st.lists(
    st.builds(
        StockPolicy,
        channel_account=st.sampled_from(ACCOUNTS),
        locations=st.none() | st.lists(st.sampled_from(tuple(KINDS)), unique=True).map(tuple),
        buffer_units=st.integers(0, 5),
        buffer_percent=st.decimals(0, 100, places=1),
        max_quantity=st.none() | st.integers(0, 40),
        last_units_threshold=st.integers(0, 6),
        rank=st.integers(1, 3),
        hybrid=st.sampled_from(HybridPolicy),
    ),
    unique_by=lambda p: p.channel_account,
    max_size=3,
)
listings_st = st.lists(
    st.builds(
        Listing,
        channel_account=st.sampled_from(ACCOUNTS),
        channel_sku=st.sampled_from(("a", "b")),
        sku=st.sampled_from(("MUG", "GIFT")),
        fulfilled_by=st.sampled_from(("merchant", "merchant", "marketplace")),
    ),
    unique_by=lambda lst: lst.key,
    min_size=1,
    max_size=5,
)
BUNDLES = {"GIFT": {"MUG": 1, "SPOON": 2}}
# Few units and one SKU listed on several channels: where the last-units rule has work to do.
scarce_rows = st.lists(
    st.tuples(st.just("MUG"), st.sampled_from(tuple(KINDS)), st.integers(0, 4), st.just(0)),
    max_size=3,
    unique_by=lambda r: r[1],
)
scarce_listings_st = st.lists(
    st.builds(
        Listing,
        channel_account=st.sampled_from(ACCOUNTS),
        channel_sku=st.sampled_from(("a", "b")),
        sku=st.just("MUG"),
    ),
    unique_by=lambda lst: lst.key,
    min_size=2,
    max_size=4,
)
scarce_policies_st = st.tuples(
    *(
        st.builds(
            StockPolicy,
            channel_account=st.just(account),
            locations=st.none() | st.just(("WH1",)),
            buffer_units=st.integers(0, 1),
            last_units_threshold=st.integers(0, 6),
            rank=st.integers(1, 3),
        )
        for account in ACCOUNTS
    )
).map(list)


def _free(rows, sku) -> int:
    if sku in BUNDLES:
        return min(_free(rows, c) // n for c, n in BUNDLES[sku].items())
    return sum(on_hand - reserved for s, _, on_hand, reserved in rows if s == sku)


def _free_outside_fba(rows, sku) -> int:
    return _free([r for r in rows if KINDS[r[1]] is not LocationKind.MARKETPLACE], sku)


@settings(max_examples=150, deadline=None)
@given(listings_st, stock_rows, policies_st)
def test_no_listing_ever_shows_a_negative_or_more_than_the_free_stock(listings, rows, policies):
    for e in figures(listings, levels(*rows), policies, bundles=BUNDLES).values():
        assert 0 <= e.quantity <= _free(rows, e.sku)


@settings(max_examples=150, deadline=None)
@given(scarce_listings_st, scarce_rows, scarce_policies_st)
def test_with_the_last_units_rule_channels_together_never_offer_more_than_is_free(
    listings, rows, policies
):
    out = figures(listings, levels(*rows), policies, bundles=BUNDLES)
    by_account = {p.channel_account: p for p in policies}
    for sku in {lst.sku for lst in listings}:
        pushed = [e for e in out.values() if e.sku == sku and e.pushed]
        threshold = max(
            (
                by_account[e.channel_account].last_units_threshold
                for e in pushed
                if e.channel_account in by_account
            ),
            default=0,
        )
        free = _free(rows, sku)
        if free <= threshold:
            assert sum(e.quantity for e in pushed) <= free


@settings(max_examples=150, deadline=None)
@given(
    listings_st.map(lambda ls: [lst for lst in ls if lst.pushed] or [Listing(SHOP, "a", "MUG")]),
    stock_rows,
    policies_st.map(lambda ps: [replace(p, last_units_threshold=0) for p in ps]),
    st.sampled_from(("MUG", "SPOON")),
    st.sampled_from(("WH1", "3PL")),
    st.integers(1, 10),
)
def test_more_stock_never_lowers_a_figure(listings, rows, policies, sku, location, more):
    # Without the rules that move units between channels (last units, FBA hybrid), a
    # receipt can only raise what a listing shows.
    before = figures(listings, levels(*rows), policies, bundles=BUNDLES)
    grown = [r for r in rows if (r[0], r[1]) != (sku, location)]
    old = next((r for r in rows if (r[0], r[1]) == (sku, location)), (sku, location, 0, 0))
    grown.append((sku, location, old[2] + more, old[3]))
    after = figures(listings, levels(*grown), policies, bundles=BUNDLES)
    for key, e in before.items():
        assert after[key].quantity >= e.quantity


HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("sold", "lag_minutes", "margin"),
    [
        (0, 30, 0),  # nothing sells: nothing held back
        (1, 5, 0),  # one a hour over 5 min lag: 0.08 units expected, none held
        (12, 5, 1),  # one every 5 min over 5 min: one unit probably sold already
        (60, 4, 4),  # a flash sale: one a minute over a 4-minute lag
        (6, 5, 1),  # 0.5 rounds up
    ],
)
def test_the_in_flight_margin_is_the_sales_rate_times_the_import_lag(sold, lag_minutes, margin):
    assert InFlightDemand(sold, HOUR, timedelta(minutes=lag_minutes)).margin == margin


def test_the_margin_comes_off_the_figure_and_the_explanation_says_why():
    stock = levels(("MUG", "WH1", 10, 0))
    demand = {(AMAZON, "mug-de"): InFlightDemand(60, HOUR, timedelta(minutes=4))}
    listings = [Listing(AMAZON, "mug-de", "MUG"), Listing(SHOP, "mug", "MUG")]
    shown = available_to_sell(
        listings, policies={}, overrides={}, kinds=KINDS, levels=stock, bundles={}, demand=demand
    )
    amazon = shown[(AMAZON, "mug-de")]
    assert (amazon.quantity, amazon.margin, amazon.rules) == (6, 4, (Rule.IN_FLIGHT_MARGIN,))
    assert "4 held back" in amazon.notes[0]
    assert shown[(SHOP, "mug")].quantity == 10


def test_a_margin_larger_than_the_figure_shows_zero_not_a_negative():
    stock = levels(("MUG", "WH1", 2, 0))
    demand = {(AMAZON, "mug-de"): InFlightDemand(60, HOUR, timedelta(minutes=10))}
    [shown] = available_to_sell(
        [Listing(AMAZON, "mug-de", "MUG")],
        policies={},
        overrides={},
        kinds=KINDS,
        levels=stock,
        bundles={},
        demand=demand,
    ).values()
    assert (shown.quantity, shown.margin) == (0, 2)
