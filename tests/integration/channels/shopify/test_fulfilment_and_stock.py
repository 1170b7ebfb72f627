"""Telling Shopify what shipped, and what is available: against the sandboxed shop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import stamina

from ordermesh.adapters.channels.shopify.connector import ShopifyConnector, Tracking
from ordermesh.domain.commands import ChannelState
from ordermesh.ports.channels import OrderVersion

from .conftest import Shop

UPS = Tracking("UPS", "1Z999AA10123456784", "https://www.ups.com/track?tracknum=1Z999AA10123456784")


@pytest.fixture(autouse=True)
def no_backoff_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=5):
        yield


def levels(shop: Shop) -> list[dict[str, Any]]:
    return shop.admin("GET", "/inventory")


def warehouse_id(shop: Shop) -> int:
    return min(level["location_id"] for level in levels(shop))


def two_line_order(shop: Shop) -> dict[str, Any]:
    skus = sorted({level["sku"] for level in levels(shop)})[:2]
    return shop.admin(
        "POST",
        "/orders",
        {"lines": [{"sku": skus[0], "quantity": 2}, {"sku": skus[1], "quantity": 1}]},
    )


def as_polled(connector: ShopifyConnector, order_id: int) -> str:
    version = connector.order(str(order_id))
    assert isinstance(version, OrderVersion)
    return version.order.state


def test_a_shipment_is_confirmed_with_its_tracking_exactly_once(shop: Shop) -> None:
    order = two_line_order(shop)
    connector = shop.connector()

    first = connector.fulfil(str(order["id"]), tracking=UPS)
    again = connector.fulfil(str(order["id"]), tracking=UPS)

    assert first.ok
    assert len(first.fulfillment_ids) == 1
    assert again.nothing_left
    assert again.fulfillment_ids == ()
    after = shop.admin("GET", "/orders")[0]
    assert after["fulfillment_status"] == "fulfilled"
    assert len(after["fulfillments"]) == 1
    assert after["fulfillments"][0]["tracking_number"] == UPS.number
    assert after["fulfillments"][0]["tracking_company"] == "UPS"
    assert as_polled(connector, order["id"]) == ChannelState.SHIPPED


def test_part_of_an_order_can_ship_first(shop: Shop) -> None:
    order = two_line_order(shop)
    first_line = order["line_items"][0]
    connector = shop.connector()

    result = connector.fulfil(str(order["id"]), {str(first_line["id"]): 1}, tracking=UPS)

    assert result.ok
    assert as_polled(connector, order["id"]) == ChannelState.PARTIALLY_SHIPPED
    rest = connector.fulfil(str(order["id"]), tracking=UPS)
    assert rest.ok
    assert as_polled(connector, order["id"]) == ChannelState.SHIPPED


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

    result = shop.connector().fulfil(str(order["id"]), tracking=UPS)

    assert result.ok, result.errors
    assert len(result.fulfillment_ids) == 2
    assert shop.admin("GET", "/orders")[0]["fulfillment_status"] == "fulfilled"


def test_asking_to_ship_more_than_is_open_is_reported(shop: Shop) -> None:
    order = two_line_order(shop)
    line = order["line_items"][1]

    result = shop.connector().fulfil(str(order["id"]), {str(line["id"]): 5})

    assert not result.ok
    assert any(str(line["id"]) in e for e in result.errors)


def test_available_stock_is_set_on_the_mapped_location(shop: Shop) -> None:
    where = warehouse_id(shop)
    connector = shop.connector(shop.account(locations={str(where): "WH1"}))
    sku = levels(shop)[0]["sku"]

    result = connector.set_available(
        "WH1", {sku: 7, "NOT-ON-SHOPIFY": 3}, reference="gid://ordermesh/Push/1"
    )

    assert result.applied == {sku: 7}
    assert result.unknown == ("NOT-ON-SHOPIFY",)
    level = next(lv for lv in levels(shop) if lv["sku"] == sku and lv["location_id"] == where)
    assert level["available"] == 7


def test_a_sale_on_shopify_between_reading_and_writing_is_not_overwritten_blindly(
    shop: Shop,
) -> None:
    where = warehouse_id(shop)
    connector = shop.connector(shop.account(locations={str(where): "WH1"}))
    sku = levels(shop)[0]["sku"]
    execute = connector.client.execute
    reads: list[int] = []

    def sale_after_first_read(query: str, variables: Any = None, **kw: Any) -> Any:
        answer = execute(query, variables, **kw)
        if query.startswith("query StockAt"):
            reads.append(1)
            if len(reads) == 1:
                shop.admin("PUT", "/inventory", {"sku": sku, "location_id": where, "available": 1})
        return answer

    connector.client.execute = sale_after_first_read  # type: ignore[method-assign]

    result = connector.set_available("WH1", {sku: 12})

    assert result.ok
    assert len(reads) == 2, "the stale answer must make the connector read Shopify again"
    level = next(lv for lv in levels(shop) if lv["sku"] == sku and lv["location_id"] == where)
    assert level["available"] == 12


def test_an_unmapped_location_is_refused_before_calling_shopify(shop: Shop) -> None:
    connector = shop.connector()
    with pytest.raises(ValueError, match="not mapped"):
        connector.set_available("WH9", {"OM-001-40": 1})
    assert connector.client.requests == 0


def test_an_order_shopify_does_not_have_is_reported(shop: Shop) -> None:
    result = shop.connector().fulfil("999999")
    assert not result.ok
    assert datetime.now(UTC)  # the call returned instead of raising
