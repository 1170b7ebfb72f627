"""Usage plans: token buckets per (seller, operation) with the models' rate and burst."""

from __future__ import annotations

from typing import Any

from amazon_sandbox_harness import RunningSandbox, SpApiClient

SINCE = {"createdAfter": "2026-01-01T00:00:00Z"}


def test_search_orders_allows_its_burst_of_20_then_throttles(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    answers = [client.search_orders(**SINCE) for _ in range(21)]

    assert [r.status_code for r in answers[:20]] == [200] * 20
    throttled = answers[20]
    assert throttled.status_code == 429
    assert throttled.json() == {
        "errors": [
            {
                "code": "QuotaExceeded",
                "message": "You exceeded your quota for the requested resource.",
            }
        ]
    }
    assert throttled.headers["x-amzn-RateLimit-Limit"] == "0.0056"
    assert throttled.headers["x-amzn-RequestId"]
    stats = amazon.admin("GET", "/stats").json()
    assert stats["throttled"] == 1
    assert stats["throttledByOperation"] == {"searchOrders": 1}


def test_buckets_are_per_operation(amazon: RunningSandbox, client: SpApiClient) -> None:
    for _ in range(20):
        client.search_orders(**SINCE)

    other = client.get_orders(CreatedAfter=SINCE["createdAfter"], MarketplaceIds="ATVPDKIKX0DER")

    assert other.status_code == 200
    assert other.headers["x-amzn-RateLimit-Limit"] == "0.0167"


def test_a_client_that_keeps_to_the_rate_is_never_throttled(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    statuses = []
    for _ in range(60):
        statuses.append(client.search_orders(**SINCE).status_code)
        amazon.advance(1 / 0.0056)
        if len(statuses) % 15 == 0:
            client = amazon.client()

    assert set(statuses) == {200}
    assert amazon.admin("GET", "/stats").json()["throttled"] == 0


def test_the_bucket_refills_at_the_models_rate(amazon: RunningSandbox, client: SpApiClient) -> None:
    for _ in range(10):
        client.confirm_shipment("111-0000000-0000000", {})
    assert client.confirm_shipment("111-0000000-0000000", {}).status_code == 429

    amazon.advance(0.5)

    assert client.confirm_shipment("111-0000000-0000000", {}).status_code == 400


def test_rate_limits_can_be_switched_off(start_sandbox: Any) -> None:
    amazon = start_sandbox(rate_limits=False)
    client = amazon.client()

    answers = [client.search_orders(**SINCE).status_code for _ in range(30)]

    assert set(answers) == {200}


def test_rate_limits_can_be_switched_off_at_runtime(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    for _ in range(20):
        client.search_orders(**SINCE)

    amazon.admin("POST", "/rate-limits", json={"enabled": False})

    assert client.search_orders(**SINCE).status_code == 200
