"""What ordermesh's outbound Amazon connector relies on in the sandbox: a confirmation that
finds the order already fulfilled, a listings feed message without a product type, and the
merchant listings report."""

from __future__ import annotations

import csv
import io
from typing import Any

from amazon_sandbox_harness import SELLER_ID, US, RunningSandbox, SpApiClient
from test_feeds_and_listings import _processing_report, _quantity_message, _submit

from ordermesh.sandbox.amazon import OrderRequest
from ordermesh.sandbox.amazon.state import Order

REPORTS = "reports_2021-06-30.json"


def _released_order(amazon: RunningSandbox) -> Order:
    [order] = amazon.sandbox.generate(
        1,
        OrderRequest(
            marketplace_id=US,
            fulfillment_channel="MFN",
            items=[("SKU-0001", 1)],
            cancel_while_pending=False,
            buyer_cancel=False,
        ),
    )
    amazon.advance(121)
    amazon.sandbox.tick()
    return order


def _confirmation(order: Order, reference: str) -> dict[str, Any]:
    return {
        "marketplaceId": order.marketplace_id,
        "packageDetail": {
            "packageReferenceId": reference,
            "carrierCode": "UPS",
            "trackingNumber": "1Z999AA10123456784",
            "shipDate": "2026-11-02T15:00:00Z",
            "orderItems": [
                {"orderItemId": line.order_item_id, "quantity": line.quantity}
                for line in order.lines
            ],
        },
    }


def test_resending_a_package_of_a_fulfilled_order_is_refused_in_amazons_words(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    order = _released_order(amazon)
    assert client.confirm_shipment(order.order_id, _confirmation(order, "7")).status_code == 204

    again = client.confirm_shipment(order.order_id, _confirmation(order, "7"))
    another = client.confirm_shipment(order.order_id, _confirmation(order, "8"))

    for refused in (again, another):
        assert refused.status_code == 400
        assert "order already fulfilled" in refused.json()["errors"][0]["message"]
    assert list(order.packages) == ["7"], "the resend recorded nothing"
    packages = client.get_order(order.order_id, includedData="PACKAGES").json()["order"]
    assert [p["packageReferenceId"] for p in packages["packages"]] == ["7"]


def test_a_feed_patch_without_a_product_type_is_invalid(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    untyped = _quantity_message(2, "SKU-0002", 3)
    del untyped["productType"]
    document = {
        "header": {"sellerId": SELLER_ID, "version": "2.0"},
        "messages": [_quantity_message(1, "SKU-0001", 9), untyped],
    }
    feed_id = _submit(amazon, client, document)
    amazon.advance(31)

    feed, report = _processing_report(amazon, client, feed_id)

    assert feed["processingStatus"] == "DONE"
    assert [(i["messageId"], i["sku"], i["severity"]) for i in report["issues"]] == [
        (2, "SKU-0002", "ERROR")
    ]
    assert "productType" in report["issues"][0]["message"]
    assert amazon.sandbox.state.listings["SKU-0001"].mfn_quantity == 9


def test_merchant_listings_report_lists_every_listing_with_its_quantity(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    amazon.sandbox.state.set_mfn_quantity("SKU-0003", 42)
    created = client.call(
        REPORTS,
        "createReport",
        "POST",
        "/reports/2021-06-30/reports",
        json={"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": [US]},
    )
    assert created.status_code == 202
    report_id = created.json()["reportId"]
    amazon.advance(21)

    done = client.call(REPORTS, "getReport", "GET", f"/reports/2021-06-30/reports/{report_id}")
    assert done.json()["processingStatus"] == "DONE"
    document = client.call(
        REPORTS,
        "getReportDocument",
        "GET",
        f"/reports/2021-06-30/documents/{done.json()['reportDocumentId']}",
    ).json()
    flat = amazon.http.get(document["url"])
    rows = list(csv.DictReader(io.StringIO(flat.text), delimiter="\t"))

    listings = amazon.sandbox.state.listings
    assert {row["seller-sku"]: int(row["quantity"]) for row in rows} == {
        sku: listing.mfn_quantity for sku, listing in listings.items()
    }
    assert {row["fulfillment-channel"] for row in rows} == {"DEFAULT"}
    by_sku = {row["seller-sku"]: row for row in rows}
    assert by_sku["SKU-0003"]["status"] == "Active"
    assert by_sku["SKU-0003"]["asin1"] == listings["SKU-0003"].asin
