"""Amazon ORDER_CHANGE notifications in: verified, stored raw in the inbox at once, the order
read with getOrder and imported afterwards.

searchOrders allows about one incremental sync every three minutes and only shows changes two
minutes old, so an order reaches ordermesh minutes after Amazon took its units. Amazon's
Notifications API pushes ORDER_CHANGE within seconds instead, through an EventBridge
destination that can call an HTTPS endpoint (an API destination) with a header holding a
shared secret. So a notification is (1) checked: the `x-notification-secret` header must equal
the secret stored on the account named by the payload's SellerId, compared in constant time;
(2) stored raw under its NotificationId, which makes a redelivery a no-op; and only then
(3) applied, outside the request: the notification's summary is not an order (no prices, no
address), so the order is read with v2026 getOrder, with the same includedData as the sync, and
imported through ImportOrders under the sync's own inbox source and version keys. The next poll
then finds the same versions already stored: nothing is imported twice, and the poll stays the
safety net for a notification that never came.

getOrder allows 0.5 requests a second (burst 30); a flash sale brings tens of orders a second.
Past that budget the notification's own Summary (status, SKUs and quantities, no prices or
address) is imported instead, so that the units count against stock in seconds; the poll
brings the full order minutes later, as a newer or same-time version of the same order.

A notification for a seller no account holds, but carrying a secret ordermesh knows, comes from
our own pipeline wired to the wrong place: it is stored with the reason and logged, and
answered so that EventBridge does not redeliver it for a day."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson
from sqlalchemy import select

from ordermesh.adapters.channels.amazon import mapping
from ordermesh.adapters.channels.amazon.settings import CHANNEL
from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import Database
from ordermesh.domain.commands import ChannelLine, ChannelOrder, Command, ImportOrder, ImportOrders
from ordermesh.domain.errors import DomainError
from ordermesh.domain.orders import FulfilledBy
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

SECRET_HEADER = "x-notification-secret"
"""The header an EventBridge connection of the API-key kind adds to every call."""
SECRET_NAME = "notification_secret"
"""The account secret the header must match (write-only, like the LWA credentials)."""
ORDER_CHANGE = "ORDER_CHANGE"
FETCH_BATCH = 100
"""Notifications applied per round: one ImportOrders, one transaction for a burst."""
GETORDER_RESERVE = 1.0
"""getOrder tokens left alone: draining the bucket to its last fraction would race Amazon's
own count of it (a 429), and a back-fill reading open orders needs some too."""
ACCOUNT_MEMORY_SECONDS = 10.0
UNKNOWN_SELLER_SOURCE = f"{CHANNEL}-notification:unknown-seller"
SUMMARY_HEAD_START = timedelta(seconds=1)
"""A summary is stamped this much before the change it reports, so that the full order, which
Amazon stamps with about the same moment, is never taken for an older version and always
replaces it."""
STALE_AFTER = timedelta(seconds=60)
"""A stored notification not applied after this long is taken up by `process_pending`."""


def notification_source(account_id: str) -> str:
    """Inbox source of an account's raw notifications (keyed by notification id)."""
    return f"{CHANNEL}-notification:{account_id}"


class Accounts(Protocol):
    def list(self, channel: str | None = None) -> list[dict[str, Any]]: ...
    def get(self, account_id: str) -> ChannelAccount: ...


class OrderReader(Protocol):
    def order(self, channel_order_id: str) -> OrderVersion | Unreadable | None: ...
    def tokens_left(self, operation: str) -> float: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    account_id: str
    notification_id: str
    order_id: str
    body: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """What became of a notification in the request: `accepted` (stored, to be applied),
    `duplicate` (seen before), `dropped` (genuine, but for a seller no account holds; stored
    with the reason) or `rejected` (not from our pipeline: nothing stored)."""

    outcome: str
    reason: str = ""
    delivery: Delivery | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    delivery: Delivery
    version: OrderVersion | None
    error: str | None


@dataclass(frozen=True, slots=True)
class _Parsed:
    seller_id: str
    notification_id: str
    notification_type: str
    order_id: str


