"""The Amazon connector: Orders API v2026-01-01 read through `client`, translated by
`mapping`, for the accounts described by `settings`; shipment confirmations (`shipments`) and
the seller's own stock on Amazon (`listings`) going the other way."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from urllib.parse import quote

import httpx
import orjson
from pydantic import ValidationError

from ordermesh.adapters.channels.amazon import mapping, shipments
from ordermesh.adapters.channels.amazon.client import (
    USAGE_PLANS,
    AmazonRefused,
    LwaTokens,
    RetryPolicy,
    SpApiClient,
    TokenBuckets,
    bucket_prefix,
)
from ordermesh.adapters.channels.amazon.listings import AmazonListings
from ordermesh.adapters.channels.amazon.settings import CHANNEL, read_account
from ordermesh.domain.orders import FulfilledBy
from ordermesh.ports.channels import (
    ChangesPage,
    ChannelAccount,
    ChannelError,
    NeedsReauthorisation,
    OrderVersion,
    Unreadable,
)
from ordermesh.ports.clock import Clock
from ordermesh.ports.shipping import ConfirmationResult, ShipmentNotice
from ordermesh.ports.stock_sync import ListedQuantity, Push, PushResult

# Everything a snapshot needs, in one call per page: no per-order getOrder.
INCLUDED_DATA = ("BUYER", "RECIPIENT", "PROCEEDS", "CANCELLATION", "FULFILLMENT")


class AmazonConnector:
    channel = CHANNEL
    reads_by_fulfilment = True

    def __init__(self, account_id: str, client: SpApiClient) -> None:
        self.account_id = account_id
        self.client = client
        self.listings = AmazonListings(client)

    def changed_orders(
        self, since: datetime, until: datetime, *, fulfilled_by: FulfilledBy | None = None
    ) -> Iterator[ChangesPage]:
        for page in self.client.search_orders(
            last_updated_after=since,
            last_updated_before=until,
            included_data=INCLUDED_DATA,
            fulfilled_by=None if fulfilled_by is None else mapping.fulfilled_by_code(fulfilled_by),
        ):
            versions: list[OrderVersion] = []
            unreadable: list[Unreadable] = []
            for raw in page.orders:
                read = mapping.read_order(raw, self.account_id)
                if isinstance(read, OrderVersion):
                    versions.append(read)
                else:
                    unreadable.append(read)
            yield ChangesPage(tuple(versions), tuple(unreadable))

    def order(self, channel_order_id: str) -> OrderVersion | Unreadable | None:
        """One order as Amazon holds it now (v2026 getOrder, with the same `includedData` as
        the sync, so that the version it yields is the one the next poll would bring), or None
        when Amazon knows no such order."""
        try:
            body = self.client.call(
                "getOrder",
                "GET",
                f"/orders/2026-01-01/orders/{quote(channel_order_id, safe='')}",
                {"includedData": ",".join(INCLUDED_DATA)},
            )
        except AmazonRefused as refused:
            if refused.status == 404:
                return None
            raise
        raw = body.get("order") if isinstance(body, dict) else None
        if not isinstance(raw, dict):
            return Unreadable(
                channel_order_id,
                f"{channel_order_id}@getOrder",
                orjson.dumps(body).decode(),
                "getOrder answered without an order",
            )
        return mapping.read_order(raw, self.account_id)

    def tokens_left(self, operation: str) -> float:
        """Requests the seller's bucket for `operation` allows at once, without taking any
        (the usage plan's burst before the first request)."""
        plan = USAGE_PLANS.get(operation)
        prefix = bucket_prefix(self.client.settings.selling_partner_id)
        levels = getattr(self.client.buckets, "levels", None)
        for row in levels(prefix) if levels else []:
            if row["operation"] == operation:
                return float(row["available"])
        return float(plan.burst) if plan else 0.0

    # -- outbound: shipment confirmation and stock (see shipments.py, listings.py) -----------
    def confirm_shipment(self, notice: ShipmentNotice) -> ConfirmationResult:
        return shipments.confirm_shipment(self.client, notice)

    def send(self, batch: Sequence[Push]) -> Sequence[PushResult]:
        return self.listings.send(batch)

    def listed_quantities(self, channel_skus: Sequence[str]) -> Sequence[ListedQuantity]:
        return self.listings.listed_quantities(channel_skus)


class AmazonConnectors:
    """Makes a connector per Amazon account. What they share lives here: one HTTP connection
    pool, the LWA token cache and the database-backed rate-limit buckets."""

    def __init__(
        self,
        buckets: TokenBuckets,
        clock: Clock,
        *,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.http = http or httpx.Client(follow_redirects=False)
        self.buckets, self.clock, self.sleep = buckets, clock, sleep
        self.tokens = LwaTokens(self.http, clock, self.retry)

    def __call__(self, account: ChannelAccount) -> AmazonConnector:
        return AmazonConnector(account.id, self.client(account))

    def client(self, account: ChannelAccount) -> SpApiClient:
        """An SP-API client for the account, on the shared HTTP pool, token cache and rate-limit
        buckets (a seller's accounts share Amazon's limits)."""
        if not account.secrets:
            raise NeedsReauthorisation(
                "no readable credentials are stored for this account (never entered, or sealed "
                "under another ORDERMESH_SECRET_KEY); enter them again"
            )
        try:
            settings, credentials = read_account(account.settings, account.secrets)
        except ValidationError as invalid:
            raise ChannelError(
                f"the Amazon account settings are incomplete: {invalid}"
            ) from invalid
        return SpApiClient(
            http=self.http,
            settings=settings,
            credentials=credentials,
            tokens=self.tokens,
            buckets=self.buckets,
            sleep=self.sleep,
            retry=self.retry,
        )

    def close(self) -> None:
        self.http.close()
