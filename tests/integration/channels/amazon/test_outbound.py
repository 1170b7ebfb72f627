"""ordermesh telling Amazon what it did: shipments confirmed, stock pushed by patch and by
listings feed, and quantities read back — over HTTP, against the Amazon sandbox."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ordermesh.adapters.channels.amazon import AmazonConnector
from ordermesh.adapters.channels.amazon.client import RetryPolicy
from ordermesh.ports.channels import ChannelError
from ordermesh.ports.shipping import ConfirmationOutcome, ShipmentNotice, ShippedLine
from ordermesh.ports.stock_sync import Push, PushOutcome
from tests.integration.channels.amazon.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    SELLER_ID,
    US,
    AmazonSandbox,
    Seller,
)


def connector_of(seller: Seller) -> AmazonConnector:
    return seller.channels.amazon(seller.account)


def a_released_order(amazon: AmazonSandbox, *items: tuple[str, int]) -> dict[str, Any]:
    [order_id] = amazon.place_orders(
        1,
        marketplaceId=US,
        fulfillmentChannel="MFN",
        buyerCancel=False,
        cancelWhilePending=False,
        items=[{"sku": sku, "quantity": q} for sku, q in items or [("SKU-0001", 1)]],
    )
    amazon.settle()
    return amazon.truth()[order_id]


def a_notice(order: dict[str, Any], **overrides: Any) -> ShipmentNotice:
    fields: dict[str, Any] = {
        "shipment_id": f"shp_{order['AmazonOrderId']}",
        "order_id": "ord_1",
        "channel_account": "acc_1",
        "channel_order_id": order["AmazonOrderId"],
        "marketplace": order["MarketplaceId"],
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "shipped_at": datetime(2026, 11, 2, 15, 0, tzinfo=UTC),
        "lines": tuple(
            ShippedLine(item["SellerSKU"], item["QuantityOrdered"], item["OrderItemId"])
            for item in order["OrderItems"]
        ),
    }
    return ShipmentNotice(**{**fields, **overrides})


def requests(amazon: AmazonSandbox, operation: str) -> int:
    return int(amazon.stats()["requests"].get(operation, 0))


def a_push(sku: str, quantity: int, *, urgent: bool = False) -> Push:
    return Push("acc_1", sku, sku, quantity, None, urgent, 0)


def listed(amazon: AmazonSandbox) -> dict[str, int]:
    return {item["sku"]: item["quantity"] for item in amazon.admin("GET", "/listings")["listings"]}


def spend_amazons_quota(amazon: AmazonSandbox, operation: str, calls: int) -> None:
    """Another app of the same seller uses up Amazon's bucket behind ordermesh's back."""
    token = amazon.http.post(
        "/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": REFRESH_TOKEN,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    ).json()["access_token"]
    headers = {"x-amz-access-token": token}
    if operation == "patchListingsItem":
        for _ in range(calls):
            amazon.http.patch(
                f"/listings/2021-08-01/items/{SELLER_ID}/SKU-0012",
                params={"marketplaceIds": US},
                json={"productType": "PRODUCT", "patches": [{"op": "delete", "path": "/x"}]},
                headers=headers,
            )
    else:
        document = amazon.http.post(
            "/feeds/2021-06-30/documents",
            json={"contentType": "application/json"},
            headers=headers,
        ).json()["feedDocumentId"]
        for _ in range(calls):
            amazon.http.post(
                "/feeds/2021-06-30/feeds",
                json={
                    "feedType": "JSON_LISTINGS_FEED",
                    "marketplaceIds": [US],
                    "inputFeedDocumentId": document,
                },
                headers=headers,
            )


# -- shipment confirmation ------------------------------------------------------------------


def test_a_shipment_is_confirmed_with_its_package_tracking_and_items(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    order = a_released_order(amazon, ("SKU-0001", 2), ("SKU-0002", 1))

    result = connector_of(seller).confirm_shipment(a_notice(order, service="Ground"))

    assert result.outcome is ConfirmationOutcome.CONFIRMED
    after = amazon.truth()[order["AmazonOrderId"]]
    assert after["OrderStatus"] == "Shipped"
    [package] = after["Packages"]
    assert package["packageReferenceId"] == result.reference
    assert package["carrierCode"] == "UPS"
    assert package["trackingNumber"] == "1Z999AA10123456784"
    assert sorted((i["orderItemId"], i["quantity"]) for i in package["orderItems"]) == sorted(
        (i["OrderItemId"], i["QuantityOrdered"]) for i in order["OrderItems"]
    )


def test_a_confirmation_sent_twice_by_a_retry_is_confirmed_once(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    order = a_released_order(amazon)
    notice = a_notice(order)
    connector = connector_of(seller)

    first = connector.confirm_shipment(notice)
    second = connector.confirm_shipment(notice)

    assert first.outcome is second.outcome is ConfirmationOutcome.CONFIRMED
    assert "already has package" in second.message
    assert len(amazon.truth()[order["AmazonOrderId"]]["Packages"]) == 1
    assert amazon.stats()["statuses"]["confirmShipment"] == {"204": 1, "400": 1}


def test_a_confirmation_whose_answer_timed_out_is_confirmed_once(
    seller_factory: Any, amazon: AmazonSandbox
) -> None:
    """Amazon records the package but its answer is lost; the retry, seconds later, is
    refused as already fulfilled, and reading the order back shows the package is there."""
    patient = RetryPolicy(
        attempts=4, wait_initial=2.0, wait_max=2.0, wait_jitter=0.0, request_timeout=1.0
    )
    seller = seller_factory(retry=patient)
    order = a_released_order(amazon)
    amazon.admin(
        "POST",
        "/faults",
        json={"operation": "confirmShipment", "kind": "timeout", "count": 1, "delaySeconds": 1.5},
    )

    result = connector_of(seller).confirm_shipment(a_notice(order))

    assert result.outcome is ConfirmationOutcome.CONFIRMED
    assert "already has package" in result.message
    assert amazon.stats()["faultsServed"] == {"timeout": 1}
    assert amazon.stats()["statuses"]["confirmShipment"] == {"204": 1, "400": 1}
    assert len(amazon.truth()[order["AmazonOrderId"]]["Packages"]) == 1


def test_amazons_refusal_is_returned_in_its_own_words(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    order = a_released_order(amazon)
    wrong = a_notice(order, lines=(ShippedLine("SKU-0001", 1, "99999999999999"),))

    result = connector_of(seller).confirm_shipment(wrong)

    assert result.outcome is ConfirmationOutcome.REJECTED
    assert result.message == (
        f"InvalidInput: Order item 99999999999999 is not part of order {order['AmazonOrderId']}."
    )
    assert amazon.truth()[order["AmazonOrderId"]]["Packages"] == []


def test_a_carrier_amazon_does_not_list_is_sent_by_name(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    order = a_released_order(amazon)

    result = connector_of(seller).confirm_shipment(a_notice(order, carrier="Kuehne Express"))

    assert result.outcome is ConfirmationOutcome.CONFIRMED
    assert "Other (Kuehne Express)" in result.message
    [package] = amazon.truth()[order["AmazonOrderId"]]["Packages"]
    assert package["carrierCode"] == "Other"


def test_amazon_failing_leaves_the_confirmation_to_the_outbox(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    order = a_released_order(amazon)
    amazon.admin(
        "POST", "/faults", json={"operation": "confirmShipment", "kind": "503", "count": 50}
    )

    with pytest.raises(ChannelError, match="503"):
        connector_of(seller).confirm_shipment(a_notice(order))

    assert amazon.truth()[order["AmazonOrderId"]]["Packages"] == []


# -- stock out ------------------------------------------------------------------------------


def test_urgent_pushes_are_patched_at_once(seller: Seller, amazon: AmazonSandbox) -> None:
    batch = [a_push("SKU-0001", 0, urgent=True), a_push("SKU-0002", 1, urgent=True)]

    results = connector_of(seller).send(batch)

    assert [(r.channel_sku, r.outcome) for r in results] == [
        ("SKU-0001", PushOutcome.SENT),
        ("SKU-0002", PushOutcome.SENT),
    ]
    assert (listed(amazon)["SKU-0001"], listed(amazon)["SKU-0002"]) == (0, 1)
    assert requests(amazon, "patchListingsItem") == 2
    assert requests(amazon, "createFeed") == 0


def test_bulk_pushes_go_in_one_feed_and_a_bad_sku_is_rejected_alone(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    quantities = {f"SKU-{n:04d}": 10 + n for n in range(1, 9)}
    batch = [a_push(sku, q) for sku, q in quantities.items()] + [a_push("NOT-ON-AMAZON", 3)]

    results = {r.channel_sku: r for r in connector_of(seller).send(batch)}

    assert results["NOT-ON-AMAZON"].outcome is PushOutcome.REJECTED
    assert "NOT-ON-AMAZON does not exist" in results["NOT-ON-AMAZON"].error
    assert {sku: results[sku].outcome for sku in quantities} == dict.fromkeys(
        quantities, PushOutcome.SENT
    )
    shown = listed(amazon)
    assert {sku: shown[sku] for sku in quantities} == quantities
    assert requests(amazon, "createFeed") == 1
    assert requests(amazon, "patchListingsItem") == 0
    assert amazon.throttled() == 0


def test_urgent_pushes_beyond_the_patch_budget_join_the_feed(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    batch = [a_push(f"SKU-{n:04d}", 0, urgent=True) for n in range(1, 8)] + [a_push("SKU-0008", 5)]

    results = connector_of(seller).send(batch)

    assert {r.outcome for r in results} == {PushOutcome.SENT}
    assert len(results) == 8
    assert requests(amazon, "patchListingsItem") == 5
    assert requests(amazon, "createFeed") == 1
    shown = listed(amazon)
    assert [shown[f"SKU-{n:04d}"] for n in range(1, 9)] == [0] * 7 + [5]


def test_a_throttled_patch_waits_for_amazons_bucket_and_succeeds(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    spend_amazons_quota(amazon, "patchListingsItem", 5)
    throttled_before = amazon.throttled()

    results = connector_of(seller).send([a_push("SKU-0003", 2, urgent=True)])

    assert [r.outcome for r in results] == [PushOutcome.SENT]
    assert amazon.throttled() == throttled_before + 1, "one 429, then it waited"
    assert listed(amazon)["SKU-0003"] == 2


def test_a_throttled_feed_waits_for_amazons_bucket_and_succeeds(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    spend_amazons_quota(amazon, "createFeed", 15)
    throttled_before = amazon.throttled()
    batch = [a_push(f"SKU-{n:04d}", 7) for n in range(1, 7)]

    results = connector_of(seller).send(batch)

    assert {r.outcome for r in results} == {PushOutcome.SENT}
    assert amazon.throttled() == throttled_before + 1
    assert all(listed(amazon)[p.channel_sku] == 7 for p in batch)


def test_a_feed_amazon_refuses_whole_is_retried_later(seller_factory: Any) -> None:
    """The seller id in the feed's header is not the one whose token sent it: FATAL."""
    seller = seller_factory()
    settings = {**seller.account.settings, "selling_partner_id": "A9SOMEONEELSE1"}
    wrong = seller.channels.amazon(dataclasses.replace(seller.account, settings=settings))
    batch = [a_push(f"SKU-{n:04d}", 1) for n in range(1, 7)]

    results = wrong.send(batch)

    assert {r.outcome for r in results} == {PushOutcome.RETRY}
    assert "FATAL" in results[0].error
    assert "sellerId does not match" in results[0].error


