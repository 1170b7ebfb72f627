"""Reports API 2021-06-30: the all-orders flat file."""

from __future__ import annotations

import csv
import io

from amazon_sandbox_harness import US, RunningSandbox, SpApiClient, validate_document

from ordermesh.sandbox.amazon import OrderRequest

REPORTS = "reports_2021-06-30.json"
BY_UPDATE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"


def _create(client: SpApiClient, **body: object) -> str:
    response = client.call(
        REPORTS, "createReport", "POST", "/reports/2021-06-30/reports", json=body
    )
    assert response.status_code == 202, response.text
    return str(response.json()["reportId"])


def _get(client: SpApiClient, report_id: str) -> dict[str, object]:
    response = client.call(REPORTS, "getReport", "GET", f"/reports/2021-06-30/reports/{report_id}")
    assert response.status_code == 200
    return dict(response.json())


def test_order_report_progresses_and_serves_a_tab_separated_file(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    placed = amazon.sandbox.generate(4, OrderRequest(marketplace_id=US))
    amazon.advance(180)
    report_id = _create(
        client,
        reportType=BY_UPDATE,
        marketplaceIds=[US],
        dataStartTime="2026-11-01T00:00:00Z",
    )

    statuses = [_get(client, report_id)["processingStatus"]]
    amazon.advance(10)
    statuses.append(_get(client, report_id)["processingStatus"])
    amazon.advance(10)
    done = _get(client, report_id)
    statuses.append(done["processingStatus"])

    assert statuses == ["IN_QUEUE", "IN_PROGRESS", "DONE"]
    document = client.call(
        REPORTS,
        "getReportDocument",
        "GET",
        f"/reports/2021-06-30/documents/{done['reportDocumentId']}",
    ).json()
    assert document["url"].startswith(amazon.base_url + "/")
    flat = amazon.http.get(document["url"])
    rows = list(csv.DictReader(io.StringIO(flat.text), delimiter="\t"))
    assert {row["amazon-order-id"] for row in rows} == {o.order_id for o in placed}
    assert sum(int(row["quantity"]) for row in rows) == sum(
        line.quantity for o in placed for line in o.lines
    )
    assert {row["order-status"] for row in rows} == {"Unshipped"}


def test_unknown_report_type_and_missing_marketplaces_are_refused(client: SpApiClient) -> None:
    unknown = client.call(
        REPORTS,
        "createReport",
        "POST",
        "/reports/2021-06-30/reports",
        json={"reportType": "GET_NOTHING", "marketplaceIds": [US]},
    )
    missing = client.call(
        REPORTS,
        "createReport",
        "POST",
        "/reports/2021-06-30/reports",
        json={"reportType": BY_UPDATE},
    )

    assert unknown.status_code == 400
    assert missing.status_code == 400


def test_unknown_report_is_not_found(client: SpApiClient) -> None:
    response = client.call(REPORTS, "getReport", "GET", "/reports/2021-06-30/reports/1")

    assert response.status_code == 404


def test_get_reports_lists_by_type(amazon: RunningSandbox, client: SpApiClient) -> None:
    report_id = _create(client, reportType=BY_UPDATE, marketplaceIds=[US])

    listed = client.call(
        REPORTS,
        "getReports",
        "GET",
        "/reports/2021-06-30/reports",
        params={"reportTypes": BY_UPDATE},
    ).json()

    assert [r["reportId"] for r in listed["reports"]] == [report_id]


def test_account_health_report_follows_amazons_schema(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    [order] = amazon.sandbox.generate(
        1,
        OrderRequest(marketplace_id=US, fulfillment_channel="MFN", cancel_while_pending=False),
    )
    amazon.advance(3 * 86400)
    client = amazon.client()
    report_id = _create(client, reportType="GET_V2_SELLER_PERFORMANCE_REPORT", marketplaceIds=[US])
    amazon.advance(21)

    done = _get(client, report_id)
    url = client.call(
        REPORTS,
        "getReportDocument",
        "GET",
        f"/reports/2021-06-30/documents/{done['reportDocumentId']}",
    ).json()["url"]
    health = amazon.http.get(url).json()

    validate_document("accountHealthReport-2020-11-18.json", health)
    late = health["performanceMetrics"][0]["lateShipmentRate"]
    # The order was never confirmed and its ship-by date has passed.
    assert (late["orderCount"], late["lateShipmentCount"], late["status"]) == (1, 1, "BAD")
    assert order.status == "Unshipped"
