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
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
from pydantic import ValidationError
from sqlalchemy import select

from ordermesh.adapters.channels.shopify import mapping, wire
from ordermesh.adapters.channels.shopify.settings import CHANNEL
from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import Database
from ordermesh.domain.commands import Command, ImportOrder, ImportOrders
from ordermesh.domain.errors import DomainError
from ordermesh.ports.channels import (
    ChannelAccount,
    ChannelError,
    OrderVersion,
    Unreadable,
    source_of,
)
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
APPLY_BATCH = 50
"""Order deliveries applied per import: large enough to share one transaction among a burst,
small enough that the writes queued behind it (new deliveries) wait a few tens of ms."""
ACCOUNT_MEMORY_SECONDS = 10.0
"""How long a shop's account (and its webhook secret) is remembered between deliveries. A
signature that fails reads the account again at once, so a changed secret needs no wait."""


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
        self._known: tuple[float, dict[str, ChannelAccount]] = (-ACCOUNT_MEMORY_SECONDS, {})
        self._holding: list[tuple[Delivery, Future[Receipt]]] = []
        self._storing = False
        self._waiting: deque[Delivery] = deque()
        self._draining = False
        self._lock = threading.Lock()

    # -- in the request ------------------------------------------------------------------
    def receive(self, headers: Mapping[str, str], body: bytes) -> Receipt:
        """Verify a delivery and store it raw; fast, so Shopify gets its answer in time."""
        checked = self.check(headers, body)
        if checked.delivery is None:
            return checked
        return self.store([checked.delivery])[0]

    def check(self, headers: Mapping[str, str], body: bytes) -> Receipt:
        """Is this a delivery from the shop it names (its X-Shopify-* headers, as sent)? No
        writes: a refusal stores nothing. Returns `accepted` with the delivery to store, or
        `rejected` with the reason."""
        shop_domain = headers.get("X-Shopify-Shop-Domain")
        topic = headers.get("X-Shopify-Topic")
        webhook_id = headers.get("X-Shopify-Webhook-Id")
        hmac_header = headers.get("X-Shopify-Hmac-Sha256")
        wanted = (shop_domain or "").strip().lower()
        account = self._shops().get(wanted)
        secret = account.secrets.get("webhook_secret", "") if account else ""
        if account is None or not verify(body, secret, hmac_header):
            # A shop connected or a secret changed since the shops were read: read them again
            # (at most once a second, so forged deliveries cannot make every request a read).
            account = self._shops(fresh=True).get(wanted)
            secret = account.secrets.get("webhook_secret", "") if account else ""
            if account is None:
                return Receipt("rejected", f"no Shopify account for shop {shop_domain!r}")
            if not verify(body, secret, hmac_header):
                return Receipt("rejected", f"bad or missing HMAC signature for shop {shop_domain}")
        if not webhook_id or not topic:
            return Receipt("rejected", "X-Shopify-Webhook-Id and X-Shopify-Topic are required")
        delivery = Delivery(account.id, webhook_id, topic, body.decode("utf-8", "replace"))
        return Receipt("accepted", delivery=delivery)

    def store(self, deliveries: Sequence[Delivery]) -> list[Receipt]:
        """Store checked deliveries raw in the inbox, in one transaction: `accepted` for each
        new one, `duplicate` for one stored before (a resend)."""
        rows = [
            (
                webhook_source(d.account_id),
                d.webhook_id,
                # orjson: escaping the raw body into the envelope is most of the cost of storing
                # a delivery, eight times less than with the json module.
                orjson.dumps(
                    {"topic": d.topic, "webhook_id": d.webhook_id, "body": d.body}
                ).decode(),
            )
            for d in deliveries
        ]
        with self.uow() as uow:
            seen = uow.inbox.store(rows, self.clock.now())
            uow.commit()
        return [
            Receipt("duplicate" if (source, key) in seen else "accepted", delivery=d)
            for (source, key, _), d in zip(rows, deliveries, strict=True)
        ]

    def hold(self, delivery: Delivery) -> tuple[Future[Receipt], bool]:
        """Queue a checked delivery for the next grouped `store_held`. The future is its
        receipt; the flag is True when no store is under way, so the caller must start one."""
        future: Future[Receipt] = Future()
        with self._lock:
            self._holding.append((delivery, future))
            if self._storing:
                return future, False
            self._storing = True
            return future, True

    def store_held(self) -> bool:
        """Store every delivery held so far in one transaction (group commit: the deliveries
        that arrived while the last commit ran share the next one). True when more arrived
        meanwhile, so the caller runs it again."""
        with self._lock:
            batch, self._holding = self._holding, []
        if batch:
            try:
                receipts = self.store([d for d, _ in batch])
            except Exception as exc:
                # Each request answers with the failure (Shopify will resend); the next group
                # still runs.
                log.exception("storing %d shopify webhook(s) failed", len(batch))
                for _, future in batch:
                    future.set_exception(exc)
            else:
                for (_, future), receipt in zip(batch, receipts, strict=True):
                    future.set_result(receipt)
        with self._lock:
            more = bool(self._holding)
            self._storing = more
        return more

    def _shops(self, *, fresh: bool = False) -> dict[str, ChannelAccount]:
        """Every Shopify account by shop domain, remembered for a few seconds: at a thousand
        deliveries a second, reading and unsealing accounts for each would be most of the
        work."""
        now = time.monotonic()
        read_at, shops = self._known
        age = now - read_at
        if age < ACCOUNT_MEMORY_SECONDS and (not fresh or age < 1.0):
            return shops
        shops = {}
        for row in self.accounts.list(CHANNEL):
            account = self.accounts.get(row["id"])
            domain = str(account.settings.get("shop_domain", "")).strip().lower()
            if domain:
                shops[domain] = account
        self._known = (now, shops)
        return shops

    # -- after the answer ----------------------------------------------------------------
    @staticmethod
    def calls_shopify(delivery: Delivery) -> bool:
        """Whether applying the delivery reads from Shopify (a refund names only its order):
        such a one must not hold up the writes while it waits for Shopify."""
        return delivery.topic not in ORDER_TOPICS

    def enqueue(self, delivery: Delivery) -> bool:
        """Hold an accepted order delivery for the next batch. True when no drain is under way,
        so the caller must start one (`drain`)."""
        with self._lock:
            self._waiting.append(delivery)
            if self._draining:
                return False
            self._draining = True
            return True

    def drain(self, limit: int = APPLY_BATCH) -> bool:
        """Apply up to `limit` held deliveries as one import. True when more are held: the
        caller runs `drain` again (after the writes that queued up meanwhile)."""
        with self._lock:
            batch = [self._waiting.popleft() for _ in range(min(limit, len(self._waiting)))]
        try:
            if batch:
                self.process_batch(batch)
        finally:
            with self._lock:
                more = bool(self._waiting)
                self._draining = more
        return more

    @property
    def idle(self) -> bool:
        """Nothing held to store or to apply (for tests and shutdown)."""
        with self._lock:
            return not (self._storing or self._draining)

    def process_batch(self, deliveries: Sequence[Delivery]) -> None:
        """Apply order deliveries together: one ImportOrders, one transaction, so a burst of
        webhooks costs a fraction of one import each. Others are applied one by one."""
        orders: list[tuple[Delivery, OrderVersion]] = []
        done: list[tuple[Delivery, str | None]] = []
        for delivery in deliveries:
            if delivery.topic not in ORDER_TOPICS:
                self.process(delivery)
                continue
            version = mapping.read_webhook_order(delivery.body, account_id=delivery.account_id)
            if isinstance(version, Unreadable):
                done.append((delivery, f"order unreadable: {version.reason}"))
            else:
                orders.append((delivery, version))
        if orders:
            try:
                self.handle(
                    ImportOrders(
                        tuple(
                            ImportOrder(
                                v.order,
                                source=source_of(d.account_id, CHANNEL),
                                key=v.key,
                                payload=v.payload,
                            )
                            for d, v in orders
                        )
                    )
                )
            except DomainError:
                # Something in the batch sank it: apply each alone, so only that one fails.
                for delivery, _ in orders:
                    self.process(delivery)
            else:
                done.extend((d, None) for d, _ in orders)
        if not done:
            return
        for delivery, error in done:
            if error:
                _not_applied(delivery, error)
        now = self.clock.now()
        with self.uow() as uow:
            for error in {e for _, e in done}:
                uow.inbox.mark_processed(
                    [(webhook_source(d.account_id), d.webhook_id) for d, e in done if e == error],
                    now,
                    error,
                )
            uow.commit()

    def process(self, delivery: Delivery) -> str | None:
        """Apply one stored delivery. Returns the problem, if any; it is recorded on the
        inbox row either way, so nothing is dropped in silence."""
        error: str | None = None
        try:
            error = self._apply(delivery)
        except (ChannelError, DomainError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error:
            _not_applied(delivery, error)
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
                        source=source_of(account_id, CHANNEL),
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
        self.process_batch(pending)
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
            envelope = orjson.loads(row.payload)
            out.append(
                Delivery(row.source.split(":", 1)[1], row.key, envelope["topic"], envelope["body"])
            )
        return out


def _not_applied(delivery: Delivery, error: str) -> None:
    log.warning(
        "shopify webhook %s (%s) for %s not applied: %s",
        delivery.webhook_id,
        delivery.topic,
        delivery.account_id,
        error,
    )