# -- read back ------------------------------------------------------------------------------


def test_a_few_quantities_are_read_twenty_listings_a_call(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    connector = connector_of(seller)
    connector.send([a_push("SKU-0004", 3, urgent=True)])
    skus = ["SKU-0004", "NOT-ON-AMAZON"] + [f"GONE-{n}" for n in range(40)]

    shown = connector.listed_quantities(skus)

    assert [(q.channel_sku, q.quantity) for q in shown[:2]] == [
        ("SKU-0004", 3),
        ("NOT-ON-AMAZON", None),
    ]
    assert len(shown) == len(skus)
    assert requests(amazon, "searchListingsItems") == 3  # 42 SKUs, 20 a call
    assert requests(amazon, "createReport") == 0


def test_many_quantities_are_read_from_the_merchant_listings_report(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    connector = connector_of(seller)
    connector.send([a_push(f"SKU-{n:04d}", n) for n in range(1, 13)])
    amazon.sandbox.state.set_mfn_quantity("SKU-0012", 99)  # drift on Amazon's side
    skus = [f"SKU-{n:04d}" for n in range(1, 13)] + [f"GONE-{n}" for n in range(400)]

    shown = {q.channel_sku: q.quantity for q in connector.listed_quantities(skus)}

    assert shown == {
        **{f"SKU-{n:04d}": n for n in range(1, 12)},
        "SKU-0012": 99,
        **{f"GONE-{n}": None for n in range(400)},
    }
    assert requests(amazon, "createReport") == 1
    assert requests(amazon, "searchListingsItems") == 0


def test_documents_are_uploaded_without_an_access_token(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    """Amazon's feed upload URL is presigned S3: an SP-API token there would be refused."""
    seen: list[httpx.Request] = []
    seller.channels.amazon.http.event_hooks["request"].append(seen.append)

    connector_of(seller).send([a_push(f"SKU-{n:04d}", 1) for n in range(1, 7)])

    uploads = [r for r in seen if r.method == "PUT"]
    assert len(uploads) == 1
    assert "x-amz-access-token" not in uploads[0].headers
    assert uploads[0].headers["content-type"] == "application/json; charset=UTF-8"
