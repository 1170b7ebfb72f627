"""Webhooks dropped, resent and reordered by the shop: the poll makes ordermesh whole again.

A sandboxed shop sends its webhooks over real HTTP to a running ordermesh API; the sandbox
loses some, sends some twice and swaps some. The reconciliation poll, run through the
ChannelConnector port by the sync use case, then brings every order to exactly what the shop
shows."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from ordermesh.adapters.channels.shopify import mapping, wire
from ordermesh.adapters.db import tables as t
from ordermesh.bootstrap import Ordermesh
from ordermesh.domain.commands import ChannelState, SyncChannel
from ordermesh.services.handlers.channels import ChannelSync
from tests.builders.catalogue import a_location, a_product, stock

from .conftest import Shop, Wired, bind, serve
from .conftest import wire as wire_shopify

# What each Shopify state leaves an order in, given plenty of stock in ordermesh.
EXPECTED_STATUS = {
    ChannelState.PENDING: "pending",
    ChannelState.RELEASED: "allocated",
    ChannelState.CANCELLED: "cancelled",
    ChannelState.SHIPPED: "shipped",
    ChannelState.PARTIALLY_SHIPPED: "partially_shipped",
}


@dataclass
class Running:
    shop: Shop
    wired: Wired

    def settle(self, timeout: float = 15.0) -> None:
        """Wait until every delivery ordermesh accepted has been applied."""
        self.shop.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            delivered = sum(
                1 for a in self.shop.admin("GET", "/deliveries") if a["outcome"] == "delivered"
            )
            with self.wired.om.db.reader.connect() as conn:
                stored = conn.execute(
                    select(func.count())
                    .select_from(t.inbox)
                    .where(t.inbox.c.source.like("shopify-webhook:%"))
                ).scalar_one()
                waiting = conn.execute(
                    select(func.count())
                    .select_from(t.inbox)
                    .where(
                        t.inbox.c.source.like("shopify-webhook:%"),
                        t.inbox.c.processed_at.is_(None),
                    )
                ).scalar_one()
            if waiting == 0 and stored >= min(delivered, 1):
                return
            time.sleep(0.05)
        raise AssertionError("ordermesh did not apply the webhooks in time")

    def truth(self) -> dict[str, dict[str, Any]]:
        """Every order as the shop shows it, translated the way the connector would."""
        out = {}
        for payload in self.shop.admin("GET", "/orders"):
            snapshot = mapping.from_webhook(
                wire.RestOrder.model_validate(payload), account_id=self.wired.account.id
            )
            out[snapshot.channel_order_id] = {
                "status": EXPECTED_STATUS[snapshot.state],
                "total": snapshot.total,
                # ordermesh keeps the lines an order arrived with; a later refund is a return,
                # not a change of what was ordered.
                "line_ids": {str(line["id"]) for line in payload["line_items"]},
            }
        return out

    def ours(self) -> dict[str, dict[str, Any]]:
        return {
            order_id: {
                "status": order["status"],
                "total": order["total"],
                "line_ids": {line["channel_line_id"] for line in order["lines"]},
            }
            for order_id, order in self.wired.orders().items()
        }

    def sync(self) -> Any:
        sync = ChannelSync(
            self.wired.accounts,
            lambda account: self.shop.connector(account),
            self.wired.om.handle,
            self.wired.om.clock,
        )
        return sync.sync(SyncChannel(self.wired.account.id))


@pytest.fixture
def running(om: Ordermesh, start_shop: Callable[..., Shop]) -> Iterator[Running]:
    sock, ordermesh_url = bind()
    shop = start_shop(webhook_url=f"{ordermesh_url}/webhooks/shopify", pending_share=0.3)
    wired = wire_shopify(om, shop)
    a_location(om, "WH1")
    for sku in sorted({level["sku"] for level in shop.admin("GET", "/inventory")}):
        a_product(om, sku)
        stock(om, sku, 500)
    server, thread, _ = serve(wired.app(), sock)
    try:
        yield Running(shop, wired)
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def test_orders_come_in_by_webhook_each_once(running: Running) -> None:
    shop = running.shop
    shop.admin("POST", "/faults", {"webhook_duplicate": 3, "webhook_reorder": 2})
    for _ in range(6):
        shop.admin("POST", "/generate", {"count": 1})
        shop.advance(2)

    running.settle()

    assert running.ours() == running.truth()
    assert len(running.ours()) == 6


def test_a_missed_webhook_costs_minutes_never_an_order(running: Running) -> None:
    shop = running.shop
    shop.admin("POST", "/faults", {"webhook_duplicate": 2, "webhook_reorder": 2})
    ids = []
    for _ in range(10):
        ids += shop.admin("POST", "/generate", {"count": 1})["order_ids"]
        shop.advance(2)
    running.settle()
    # From here on the shop loses webhooks: two new orders, a cancellation, a refund and a
    # payment never reach ordermesh by webhook.
    shop.admin("POST", "/faults", {"webhook_drop": 50})
    for _ in range(2):
        ids += shop.admin("POST", "/generate", {"count": 1})["order_ids"]
        shop.advance(2)
    shop.admin("POST", f"/orders/{ids[0]}/cancel", {"reason": "CUSTOMER"})
    shop.advance(2)
    paid = [o for o in shop.admin("GET", "/orders") if o["financial_status"] == "paid"]
    refunded = paid[1]
    shop.admin(
        "POST",
        f"/orders/{refunded['id']}/refund",
        {"lines": [{"line_item_id": refunded["line_items"][0]["id"], "quantity": 1}]},
    )
    shop.advance(2)
    pending = [o for o in shop.admin("GET", "/orders") if o["financial_status"] == "pending"]
    if pending:
        shop.admin("POST", f"/orders/{pending[0]['id']}/pay")
        shop.advance(2)
    running.settle()
    assert running.ours() != running.truth()

    report = running.sync()

    assert report.status == "synced", report.error
    assert report.unreadable == []
    assert running.ours() == running.truth()
    assert running.ours()[str(ids[0])]["status"] == "cancelled"
    assert len(running.ours()) == 12

    again = running.sync()
    assert again.imported.created == 0
    assert again.imported.updated == 0


def test_a_refund_webhook_brings_the_order_as_shopify_shows_it(running: Running) -> None:
    shop = running.shop
    order_id = shop.admin("POST", "/generate", {"count": 1})["order_ids"][0]
    shop.advance(2)
    running.settle()
    before = shop.admin("GET", "/orders")[0]
    lines = [{"line_item_id": li["id"], "quantity": li["quantity"]} for li in before["line_items"]]

    shop.admin("POST", f"/orders/{order_id}/refund", {"lines": lines})
    shop.advance(2)
    running.settle()

    topics = [a["topic"] for a in shop.admin("GET", "/deliveries")]
    assert "refunds/create" in topics
    assert running.ours() == running.truth()
    # Nothing is left to ship once every unit is refunded.
    assert running.ours()[str(order_id)]["status"] == "cancelled"


def test_the_poll_reads_every_page_of_a_busy_shop(running: Running) -> None:
    shop = running.shop
    shop.admin("POST", "/faults", {"webhook_drop": 1000})
    for _ in range(3):
        shop.admin("POST", "/generate", {"count": 20})
        shop.advance(5)

    report = running.sync()

    assert report.status == "synced", report.error
    assert report.pages >= 3
    assert running.ours() == running.truth()
    assert len(running.ours()) == len(shop.admin("GET", "/orders"))
    assert json.dumps(report.unreadable) == "[]"
