"""Orders API v2026-01-01 and v0 reads: windows, filters, paging and Amazon's refusals."""

from __future__ import annotations

from typing import Any

import pytest
from amazon_sandbox_harness import DE, US, RunningSandbox, SpApiClient

from ordermesh.sandbox.amazon import OrderRequest

SINCE_2026 = "2026-01-01T00:00:00Z"


def _all_pages_2026(client: SpApiClient, **params: Any) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = []
    response = client.search_orders(**params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        orders.extend(body["orders"])
        token = body.get("pagination", {}).get("nextToken")
        if not token:
            return orders
        response = client.search_orders(**{**params, "paginationToken": token})


def test_search_pages_through_every_order_exactly_once(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    placed = amazon.sandbox.generate(23)
    amazon.advance(180)

    seen = _all_pages_2026(client, createdAfter=SINCE_2026, maxResultsPerPage=5)

    assert sorted(o["orderId"] for o in seen) == sorted(o.order_id for o in placed)


def test_pages_stay_stable_while_orders_change_between_requests(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    placed = amazon.sandbox.generate(6)
    amazon.settle()
    first = client.search_orders(lastUpdatedAfter=SINCE_2026, maxResultsPerPage=3).json()
    amazon.sandbox.state.cancel(placed[-1].order_id)

    second = client.search_orders(
        lastUpdatedAfter=SINCE_2026,
        maxResultsPerPage=3,
        paginationToken=first["pagination"]["nextToken"],
    ).json()

    ids = [o["orderId"] for o in first["orders"] + second["orders"]]
    assert sorted(ids) == sorted(o.order_id for o in placed)
    assert "pagination" not in second


def test_search_echoes_the_bound_two_minutes_before_now(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    amazon.sandbox.generate(1)

    fresh = client.search_orders(createdAfter=SINCE_2026).json()
    amazon.advance(121)
    later = client.search_orders(createdAfter=SINCE_2026).json()

    assert fresh["orders"] == []
    assert fresh["createdBefore"] == "2026-11-02T11:58:00Z"
    assert len(later["orders"]) == 1


def test_search_filters_by_marketplace_channel_and_status(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    amazon.sandbox.generate(2, OrderRequest(marketplace_id=US, fulfillment_channel="MFN"))
    amazon.sandbox.generate(3, OrderRequest(marketplace_id=DE, fulfillment_channel="AFN"))
    amazon.advance(180)

    de_amazon = client.search_orders(
        createdAfter=SINCE_2026,
        marketplaceIds=DE,
        fulfilledBy="AMAZON",
        includedData="FULFILLMENT",
    ).json()["orders"]
    merchant_unshipped = client.search_orders(
        createdAfter=SINCE_2026, fulfilledBy="MERCHANT", fulfillmentStatuses="UNSHIPPED,PENDING"
    ).json()["orders"]

    assert len(de_amazon) == 3
    assert {o["salesChannel"]["marketplaceId"] for o in de_amazon} == {DE}
    assert {o["fulfillment"]["fulfilledBy"] for o in de_amazon} == {"AMAZON"}
    assert len(merchant_unshipped) == 2


def test_included_data_adds_buyer_recipient_and_proceeds(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    [order] = amazon.sandbox.generate(1, OrderRequest(fulfillment_channel="MFN"))
    amazon.advance(180)

    bare = client.get_order(order.order_id).json()["order"]
    full = client.get_order(
        order.order_id, includedData="BUYER,RECIPIENT,PROCEEDS,FULFILLMENT,PACKAGES"
    ).json()["order"]

    assert "buyer" not in bare
    assert bare["orderItems"]
    assert full["buyer"]["buyerEmail"].endswith("@marketplace.amazon.com")
    assert full["recipient"]["deliveryAddress"]["postalCode"]
    assert full["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
    assert full["proceeds"]["grandTotal"]["amount"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, "Exactly one of createdAfter and lastUpdatedAfter"),
        (
            {"createdAfter": SINCE_2026, "lastUpdatedAfter": SINCE_2026},
            "Exactly one of createdAfter and lastUpdatedAfter",
        ),
        (
            {"createdAfter": SINCE_2026, "lastUpdatedBefore": "2026-06-01T00:00:00Z"},
            "cannot be set when createdAfter is set",
        ),
        ({"createdAfter": "02/21/2022"}, "not a valid ISO 8601"),
        ({"createdAfter": "TEST_CASE_400"}, "not a valid ISO 8601"),
        ({"createdAfter": SINCE_2026, "maxResultsPerPage": 0}, "between 1 and 100"),
        ({"createdAfter": SINCE_2026, "maxResultsPerPage": 101}, "between 1 and 100"),
        ({"createdAfter": SINCE_2026, "fulfilledBy": "ME"}, "not a valid value"),
        ({"createdAfter": SINCE_2026, "includedData": "EVERYTHING"}, "not a valid value"),
        (
            {"createdAfter": SINCE_2026, "createdBefore": "2026-11-02T11:59:00Z"},
            "at least two minutes before",
        ),
        (
            {"createdAfter": "2026-06-01T00:00:00Z", "createdBefore": "2026-05-01T00:00:00Z"},
            "equal to or after",
        ),
        ({"createdAfter": SINCE_2026, "paginationToken": "made-up"}, "paginationToken"),
    ],
)
def test_search_refuses_bad_parameters_like_amazon(
    client: SpApiClient, params: dict[str, Any], fragment: str
) -> None:
    response = client.search_orders(**params)

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "InvalidInput"
    assert fragment in error["message"]


def test_pagination_token_with_changed_filters_is_refused(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    amazon.sandbox.generate(4)
    amazon.advance(180)
    token = client.search_orders(createdAfter=SINCE_2026, maxResultsPerPage=2).json()["pagination"][
        "nextToken"
    ]

    response = client.search_orders(
        createdAfter="2026-02-01T00:00:00Z", maxResultsPerPage=2, paginationToken=token
    )

    assert response.status_code == 400


def test_unknown_order_is_not_found(client: SpApiClient) -> None:
    response = client.get_order("111-0000000-0000000")

    assert response.status_code == 404


def test_v0_get_orders_pages_with_next_token(amazon: RunningSandbox, client: SpApiClient) -> None:
    placed = amazon.sandbox.generate(7, OrderRequest(marketplace_id=US))
    amazon.advance(180)

    first = client.get_orders(
        CreatedAfter=SINCE_2026, MarketplaceIds=US, MaxResultsPerPage=4
    ).json()["payload"]
    second = client.get_orders(MarketplaceIds=US, NextToken=first["NextToken"]).json()["payload"]

    ids = [o["AmazonOrderId"] for o in first["Orders"] + second["Orders"]]
    assert sorted(ids) == sorted(o.order_id for o in placed)
    assert "NextToken" not in second
    assert first["CreatedBefore"] == "2026-11-02T12:01:00Z"
    assert all(o["OrderStatus"] == "Unshipped" for o in first["Orders"])


def test_v0_get_orders_requires_marketplace_ids(client: SpApiClient) -> None:
    response = client.get_orders(CreatedAfter=SINCE_2026)

    assert response.status_code == 400
    assert "MarketplaceIds" in response.json()["errors"][0]["message"]


def test_v0_order_items_page_with_next_token(start_sandbox: Any) -> None:
    amazon = start_sandbox(order_items_page_size=1)
    client = amazon.client()
    [order] = amazon.sandbox.generate(
        1, OrderRequest(items=[("SKU-0001", 1), ("SKU-0002", 2), ("SKU-0003", 1)])
    )

    pages = [client.get_order_items(order.order_id).json()["payload"]]
    while "NextToken" in pages[-1]:
        pages.append(
            client.get_order_items(order.order_id, NextToken=pages[-1]["NextToken"]).json()[
                "payload"
            ]
        )

    assert [p["OrderItems"][0]["SellerSKU"] for p in pages] == ["SKU-0001", "SKU-0002", "SKU-0003"]
    assert all(p["AmazonOrderId"] == order.order_id for p in pages)
    # Amazon hides prices of Pending orders.
    assert "ItemPrice" not in pages[0]["OrderItems"][0]


def test_v0_order_item_prices_appear_once_released(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    [order] = amazon.sandbox.generate(1, OrderRequest(items=[("SKU-0001", 2)]))
    amazon.advance(121)

    item = client.get_order_items(order.order_id).json()["payload"]["OrderItems"][0]
    v0 = client.call(
        "ordersV0.json", "getOrder", "GET", f"/orders/v0/orders/{order.order_id}"
    ).json()["payload"]

    assert item["ItemPrice"] == {"CurrencyCode": order.currency, "Amount": "49.98"}
    assert v0["OrderStatus"] == "Unshipped"
    assert v0["ShippingAddress"]["PostalCode"]


def test_later_pages_echo_the_same_bound_as_the_first(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    amazon.sandbox.generate(4, OrderRequest(marketplace_id=US))
    amazon.advance(180)
    first = client.get_orders(CreatedAfter=SINCE_2026, MarketplaceIds=US, MaxResultsPerPage=2)
    amazon.advance(60)

    second = client.get_orders(MarketplaceIds=US, NextToken=first.json()["payload"]["NextToken"])

    assert second.json()["payload"]["CreatedBefore"] == first.json()["payload"]["CreatedBefore"]


def test_v0_address_and_buyer_info_follow_the_model(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    [order] = amazon.sandbox.generate(
        1, OrderRequest(fulfillment_channel="MFN", cancel_while_pending=False)
    )
    hidden = client.call(
        "ordersV0.json", "getOrderAddress", "GET", f"/orders/v0/orders/{order.order_id}/address"
    ).json()["payload"]
    amazon.advance(121)

    address = client.call(
        "ordersV0.json", "getOrderAddress", "GET", f"/orders/v0/orders/{order.order_id}/address"
    ).json()["payload"]
    buyer = client.call(
        "ordersV0.json",
        "getOrderBuyerInfo",
        "GET",
        f"/orders/v0/orders/{order.order_id}/buyerInfo",
    ).json()["payload"]

    assert "ShippingAddress" not in hidden
    assert address["ShippingAddress"]["CountryCode"] == order.marketplace.country_code
    assert buyer["BuyerEmail"] == order.buyer_email
