"""Telling Shopify what shipped, and what is available: against the sandboxed shop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import stamina

from ordermesh.adapters.channels.shopify.client import CostPacer, ShopifyClient
from ordermesh.adapters.channels.shopify.connector import ShopifyConnector
from ordermesh.adapters.channels.shopify.settings import ShopifySettings
from ordermesh.domain.commands import ChannelState
from ordermesh.domain.errors import ValidationFailed
from ordermesh.ports.channels import ChannelError, OrderVersion
from ordermesh.ports.shipping import ConfirmationOutcome, ShipmentNotice, ShippedLine
from ordermesh.ports.stock_sync import Push, PushOutcome

from .conftest import Shop

TRACKING = "1Z999AA10123456784"
TRACKING_URL = f"https://www.ups.com/track?tracknum={TRACKING}"


@pytest.fixture(autouse=True)
def no_backoff_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=5):
        yield


def levels(shop: Shop) -> list[dict[str, Any]]:
    return shop.admin("GET", "/inventory")


def warehouse_id(shop: Shop) -> int:
    return min(level["location_id"] for level in levels(shop))


def available(shop: Shop, sku: str, location_id: int) -> int:
    return next(
        lv["available"]
        for lv in levels(shop)
        if lv["sku"] == sku and lv["location_id"] == location_id
    )


def two_line_order(shop: Shop) -> dict[str, Any]:
    skus = sorted({level["sku"] for level in levels(shop)})[:2]
    return shop.admin(
        "POST",
        "/orders",
        {"lines": [{"sku": skus[0], "quantity": 2}, {"sku": skus[1], "quantity": 1}]},
    )


def a_notice(
    order: dict[str, Any],
    units: dict[int, int] | None = None,
    *,
    tracking: str = TRACKING,
    shipment_id: str = "shp_1",
) -> ShipmentNotice:
    """The shipment of these line items (all of the order when None)."""
    wanted = units or {li["id"]: li["quantity"] for li in order["line_items"]}
    skus = {li["id"]: li["sku"] for li in order["line_items"]}
    return ShipmentNotice(
        shipment_id=shipment_id,
        order_id="ord_1",
        channel_account="cha_shopify_test",
        channel_order_id=str(order["id"]),
        marketplace=None,
        carrier="UPS",
        tracking_number=tracking,
        tracking_url=f"https://www.ups.com/track?tracknum={tracking}",
        shipped_at=datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
        lines=tuple(ShippedLine(skus[i], q, str(i)) for i, q in wanted.items()),
    )


def as_polled(connector: ShopifyConnector, order_id: int) -> str:
    version = connector.order(str(order_id))
    assert isinstance(version, OrderVersion)
    return version.order.state


def shop_order(shop: Shop, order_id: int) -> dict[str, Any]:
    return next(o for o in shop.admin("GET", "/orders") if o["id"] == order_id)


def a_push(sku: str, quantity: int, confirmed: int | None) -> Push:
    return Push("cha_shopify_test", sku, sku, quantity, confirmed, urgent=False, attempts=0)


def stocked_connector(shop: Shop) -> ShopifyConnector:
    return shop.connector(shop.account(locations={str(warehouse_id(shop)): "WH1"}))


# -- shipments -----------------------------------------------------------------------------------
def test_a_shipment_is_confirmed_with_its_tracking_exactly_once(shop: Shop) -> None:
    order = two_line_order(shop)
    connector = shop.connector()

    first = connector.confirm_shipment(a_notice(order))
    again = connector.confirm_shipment(a_notice(order))

    assert first.outcome is ConfirmationOutcome.CONFIRMED, first.message
    assert first.reference is not None
    assert first.reference.startswith("gid://shopify/Fulfillment/")
    assert again.outcome is ConfirmationOutcome.CONFIRMED
    assert again.reference == first.reference
    after = shop_order(shop, order["id"])
    assert after["fulfillment_status"] == "fulfilled"
    assert len(after["fulfillments"]) == 1
    assert after["fulfillments"][0]["tracking_number"] == TRACKING
    assert after["fulfillments"][0]["tracking_company"] == "UPS"
    assert after["fulfillments"][0]["tracking_url"] == TRACKING_URL
    assert as_polled(connector, order["id"]) == ChannelState.SHIPPED


def test_a_partial_shipment_ships_only_its_units(shop: Shop) -> None:
    order = two_line_order(shop)
    first_line = order["line_items"][0]
    connector = shop.connector()

    result = connector.confirm_shipment(a_notice(order, {first_line["id"]: 1}))

    assert result.outcome is ConfirmationOutcome.CONFIRMED, result.message
    shipped = shop_order(shop, order["id"])["fulfillments"]
    assert [(li["id"], li["quantity"]) for li in shipped[0]["line_items"]] == [
        (first_line["id"], 1)
    ]
    assert as_polled(connector, order["id"]) == ChannelState.PARTIALLY_SHIPPED

    rest = {first_line["id"]: 1, order["line_items"][1]["id"]: 1}
    second = connector.confirm_shipment(
        a_notice(order, rest, tracking="1Z999AA10123456785", shipment_id="shp_2")
    )

    assert second.outcome is ConfirmationOutcome.CONFIRMED, second.message
    assert len(shop_order(shop, order["id"])["fulfillments"]) == 2
    assert as_polled(connector, order["id"]) == ChannelState.SHIPPED


def test_a_confirmation_whose_answer_was_lost_is_created_once(start_shop: Any) -> None:
    shop: Shop = start_shop()
    order = two_line_order(shop)
    # A partial shipment, so that sending the create again would ship more units.
    notice = a_notice(order, {order["line_items"][0]["id"]: 1})
    impatient = httpx.Client(timeout=0.5)
    settings = ShopifySettings.from_account(shop.account())
    client = ShopifyClient(
        settings, http=impatient, pacer=CostPacer(shop.monotonic), sleep=shop.sleep
    )
    connector = ShopifyConnector("cha_shopify_test", settings, client)
    shop.admin("POST", "/faults", {"graphql_lost_answer": 1, "graphql_lost_answer_seconds": 1.5})

    try:
        with pytest.raises(ChannelError, match="unknown"):
            connector.confirm_shipment(notice)
        retried = connector.confirm_shipment(notice)
    finally:
        impatient.close()

    assert retried.outcome is ConfirmationOutcome.CONFIRMED, retried.message
    assert retried.reference is not None
    assert shop.admin("GET", "/stats")["injected_lost_answers"] == 1
    fulfillments = shop_order(shop, order["id"])["fulfillments"]
    assert len(fulfillments) == 1
    assert sum(li["quantity"] for li in fulfillments[0]["line_items"]) == 1


def test_lines_shipping_from_two_locations_are_confirmed_per_location(shop: Shop) -> None:
    skus = sorted({level["sku"] for level in levels(shop)})[:2]
    locations = sorted({level["location_id"] for level in levels(shop)})
    assert len(locations) == 2
    # The first SKU can only come from the warehouse, the second only from the store.
    shop.admin("PUT", "/inventory", {"sku": skus[0], "location_id": locations[1], "available": 0})
    shop.admin("PUT", "/inventory", {"sku": skus[1], "location_id": locations[0], "available": 0})
    shop.admin("PUT", "/inventory", {"sku": skus[1], "location_id": locations[1], "available": 5})
    order = shop.admin(
        "POST",
        "/orders",
        {"lines": [{"sku": skus[0], "quantity": 1}, {"sku": skus[1], "quantity": 1}]},
    )
    connector = shop.connector()

    result = connector.confirm_shipment(a_notice(order))
    again = connector.confirm_shipment(a_notice(order))

    assert result.outcome is ConfirmationOutcome.CONFIRMED, result.message
    assert again.outcome is ConfirmationOutcome.CONFIRMED
    after = shop_order(shop, order["id"])
    assert after["fulfillment_status"] == "fulfilled"
    assert len(after["fulfillments"]) == 2


def test_units_shopify_has_no_open_line_for_are_refused_with_the_reason(shop: Shop) -> None:
    order = two_line_order(shop)
    line = order["line_items"][1]

    result = shop.connector().confirm_shipment(a_notice(order, {line["id"]: 5}))

    assert result.outcome is ConfirmationOutcome.REJECTED
    assert str(line["id"]) in result.message
    assert shop_order(shop, order["id"])["fulfillments"] == []


def test_an_order_shopify_does_not_have_is_refused(shop: Shop) -> None:
    order = two_line_order(shop)
    notice = a_notice(order)
    missing = ShipmentNotice(**{**_fields(notice), "channel_order_id": "999999"})

    result = shop.connector().confirm_shipment(missing)

    assert result.outcome is ConfirmationOutcome.REJECTED
    assert "999999" in result.message


def test_shopify_failing_leaves_the_confirmation_to_be_retried(shop: Shop) -> None:
    order = two_line_order(shop)
    shop.admin("POST", "/faults", {"graphql_server_error": 20})

    with pytest.raises(ChannelError):
        shop.connector().confirm_shipment(a_notice(order))

    assert shop.admin("GET", "/stats")["injected_server_errors"] >= 1


def _fields(notice: ShipmentNotice) -> dict[str, Any]:
    return {name: getattr(notice, name) for name in ShipmentNotice.__dataclass_fields__}


# -- stock ---------------------------------------------------------------------------------------
def test_a_push_lands_on_the_stock_location(shop: Shop) -> None:
    connector = stocked_connector(shop)
    where = warehouse_id(shop)
    sku = levels(shop)[0]["sku"]

    first = connector.send([a_push(sku, 7, None), a_push("NOT-ON-SHOPIFY", 3, None)])
    assert [(r.channel_sku, r.outcome) for r in first] == [
        (sku, PushOutcome.SENT),
        ("NOT-ON-SHOPIFY", PushOutcome.REJECTED),
    ]
    assert "NOT-ON-SHOPIFY" in first[1].error
    assert available(shop, sku, where) == 7

    second = connector.send([a_push(sku, 4, 7)])

    assert second[0].outcome is PushOutcome.SENT
    assert available(shop, sku, where) == 4
    assert [q.quantity for q in connector.listed_quantities([sku, "NOT-ON-SHOPIFY"])] == [4, None]


def test_pushes_after_a_restart_find_their_inventory_items_in_a_few_searches(
    shop: Shop,
) -> None:
    # After a restart ordermesh knows every figure Shopify confirmed but none of the inventory
    # item ids a push names; finding them must not cost a query (and its points) per listing.
    where = warehouse_id(shop)
    variants = [
        {"sku": f"SOCK-{n:03d}", "title": str(n), "price": "5.00", "stock": {where: 10}}
        for n in range(120)
    ]
    shop.admin("POST", "/products", {"title": "Socks", "variants": variants})
    connector = stocked_connector(shop)
    before = shop.admin("GET", "/stats")["graphql_requests"]

    results = connector.send([a_push(v["sku"], n % 9, 10) for n, v in enumerate(variants)])

    assert {r.outcome for r in results} == {PushOutcome.SENT}
    assert [available(shop, v["sku"], where) for v in variants[:3]] == [0, 1, 2]
    calls = shop.admin("GET", "/stats")["graphql_requests"] - before
    assert calls == 3 + 1, "three searches of 50 SKUs, then one mutation"
    again = connector.send([a_push(v["sku"], 4, n % 9) for n, v in enumerate(variants)])
    assert {r.outcome for r in again} == {PushOutcome.SENT}
    assert shop.admin("GET", "/stats")["graphql_requests"] - before == calls + 1


def test_a_sale_on_shopify_since_the_last_push_is_not_overwritten(shop: Shop) -> None:
    connector = stocked_connector(shop)
    where = warehouse_id(shop)
    sku, other = sorted({lv["sku"] for lv in levels(shop) if lv["location_id"] == where})[:2]
    assert all(r.outcome is PushOutcome.SENT for r in connector.send([a_push(sku, 10, None)]))
    assert all(r.outcome is PushOutcome.SENT for r in connector.send([a_push(other, 10, None)]))
    # A shopper buys two on Shopify before ordermesh has imported the order.
    shop.admin("POST", "/orders", {"lines": [{"sku": sku, "quantity": 2}]})
    assert available(shop, sku, where) == 8

    results = connector.send([a_push(sku, 9, 10), a_push(other, 6, 10)])

    by_sku = {r.channel_sku: r for r in results}
    assert by_sku[sku].outcome is PushOutcome.RETRY
    assert by_sku[sku].channel_quantity == 8
    assert "changed" in by_sku[sku].error
    assert available(shop, sku, where) == 8, "the sale must not be overwritten"
    assert by_sku[other].outcome is PushOutcome.SENT, "the rest of the batch still lands"
    assert available(shop, other, where) == 6

    # Once the order is known, ordermesh pushes its new figure against Shopify's quantity.
    again = connector.send([a_push(sku, 7, by_sku[sku].channel_quantity)])
    assert again[0].outcome is PushOutcome.SENT
    assert available(shop, sku, where) == 7


def test_a_stale_push_that_shopify_already_shows_counts_as_sent(shop: Shop) -> None:
    connector = stocked_connector(shop)
    where = warehouse_id(shop)
    sku = levels(shop)[0]["sku"]
    connector.send([a_push(sku, 5, None)])
    shop.admin("PUT", "/inventory", {"sku": sku, "location_id": where, "available": 3})

    result = connector.send([a_push(sku, 3, 5)])

    assert result[0].outcome is PushOutcome.SENT
    assert result[0].channel_quantity == 3


def test_shopify_refusing_a_listing_surfaces_its_message(shop: Shop) -> None:
    warehouse = warehouse_id(shop)
    store = max(lv["location_id"] for lv in levels(shop))
    stocked = {lv["sku"] for lv in levels(shop) if lv["location_id"] == store}
    not_stocked = sorted({lv["sku"] for lv in levels(shop)} - stocked)[0]
    connector = shop.connector(
        shop.account(locations={str(warehouse): "WH1", str(store): "STORE"}, stock_location=store)
    )
    in_store = sorted(stocked)[0]
    before = available(shop, in_store, store)

    results = connector.send([a_push(not_stocked, 2, 0), a_push(in_store, before + 1, before)])

    assert results[0].outcome is PushOutcome.REJECTED
    assert "not stocked" in results[0].error
    assert results[1].outcome is PushOutcome.SENT
    assert available(shop, in_store, store) == before + 1


def test_a_location_that_shopify_does_not_know_is_shopifys_message(shop: Shop) -> None:
    connector = shop.connector(shop.account(locations={"999": "WH1"}))
    sku = levels(shop)[0]["sku"]

    result = connector.send([a_push(sku, 1, 4)])

    assert result[0].outcome is PushOutcome.REJECTED
    assert "The specified location could not be found." in result[0].error


def test_several_mapped_locations_need_one_chosen_for_the_figure(shop: Shop) -> None:
    locations = sorted({lv["location_id"] for lv in levels(shop)})
    assert len(locations) > 1

    # Refused when the shop is connected, before anything could be pushed to the wrong place.
    with pytest.raises(ValidationFailed, match="stock_location"):
        shop.connector(shop.account(locations={str(i): f"L{i}" for i in locations}))

    chosen = shop.account(
        locations={str(i): f"L{i}" for i in locations}, stock_location=str(locations[0])
    )
    assert shop.connector(chosen).send([a_push(levels(shop)[0]["sku"], 1, None)])


def test_pushes_and_reads_pace_themselves_through_a_small_bucket(start_shop: Any) -> None:
    shop: Shop = start_shop(bucket_size=300, restore_rate=50)
    connector = stocked_connector(shop)
    skus = sorted({lv["sku"] for lv in levels(shop) if lv["location_id"] == warehouse_id(shop)})
    shop.admin("POST", "/faults", {"graphql_throttle": 1})

    for round_ in range(3):
        listed = connector.listed_quantities(skus)
        results = connector.send([a_push(q.channel_sku, round_ + 1, q.quantity) for q in listed])
        assert {r.outcome for r in results} == {PushOutcome.SENT}

    assert [q.quantity for q in connector.listed_quantities(skus)] == [3] * len(skus)
    stats = shop.admin("GET", "/stats")
    assert stats["injected_throttled"] == 1
    assert connector.client.throttled >= 1, "the injected THROTTLED answer was waited out"
    assert shop.slept, "the connector waited for the bucket instead of failing"


def test_shopify_down_fails_the_whole_batch_for_a_retry(shop: Shop) -> None:
    connector = stocked_connector(shop)
    shop.admin("POST", "/faults", {"graphql_server_error": 20})

    with pytest.raises(ChannelError):
        connector.send([a_push(levels(shop)[0]["sku"], 1, None)])


def test_a_whole_catalogue_is_read_back_from_the_location_in_pages(shop: Shop) -> None:
    where = warehouse_id(shop)
    variants = [
        {"sku": f"BULK-{n:04d}", "title": str(n), "price": "5.00", "stock": {where: n % 7}}
        for n in range(300)
    ]
    shop.admin("POST", "/products", {"title": "Bulk socks", "variants": variants})
    connector = stocked_connector(shop)
    skus = [v["sku"] for v in variants]
    before = shop.admin("GET", "/stats")["graphql_requests"]

    listed = connector.listed_quantities([*skus, "NOT-ON-SHOPIFY"])

    assert [q.channel_sku for q in listed] == [*skus, "NOT-ON-SHOPIFY"]
    assert [q.quantity for q in listed] == [n % 7 for n in range(300)] + [None]
    pages = shop.admin("GET", "/stats")["graphql_requests"] - before
    assert pages <= 3, "read a page of levels at a time, not a SKU at a time"
    few = connector.listed_quantities(skus[:3])
    assert [q.quantity for q in few] == [0, 1, 2]
