"""The stock-sync engine driving the real Shopify connector against the sandboxed shop: a
push round sets Shopify's figure, a shop that is down keeps its pushes queued and gets only
the latest figure when it is back, and drift made in Shopify's admin is found and healed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import stamina

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain import commands as c
from tests.builders.catalogue import a_location, a_product, stock
from tests.builders.ordermesh import ManualClock, an_ordermesh

from .conftest import Shop, wire

ATTEMPTS = 3
"""Tries per call to Shopify before the connector gives up (the client's retry policy)."""


@pytest.fixture(autouse=True)
def no_backoff_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=ATTEMPTS):
        yield


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))


@pytest.fixture
def om(database_url: str, clock: ManualClock) -> Iterator[Ordermesh]:
    with an_ordermesh(database_url, clock) as app:
        yield app


def levels(shop: Shop) -> list[dict[str, Any]]:
    return shop.admin("GET", "/inventory")


def shown(shop: Shop, sku: str, location_id: int) -> int:
    return next(
        lv["available"]
        for lv in levels(shop)
        if lv["sku"] == sku and lv["location_id"] == location_id
    )


def test_the_shop_follows_our_figures_through_an_outage_and_a_hand_edit(
    om: Ordermesh, shop: Shop, clock: ManualClock
) -> None:
    where = min(lv["location_id"] for lv in levels(shop))
    skus = sorted({lv["sku"] for lv in levels(shop)})[:2]
    wired = wire(om, shop, locations={str(where): "WH1"})
    account = wired.account.id
    om.stock_sync_jobs.connectors = shop.connector
    a_location(om, "WH1")
    for sku in skus:
        a_product(om, sku)
        om.handle(c.UpsertListing(account, sku, sku))
        stock(om, sku, 6)

    assert om.stock_sync_jobs.push_round(account).drained.sent == 2
    assert [shown(shop, s, where) for s in skus] == [6, 6]

    # Down for as long as one call's retries last: the round fails, the shop comes back.
    shop.admin("POST", "/faults", {"graphql_server_error": ATTEMPTS})
    stock(om, skus[0], 3)
    clock.advance(seconds=1)  # past the second in which ordinary changes are gathered
    failed = om.stock_sync_jobs.push_round(account)
    assert failed.backoff
    assert failed.drained.sent == 0
    clock.advance(minutes=1)
    stock(om, skus[0], 2)
    assert om.stock_sync.status(account)[0].depth == 1
    assert shop.admin("GET", "/faults")["graphql"]["server_error"] == 0
    clock.advance(minutes=10)
    assert om.stock_sync_jobs.push_round(account).drained.sent == 1
    assert shown(shop, skus[0], where) == 11, "the latest figure, nothing lost"

    shop.admin("PUT", "/inventory", {"sku": skus[1], "location_id": where, "available": 30})
    found = om.stock_sync_jobs.reconcile(account)
    assert (found.checked, found.drifted, found.healed) == (2, 1, 1)
    om.stock_sync_jobs.push_round(account)
    assert shown(shop, skus[1], where) == 6
    assert om.stock_sync_jobs.reconcile(account).drifted == 0
    assert shop.admin("GET", "/stats")["throttled"] == 0, "within Shopify's cost budget"
