"""Faults armed through /_sandbox/faults, one kind at a time."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from amazon_sandbox_harness import RunningSandbox, SpApiClient

SINCE = "2026-01-01T00:00:00Z"


def _arm(amazon: RunningSandbox, operation: str, kind: str, **extra: object) -> None:
    response = amazon.admin("POST", "/faults", json={"operation": operation, "kind": kind, **extra})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("503", 503)])
def test_server_errors_come_in_sp_api_shape_then_stop(
    amazon: RunningSandbox, client: SpApiClient, kind: str, status: int
) -> None:
    _arm(amazon, "searchOrders", kind, count=2)

    answers = [client.search_orders(createdAfter=SINCE) for _ in range(3)]

    assert [r.status_code for r in answers] == [status, status, 200]
    assert answers[0].json()["errors"][0]["code"]
    assert amazon.admin("GET", "/stats").json()["faultsServed"] == {kind: 2}


def test_faults_hit_only_their_operation(amazon: RunningSandbox, client: SpApiClient) -> None:
    _arm(amazon, "getOrders", "503")

    assert client.search_orders(createdAfter=SINCE).status_code == 200
    assert amazon.admin("GET", "/faults").json()["faults"][0]["operation"] == "getOrders"


def test_timeout_outlasts_the_clients_patience(amazon: RunningSandbox, client: SpApiClient) -> None:
    _arm(amazon, "searchOrders", "timeout", delaySeconds=1.0)

    with pytest.raises(httpx.ReadTimeout):
        client.call(
            "orders_2026-01-01.json",
            "searchOrders",
            "GET",
            "/orders/2026-01-01/orders",
            params={"createdAfter": SINCE},
            timeout=0.2,
        )

    assert client.search_orders(createdAfter=SINCE).status_code == 200


def test_truncated_json_cannot_be_parsed(amazon: RunningSandbox, client: SpApiClient) -> None:
    amazon.sandbox.generate(3)
    amazon.advance(180)
    _arm(amazon, "searchOrders", "truncated_json")

    response = client.call(
        "orders_2026-01-01.json",
        "searchOrders",
        "GET",
        "/orders/2026-01-01/orders",
        params={"createdAfter": SINCE},
        validate=False,
    )

    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)
    assert client.search_orders(createdAfter=SINCE).json()["orders"]


def _collect(client: SpApiClient, size: int) -> list[str]:
    ids: list[str] = []
    params = {"createdAfter": SINCE, "maxResultsPerPage": size}
    body = client.search_orders(**params).json()
    while True:
        ids.extend(o["orderId"] for o in body["orders"])
        token = body.get("pagination", {}).get("nextToken")
        if not token:
            return ids
        body = client.search_orders(**params, paginationToken=token).json()


def test_duplicate_page_serves_a_page_twice(amazon: RunningSandbox, client: SpApiClient) -> None:
    placed = amazon.sandbox.generate(6)
    amazon.advance(180)
    _arm(amazon, "searchOrders", "duplicate_page")

    ids = _collect(client, 3)

    assert len(ids) == 9
    assert ids[:3] == ids[3:6]
    assert set(ids) == {o.order_id for o in placed}


def test_overlapping_page_repeats_part_of_the_last_page(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    placed = amazon.sandbox.generate(6)
    amazon.advance(180)
    _arm(amazon, "searchOrders", "overlapping_page")

    ids = _collect(client, 4)

    assert len(ids) > len(set(ids))
    assert set(ids) == {o.order_id for o in placed}


def test_late_update_lands_behind_a_watermark(start_sandbox: Any) -> None:
    amazon = start_sandbox(pending_seconds=100_000)
    client = amazon.client()
    _arm(amazon, "searchOrders", "late_update", delaySeconds=600)
    [late] = amazon.sandbox.generate(1)
    [on_time] = amazon.sandbox.generate(1)
    amazon.advance(130)

    first = client.search_orders(lastUpdatedAfter=SINCE).json()
    watermark = first["lastUpdatedBefore"]
    amazon.advance(600)
    without_overlap = client.search_orders(lastUpdatedAfter=watermark).json()
    with_overlap = client.search_orders(lastUpdatedAfter="2026-11-02T11:00:00Z").json()
    truth = {o["AmazonOrderId"]: o for o in amazon.admin("GET", "/orders").json()["orders"]}

    assert [o["orderId"] for o in first["orders"]] == [on_time.order_id]
    assert without_overlap["orders"] == []
    assert truth[late.order_id]["LastUpdateDate"] < watermark
    assert late.order_id in {o["orderId"] for o in with_overlap["orders"]}
