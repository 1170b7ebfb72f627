"""Shopify webhooks in: verified, stored raw in the inbox at once, applied afterwards.

Shopify gives an endpoint five seconds to answer and delivers at least once, sometimes twice,
sometimes out of order. So a delivery is (1) checked: its X-Shopify-Hmac-Sha256 must be the
base64 HMAC-SHA256 of the raw body under the shop's app secret, found by X-Shopify-Shop-Domain;
(2) stored raw under its X-Shopify-Webhook-Id, which makes a resent delivery a no-op; and only
then (3) applied, outside the request: the order snapshot it carries goes through ImportOrders,
which ignores a snapshot older than the one it holds, so an `orders/updated` that overtook its
`orders/create` still leaves the newer state. A delivery that is never processed (a crash
between 2 and 3) is picked up by `process_pending`; one that never arrives is brought in by the
reconciliation poll."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import select

from ordermesh.adapters.channels.shopify import mapping, wire
from ordermesh.adapters.channels.shopify.settings import CHANNEL
from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import Database
from ordermesh.domain.commands import Command, ImportOrder, ImportOrders
from ordermesh.domain.errors import DomainError
from ordermesh.ports.channels import ChannelAccount, ChannelError, OrderVersion, Unreadable
from ordermesh.ports.clock import Clock
from ordermesh.ports.storage import UnitOfWork

log = logging.getLogger(__name__)

ORDER_TOPICS = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/cancelled",
        "orders/paid",
        "orders/fulfilled",
        "orders/partially_fulfilled",
    }
)
"""Topics whose body is the order resource itself."""
REFUND_TOPIC = "refunds/create"
UNINSTALLED_TOPIC = "app/uninstalled"


def signature(body: bytes, secret: str) -> str:
    """What Shopify puts in X-Shopify-Hmac-Sha256 for this body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(body: bytes, secret: str, header: str | None) -> bool:
    if not header or not secret:
        return False
    return hmac.compare_digest(signature(body, secret), header.strip())


def webhook_source(account_id: str) -> str:
    """Inbox source of an account's raw webhook deliveries (keyed by webhook id)."""
    return f"{CHANNEL}-webhook:{account_id}"


def order_source(account_id: str) -> str:
    """Inbox source of an account's order versions: the one the sync uses, so a version that
    came by webhook and by poll is stored once."""
    return f"{CHANNEL}:{account_id}"


class Accounts(Protocol):
    def list(self, channel: str | None = None) -> list[dict[str, Any]]: ...
    def get(self, account_id: str) -> ChannelAccount: ...
    def mark_needs_reauthorisation(self, account_id: str, *, reason: str, at: datetime) -> None: ...


class OrderReader(Protocol):
    def order(self, channel_order_id: str) -> OrderVersion | Unreadable | None: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    account_id: str
    webhook_id: str
    topic: str
    body: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """What became of a delivery in the request: `accepted` (stored, to be applied),
    `duplicate` (seen before, nothing to do) or `rejected` (not from Shopify)."""

    outcome: str
    reason: str = ""
    delivery: Delivery | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"

    @property
    def rejected(self) -> bool:
        return self.outcome == "rejected"


