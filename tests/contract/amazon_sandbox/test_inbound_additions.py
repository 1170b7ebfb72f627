"""The sandbox's inbound answers follow Amazon's models: FBA inventory pages with a
short-lived nextToken, gzipped report documents, and a refused duplicate MCF order."""

from __future__ import annotations

import csv
import gzip
import io

from amazon_sandbox_harness import US, RunningSandbox, SpApiClient, StartSandbox

from ordermesh.sandbox.amazon import OrderRequest

FBA = "fbaInventory.json"
REPORTS = "reports_2021-06-30.json"
MCF = "fulfillmentOutbound_2020-07-01.json"
SUMMARIES = "/fba/inventory/v1/summaries"
QUERY = {
    "granularityType": "Marketplace",
    "granularityId": US,
    "marketplaceIds": US,
    "details": "true",
}


def test_fba_summaries_come_in_pages_of_fifty_with_a_token_that_lives_thirty_seconds(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    listings = [{"sku": f"FBA-{n:03d}", "fbaQuantity": 3} for n in range(60)]
    assert amazon.admin("POST", "/listings", json={"listings": listings}).is_success

    first = client.call(FBA, "getInventorySummaries", "GET", SUMMARIES, params=QUERY).json()
    token = first["pagination"]["nextToken"]
    second = client.call(
        FBA, "getInventorySummaries", "GET", SUMMARIES, params={**QUERY, "nextToken": token}
    ).json()
    amazon.advance(1)  # the usage plan is 2 requests a second, burst 2
    other_query = amazon.client().call(
        FBA,
        "getInventorySummaries",
        "GET",
        SUMMARIES,
        params={**QUERY, "details": "false", "nextToken": token},
    )
    amazon.advance(31)
    expired = amazon.client().call(
        FBA, "getInventorySummaries", "GET", SUMMARIES, params={**QUERY, "nextToken": token}
    )

    skus = [
        s["sellerSku"] for page in (first, second) for s in page["payload"]["inventorySummaries"]
    ]
    assert len(skus) == len(set(skus)) == 72
    assert "pagination" not in second
    assert (other_query.status_code, expired.status_code) == (400, 400)


def test_a_large_report_document_is_gzipped_and_says_so(start_sandbox: StartSandbox) -> None:
    amazon = start_sandbox(gzip_reports_over_bytes=0)
    placed = amazon.sandbox.generate(3, OrderRequest(marketplace_id=US))
    amazon.advance(180)
    client = amazon.client()
    report_id = client.call(
        REPORTS,
        "createReport",
        "POST",
        "/reports/2021-06-30/reports",
        json={
            "reportType": "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL",
            "marketplaceIds": [US],
            "dataStartTime": "2026-11-01T00:00:00Z",
        },
    ).json()["reportId"]
    amazon.advance(21)
    document_id = (
        amazon.client()
        .call(REPORTS, "getReport", "GET", f"/reports/2021-06-30/reports/{report_id}")
        .json()["reportDocumentId"]
    )

    document = (
        amazon.client()
        .call(REPORTS, "getReportDocument", "GET", f"/reports/2021-06-30/documents/{document_id}")
        .json()
    )

    assert document["compressionAlgorithm"] == "GZIP"
    text = gzip.decompress(amazon.http.get(document["url"]).content).decode()
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    assert {row["amazon-order-id"] for row in rows} == {o.order_id for o in placed}


def test_a_known_seller_fulfillment_order_id_can_be_refused_as_amazon_may(
    start_sandbox: StartSandbox,
) -> None:
    client = start_sandbox(mcf_duplicate_create="already_exists").client()
    body = {
        "marketplaceId": US,
        "sellerFulfillmentOrderId": "MCF-DUP",
        "displayableOrderId": "MCF-DUP",
        "displayableOrderDate": "2026-11-02T11:00:00Z",
        "displayableOrderComment": "Thank you",
        "shippingSpeedCategory": "Standard",
        "destinationAddress": {
            "name": "Dana Buyer",
            "addressLine1": "1 Shop Street",
            "postalCode": "98109",
            "countryCode": "US",
        },
        "items": [{"sellerSku": "SKU-0001", "sellerFulfillmentOrderItemId": "1", "quantity": 1}],
    }
    path = "/fba/outbound/2020-07-01/fulfillmentOrders"

    first = client.call(MCF, "createFulfillmentOrder", "POST", path, json=body)
    again = client.call(MCF, "createFulfillmentOrder", "POST", path, json=body)

    assert (first.status_code, again.status_code) == (200, 400)
    assert "already exists" in again.json()["errors"][0]["message"]


def test_an_order_report_with_nothing_to_report_is_cancelled_as_the_model_says(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    report_id = client.call(
        REPORTS,
        "createReport",
        "POST",
        "/reports/2021-06-30/reports",
        json={
            "reportType": "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL",
            "marketplaceIds": [US],
            "dataStartTime": "2026-01-01T00:00:00Z",
            "dataEndTime": "2026-01-31T00:00:00Z",
        },
    ).json()["reportId"]
    amazon.advance(21)

    report = (
        amazon.client()
        .call(REPORTS, "getReport", "GET", f"/reports/2021-06-30/reports/{report_id}")
        .json()
    )

    assert report["processingStatus"] == "CANCELLED"
    assert "reportDocumentId" not in report
