"""Order use cases through the message bus, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ordermesh.domain import commands as c
from ordermesh.domain.errors import IllegalTransition, InsufficientStock, NotFound, UnknownSkus
from ordermesh.domain.orders import FulfilledBy
from tests.builders.catalogue import BERLIN, a_bundle, a_location, a_product, an_order, stock

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def amazon_order(
    order_id: str = "302-0000001-0000001",
    state: str = c.ChannelState.RELEASED,
    *,
    at: datetime = T0,
    lines: tuple[tuple[str, int], ...] = (("AMZ-MUG", 1),),
    buyer_cancel: str | None = None,
    fulfilled_by: FulfilledBy = FulfilledBy.MERCHANT,
) -> c.ImportOrder:
    snapshot = c.ChannelOrder(
        channel="amazon",
        channel_account="amazon-eu",
        channel_order_id=order_id,
        state=state,
        updated_at=at,
        purchase_date=T0,
        lines=tuple(
            c.ChannelLine(f"{order_id}-{i}", sku, q, "12.50") for i, (sku, q) in enumerate(lines)
        ),
        currency="EUR",
        marketplace="A1PA6795UKMFR9",
        ship_by=T0 + timedelta(days=2),
        is_prime=True,
        shipping_address=BERLIN,
        buyer_cancel_reason=buyer_cancel,
        fulfilled_by=fulfilled_by,
    )
    return c.ImportOrder(
        snapshot, source="amazon-eu", key=f"{order_id}@{at.isoformat()}", payload="{}"
    )


@pytest.fixture
def shop(om):
    a_location(om, "WH1")
    a_location(om, "FBA-EU", kind="marketplace")
    a_product(om, "MUG-1")
    om.handle(c.UpsertListing("amazon-eu", "AMZ-MUG", "MUG-1", asin="B000000001"))
    stock(om, "MUG-1", 5)
    return om


def _status(om, order_id: str) -> str:
    return om.queries.get_order(order_id)["status"]


def test_an_order_resent_by_the_channel_is_imported_once(shop):
    first = shop.handle(amazon_order())
    again = shop.handle(amazon_order())
    assert (first.created, again.created, again.duplicates) == (1, 0, 1)
    assert shop.queries.count_orders_by_status() == {"allocated": 1}
    [line] = shop.queries.get_order(first.order_ids["302-0000001-0000001"])["lines"]
    assert (line["sku"], line["channel_sku"]) == ("MUG-1", "AMZ-MUG")


def test_a_pending_order_is_imported_but_not_allocated_until_the_channel_releases_it(shop):
    created = shop.handle(amazon_order(state=c.ChannelState.PENDING))
    order_id = created.order_ids["302-0000001-0000001"]
    assert _status(shop, order_id) == "pending"
    assert shop.queries.stock_levels(sku="MUG-1").items[0]["reserved"] == 0

    shop.handle(amazon_order(at=T0 + timedelta(minutes=5)))
    assert _status(shop, order_id) == "allocated"
    assert shop.queries.stock_levels(sku="MUG-1").items[0]["reserved"] == 1


def test_an_older_snapshot_arriving_late_does_not_undo_a_newer_one(shop):
    created = shop.handle(
        amazon_order(at=T0 + timedelta(minutes=10), state=c.ChannelState.CANCELLED)
    )
    late = shop.handle(amazon_order(at=T0, state=c.ChannelState.RELEASED))
    assert late.unchanged == 1
    assert _status(shop, created.order_ids["302-0000001-0000001"]) == "cancelled"


def test_a_cancellation_on_the_channel_releases_the_stock(shop):
    created = shop.handle(amazon_order())
    shop.handle(amazon_order(at=T0 + timedelta(minutes=3), state=c.ChannelState.CANCELLED))
    order = shop.queries.get_order(created.order_ids["302-0000001-0000001"])
    assert order["status"] == "cancelled"
    assert order["history"][-1]["reason"] == "cancelled on the channel"
    [level] = shop.queries.stock_levels(sku="MUG-1").items
    assert (level["on_hand"], level["reserved"]) == (5, 0)
    assert shop.queries.ledger_totals("MUG-1", "WH1") == (5, 0)


def test_a_buyers_cancellation_request_is_surfaced_for_a_human(shop):
    created = shop.handle(amazon_order(buyer_cancel="ordered by mistake"))
    order = shop.queries.get_order(created.order_ids["302-0000001-0000001"])
    assert order["buyer_cancel_requested"] == "ordered by mistake"
    assert order["status"] == "allocated"


def test_an_order_for_an_unknown_channel_sku_is_held_not_allocated(shop):
    created = shop.handle(amazon_order(lines=(("NEVER-SEEN", 1),)))
    order = shop.queries.get_order(created.order_ids["302-0000001-0000001"])
    assert order["status"] == "open"
    assert order["holds"][0]["kind"] == "unknown_sku"
    assert "NEVER-SEEN" in order["holds"][0]["reason"]


def test_an_fba_order_takes_stock_from_the_fba_location_and_ships_it_from_there(shop):
    stock(shop, "MUG-1", 20, "FBA-EU")
    created = shop.handle(amazon_order(fulfilled_by=FulfilledBy.MARKETPLACE))
    order_id = created.order_ids["302-0000001-0000001"]
    assert shop.queries.get_order(order_id)["allocations"][0]["location"] == "FBA-EU"
    shop.handle(
        amazon_order(
            at=T0 + timedelta(hours=5),
            state=c.ChannelState.SHIPPED,
            fulfilled_by=FulfilledBy.MARKETPLACE,
        )
    )
    assert _status(shop, order_id) == "shipped"
    fba = shop.queries.stock_levels(sku="MUG-1", location="FBA-EU").items[0]
    assert (fba["on_hand"], fba["reserved"]) == (19, 0)


def test_a_batch_import_is_all_or_nothing_per_batch_and_counts_each_outcome(shop):
    batch = c.ImportOrders(
        (
            amazon_order("A-1"),
            amazon_order("A-2", state=c.ChannelState.PENDING),
            amazon_order("A-1"),  # the same payload twice in one batch
            amazon_order("A-3", lines=(("NOPE", 1),)),
        )
    )
    result = shop.handle(batch)
    assert (result.created, result.duplicates, result.held) == (3, 1, 1)


def test_a_manual_order_for_an_unknown_sku_is_refused_naming_it(shop):
    with pytest.raises(UnknownSkus, match="GHOST-1"):
        an_order(shop, ("MUG-1", 1), ("GHOST-1", 2))


def test_an_all_or_nothing_order_that_cannot_be_filled_reserves_nothing(shop):
    a_product(shop, "BAG-1")
    with pytest.raises(InsufficientStock) as refused:
        an_order(shop, ("MUG-1", 9), ("BAG-1", 1), allow_backorder=False)
    assert [(s.sku, s.missing) for s in refused.value.lines] == [("MUG-1", 4), ("BAG-1", 1)]
    assert shop.queries.stock_levels(sku="MUG-1").items[0]["reserved"] == 0
    assert shop.queries.count_orders_by_status() == {}


def test_a_backordered_bundle_is_allocated_when_its_missing_component_arrives(shop):
    a_product(shop, "COASTER")
    a_bundle(shop, "GIFT-SET", {"MUG-1": 1, "COASTER": 4})
    stock(shop, "COASTER", 2)
    result = an_order(shop, ("GIFT-SET", 1))
    assert result.status == "backordered"
    assert result.short == [(1, "COASTER", 2)]

    stock(shop, "COASTER", 10)
    order = shop.queries.get_order(result.order_id)
    assert order["status"] == "allocated"
    assert sorted((a["sku"], a["quantity"]) for a in order["allocations"]) == [
        ("COASTER", 2),
        ("COASTER", 2),
        ("MUG-1", 1),
    ]


def test_holding_and_releasing_is_recorded_and_release_allocates_a_waiting_order(shop):
    result = an_order(shop, ("MUG-1", 1))
    shop.handle(c.HoldOrder(result.order_id, "address looks wrong", kind="address", actor="sam"))
    shop.handle(c.ReleaseHold(result.order_id, actor="sam"))
    history = shop.queries.get_order(result.order_id)["history"]
    assert [(h["action"], h["actor"]) for h in history][-2:] == [
        ("hold", "sam"),
        ("release_hold", "sam"),
    ]


def test_cancelling_a_cancelled_order_says_why_not(shop):
    result = an_order(shop, ("MUG-1", 1))
    shop.handle(c.CancelOrder(result.order_id, "buyer asked"))
    with pytest.raises(IllegalTransition, match="it is already cancelled"):
        shop.handle(c.CancelOrder(result.order_id, "again"))
    with pytest.raises(NotFound):
        shop.handle(c.CancelOrder("ord_nope"))


def test_one_snapshot_the_core_refuses_does_not_keep_the_rest_of_the_batch_out(shop):
    good = amazon_order("A-1")
    bad = amazon_order("A-2")
    bad = c.ImportOrder(
        c.ChannelOrder(
            **{
                **{f: getattr(bad.order, f) for f in bad.order.__dataclass_fields__},
                "total": "-5.00",
            }
        ),
        source=bad.source,
        key=bad.key,
        payload='{"orderId": "A-2"}',
    )
    result = shop.handle(c.ImportOrders((good, bad)))
    assert result.created == 1
    assert "negative" in result.rejected["A-2"]
    with shop.db.reader.connect() as conn:
        from sqlalchemy import select

        from ordermesh.adapters.db import tables as t

        rows = dict(conn.execute(select(t.inbox.c.key, t.inbox.c.error)).all())
    assert rows[good.key] is None
    assert "negative" in rows[bad.key]


def test_two_changes_within_the_same_second_are_both_applied(shop):
    created = shop.handle(amazon_order(state=c.ChannelState.PENDING))
    order_id = created.order_ids["302-0000001-0000001"]
    same_second = amazon_order(state=c.ChannelState.RELEASED)
    same_second = c.ImportOrder(same_second.order, "amazon-eu", key=f"{same_second.key}#released")
    shop.handle(same_second)
    assert _status(shop, order_id) == "allocated"


def test_an_order_first_known_from_a_summary_gets_its_prices_from_the_full_order(shop):
    full = amazon_order(at=T0 + timedelta(minutes=2))
    summary = c.ImportOrder(
        replace(
            full.order,
            updated_at=T0,
            # What an ORDER_CHANGE notification's summary holds: item id, SKU and quantity.
            lines=(c.ChannelLine("302-0000001-0000001-0", "AMZ-MUG", 1),),
            shipping_address=None,
        ),
        source="amazon-eu",
        key="302-0000001-0000001@summary",
        payload="{}",
    )
    created = shop.handle(summary)
    order_id = created.order_ids["302-0000001-0000001"]
    [line] = shop.queries.get_order(order_id)["lines"]
    assert line["unit_price"] is None

    shop.handle(full)

    order = shop.queries.get_order(order_id)
    [line] = order["lines"]
    assert (line["unit_price"], line["channel_line_id"]) == ("12.50", "302-0000001-0000001-0")
    assert (line["sku"], line["quantity"]) == ("MUG-1", 1)
    assert order["shipping_address"]["city"] == BERLIN.city
    assert order["status"] == "allocated"
