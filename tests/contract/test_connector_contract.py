"""What the core relies on from every channel connector, asked of each against its sandbox over
real HTTP: the same tests for Amazon and Shopify, so adding a channel adds no special case.

- `changed_orders(since, until)` returns exactly the orders changed within the window;
- the same order version read twice (overlapping windows, a repeated read) has the same key,
  so the inbox makes the repeat a no-op;
- `confirm_shipment` sent twice (a retry by the outbox) is confirmed, and the channel records
  one shipment;
- `send` sets the quantities the channel then shows, and `listed_quantities` reads them back
  (None for a SKU the channel does not list)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest
import stamina

from ordermesh.adapters.channels.amazon import AmazonConnector
from ordermesh.ports.channels import ChangesPage
from ordermesh.ports.shipping import (
    ConfirmationOutcome,
    ConfirmationResult,
    ShipmentNotice,
    ShippedLine,
)
from ordermesh.ports.stock_sync import ListedQuantity, Push, PushOutcome, PushResult
from ordermesh.services.handlers.channels import SETTLE
from tests.integration.channels.amazon.conftest import (  # noqa: F401 (fixtures)
    US,
    AmazonSandbox,
    amazon,
    seller_factory,
    switchboard,
)
from tests.integration.channels.shopify.conftest import Shop, start_shop  # noqa: F401


class Connector(Protocol):
    def changed_orders(
        self, since: datetime, until: datetime, *, fulfilled_by: Any = None
    ) -> Any: ...
    def confirm_shipment(self, notice: ShipmentNotice) -> ConfirmationResult: ...
    def send(self, batch: Sequence[Push]) -> Sequence[PushResult]: ...
    def listed_quantities(self, channel_skus: Sequence[str]) -> Sequence[ListedQuantity]: ...


class Channel(Protocol):
    """One sandboxed channel, driven the same way whichever it is."""

    connector: Connector

    def now(self) -> datetime: ...
    def advance(self, seconds: float) -> None: ...
    def place(self, count: int) -> list[str]:
        """Orders placed now and released for shipping; their channel order ids."""
        ...

    def notice(self, channel_order_id: str) -> ShipmentNotice:
        """The shipment of the whole order."""
        ...

    def shipments(self, channel_order_id: str) -> int:
        """Shipments the channel recorded for the order, by its own ground truth."""
        ...

    def listing_skus(self, count: int) -> list[str]:
        """SKUs the seller has listed on the channel."""
        ...

    def shown(self, sku: str) -> set[int]:
        """The quantities the channel shows for a SKU, by its own ground truth."""
        ...


def _notice(order_id: str, marketplace: str | None, lines: list[ShippedLine]) -> ShipmentNotice:
    return ShipmentNotice(
        shipment_id=f"shp_{order_id}",
        order_id="ord_1",
        channel_account="acc_1",
        channel_order_id=order_id,
        marketplace=marketplace,
        carrier="UPS",
        tracking_number="1Z999AA10123456784",
        tracking_url="https://www.ups.com/track?tracknum=1Z999AA10123456784",
        shipped_at=datetime(2026, 1, 5, 15, 0, tzinfo=UTC),
        lines=tuple(lines),
    )


@dataclass
class AmazonChannel:
    sandbox: AmazonSandbox
    connector: Connector

    def now(self) -> datetime:
        return self.sandbox.clock.now()

    def advance(self, seconds: float) -> None:
        self.sandbox.let_time_pass(seconds)

    def place(self, count: int) -> list[str]:
        ids = self.sandbox.place_orders(
            count,
            marketplaceId=US,
            fulfillmentChannel="MFN",
            buyerCancel=False,
            cancelWhilePending=False,
            items=[{"sku": "SKU-0001", "quantity": 1}],
        )
        self.sandbox.settle()
        return ids

    def notice(self, channel_order_id: str) -> ShipmentNotice:
        order = self.sandbox.truth()[channel_order_id]
        lines = [
            ShippedLine(item["SellerSKU"], item["QuantityOrdered"], item["OrderItemId"])
            for item in order["OrderItems"]
        ]
        return _notice(channel_order_id, order["MarketplaceId"], lines)

    def shipments(self, channel_order_id: str) -> int:
        return len(self.sandbox.truth()[channel_order_id]["Packages"])

    def listing_skus(self, count: int) -> list[str]:
        return sorted(item["sku"] for item in self.sandbox.admin("GET", "/listings")["listings"])[
            :count
        ]

    def shown(self, sku: str) -> set[int]:
        listings = self.sandbox.admin("GET", "/listings")["listings"]
        return {item["quantity"] for item in listings if item["sku"] == sku}


@dataclass
class ShopifyChannel:
    shop: Shop
    connector: Connector

    def now(self) -> datetime:
        return self.shop.now()

    def advance(self, seconds: float) -> None:
        self.shop.advance(seconds)

    def place(self, count: int) -> list[str]:
        sku = self.shop.admin("GET", "/inventory")[0]["sku"]
        return [
            str(self.shop.admin("POST", "/orders", {"lines": [{"sku": sku, "quantity": 1}]})["id"])
            for _ in range(count)
        ]

    def _order(self, channel_order_id: str) -> dict[str, Any]:
        return next(
            o for o in self.shop.admin("GET", "/orders") if str(o["id"]) == channel_order_id
        )

    def notice(self, channel_order_id: str) -> ShipmentNotice:
        lines = [
            ShippedLine(li["sku"], li["quantity"], str(li["id"]))
            for li in self._order(channel_order_id)["line_items"]
        ]
        return _notice(channel_order_id, None, lines)

    def shipments(self, channel_order_id: str) -> int:
        return len(self._order(channel_order_id)["fulfillments"])

    def listing_skus(self, count: int) -> list[str]:
        return sorted({row["sku"] for row in self.shop.admin("GET", "/inventory")})[:count]

    def shown(self, sku: str) -> set[int]:
        return {
            row["available"] for row in self.shop.admin("GET", "/inventory") if row["sku"] == sku
        }


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """The connectors' contract does not depend on the database: SQLite alone."""
    return sqlite_url