class ShopifyWebhooks:
    def __init__(
        self,
        *,
        db: Database,
        accounts: Accounts,
        uow: Callable[[], UnitOfWork],
        handle: Callable[[Command], Any],
        readers: Callable[[ChannelAccount], OrderReader],
        clock: Clock,
    ) -> None:
        self.db, self.accounts, self.uow, self.handle = db, accounts, uow, handle
        self.readers, self.clock = readers, clock

    # -- in the request ------------------------------------------------------------------
    def receive(
        self,
        *,
        shop_domain: str | None,
        topic: str | None,
        webhook_id: str | None,
        hmac_header: str | None,
        body: bytes,
    ) -> Receipt:
        """Verify a delivery and store it raw; fast, so Shopify gets its answer in time."""
        account = self._account(shop_domain or "")
        if account is None:
            return Receipt("rejected", f"no Shopify account for shop {shop_domain!r}")
        secret = account.secrets.get("webhook_secret", "")
        if not verify(body, secret, hmac_header):
            return Receipt("rejected", f"bad or missing HMAC signature for shop {shop_domain}")
        if not webhook_id or not topic:
            return Receipt("rejected", "X-Shopify-Webhook-Id and X-Shopify-Topic are required")
        delivery = Delivery(account.id, webhook_id, topic, body.decode("utf-8", "replace"))
        envelope = json.dumps(
            {"topic": topic, "shop": shop_domain, "webhook_id": webhook_id, "body": delivery.body}
        )
        with self.uow() as uow:
            seen = uow.inbox.store(
                [(webhook_source(account.id), webhook_id, envelope)], self.clock.now()
            )
            uow.commit()
        if seen:
            return Receipt("duplicate", delivery=delivery)
        return Receipt("accepted", delivery=delivery)

    def _account(self, shop_domain: str) -> ChannelAccount | None:
        wanted = shop_domain.strip().lower()
        if not wanted:
            return None
        for row in self.accounts.list(CHANNEL):
            account = self.accounts.get(row["id"])
            if str(account.settings.get("shop_domain", "")).strip().lower() == wanted:
                return account
        return None

    # -- after the answer ----------------------------------------------------------------
    def process(self, delivery: Delivery) -> str | None:
        """Apply one stored delivery. Returns the problem, if any; it is recorded on the
        inbox row either way, so nothing is dropped in silence."""
        error: str | None = None
        try:
            error = self._apply(delivery)
        except (ChannelError, DomainError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error:
            log.warning(
                "shopify webhook %s (%s) for %s not applied: %s",
                delivery.webhook_id,
                delivery.topic,
                delivery.account_id,
                error,
            )
        with self.uow() as uow:
            uow.inbox.mark_processed(
                [(webhook_source(delivery.account_id), delivery.webhook_id)],
                self.clock.now(),
                error,
            )
            uow.commit()
        return error

    def _apply(self, delivery: Delivery) -> str | None:
        account_id = delivery.account_id
        if delivery.topic in ORDER_TOPICS:
            return self._import(
                account_id, mapping.read_webhook_order(delivery.body, account_id=account_id)
            )
        if delivery.topic == REFUND_TOPIC:
            # A refund names its order only: read the order as it is now.
            try:
                refund = wire.RestRefund.model_validate_json(delivery.body)
            except ValidationError as exc:
                return f"refund payload unreadable: {exc.errors()[0]['msg']}"
            reader = self.readers(self.accounts.get(account_id))
            found = reader.order(str(refund.order_id))
            if found is None:
                return f"Shopify has no order {refund.order_id}"
            return self._import(account_id, found)
        if delivery.topic == UNINSTALLED_TOPIC:
            self.accounts.mark_needs_reauthorisation(
                account_id,
                reason="the ordermesh app was uninstalled from the Shopify shop; "
                "install it again and enter the new access token",
                at=self.clock.now(),
            )
            return None
        return f"topic {delivery.topic} is not one ordermesh subscribes to"

    def _import(self, account_id: str, version: OrderVersion | Unreadable) -> str | None:
        if isinstance(version, Unreadable):
            return f"order unreadable: {version.reason}"
        self.handle(
            ImportOrders(
                (
                    ImportOrder(
                        version.order,
                        source=order_source(account_id),
                        key=version.key,
                        payload=version.payload,
                    ),
                )
            )
        )
        return None

    def process_pending(self, limit: int = 100) -> int:
        """Apply deliveries stored but never applied (the process stopped in between)."""
        pending = self._pending(limit)
        for delivery in pending:
            self.process(delivery)
        return len(pending)

    def _pending(self, limit: int) -> Sequence[Delivery]:
        i = t.inbox.c
        query = (
            select(i.source, i.key, i.payload)
            .where(i.source.like(f"{CHANNEL}-webhook:%"), i.processed_at.is_(None))
            .order_by(i.id)
            .limit(limit)
        )
        with self.db.reader.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for row in rows:
            envelope = json.loads(row.payload)
            out.append(
                Delivery(row.source.split(":", 1)[1], row.key, envelope["topic"], envelope["body"])
            )
        return out
