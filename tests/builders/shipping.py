"""Builders for shipping stories: a channel account served by a small fake connector that
implements ShipmentConfirmer, and an order from it, allocated and ready to ship."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain import commands as c
from ordermesh.domain.orders import FulfilledBy
from ordermesh.ports.channels import ChannelAccount, ChannelError
from ordermesh.ports.shipping import ConfirmationOutcome, ConfirmationResult, ShipmentNotice
from tests.builders.catalogue import BERLIN

TEST_CHANNEL = "teststore"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@dataclass
class FakeStore:
    """The channel's side: it records each shipment once per shipment id, as Amazon (by
    packageReferenceId) and Shopify (by reading back its fulfilments) do."""

    fulfilments: dict[str, ShipmentNotice] = field(default_factory=dict)
    calls: list[ShipmentNotice] = field(default_factory=list)
    refuse_with: str | None = None
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def confirm_shipment(self, notice: ShipmentNotice) -> ConfirmationResult:
        with self.lock:
            self.calls.append(notice)
            if self.fail_next:
                self.fail_next -= 1
                raise ChannelError("teststore answered 503 Service Unavailable")
            if self.refuse_with:
                return ConfirmationResult(ConfirmationOutcome.REJECTED, self.refuse_with)
            self.fulfilments.setdefault(notice.shipment_id, notice)
            return ConfirmationResult(
                ConfirmationOutcome.CONFIRMED, "fulfilled", reference=f"F-{notice.shipment_id}"
            )


class FakeStoreConnector:
    channel = TEST_CHANNEL
    reads_by_fulfilment = False

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def confirm_shipment(self, notice: ShipmentNotice) -> ConfirmationResult:
        return self.store.confirm_shipment(notice)

    def changed_orders(
        self, since: datetime, until: datetime, *, fulfilled_by=None
    ):  # pragma: no cover - unused
        return iter(())


def a_test_store(om: Ordermesh) -> tuple[ChannelAccount, FakeStore]:
    """A channel account of the test channel, whose connector is a FakeStore."""
    store = FakeStore()
    om.channel_adapters.connectors.factories[TEST_CHANNEL] = lambda account: FakeStoreConnector(
        store
    )
    account = om.channel_adapters.accounts.register(
        channel=TEST_CHANNEL,
        name="Test store",
        settings={},
        secrets={"token": "t"},
        sync_from=T0,
    )
    return account, store


def a_channel_order(
    om: Ordermesh,
    account_id: str,
    channel_order_id: str = "TS-1001",
    lines: tuple[tuple[str, int], ...] = (("MUG-1", 2),),
    *,
    fulfilled_by: str = "merchant",
) -> str:
    """An order imported from the account (released, so it is allocated); returns its id."""
    snapshot = c.ChannelOrder(
        channel=TEST_CHANNEL,
        channel_account=account_id,
        channel_order_id=channel_order_id,
        state=c.ChannelState.RELEASED,
        updated_at=T0,
        purchase_date=T0,
        lines=tuple(
            c.ChannelLine(f"{channel_order_id}-item-{i + 1}", sku, q, "9.90")
            for i, (sku, q) in enumerate(lines)
        ),
        currency="EUR",
        ship_by=T0 + timedelta(days=2),
        shipping_address=BERLIN,
        fulfilled_by=FulfilledBy(fulfilled_by),
    )
    result = om.handle(
        c.ImportOrders(
            (
                c.ImportOrder(
                    snapshot,
                    source=f"{TEST_CHANNEL}:{account_id}",
                    key=f"{channel_order_id}@{T0.isoformat()}#1",
                    payload=f'{{"id": "{channel_order_id}", "lines": {len(lines)}}}',
                ),
            )
        )
    )
    return result.order_ids[channel_order_id]
