"""confirmShipment and updateShipmentStatus (Orders v0)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from amazon_sandbox_harness import US, RunningSandbox, SpApiClient, model

from ordermesh.sandbox.amazon import OrderRequest
from ordermesh.sandbox.amazon.state import Order


def _released_order(amazon: RunningSandbox, *items: tuple[str, int]) -> Order:
    [order] = amazon.sandbox.generate(
        1,
        OrderRequest(
            marketplace_id=US,
            fulfillment_channel="MFN",
            items=list(items) or [("SKU-0001", 1)],
            cancel_while_pending=False,
            buyer_cancel=False,
        ),
    )
    amazon.advance(121)
    amazon.sandbox.tick()
    return order


def _confirmation(order: Order, reference: str = "1", **items: int) -> dict[str, Any]:
    lines = items or {line.order_item_id: line.quantity for line in order.lines}
    return {
        "marketplaceId": order.marketplace_id,
        "packageDetail": {
            "packageReferenceId": reference,
            "carrierCode": "UPS",
            "trackingNumber": f"1Z999AA1012345678{reference}",
            "shipDate": "2026-11-02T15:00:00Z",
            "orderItems": [{"orderItemId": k, "quantity": v} for k, v in lines.items()],
        },
    }


def _status(client: SpApiClient, order: Order) -> str:
    body = client.get_order(order.order_id, includedData="FULFILLMENT").json()["order"]
    return str(body["fulfillment"]["fulfillmentStatus"])


def test_confirming_the_whole_order_ships_it(amazon: RunningSandbox, client: SpApiClient) -> None:
    order = _released_order(amazon)

    response = client.confirm_shipment(order.order_id, _confirmation(order))

    assert response.status_code == 204
    assert _status(client, order) == "SHIPPED"
    packages = client.get_order(order.order_id, includedData="PACKAGES").json()["order"]
    assert packages["packages"][0]["trackingNumber"] == "1Z999AA10123456781"


def test_resending_the_same_package_changes_nothing(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    order = _released_order(amazon, ("SKU-0001", 2))
    first_item = order.lines[0].order_item_id
    body = _confirmation(order, "1", **{first_item: 1})
    assert client.confirm_shipment(order.order_id, body).status_code == 204
    updated = order.last_updated
    notifications = len(amazon.sandbox.state.notifications)

    amazon.advance(30)
    again = client.confirm_shipment(order.order_id, body)

    assert again.status_code == 204
    assert order.lines[0].quantity_shipped == 1
    assert order.last_updated == updated
    assert len(amazon.sandbox.state.notifications) == notifications
    assert _status(client, order) == "PARTIALLY_SHIPPED"


def test_packages_add_up_to_a_full_shipment(amazon: RunningSandbox, client: SpApiClient) -> None:
    order = _released_order(amazon, ("SKU-0001", 2))
    item = order.lines[0].order_item_id

    client.confirm_shipment(order.order_id, _confirmation(order, "1", **{item: 1}))
    assert _status(client, order) == "PARTIALLY_SHIPPED"
    client.confirm_shipment(order.order_id, _confirmation(order, "2", **{item: 1}))

    assert _status(client, order) == "SHIPPED"
    too_many = client.confirm_shipment(order.order_id, _confirmation(order, "3", **{item: 1}))
    assert too_many.status_code == 400


def test_amazons_static_bad_ship_date_case_is_refused(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    order = _released_order(amazon)
    static = model("ordersV0.json")["paths"]["/orders/v0/orders/{orderId}/shipmentConfirmation"][
        "post"
    ]["responses"]["400"]["x-amzn-api-sandbox"]["static"][0]
    body = copy.deepcopy(static["request"]["parameters"]["body"]["value"])
    body["marketplaceId"] = order.marketplace_id
    body["packageDetail"]["orderItems"][0]["orderItemId"] = order.lines[0].order_item_id

    response = client.confirm_shipment(order.order_id, body)

    assert body["packageDetail"]["shipDate"] == "02/21/2022"
    assert response.status_code == 400
    assert "shipDate" in response.json()["errors"][0]["message"]
    assert _status(client, order) == "UNSHIPPED"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda b: b.pop("marketplaceId"), "marketplaceId"),
        (lambda b: b["packageDetail"].pop("trackingNumber"), "trackingNumber"),
        (lambda b: b["packageDetail"].update(packageReferenceId="box-1"), "packageReferenceId"),
        (lambda b: b["packageDetail"].update(carrierCode="Other"), "carrierName"),
        (lambda b: b["packageDetail"].update(orderItems=[]), "orderItems"),
        (lambda b: b["packageDetail"]["orderItems"][0].update(quantity=0), "quantity"),
        (lambda b: b["packageDetail"]["orderItems"][0].update(orderItemId="999"), "999"),
        (lambda b: b.update(marketplaceId="A1PA6795UKMFR9"), "marketplace"),
    ],
)
def test_bad_confirmation_bodies_are_refused(
    amazon: RunningSandbox, client: SpApiClient, change: Any, fragment: str
) -> None:
    order = _released_order(amazon)
    body = _confirmation(order)
    change(body)

    response = client.confirm_shipment(order.order_id, body)

    assert response.status_code == 400
    assert fragment in response.json()["errors"][0]["message"]


def test_pending_order_cannot_be_confirmed(amazon: RunningSandbox, client: SpApiClient) -> None:
    [order] = amazon.sandbox.generate(1, OrderRequest(marketplace_id=US, fulfillment_channel="MFN"))

    response = client.confirm_shipment(order.order_id, _confirmation(order))

    assert response.status_code == 400


def test_update_shipment_status(amazon: RunningSandbox, client: SpApiClient) -> None:
    order = _released_order(amazon)
    path = f"/orders/v0/orders/{order.order_id}/shipment"

    ok = client.call(
        "ordersV0.json",
        "updateShipmentStatus",
        "POST",
        path,
        json={"marketplaceId": US, "shipmentStatus": "ReadyForPickup"},
    )
    bad = client.call(
        "ordersV0.json",
        "updateShipmentStatus",
        "POST",
        path,
        json={"marketplaceId": US, "shipmentStatus": "Lost"},
    )

    assert ok.status_code == 204
    assert bad.status_code == 400
    assert order.shipment_status == "ReadyForPickup"
