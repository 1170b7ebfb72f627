"""Multi-Channel Fulfillment: preview, create (idempotent), progress, tracking, cancel."""

from __future__ import annotations

from typing import Any

from amazon_sandbox_harness import US, RunningSandbox, SpApiClient

MCF = "fulfillmentOutbound_2020-07-01.json"
BASE = "/fba/outbound/2020-07-01"
ADDRESS = {
    "name": "Dana Buyer",
    "addressLine1": "1 Shop Street",
    "city": "Seattle",
    "stateOrRegion": "WA",
    "postalCode": "98109",
    "countryCode": "US",
}


def _order(order_id: str, quantity: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "marketplaceId": US,
        "sellerFulfillmentOrderId": order_id,
        "displayableOrderId": order_id,
        "displayableOrderDate": "2026-11-02T11:00:00Z",
        "displayableOrderComment": "Thank you for your order",
        "shippingSpeedCategory": "Standard",
        "destinationAddress": ADDRESS,
        "items": [
            {"sellerSku": "SKU-0001", "sellerFulfillmentOrderItemId": "1", "quantity": quantity}
        ],
        **extra,
    }


def _create(client: SpApiClient, body: dict[str, Any]) -> Any:
    return client.call(
        MCF, "createFulfillmentOrder", "POST", BASE + "/fulfillmentOrders", json=body
    )


def _get(client: SpApiClient, order_id: str) -> dict[str, Any]:
    response = client.call(
        MCF, "getFulfillmentOrder", "GET", f"{BASE}/fulfillmentOrders/{order_id}"
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["payload"])


def test_preview_tells_what_can_be_shipped(client: SpApiClient) -> None:
    body = {
        "marketplaceId": US,
        "address": ADDRESS,
        "items": [{"sellerSku": "SKU-0001", "sellerFulfillmentOrderItemId": "1", "quantity": 1}],
    }
    too_much = {
        **body,
        "items": [{"sellerSku": "SKU-0001", "sellerFulfillmentOrderItemId": "1", "quantity": 99}],
    }

    fine = client.call(
        MCF, "getFulfillmentPreview", "POST", BASE + "/fulfillmentOrders/preview", json=body
    )
    short = client.call(
        MCF, "getFulfillmentPreview", "POST", BASE + "/fulfillmentOrders/preview", json=too_much
    )

    previews = fine.json()["payload"]["fulfillmentPreviews"]
    assert [p["shippingSpeedCategory"] for p in previews] == ["Standard", "Expedited", "Priority"]
    assert all(p["isFulfillable"] for p in previews)
    assert not short.json()["payload"]["fulfillmentPreviews"][0]["isFulfillable"]


def test_fulfillment_order_moves_to_complete_and_can_be_tracked(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    before = amazon.sandbox.state.listings["SKU-0001"].fba_fulfillable
    assert _create(client, _order("MCF-1")).status_code == 200

    statuses = [_get(client, "MCF-1")["fulfillmentOrder"]["fulfillmentOrderStatus"]]
    for _ in range(3):
        amazon.advance(601)
        statuses.append(_get(client, "MCF-1")["fulfillmentOrder"]["fulfillmentOrderStatus"])

    assert statuses == ["Received", "Planning", "Processing", "Complete"]
    assert amazon.sandbox.state.listings["SKU-0001"].fba_fulfillable == before - 2
    package = _get(client, "MCF-1")["fulfillmentShipments"][0]["fulfillmentShipmentPackage"][0]
    tracking = client.call(
        MCF,
        "getPackageTrackingDetails",
        "GET",
        BASE + "/tracking",
        params={"packageNumber": package["packageNumber"]},
    ).json()["payload"]
    assert tracking["currentStatus"] == "IN_TRANSIT"
    assert tracking["trackingNumber"] == package["trackingNumber"]
    amazon.advance(6 * 86400)
    delivered = (
        amazon.client()
        .call(
            MCF,
            "getPackageTrackingDetails",
            "GET",
            BASE + "/tracking",
            params={"packageNumber": package["packageNumber"]},
        )
        .json()["payload"]
    )
    assert delivered["currentStatus"] == "DELIVERED"


def test_create_is_idempotent_per_seller_fulfillment_order_id(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    before = amazon.sandbox.state.listings["SKU-0001"].fba_fulfillable

    first = _create(client, _order("MCF-2"))
    retry = _create(client, _order("MCF-2"))
    different = _create(client, _order("MCF-2", quantity=1))

    assert (first.status_code, retry.status_code, different.status_code) == (200, 200, 400)
    assert amazon.sandbox.state.listings["SKU-0001"].fba_fulfillable == before - 2


def test_cancel_gives_the_stock_back_until_amazon_is_processing(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    before = amazon.sandbox.state.listings["SKU-0001"].fba_fulfillable
    _create(client, _order("MCF-3"))
    _create(client, _order("MCF-4"))

    cancelled = client.call(
        MCF, "cancelFulfillmentOrder", "PUT", f"{BASE}/fulfillmentOrders/MCF-3/cancel"
    )
    amazon.advance(1300)
    too_late = client.call(
        MCF, "cancelFulfillmentOrder", "PUT", f"{BASE}/fulfillmentOrders/MCF-4/cancel"
    )

    assert cancelled.status_code == 200
    assert _get(client, "MCF-3")["fulfillmentOrder"]["fulfillmentOrderStatus"] == "Cancelled"
    assert too_late.status_code == 400
    assert amazon.sandbox.state.listings["SKU-0001"].fba_fulfillable == before - 2


def test_sandbox_only_status_update_drives_the_order(client: SpApiClient) -> None:
    _create(client, _order("MCF-5"))

    response = client.call(
        MCF,
        "submitFulfillmentOrderStatusUpdate",
        "PUT",
        f"{BASE}/fulfillmentOrders/MCF-5/status",
        json={"fulfillmentOrderStatus": "Complete"},
    )

    assert response.status_code == 200
    order = _get(client, "MCF-5")
    assert order["fulfillmentOrder"]["fulfillmentOrderStatus"] == "Complete"
    assert order["fulfillmentShipments"][0]["fulfillmentShipmentStatus"] == "SHIPPED"


def test_bad_fulfillment_orders_are_refused(client: SpApiClient) -> None:
    no_address = _order("MCF-6")
    no_address["destinationAddress"] = {"name": "x"}

    answers = [
        _create(client, no_address),
        _create(client, _order("MCF-7", quantity=10_000)),
        _create(client, _order("MCF-8", shippingSpeedCategory="Teleport")),
        client.call(MCF, "getFulfillmentOrder", "GET", f"{BASE}/fulfillmentOrders/NOPE"),
    ]

    assert [r.status_code for r in answers] == [400, 400, 400, 404]


def test_held_order_waits_until_released(amazon: RunningSandbox, client: SpApiClient) -> None:
    _create(client, _order("MCF-9", fulfillmentAction="Hold"))
    amazon.advance(2000)
    held = _get(client, "MCF-9")["fulfillmentOrder"]["fulfillmentOrderStatus"]

    released = client.call(
        MCF,
        "updateFulfillmentOrder",
        "PUT",
        f"{BASE}/fulfillmentOrders/MCF-9",
        json={"fulfillmentAction": "Ship"},
    )
    amazon.advance(601)

    assert held == "Received"
    assert released.status_code == 200
    assert _get(client, "MCF-9")["fulfillmentOrder"]["fulfillmentOrderStatus"] == "Planning"
