"""The Amazon connector: Orders API v2026-01-01 read through `client`, translated by
`mapping`, for the accounts described by `settings`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime

import httpx
from pydantic import ValidationError

from ordermesh.adapters.channels.amazon import mapping
from ordermesh.adapters.channels.amazon.client import (
    LwaTokens,
    RetryPolicy,
    SpApiClient,
    TokenBuckets,
)
from ordermesh.adapters.channels.amazon.settings import CHANNEL, read_account
from ordermesh.ports.channels import (
    ChangesPage,
    ChannelAccount,
    ChannelError,
    NeedsReauthorisation,
    OrderVersion,
    Unreadable,
)
from ordermesh.ports.clock import Clock

# Everything a snapshot needs, in one call per page: no per-order getOrder.
INCLUDED_DATA = ("BUYER", "RECIPIENT", "PROCEEDS", "CANCELLATION", "FULFILLMENT")


class AmazonConnector:
    channel = CHANNEL

    def __init__(self, account_id: str, client: SpApiClient) -> None:
        self.account_id = account_id
        self.client = client

    def changed_orders(self, since: datetime, until: datetime) -> Iterator[ChangesPage]:
        for page in self.client.search_orders(
            last_updated_after=since, last_updated_before=until, included_data=INCLUDED_DATA
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
        client = SpApiClient(
            http=self.http,
            settings=settings,
            credentials=credentials,
            tokens=self.tokens,
            buckets=self.buckets,
            sleep=self.sleep,
            retry=self.retry,
        )
        return AmazonConnector(account.id, client)

    def close(self) -> None:
        self.http.close()