@pytest.fixture(autouse=True)
def no_backoff_waits() -> Any:
    with stamina.set_testing(True, attempts=5):
        yield


def _amazon(request: pytest.FixtureRequest) -> Channel:
    sandbox: AmazonSandbox = request.getfixturevalue("amazon")
    seller = request.getfixturevalue("seller_factory")(page_size=10)
    return AmazonChannel(sandbox, seller.channels.amazon(seller.account))


def _shopify(request: pytest.FixtureRequest) -> Channel:
    shop: Shop = request.getfixturevalue("start_shop")()
    return ShopifyChannel(shop, shop.connector())


CHANNELS: dict[str, Callable[[pytest.FixtureRequest], Channel]] = {
    "amazon": _amazon,
    "shopify": _shopify,
}


@pytest.fixture(
    params=[
        pytest.param(
            "amazon",
            marks=pytest.mark.skipif(
                not hasattr(AmazonConnector, "confirm_shipment"),
                reason="AmazonConnector.confirm_shipment is not written yet",
            ),
        ),
        "shopify",
    ]
)
def channel(request: pytest.FixtureRequest) -> Channel:
    return CHANNELS[request.param](request)


def read(channel: Channel, since: datetime, until: datetime) -> dict[str, str]:
    """Order id → version key of every order the window returns (each key at most once)."""
    found: dict[str, str] = {}
    keys: set[str] = set()
    for page in channel.connector.changed_orders(since, until):
        assert isinstance(page, ChangesPage)
        assert not page.unreadable, page.unreadable
        for version in page.orders:
            if version.key in keys:
                continue
            keys.add(version.key)
            assert version.order.channel_order_id not in found, "one version per order here"
            found[version.order.channel_order_id] = version.key
    return found


def test_a_window_returns_exactly_the_orders_changed_within_it(channel: Channel) -> None:
    start = channel.now() - timedelta(seconds=1)
    first = channel.place(3)
    channel.advance(600)
    between = channel.now()
    channel.advance(600)
    second = channel.place(2)
    channel.advance(SETTLE.total_seconds() + 1)
    end = channel.now() - SETTLE

    assert sorted(read(channel, start, between)) == sorted(first)
    assert sorted(read(channel, between, end)) == sorted(second)
    assert sorted(read(channel, start, end)) == sorted(first + second)
    before = read(channel, start - timedelta(hours=1), start - timedelta(minutes=5))
    assert not set(before) & set(first + second)


def test_an_order_read_twice_has_the_same_key(channel: Channel) -> None:
    start = channel.now() - timedelta(seconds=1)
    placed = channel.place(3)
    channel.advance(SETTLE.total_seconds() + 1)
    end = channel.now() - SETTLE

    once = read(channel, start, end)
    again = read(channel, start, end)
    overlapping = read(channel, start - timedelta(hours=1), end)

    assert sorted(once) == sorted(placed)
    assert once == again == overlapping
    assert len(set(once.values())) == len(placed), "different orders never share a key"


def test_a_shipment_confirmed_twice_is_recorded_once(channel: Channel) -> None:
    [order_id] = channel.place(1)
    notice = channel.notice(order_id)

    first = channel.connector.confirm_shipment(notice)
    retried = channel.connector.confirm_shipment(notice)

    assert first.outcome is ConfirmationOutcome.CONFIRMED, first.message
    assert retried.outcome is ConfirmationOutcome.CONFIRMED, retried.message
    assert channel.shipments(order_id) == 1


def test_pushed_quantities_are_shown_by_the_channel_and_read_back(channel: Channel) -> None:
    skus = channel.listing_skus(3)
    figures = dict(zip(skus, (0, 4, 17), strict=True))
    before = {q.channel_sku: q.quantity for q in channel.connector.listed_quantities(skus)}
    batch = [
        Push("acc_1", sku, sku, quantity, before[sku], quantity == 0, 0)
        for sku, quantity in figures.items()
    ]

    results = channel.connector.send(batch)

    assert {r.channel_sku: r.outcome for r in results} == dict.fromkeys(skus, PushOutcome.SENT)
    for sku, quantity in figures.items():
        assert quantity in channel.shown(sku), sku
    read_back = channel.connector.listed_quantities([*skus, "NO-SUCH-SKU-ANYWHERE"])
    assert [(q.channel_sku, q.quantity) for q in read_back] == [
        *figures.items(),
        ("NO-SUCH-SKU-ANYWHERE", None),
    ]
