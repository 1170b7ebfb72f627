"""An Amazon seller in ordermesh's Amazon sandbox, over real HTTP on a loopback port.

One uvicorn server serves the whole session; each test plugs a fresh sandbox (its own seed,
orders and manual clock) into it. The connector, its rate-limit buckets and its LWA token
cache run on the sandbox's clock, and waiting for a rate-limit token moves that clock: a
three-minute wait for Amazon's next searchOrders token takes no real time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from ordermesh.adapters.channels import ChannelAdapters, channel_adapters
from ordermesh.adapters.channels.amazon.client import RetryPolicy
from ordermesh.adapters.channels.amazon.settings import (
    AmazonAccountSettings,
    AmazonCredentials,
    stored,
)
from ordermesh.adapters.db import tables as t
from ordermesh.bootstrap import Ordermesh
from ordermesh.domain.commands import SyncChannel
from ordermesh.ports.channels import ChannelAccount
from ordermesh.sandbox.amazon import ManualClock, Sandbox, SandboxConfig, create_app
from ordermesh.services.handlers.channels import SETTLE, TRAIL_SETTING, ChannelSync, SyncReport

CLIENT_ID = "amzn1.application-oa2-client.ordermesh-tests"
CLIENT_SECRET = "lwa-client-secret-for-tests"
REFRESH_TOKEN = "Atzr|ordermesh-tests-refresh-token"
SELLER_ID = "A1ORDERMESHTST"
US, DE = "ATVPDKIKX0DER", "A1PA6795UKMFR9"
SECRET_KEY = "a-test-secret-key-that-is-long-enough-for-production-rules"

# Quick retries: the faults are injected, there is nobody to be polite to.
FAST_RETRY = RetryPolicy(
    attempts=8,
    wait_initial=0.01,
    wait_max=0.05,
    wait_jitter=0.01,
    give_up_after=30.0,
    request_timeout=1.0,
)

# What an order in ordermesh may be for each of Amazon's (v0) statuses: an Unshipped order is
# open (held: the test catalogue knows none of the seller's SKUs), or allocated if stocked.
EXPECTED_STATUS = {
    "Pending": {"pending"},
    "Unshipped": {"open", "allocated", "backordered"},
    "PartiallyShipped": {"partially_shipped"},
    "Shipped": {"shipped"},
    "Canceled": {"cancelled"},
}


class Switchboard:
    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def switchboard() -> Iterator[tuple[Switchboard, str]]:
    board = Switchboard()
    server = uvicorn.Server(
        uvicorn.Config(board, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the sandbox did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield board, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class AmazonSandbox:
    sandbox: Sandbox
    clock: ManualClock
    url: str
    http: httpx.Client

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, "/_sandbox" + path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def place_orders(self, count: int, **request: Any) -> list[str]:
        placed = self.admin("POST", "/orders", json={"count": count, **request})["orders"]
        return [o["AmazonOrderId"] for o in placed]

    def arm(self, kind: str, count: int = 1, **extra: Any) -> None:
        self.admin(
            "POST",
            "/faults",
            json={"operation": "searchOrders", "kind": kind, "count": count, **extra},
        )

    def truth(self) -> dict[str, dict[str, Any]]:
        """Every order Amazon has, as the sandbox's ground-truth endpoint tells it."""
        return {o["AmazonOrderId"]: o for o in self.admin("GET", "/orders")["orders"]}

    def stats(self) -> dict[str, Any]:
        return self.admin("GET", "/stats")

    def throttled(self) -> int:
        return int(self.stats()["throttled"])

    def let_time_pass(self, seconds: float) -> None:
        """The sandbox catches up with its clock when asked something: ask it right away, so
        that what falls due happens at its due time, not at the next sync."""
        self.clock.advance(seconds)
        self.stats()

    def settle(self) -> None:
        """Long enough for pending orders to be released, then for the release to fall inside
        a window that ends `SETTLE` before now."""
        self.let_time_pass(self.sandbox.config.pending_seconds + 1)
        self.let_time_pass(SETTLE.total_seconds() + 1)


@pytest.fixture
def amazon(switchboard: tuple[Switchboard, str]) -> Iterator[AmazonSandbox]:
    board, url = switchboard
    clock = ManualClock()
    config = SandboxConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH_TOKEN,
        seller_id=SELLER_ID,
        marketplaces=(US, DE),
        orders_per_minute=0.0,
        seed=11,
        listings=12,
    )
    app = create_app(config, clock)
    board.app = app
    with httpx.Client(base_url=url, timeout=10.0) as http:
        yield AmazonSandbox(app.state.sandbox, clock, url, http)
    board.app = None


