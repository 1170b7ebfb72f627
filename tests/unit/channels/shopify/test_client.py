"""The client paces itself by Shopify's cost bucket and rides out throttling and outages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stamina

from ordermesh.adapters.channels.shopify.client import (
    CostPacer,
    ShopifyClient,
    ShopifyQueryError,
    ShopifyThrottled,
    ShopifyUnavailable,
)
from ordermesh.adapters.channels.shopify.settings import API_VERSION, ShopifySettings
from ordermesh.adapters.channels.shopify.wire import ThrottleStatus
from ordermesh.ports.channels import ChannelError, NeedsReauthorisation

SETTINGS = ShopifySettings(
    shop_domain="unit-shop.myshopify.com", access_token="shpat_unit", webhook_secret="s"
)


class Time:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def answer(
    data: dict[str, Any] | None = None,
    *,
    available: float = 1990.0,
    requested: float = 10.0,
    errors: list[dict[str, Any]] | None = None,
    maximum: float = 2000.0,
    restore: float = 100.0,
) -> httpx.Response:
    body: dict[str, Any] = {
        "extensions": {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": None if errors else requested,
                "throttleStatus": {
                    "maximumAvailable": maximum,
                    "currentlyAvailable": available,
                    "restoreRate": restore,
                },
            }
        }
    }
    if errors:
        body["errors"] = errors
    else:
        body["data"] = data or {"shop": {"name": "Unit shop"}}
    return httpx.Response(200, json=body)


THROTTLED = [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]


@pytest.fixture(autouse=True)
def no_backoff_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=5):
        yield


def client_with(
    responses: list[httpx.Response | Exception], clock: Time
) -> tuple[ShopifyClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    http = httpx.Client(transport=httpx.MockTransport(handler))
    pacer = CostPacer(clock.monotonic)
    return ShopifyClient(SETTINGS, http=http, pacer=pacer, sleep=clock.sleep), seen


def test_a_query_goes_to_the_pinned_version_with_the_access_token() -> None:
    client, seen = client_with([answer({"shop": {"name": "x"}})], Time())

    result = client.execute("{ shop { name } }")

    assert result.data == {"shop": {"name": "x"}}
    request = seen[0]
    assert str(request.url) == (
        f"https://unit-shop.myshopify.com/admin/api/{API_VERSION}/graphql.json"
    )
    assert request.headers["X-Shopify-Access-Token"] == "shpat_unit"
    assert json.loads(request.content)["query"] == "{ shop { name } }"


def test_the_next_query_waits_until_the_bucket_holds_its_cost() -> None:
    clock = Time()
    client, _ = client_with(
        [
            answer(requested=500, available=200, restore=50),
            answer(requested=500, available=0, restore=50),
        ],
        clock,
    )

    client.execute("query Big { shop { name } }")
    client.execute("query Big { shop { name } }")

    # 200 points left, 500 wanted, 50 a second back: six seconds before the second query,
    # and a tenth of a second to spare.
    assert clock.slept == [pytest.approx(6.1)]


def test_a_reconciliation_read_leaves_half_the_bucket_for_the_pushes() -> None:
    clock = Time()
    client, _ = client_with(
        [
            answer(requested=10, available=1200, restore=100),
            answer(requested=750, available=1990, restore=100),
            answer(requested=10, available=1990, restore=100),
        ],
        clock,
    )
    client.execute("{ shop { name } }")

    # 1,200 points left: a push of 750 would go now; a background read of 750 waits until
    # the bucket also holds the 1,000 it leaves for the rest (5.6 s at 100 a second).
    client.execute("query Levels { shop { name } }", expected_cost=750, background=True)
    assert clock.slept == [pytest.approx(5.6)]
    client.execute("{ shop { name } }")
    assert clock.slept == [pytest.approx(5.6)], "the others are not held back"


def test_no_wait_while_the_bucket_is_full_enough() -> None:
    clock = Time()
    client, _ = client_with([answer(requested=10), answer(requested=10)], clock)
    client.execute("{ shop { name } }")
    client.execute("{ shop { name } }")
    assert clock.slept == []


def test_a_throttled_query_is_sent_again_once_the_bucket_has_refilled() -> None:
    clock = Time()
    client, seen = client_with(
        [answer(errors=THROTTLED, requested=300, available=100, restore=50), answer()], clock
    )

    result = client.execute("query Q { shop { name } }")

    assert result.data == {"shop": {"name": "Unit shop"}}
    assert len(seen) == 2
    assert client.throttled == 1
    assert clock.slept == [pytest.approx(4.1)]


def test_a_shop_that_keeps_throttling_is_reported_not_hammered() -> None:
    clock = Time()
    client, seen = client_with(
        [answer(errors=THROTTLED, requested=300, available=0, restore=50)] * 6, clock
    )

    with pytest.raises(ShopifyThrottled) as failed:
        client.execute("query Q { shop { name } }")

    assert isinstance(failed.value, ChannelError)
    assert len(seen) == 6
    assert all(wait >= 6.0 for wait in clock.slept)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503, json={"errors": "Service Unavailable"}),
        httpx.Response(500, json={"errors": "Internal Server Error"}),
        httpx.Response(429, headers={"Retry-After": "2.0"}),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("connection refused"),
    ],
    ids=["503", "500", "429", "timeout", "connect"],
)
def test_a_passing_failure_is_retried(failure: httpx.Response | Exception) -> None:
    client, seen = client_with([failure, failure, answer()], Time())

    assert client.execute("{ shop { name } }").data == {"shop": {"name": "Unit shop"}}
    assert len(seen) == 3


def test_a_shop_that_stays_down_is_a_channel_error_that_names_it() -> None:
    client, seen = client_with([httpx.Response(503)] * 5, Time())

    with pytest.raises(ShopifyUnavailable) as failed:
        client.execute("{ shop { name } }")

    assert "HTTP 503" in str(failed.value)
    assert "unit-shop.myshopify.com" in str(failed.value)
    assert len(seen) == 5


def test_a_revoked_token_asks_for_reauthorisation_at_once() -> None:
    client, seen = client_with([httpx.Response(401, json={"errors": "Invalid API key"})], Time())

    with pytest.raises(NeedsReauthorisation):
        client.execute("{ shop { name } }")
    assert len(seen) == 1


def test_a_refused_query_says_why() -> None:
    errors = [{"message": "Field 'nope' doesn't exist on type 'Shop'"}]
    body = {"errors": errors, "extensions": {"cost": {"requestedQueryCost": 1}}}
    client, _ = client_with([httpx.Response(200, json=body)], Time())

    with pytest.raises(ShopifyQueryError, match="doesn't exist"):
        client.execute("{ shop { nope } }")


def test_clients_of_one_shop_share_its_bucket() -> None:
    clock = Time()
    pacer = CostPacer(clock.monotonic)
    pacer.observe(ThrottleStatus(maximum_available=1000, currently_available=200, restore_rate=50))

    assert pacer.take(100) == 0.0
    # 100 left, and 200 wanted with a tenth of a second to spare: nothing spent meanwhile.
    assert pacer.take(200) == pytest.approx(2.1)
    clock.now += 1.0
    assert pacer.take(200) == pytest.approx(1.1)
    assert pacer.available() == pytest.approx(150.0)


def test_an_answer_does_not_give_back_points_another_query_in_flight_has_spent() -> None:
    clock = Time()
    pacer = CostPacer(clock.monotonic)
    pacer.observe(ThrottleStatus(maximum_available=1000, currently_available=1000, restore_rate=50))
    assert pacer.take(400) == 0.0  # the push loop's query
    assert pacer.take(400) == 0.0  # the sync's, sent before the first is answered

    # Shopify answers the first having counted only that one.
    pacer.observe(
        ThrottleStatus(maximum_available=1000, currently_available=600, restore_rate=50), 400
    )

    assert pacer.available() == pytest.approx(200.0)
    assert pacer.take(400) > 0


def test_a_query_that_failed_is_no_longer_counted_in_flight() -> None:
    clock = Time()
    pacer = CostPacer(clock.monotonic)
    assert pacer.take(300) == 0.0
    pacer.settle(300)

    pacer.observe(ThrottleStatus(maximum_available=1000, currently_available=1000, restore_rate=50))

    assert pacer.available() == pytest.approx(1000.0)