def _parse(body: bytes) -> _Parsed | str:
    """The fields ordermesh needs, or why the body is not an ORDER_CHANGE notification. An
    EventBridge delivery wraps the notification in its event envelope (`detail`)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "the body is not JSON"
    if isinstance(document, dict) and isinstance(document.get("detail"), dict):
        document = document["detail"]
    if not isinstance(document, dict):
        return "the body is not a notification"
    metadata = document.get("NotificationMetadata")
    payload = document.get("Payload")
    change = payload.get("OrderChangeNotification") if isinstance(payload, dict) else None
    notification_id = metadata.get("NotificationId") if isinstance(metadata, dict) else None
    kind = document.get("NotificationType")
    if not isinstance(notification_id, str) or not notification_id:
        return "NotificationMetadata.NotificationId is missing"
    if not isinstance(change, dict):
        return "Payload.OrderChangeNotification is missing"
    seller, order_id = change.get("SellerId"), change.get("AmazonOrderId")
    if not isinstance(seller, str) or not seller:
        return "Payload.OrderChangeNotification.SellerId is missing"
    if not isinstance(order_id, str) or not order_id:
        return "Payload.OrderChangeNotification.AmazonOrderId is missing"
    return _Parsed(seller, notification_id, str(kind or ""), order_id)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None


def summary_version(body: str, account_id: str) -> OrderVersion | Unreadable:
    """The order as the notification's Summary tells it: status, lines (SKU, quantity),
    fulfilment type, programmes and windows, but no prices, buyer or address. Imported when
    getOrder has no budget left, so that a burst of orders counts against stock in seconds;
    the next poll (or getOrder) brings the rest."""
    document = orjson.loads(body)
    if isinstance(document, dict) and isinstance(document.get("detail"), dict):
        document = document["detail"]
    change = document.get("Payload", {}).get("OrderChangeNotification", {})
    order_id = str(change.get("AmazonOrderId") or "?")
    summary = change.get("Summary")
    trigger = change.get("OrderChangeTrigger") or {}

    def unreadable(why: str) -> Unreadable:
        return Unreadable(order_id, f"{order_id}@notification", body, why)

    if not isinstance(summary, dict):
        return unreadable("the notification has no Summary")
    state = mapping.STATES.get(str(summary.get("OrderStatus")))
    if state is None:
        return unreadable(f"unknown OrderStatus {summary.get('OrderStatus')!r}")
    updated = _time(trigger.get("TimeOfOrderChange")) or _time(document.get("EventTime"))
    placed = _time(summary.get("PurchaseDate"))
    if updated is None or placed is None:
        return unreadable("TimeOfOrderChange or PurchaseDate is missing")
    marketplace = str(summary.get("MarketplaceId") or "")
    currency = mapping.MARKETPLACE_CURRENCIES.get(marketplace)
    if currency is None:
        return unreadable(f"unknown marketplace {marketplace!r}: cannot tell the currency")
    lines = []
    cancel_asked = False
    for item in summary.get("OrderItems") or []:
        if not isinstance(item, dict):
            continue
        quantity = item.get("Quantity")
        if not isinstance(quantity, int) or quantity <= 0 or not item.get("SellerSKU"):
            continue
        cancel_asked = cancel_asked or bool(item.get("IsBuyerRequestedCancel"))
        lines.append(ChannelLine(str(item.get("OrderItemId")), str(item["SellerSKU"]), quantity))
    if not lines:
        return unreadable("no order item with a seller SKU and a quantity")
    programs = summary.get("OrderPrograms") or []
    reason = trigger.get("ChangeReason")
    snapshot = ChannelOrder(
        channel=CHANNEL,
        channel_account=account_id,
        channel_order_id=order_id,
        state=state,
        updated_at=max(updated - SUMMARY_HEAD_START, placed),
        purchase_date=placed,
        lines=tuple(lines),
        currency=currency,
        marketplace=marketplace,
        ship_by=_time(summary.get("LatestShipDate")),
        deliver_by=_time(summary.get("LatestDeliveryDate")),
        is_prime="Prime" in programs,
        is_business="Business" in programs,
        fulfilled_by=(
            FulfilledBy.MARKETPLACE
            if summary.get("FulfillmentType") == "AFN"
            else FulfilledBy.MERCHANT
        ),
        buyer_cancel_reason=(
            (str(reason) if reason else mapping.BUYER_CANCEL_WITHOUT_REASON)
            if cancel_asked
            else None
        ),
    )
    return OrderVersion(snapshot, mapping.version_key(snapshot), body)


def _matches(secret: str, header: str | None) -> bool:
    if not secret or not header:
        return False
    return hmac.compare_digest(secret.encode(), header.strip().encode())


class AmazonNotifications:
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
        self._waiting: deque[Delivery] = deque()
        self._fetching = False
        self._lock = threading.Lock()
        self.dropped = 0
        """Genuine notifications for sellers no account holds, since the start (a metric)."""

    # -- in the request ------------------------------------------------------------------
    def check(self, *, secret_header: str | None, body: bytes) -> Receipt:
        """Is this a notification from our pipeline, and for which account? No writes."""
        parsed = _parse(body)
        account = None
        if isinstance(parsed, _Parsed):
            account = self._sellers().get(parsed.seller_id)
            if account is None or not _matches(_secret(account), secret_header):
                # An account added or a secret changed since the accounts were read.
                account = self._sellers(fresh=True).get(parsed.seller_id)
        if account is not None:
            if not _matches(_secret(account), secret_header):
                return Receipt("rejected", f"bad or missing {SECRET_HEADER} header")
        elif not any(_matches(_secret(a), secret_header) for a in self._sellers().values()):
            # Unknown seller or unreadable body: without a secret we know, it is not ours.
            return Receipt("rejected", f"bad or missing {SECRET_HEADER} header")
        if not isinstance(parsed, _Parsed):
            return Receipt("dropped", parsed)
        text = body.decode("utf-8", "replace")
        if account is None:
            return Receipt(
                "dropped",
                f"no Amazon account for seller {parsed.seller_id}",
                Delivery("", parsed.notification_id, parsed.order_id, text),
            )
        if parsed.notification_type != ORDER_CHANGE:
            return Receipt("dropped", f"notification type {parsed.notification_type!r} is unused")
        return Receipt(
            "accepted",
            delivery=Delivery(account.id, parsed.notification_id, parsed.order_id, text),
        )

    def store(self, receipt: Receipt) -> Receipt:
        """Store a checked notification raw: `duplicate` if it was stored before. A dropped
        one is stored already marked with its reason, so it is visible and never applied."""
        delivery = receipt.delivery
        if delivery is None:
            if receipt.outcome == "dropped":
                self._drop(receipt.reason, None)
            return receipt
        source = (
            notification_source(delivery.account_id)
            if delivery.account_id
            else UNKNOWN_SELLER_SOURCE
        )
        now = self.clock.now()
        with self.uow() as uow:
            seen = uow.inbox.store([(source, delivery.notification_id, delivery.body)], now)
            if receipt.outcome == "dropped" and not seen:
                uow.inbox.mark_processed([(source, delivery.notification_id)], now, receipt.reason)
            uow.commit()
        if seen:
            return Receipt("duplicate", delivery=delivery)
        if receipt.outcome == "dropped":
            self._drop(receipt.reason, delivery)
        return receipt

    def _drop(self, reason: str, delivery: Delivery | None) -> None:
        with self._lock:
            self.dropped += 1
        log.warning(
            "amazon notification %s dropped: %s",
            delivery.notification_id if delivery else "?",
            reason,
        )

    def _sellers(self, *, fresh: bool = False) -> dict[str, ChannelAccount]:
        """Every Amazon account by selling partner id, remembered for a few seconds."""
        now = time.monotonic()
        read_at, sellers = self._known
        age = now - read_at
        if age < ACCOUNT_MEMORY_SECONDS and (not fresh or age < 1.0):
            return sellers
        sellers = {}
        for row in self.accounts.list(CHANNEL):
            account = self.accounts.get(row["id"])
            seller = str(account.settings.get("selling_partner_id", "")).strip()
            if seller:
                sellers[seller] = account
        self._known = (now, sellers)
        return sellers

    # -- after the answer ----------------------------------------------------------------
    def enqueue(self, delivery: Delivery) -> bool:
        """Hold an accepted notification for the next round. True when no round is under way,
        so the caller must start `fetch_rounds`."""
        with self._lock:
            self._waiting.append(delivery)
            if self._fetching:
                return False
            self._fetching = True
            return True

    def take(self, limit: int = FETCH_BATCH) -> list[Delivery]:
        """The next notifications to read; empty (and the round over) when none are held."""
        with self._lock:
            batch = [self._waiting.popleft() for _ in range(min(limit, len(self._waiting)))]
            if not batch:
                self._fetching = False
            return batch

    @property
    def idle(self) -> bool:
        with self._lock:
            return not self._fetching

    def fetch(self, deliveries: Sequence[Delivery]) -> list[Fetched]:
        """The order each notification names, read with getOrder (once per order however many
        notifications name it) while the account's getOrder budget lasts, without waiting for
        it: at 0.5 requests a second, a flash sale's orders would queue for an hour. Past the
        budget, or when Amazon fails to answer, each notification's own Summary is imported,
        and the poll brings the full order later. No database writes."""
        full: dict[tuple[str, str], OrderVersion | str] = {}
        readers: dict[str, OrderReader | str] = {}
        budget: dict[str, float] = {}
        for d in deliveries:
            ident = (d.account_id, d.order_id)
            if ident in full:
                continue
            reader = readers.get(d.account_id)
            if reader is None:
                try:
                    reader = self.readers(self.accounts.get(d.account_id))
                    budget[d.account_id] = reader.tokens_left("getOrder")
                except (ChannelError, DomainError) as exc:
                    reader = f"{type(exc).__name__}: {exc}"
                readers[d.account_id] = reader
            if isinstance(reader, str):
                full[ident] = reader
                continue
            if budget[d.account_id] < GETORDER_RESERVE + 1:
                full[ident] = "no getOrder budget left"
                continue
            budget[d.account_id] -= 1
            try:
                read = reader.order(d.order_id)
            except ChannelError as exc:
                full[ident] = f"getOrder failed: {exc}"
                continue
            if read is None:
                full[ident] = f"Amazon has no order {d.order_id}"
            elif isinstance(read, Unreadable):
                full[ident] = f"order unreadable: {read.reason}"
            else:
                full[ident] = read
        out = []
        for d in deliveries:
            found = full[(d.account_id, d.order_id)]
            if isinstance(found, OrderVersion):
                out.append(Fetched(d, found, None))
                continue
            thin = summary_version(d.body, d.account_id)
            if isinstance(thin, OrderVersion):
                out.append(Fetched(d, thin, None))
            else:
                out.append(Fetched(d, None, f"{found}; and {thin.reason}"))
        return out

    def apply(self, fetched: Sequence[Fetched]) -> None:
        """Import the orders read, as one ImportOrders (one transaction for a burst), and
        mark their notifications processed. Runs on the write queue."""
        importing = [f for f in fetched if f.version is not None]
        orders: dict[tuple[str, str], tuple[str, OrderVersion]] = {}
        for f in importing:
            assert f.version is not None
            orders[(f.delivery.account_id, f.version.key)] = (f.delivery.account_id, f.version)
        done: list[tuple[Delivery, str | None]] = [
            (f.delivery, f.error) for f in fetched if f.version is None
        ]
        if orders:
            try:
                self.handle(ImportOrders(tuple(_command(a, v) for a, v in orders.values())))
            except DomainError:
                # Something in the batch sank it: import each alone, so only that one fails.
                failed: dict[tuple[str, str], str] = {}
                for key, (account_id, version) in orders.items():
                    try:
                        self.handle(ImportOrders((_command(account_id, version),)))
                    except DomainError as exc:
                        failed[key] = f"{type(exc).__name__}: {exc}"
                for f in importing:
                    assert f.version is not None
                    done.append((f.delivery, failed.get((f.delivery.account_id, f.version.key))))
            else:
                done.extend((f.delivery, None) for f in importing)
        for delivery, error in done:
            if error:
                log.warning(
                    "amazon notification %s (order %s, account %s) not applied: %s",
                    delivery.notification_id,
                    delivery.order_id,
                    delivery.account_id,
                    error,
                )
        now = self.clock.now()
        with self.uow() as uow:
            for error in {e for _, e in done}:
                uow.inbox.mark_processed(
                    [
                        (notification_source(d.account_id), d.notification_id)
                        for d, e in done
                        if e == error
                    ],
                    now,
                    error,
                )
            uow.commit()

    def process_pending(self, limit: int = 100) -> int:
        """Apply notifications stored but never applied (the process stopped in between, or
        Amazon failed to answer getOrder): read and imported here, on the caller's thread."""
        pending = self._pending(limit)
        if pending:
            self.apply(self.fetch(pending))
        return len(pending)

    def _pending(self, limit: int) -> list[Delivery]:
        i = t.inbox.c
        query = (
            select(i.source, i.key, i.payload)
            .where(
                i.source.like(f"{CHANNEL}-notification:%"),
                i.source != UNKNOWN_SELLER_SOURCE,
                i.processed_at.is_(None),
                i.received_at < self.clock.now() - STALE_AFTER,
            )
            .order_by(i.id)
            .limit(limit)
        )
        with self.db.reader.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for row in rows:
            parsed = _parse(row.payload.encode())
            order_id = parsed.order_id if isinstance(parsed, _Parsed) else "?"
            out.append(Delivery(row.source.split(":", 1)[1], row.key, order_id, row.payload))
        return out


def _secret(account: ChannelAccount) -> str:
    return str(account.secrets.get(SECRET_NAME, ""))


def _command(account_id: str, version: OrderVersion) -> ImportOrder:
    return ImportOrder(
        version.order,
        source=source_of(account_id, CHANNEL),
        key=version.key,
        payload=version.payload,
    )
