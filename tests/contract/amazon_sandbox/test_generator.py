"""The order generator and how orders move on Amazon's side as time passes, with the
ORDER_CHANGE notifications that go with every change."""

from __future__ import annotations

from typing import Any

from amazon_sandbox_harness import DE, US, RunningSandbox, SpApiClient, validate_document

from ordermesh.sandbox.amazon import OrderRequest

SINCE = "2026-01-01T00:00:00Z"


def _notifications(amazon: RunningSandbox, after: int = 0) -> list[dict[str, Any]]:
    body = amazon.admin("GET", "/notifications", params={"after": after}).json()
    for entry in body["notifications"]:
        validate_document("OrderChangeNotification.json", entry["payload"])
    return [entry["payload"] for entry in body["notifications"]]


def test_same_seed_places_the_same_orders(start_sandbox: Any) -> None:
    first = start_sandbox(seed=42).sandbox.generate(10)
    second = start_sandbox(seed=42).sandbox.generate(10)

    assert [(o.order_id, [(line.sku, line.quantity) for line in o.lines]) for o in first] == [
        (o.order_id, [(line.sku, line.quantity) for line in o.lines]) for o in second
    ]


def test_generated_orders_follow_the_configured_shares(start_sandbox: Any) -> None:
    amazon = start_sandbox(prime_share=1.0, afn_share=0.0, business_share=1.0, marketplaces=(DE,))

    orders = amazon.sandbox.generate(20)

    assert {o.marketplace_id for o in orders} == {DE}
    assert all(o.is_prime and o.is_business and o.fulfillment_channel == "MFN" for o in orders)
    assert {o.order_id[:2] for o in orders} == {"30"}


def test_placing_an_order_takes_the_sellers_stock_on_amazon(amazon: RunningSandbox) -> None:
    amazon.admin("POST", "/listings", json=[{"sku": "LAST-ONE", "quantity": 1, "price": "5.00"}])

    order = amazon.admin(
        "POST",
        "/orders",
        json={"items": [{"sku": "LAST-ONE", "quantity": 1}], "fulfillmentChannel": "MFN"},
    )
    sold_out = amazon.admin(
        "POST",
        "/orders",
        json={"items": [{"sku": "LAST-ONE", "quantity": 1}], "fulfillmentChannel": "MFN"},
    )

    assert order.status_code == 201
    assert sold_out.status_code == 400
    listings = {item["sku"]: item for item in amazon.admin("GET", "/listings").json()["listings"]}
    assert listings["LAST-ONE"]["quantity"] == 0


def test_generator_stops_when_everything_is_sold_out(start_sandbox: Any) -> None:
    amazon = start_sandbox(listings=1, afn_share=0.0)
    amazon.sandbox.state.set_mfn_quantity("SKU-0001", 3)

    orders = amazon.sandbox.generate(10)

    assert sum(line.quantity for o in orders for line in o.lines) == 3
    assert amazon.sandbox.state.listings["SKU-0001"].mfn_quantity == 0


def test_pending_order_is_released_after_the_hold_and_its_update_date_moves(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    [order] = amazon.sandbox.generate(1, OrderRequest(cancel_while_pending=False))
    placed_at = order.last_updated

    amazon.advance(60)
    still_pending = client.get_order(order.order_id, includedData="FULFILLMENT").json()["order"]
    amazon.advance(61)
    released = client.get_order(order.order_id, includedData="FULFILLMENT").json()["order"]

    assert still_pending["fulfillment"]["fulfillmentStatus"] == "PENDING"
    assert released["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
    assert released["lastUpdatedTime"] > still_pending["lastUpdatedTime"]
    assert order.last_updated > placed_at


def test_order_canceled_while_pending_gives_its_stock_back(amazon: RunningSandbox) -> None:
    before = amazon.sandbox.state.listings["SKU-0001"].mfn_quantity
    [order] = amazon.sandbox.generate(
        1,
        OrderRequest(items=[("SKU-0001", 2)], fulfillment_channel="MFN", cancel_while_pending=True),
    )
    assert amazon.sandbox.state.listings["SKU-0001"].mfn_quantity == before - 2

    amazon.advance(121)
    truth = amazon.admin("GET", "/orders").json()["orders"]

    assert truth[0]["AmazonOrderId"] == order.order_id
    assert truth[0]["OrderStatus"] == "Canceled"
    assert amazon.sandbox.state.listings["SKU-0001"].mfn_quantity == before


def test_buyer_requested_cancel_is_flagged_on_the_items(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    [order] = amazon.sandbox.generate(
        1, OrderRequest(fulfillment_channel="MFN", buyer_cancel=True, cancel_while_pending=False)
    )
    amazon.advance(121)
    amazon.sandbox.tick()
    amazon.advance(601)

    items = client.get_order_items(order.order_id).json()["payload"]["OrderItems"]
    v2026 = client.get_order(order.order_id, includedData="CANCELLATION").json()["order"]

    assert items[0]["BuyerRequestedCancel"]["IsBuyerRequestedCancel"] == "true"
    assert v2026["orderItems"][0]["cancellation"]["cancellationRequest"]["requester"] == "BUYER"
    reasons = [
        n["Payload"]["OrderChangeNotification"]["OrderChangeTrigger"]["ChangeReason"]
        for n in _notifications(amazon)
    ]
    assert "Buyer Requested Cancel" in reasons


def test_amazon_ships_afn_orders_itself(amazon: RunningSandbox) -> None:
    [order] = amazon.sandbox.generate(
        1, OrderRequest(fulfillment_channel="AFN", cancel_while_pending=False)
    )
    amazon.advance(121)
    amazon.sandbox.tick()
    amazon.advance(3601)

    body = amazon.client().get_order(order.order_id, includedData="FULFILLMENT").json()["order"]

    assert body["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert body["fulfillment"]["fulfilledBy"] == "AMAZON"


def test_orders_arrive_at_the_configured_rate(start_sandbox: Any) -> None:
    amazon = start_sandbox(orders_per_minute=2.0)

    amazon.advance(600)
    amazon.sandbox.tick()

    assert len(amazon.sandbox.state.orders) == 20


def test_every_change_produces_a_valid_order_change_notification(
    amazon: RunningSandbox,
) -> None:
    [order] = amazon.sandbox.generate(
        1, OrderRequest(marketplace_id=US, cancel_while_pending=False)
    )
    amazon.advance(121)
    amazon.sandbox.tick()

    notes = _notifications(amazon)
    later = _notifications(amazon, after=1)

    statuses = [n["Payload"]["OrderChangeNotification"]["Summary"]["OrderStatus"] for n in notes]
    assert statuses == ["Pending", "Unshipped"]
    assert later == notes[1:]
    assert {n["Payload"]["OrderChangeNotification"]["AmazonOrderId"] for n in notes} == {
        order.order_id
    }
