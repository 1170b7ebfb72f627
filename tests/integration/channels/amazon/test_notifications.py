"""Amazon ORDER_CHANGE notifications into ordermesh, over real HTTP both ways: the sandbox
POSTs its notifications to ordermesh's endpoint, ordermesh reads the order back with getOrder.

Here the sandbox runs on its own clock and ticker (not the manual clock of the other Amazon
tests): the point is that an order arrives in seconds of real time, with no sync at all."""

from __future__ import annotations

import copy
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from ordermesh.adapters.channels.amazon.notifications import UNKNOWN_SELLER_SOURCE
from ordermesh.adapters.db import tables as t
from ordermesh.bootstrap import Ordermesh
from ordermesh.domain.commands import SyncChannel
from ordermesh.entrypoints.api.app import create_app as create_api
from ordermesh.ports.channels import ChannelAccount
from ordermesh.sandbox.amazon import SandboxConfig, create_app
from ordermesh.services.handlers.channels import ChannelSync
from ordermesh.simulation.world import Served, bind, serve

from .conftest import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, SELLER_ID, US

NOTIFICATION_SECRET = "notification-secret-for-tests"
PATH = "/webhooks/amazon/notifications"


@dataclass
class Wired:
    om: Ordermesh
    account: ChannelAccount
    amazon: httpx.Client
    api_url: str

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.amazon.request(method, "/_sandbox" + path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    def requests(self, operation: str) -> int:
        return int(self.admin("GET", "/stats")["requests"].get(operation, 0))

    def notifications(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "/notifications", params={"after": 0})["notifications"])

    def orders(self) -> dict[str, str]:
        o = t.orders.c
        with self.om.db.reader.connect() as conn:
            rows = conn.execute(
                select(o.channel_order_id, o.status).where(o.channel == "amazon")
            ).all()
        return {r.channel_order_id: r.status for r in rows}

    def wait_for(self, order_ids: list[str], timeout: float = 10.0) -> float:
        start = time.monotonic()
        while not set(order_ids) <= set(self.orders()):
            assert time.monotonic() - start < timeout, f"not imported: {order_ids}"
            time.sleep(0.05)
        return time.monotonic() - start

    def idle(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.om.amazon_notifications.idle:
            assert time.monotonic() < deadline, "notifications still being applied"
            time.sleep(0.02)
        self.om.writes.submit(lambda: None).result(timeout=timeout)

    def post(self, payload: Any, secret: str | None = NOTIFICATION_SECRET) -> httpx.Response:
        headers = {"x-notification-secret": secret} if secret is not None else {}
        with httpx.Client(base_url=self.api_url, timeout=10.0) as api:
            return api.post(PATH, json=payload, headers=headers)

    def inbox(self, source: str | None = None) -> list[Any]:
        i = t.inbox.c
        query = select(i.source, i.key, i.error, i.processed_at)
        if source is not None:
            query = query.where(i.source == source)
        with self.om.db.reader.connect() as conn:
            return list(conn.execute(query).all())


@pytest.fixture
def wired(om: Ordermesh) -> Iterator[Wired]:
    api_socket, api_url = bind()
    amazon_socket, amazon_url = bind()
    account = om.channel_adapters.accounts.register(
        channel="amazon",
        name="Amazon US",
        settings={
            "selling_partner_id": SELLER_ID,
            "region": "NA",
            "marketplace_ids": [US],
            "lwa_client_id": CLIENT_ID,
            "endpoint": "custom",
            "api_base_url": amazon_url,
            # The sandbox shows changes at once here, so a poll can be run right after.
            "sync_settle_seconds": 0,
        },
        secrets={
            "lwa_client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
            "notification_secret": NOTIFICATION_SECRET,
        },
        sync_from=om.clock.now().replace(year=2020),
    )
    sandbox = create_app(
        SandboxConfig(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            refresh_token=REFRESH_TOKEN,
            seller_id=SELLER_ID,
            marketplaces=(US,),
            orders_per_minute=0.0,
            seed=5,
            listings=8,
            visibility_lag_seconds=0.0,
            notification_url=api_url + PATH,
            notification_secret=NOTIFICATION_SECRET,
            tick_seconds=0.1,
        )
    )
    served: list[Served] = [serve(create_api(om), api_socket), serve(sandbox, amazon_socket)]
    try:
        with httpx.Client(base_url=amazon_url, timeout=10.0) as http:
            yield Wired(om, account, http, api_url)
    finally:
        for s in reversed(served):
            s.stop()


def test_an_order_placed_on_amazon_is_imported_within_seconds_without_a_sync(
    wired: Wired,
) -> None:
    placed = wired.admin("POST", "/orders", json={"count": 3})["orders"]
    order_ids = [o["AmazonOrderId"] for o in placed]

    took = wired.wait_for(order_ids)

    assert took < 5.0
    # Amazon holds them Pending: imported, not allocated.
    assert set(wired.orders().values()) == {"pending"}
    assert wired.requests("searchOrders") == 0, "no sync ran"
    assert wired.requests("getOrder") == 3
    wired.idle()
    processed = wired.inbox(f"amazon-notification:{wired.account.id}")
    assert len(processed) == 3
    assert all(r.processed_at is not None and r.error is None for r in processed)


def test_the_later_poll_and_a_resent_notification_change_nothing(wired: Wired) -> None:
    order_id = wired.admin("POST", "/orders", json={"count": 1})["orders"][0]["AmazonOrderId"]
    wired.wait_for([order_id])
    wired.idle()
    versions = wired.inbox(f"amazon:{wired.account.id}")
    getorders = wired.requests("getOrder")

    resent = wired.post(wired.notifications()[-1]["payload"])
    wired.idle()
    syncer = ChannelSync(
        wired.om.channel_adapters.accounts,
        wired.om.channel_adapters.connectors,
        wired.om.handle,
        wired.om.clock,
    )
    report = syncer.sync(SyncChannel(wired.account.id))

    assert resent.status_code == 200
    assert resent.json()["status"] == "duplicate"
    assert wired.requests("getOrder") == getorders, "a duplicate is not read again"
    assert report.error is None
    assert wired.requests("searchOrders") >= 1
    assert list(wired.orders()) == [order_id]
    assert wired.inbox(f"amazon:{wired.account.id}") == versions, "the poll's version was in"


def test_past_the_getorder_budget_the_summary_brings_the_order_in_and_the_poll_the_rest(
    wired: Wired,
) -> None:
    # getOrder allows a burst of 30 then one every 2 s: a burst of orders outruns it.
    placed = wired.admin("POST", "/orders", json={"count": 40})["orders"]
    order_ids = [o["AmazonOrderId"] for o in placed]

    took = wired.wait_for(order_ids)
    wired.idle()

    assert took < 10.0
    assert wired.requests("searchOrders") == 0
    assert wired.requests("getOrder") < 40, "some came from the notification's summary"
    assert wired.om.channel_adapters.buckets.levels("amazon:")  # paced by the shared bucket
    assert int(wired.admin("GET", "/stats")["throttled"]) == 0
    ours = wired.orders()
    assert all(ours[o] == "pending" for o in order_ids)
    syncer = ChannelSync(
        wired.om.channel_adapters.accounts,
        wired.om.channel_adapters.connectors,
        wired.om.handle,
        wired.om.clock,
    )
    assert syncer.sync(SyncChannel(wired.account.id)).error is None
    o, ln = t.orders.c, t.order_lines.c
    with wired.om.db.reader.connect() as conn:
        lines = conn.execute(
            select(o.channel_order_id, ln.channel_line_id, ln.channel_sku, ln.quantity)
            .join(t.order_lines, ln.order_id == o.id)
            .where(o.channel == "amazon")
        ).all()
    truth = {
        (p["AmazonOrderId"], i["OrderItemId"], i["SellerSKU"], i["QuantityOrdered"])
        for p in wired.admin("GET", "/orders")["orders"]
        for i in p["OrderItems"]
    }
    assert sorted(wired.orders()) == sorted(order_ids), "no duplicates after the poll"
    assert set(map(tuple, lines)) == truth


@pytest.mark.parametrize("secret", ["not-the-secret", "", None])
def test_a_forged_notification_is_refused_and_stores_nothing(
    wired: Wired, secret: str | None
) -> None:
    order_id = wired.admin("POST", "/orders", json={"count": 1})["orders"][0]["AmazonOrderId"]
    wired.wait_for([order_id])
    wired.idle()
    forged = copy.deepcopy(wired.notifications()[-1]["payload"])
    forged["NotificationMetadata"]["NotificationId"] = str(uuid.uuid4())
    forged["Payload"]["OrderChangeNotification"]["AmazonOrderId"] = "111-0000000-0000000"
    before = len(wired.inbox())

    answer = wired.post(forged, secret=secret)

    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert len(wired.inbox()) == before
    assert "111-0000000-0000000" not in wired.orders()


def test_a_notification_for_an_unknown_seller_is_logged_and_dropped_visibly(
    wired: Wired, caplog: pytest.LogCaptureFixture
) -> None:
    order_id = wired.admin("POST", "/orders", json={"count": 1})["orders"][0]["AmazonOrderId"]
    wired.wait_for([order_id])
    wired.idle()
    stranger = copy.deepcopy(wired.notifications()[-1]["payload"])
    stranger["NotificationMetadata"]["NotificationId"] = str(uuid.uuid4())
    stranger["Payload"]["OrderChangeNotification"]["SellerId"] = "A2SOMEONEELSE"
    getorders = wired.requests("getOrder")

    with caplog.at_level(logging.WARNING, logger="ordermesh"):
        answer = wired.post(stranger)

    assert answer.status_code == 200
    assert answer.json()["status"] == "dropped"
    assert "A2SOMEONEELSE" in answer.json()["reason"]
    assert wired.om.amazon_notifications.dropped == 1
    assert any("A2SOMEONEELSE" in r.getMessage() for r in caplog.records)
    [row] = wired.inbox(UNKNOWN_SELLER_SOURCE)
    assert row.processed_at is not None
    assert "A2SOMEONEELSE" in row.error
    assert wired.requests("getOrder") == getorders
    with wired.om.db.reader.connect() as conn:
        amazon_orders = conn.execute(
            select(func.count()).select_from(t.orders).where(t.orders.c.channel == "amazon")
        ).scalar_one()
    assert amazon_orders == 1
