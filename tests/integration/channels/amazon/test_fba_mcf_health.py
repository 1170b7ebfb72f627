"""FBA stock into the ledger, multi-channel fulfilment, and the account health report, over
HTTP against the Amazon sandbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from ordermesh.adapters.channels.amazon.inbound import AmazonInbound
from ordermesh.adapters.db import tables as t
from ordermesh.domain import commands as c
from ordermesh.domain.catalogue import Product
from ordermesh.domain.inventory import Location, LocationKind
from ordermesh.ports.marketplace import (
    CreateOutcome,
    FulfilmentAddress,
    FulfilmentItem,
    FulfilmentRefused,
    FulfilmentRequest,
    MetricStatus,
)
from tests.integration.channels.amazon.conftest import US, AmazonSandbox, Seller
from tests.integration.channels.amazon.test_backfill_and_rate import inbound

FBA = "FBA-US"


def amazon_side(seller: Seller) -> AmazonInbound:
    return seller.channels.inbound(seller.account)


def catalogue_with_fba_listings(seller: Seller, skus: list[str]) -> None:
    om = seller.om
    om.handle(c.CreateLocation(Location(FBA, "Amazon FBA US", LocationKind.MARKETPLACE)))
    om.handle(c.UpsertProducts(tuple(Product(sku=f"OUR-{s}", title=s) for s in skus)))
    for sku in skus:
        om.handle(c.UpsertListing(seller.account.id, sku, f"OUR-{sku}", fulfilled_by="marketplace"))


def level(seller: Seller, sku: str) -> tuple[int, int]:
    s = t.stock_levels.c
    with seller.om.db.reader.connect() as conn:
        row = conn.execute(
            select(s.on_hand, s.reserved).where(s.sku == sku, s.location == FBA)
        ).first()
    return (row.on_hand, row.reserved) if row else (0, 0)


def test_fba_fulfillable_becomes_on_hand_through_the_ledger(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    many = [{"sku": f"FBA-{n:03d}", "fbaQuantity": 5 + n % 7} for n in range(60)]
    amazon.admin("POST", "/listings", json={"listings": many})
    catalogue_with_fba_listings(seller, ["SKU-0001", "FBA-007"])
    stock = inbound(seller).network_stock
    before = amazon.stats()["requests"].get("getInventorySummaries", 0)

    first = stock.pull(seller.account.id)

    assert first.status == "synced", first.error
    assert first.location == FBA
    assert first.marketplace == US
    assert first.skus == 72, "twelve listings of the sandbox and sixty more, over two pages"
    assert amazon.stats()["requests"]["getInventorySummaries"] - before == 2
    assert level(seller, "OUR-SKU-0001") == (30, 0)
    assert level(seller, "OUR-FBA-007") == (5, 0)
    assert first.counted == 2
    assert len(first.unmapped) == 70

    # An FBA order: Amazon moves the units from fulfillable to reserved, ordermesh reserves
    # its own copy at the FBA location when the order comes in.
    amazon.place_orders(
        1,
        fulfillmentChannel="AFN",
        items=[{"sku": "SKU-0001", "quantity": 3}],
        cancelWhilePending=False,
        buyerCancel=False,
    )
    amazon.settle()
    seller.sync()
    assert level(seller, "OUR-SKU-0001") == (30, 3)

    second = stock.pull(seller.account.id)

    assert level(seller, "OUR-SKU-0001") == (30, 3), "available stays Amazon's fulfillable, 27"
    assert second.counted == 0
    m = t.stock_movements.c
    with seller.om.db.reader.connect() as conn:
        moves = conn.execute(
            select(m.kind, m.on_hand_delta, m.reason).where(m.sku == "OUR-SKU-0001")
        ).all()
        kept = conn.execute(
            select(t.marketplace_stock).where(t.marketplace_stock.c.channel_sku == "SKU-0001")
        ).one()
    assert [(mv.kind, mv.on_hand_delta) for mv in moves if mv.kind == "count"] == [("count", 30)]
    assert "30 fulfillable" in moves[0].reason
    assert (kept.fulfillable, kept.reserved, kept.reserved_for_orders) == (27, 3, 3)

    amazon.admin("POST", "/listings", json={"listings": [{"sku": "SKU-0001", "fbaQuantity": 4}]})
    third = stock.pull(seller.account.id)
    assert third.counted == 1
    assert level(seller, "OUR-SKU-0001") == (7, 3), "4 fulfillable + 3 held for the order"


def test_without_an_fba_location_the_pull_says_what_to_do(seller: Seller) -> None:
    report = inbound(seller).network_stock.pull(seller.account.id)

    assert report.status == "failed"
    assert "location of kind marketplace" in (report.error or "")


ADDRESS = FulfilmentAddress(
    name="Dana Buyer",
    line1="1 Shop Street",
    postal_code="98109",
    country="US",
    city="Seattle",
    state="WA",
)


def request(order_id: str, quantity: int = 2, **extra: Any) -> FulfilmentRequest:
    return FulfilmentRequest(
        fulfilment_order_id=order_id,
        displayable_order_id=order_id,
        order_date=datetime(2026, 11, 2, 11, 0, tzinfo=UTC),
        comment="Thank you for your order",
        speed="Standard",
        address=ADDRESS,
        items=(FulfilmentItem("SKU-0002", "1", quantity),),
        marketplace_id=US,
        **extra,
    )


@pytest.mark.parametrize(
    ("duplicates", "answer"),
    [
        ("same_order", CreateOutcome.CREATED),  # Amazon answers the retry 200 again
        ("already_exists", CreateOutcome.ALREADY_CREATED),  # or refuses the known id
    ],
)
def test_a_fulfilment_order_sent_twice_is_created_once(
    seller: Seller, amazon: AmazonSandbox, duplicates: str, answer: CreateOutcome
) -> None:
    amazon.sandbox.config.mcf_duplicate_create = duplicates
    mcf = amazon_side(seller)
    before = amazon.sandbox.state.listings["SKU-0002"].fba_fulfillable

    first = mcf.create_fulfilment_order(request("MCF-1"))
    retry = mcf.create_fulfilment_order(request("MCF-1"))

    assert (first, retry) == (CreateOutcome.CREATED, answer)
    assert list(amazon.sandbox.mcf.orders) == ["MCF-1"]
    assert amazon.sandbox.state.listings["SKU-0002"].fba_fulfillable == before - 2
    with pytest.raises(FulfilmentRefused):
        mcf.create_fulfilment_order(request("MCF-1", quantity=1))


def test_preview_then_an_order_that_ships_and_is_tracked(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    mcf = amazon_side(seller)

    options = mcf.fulfilment_preview(ADDRESS, [FulfilmentItem("SKU-0002", "1", 1)])
    too_many = mcf.fulfilment_preview(ADDRESS, [FulfilmentItem("SKU-0002", "1", 200)])

    assert [o.speed for o in options] == ["Standard", "Expedited", "Priority"]
    assert all(o.fulfillable and o.earliest_arrival for o in options)
    assert "FBAPerUnitFulfillmentFee" in options[0].fees
    assert not too_many[0].fulfillable
    assert too_many[0].unfulfillable_skus == ("SKU-0002",)

    mcf.create_fulfilment_order(request("MCF-2"))
    seen = [mcf.fulfilment_order("MCF-2").status]
    for _ in range(3):
        amazon.let_time_pass(601)
        seen.append(mcf.fulfilment_order("MCF-2").status)

    assert seen == ["Received", "Planning", "Processing", "Complete"]
    done = mcf.fulfilment_order("MCF-2")
    assert done.finished
    assert done.items == {"1": (2, 0, 0)}
    [shipment] = done.shipments
    tracking = mcf.package_tracking(shipment.packages[0])
    assert tracking.status == "IN_TRANSIT"
    assert tracking.tracking_number == shipment.tracking_numbers[0]
    amazon.let_time_pass(6 * 86400)
    delivered = mcf.package_tracking(shipment.packages[0])
    assert delivered.status == "DELIVERED"
    assert delivered.signed_for_by == "Dana Buyer"


def test_cancel_in_time_and_too_late_and_the_sandbox_only_status_update(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    mcf = amazon_side(seller)
    mcf.create_fulfilment_order(request("MCF-3"))
    mcf.create_fulfilment_order(request("MCF-4"))
    mcf.create_fulfilment_order(request("MCF-5", hold=True))

    mcf.cancel_fulfilment_order("MCF-3")
    amazon.let_time_pass(1300)

    assert mcf.fulfilment_order("MCF-3").status == "Cancelled"
    with pytest.raises(FulfilmentRefused, match="can no longer be cancelled"):
        mcf.cancel_fulfilment_order("MCF-4")
    assert mcf.fulfilment_order("MCF-5").status == "Received", "held orders wait"

    # The sandbox-only operation Amazon's dynamic sandbox offers to drive a status.
    mcf.client.call(
        "submitFulfillmentOrderStatusUpdate",
        "PUT",
        "/fba/outbound/2020-07-01/fulfillmentOrders/MCF-5/status",
        body={"fulfillmentOrderStatus": "Complete"},
    )
    assert mcf.fulfilment_order("MCF-5").status == "Complete"
    with pytest.raises(FulfilmentRefused):
        mcf.fulfilment_order("NOPE")


def test_account_health_is_fetched_parsed_and_kept(seller: Seller, amazon: AmazonSandbox) -> None:
    amazon.place_orders(
        3, marketplaceId=US, fulfillmentChannel="MFN", cancelWhilePending=False, buyerCancel=False
    )
    amazon.let_time_pass(3 * 86400)
    standing = inbound(seller).standing

    health = standing.fetch_health(seller.account.id)

    assert health.account_statuses == {US: "NORMAL", "A1PA6795UKMFR9": "NORMAL"}
    by_key = {(m.marketplace_id, m.key): m for m in health.metrics}
    late = by_key[(US, "lateShipmentRate")]
    assert (late.rate, late.count, late.orders) == (1.0, 3, 3), "never confirmed, ship-by passed"
    assert late.status is MetricStatus.BAD
    assert late.meets_target is False
    assert (late.target, late.condition) == (0.04, "LESS_THAN")
    assert by_key[(US, "orderDefectRate.mfn")].status is MetricStatus.GOOD
    assert (US, "preFulfillmentCancellationRate") in by_key
    assert (US, "validTrackingRate") in by_key
    assert health.rating[US] == "GREAT"
    assert standing.latest_health(seller.account.id) == health