@dataclass
class Seller:
    """A seller who connected their Amazon account to ordermesh."""

    om: Ordermesh
    amazon: AmazonSandbox
    channels: ChannelAdapters
    account: ChannelAccount
    syncer: ChannelSync

    def sync(self) -> SyncReport:
        return self.syncer.sync(SyncChannel(self.account.id))

    def reload(self) -> ChannelAccount:
        return self.channels.accounts.get(self.account.id)

    def orders(self) -> dict[str, dict[str, Any]]:
        """ordermesh's Amazon orders by Amazon order id, with their lines."""
        o, ln = t.orders.c, t.order_lines.c
        with self.om.db.reader.connect() as conn:
            rows = conn.execute(select(t.orders).where(o.channel == "amazon")).all()
            lines = conn.execute(select(t.order_lines).order_by(ln.order_id, ln.line_no)).all()
        by_id: dict[str, list[tuple[str, str, int]]] = {}
        for line in lines:
            by_id.setdefault(line.order_id, []).append(
                (line.channel_line_id, line.channel_sku, line.quantity)
            )
        return {
            r.channel_order_id: {
                "status": r.status,
                "updated": r.channel_updated_at,
                "fulfilled_by": r.fulfilled_by,
                "lines": by_id.get(r.id, []),
                "count": 1,
            }
            for r in rows
        }

    def assert_in_step_with_amazon(self) -> None:
        """ordermesh holds exactly Amazon's orders, each at its latest version."""
        truth = self.amazon.truth()
        ours = self.orders()
        assert sorted(ours) == sorted(truth), "the same orders, none missing, none extra"
        for order_id, theirs in truth.items():
            mine = ours[order_id]
            assert mine["status"] in EXPECTED_STATUS[theirs["OrderStatus"]], (order_id, mine)
            assert mine["updated"] == _parse(theirs["LastUpdateDate"]), order_id
            assert mine["fulfilled_by"] == (
                "marketplace" if theirs["FulfillmentChannel"] == "AFN" else "merchant"
            )
            assert mine["lines"] == [
                (item["OrderItemId"], item["SellerSKU"], item["QuantityOrdered"])
                for item in theirs["OrderItems"]
            ], order_id


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def connect_seller(
    om: Ordermesh,
    amazon: AmazonSandbox,
    *,
    page_size: int = 100,
    secret_key: str = SECRET_KEY,
    retry: RetryPolicy = FAST_RETRY,
    sleep: Callable[[float], None] | None = None,
    fba_apart: bool = False,
) -> tuple[ChannelAdapters, ChannelAccount]:
    """A connected account. Its FBA orders are read with the rest unless `fba_apart`: the
    tests of reading apart and behind (`MARKETPLACE_TRAIL`) ask for it, the others check one
    read's mechanics and the sandbox's orders as they are now."""
    channels = channel_adapters(
        om.db, amazon.clock, secret_key, sleep=sleep or amazon.clock.advance, retry=retry
    )
    settings = AmazonAccountSettings(
        selling_partner_id=SELLER_ID,
        region="NA",
        marketplace_ids=(US, DE),
        lwa_client_id=CLIENT_ID,
        endpoint="custom",
        api_base_url=amazon.url,
        page_size=page_size,
    )
    credentials = AmazonCredentials(lwa_client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    account = channels.accounts.register(
        channel="amazon",
        name="Amazon US + DE",
        settings={**stored(settings), **({} if fba_apart else {TRAIL_SETTING: 0})},
        secrets=credentials.sealable(),
        sync_from=amazon.clock.now() - timedelta(hours=1),
    )
    return channels, account


@pytest.fixture
def seller_factory(om: Ordermesh, amazon: AmazonSandbox) -> Iterator[Any]:
    made: list[ChannelAdapters] = []

    def make(**options: Any) -> Seller:
        channels, account = connect_seller(om, amazon, **options)
        made.append(channels)
        syncer = ChannelSync(channels.accounts, channels.connectors, om.handle, amazon.clock)
        return Seller(om, amazon, channels, account, syncer)

    yield make
    for channels in made:
        channels.close()


@pytest.fixture
def seller(seller_factory: Any) -> Seller:
    return seller_factory(page_size=10)
