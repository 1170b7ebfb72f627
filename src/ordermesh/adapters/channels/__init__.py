"""Channel connectors, chosen by the account's channel, and what they share."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError as PydanticValidationError

from ordermesh.adapters.channels.accounts import SqlChannelAccounts
from ordermesh.adapters.channels.amazon import AmazonConnectors
from ordermesh.adapters.channels.amazon.client import RetryPolicy, bucket_prefix
from ordermesh.adapters.channels.amazon.settings import AmazonAccountSettings, AmazonCredentials
from ordermesh.adapters.channels.credentials import CredentialBox
from ordermesh.adapters.channels.inbound import InboundAdapters, SqlMarketplaceRecords
from ordermesh.adapters.channels.rate_limits import SqlTokenBuckets
from ordermesh.adapters.channels.shopify import shopify_connector
from ordermesh.adapters.channels.shopify.settings import ShopifySettings
from ordermesh.adapters.db.engine import Database
from ordermesh.domain.errors import ValidationFailed
from ordermesh.ports.channels import (
    AccountStatus,
    ChannelAccount,
    ChannelConnector,
    ChannelError,
    ConnectorFactory,
)
from ordermesh.ports.clock import Clock

SECRET_NAMES: dict[str, tuple[str, ...]] = {
    "amazon": ("lwa_client_secret", "refresh_token", "notification_secret"),
    "shopify": ("access_token", "webhook_secret"),
}


class Connectors:
    """`ConnectorFactory` over every channel ordermesh knows."""

    def __init__(self, factories: Mapping[str, ConnectorFactory]) -> None:
        self.factories = dict(factories)

    def __call__(self, account: ChannelAccount) -> ChannelConnector:
        factory = self.factories.get(account.channel)
        if factory is None:
            raise ChannelError(f"ordermesh has no connector for channel {account.channel!r}")
        return factory(account)


@dataclass
class ChannelAdapters:
    accounts: SqlChannelAccounts
    buckets: SqlTokenBuckets
    connectors: Connectors
    amazon: AmazonConnectors
    inbound: InboundAdapters
    """Back-fill, FBA stock, account health and MCF per account (`inbound(account)`), and
    the figures they keep (`inbound.records`)."""

    def close(self) -> None:
        self.amazon.close()

    def secret_names(self, channel: str) -> tuple[str, ...]:
        """The credentials an account of this channel holds (shown only as set or not set)."""
        return SECRET_NAMES.get(channel, ())

    def rate_limit_prefix(self, account: ChannelAccount) -> str | None:
        """The start of the keys of the account's token buckets, if its channel uses them
        (Shopify paces by the query cost each answer reports instead)."""
        if account.channel == "amazon" and account.settings.get("selling_partner_id"):
            return bucket_prefix(str(account.settings["selling_partner_id"]))
        return None

    def check(self, channel: str, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        """Refuse an account's settings before they are stored, naming what is wrong."""
        if channel == "amazon":
            # Settings and credentials apart, so that the refusal names `settings.region` or
            # `secrets.refresh_token`, the field as the caller sent it.
            for part, model, values in (
                ("settings", AmazonAccountSettings, settings),
                ("secrets", AmazonCredentials, secrets),
            ):
                try:
                    model.model_validate(dict(values))
                except PydanticValidationError as invalid:
                    first = invalid.errors()[0]
                    where = ".".join([part, *(str(p) for p in first["loc"])])
                    raise ValidationFailed(f"{where}: {first['msg']}", field=where) from invalid
        elif channel == "shopify":
            ShopifySettings.from_account(
                ChannelAccount(
                    "new", "shopify", "new", AccountStatus.ACTIVE, dict(settings), dict(secrets)
                )
            )
        else:
            raise ValidationFailed(f"ordermesh has no connector for {channel!r}", field="channel")


def channel_adapters(
    db: Database,
    clock: Clock,
    secret_key: str,
    *,
    http: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    retry: RetryPolicy | None = None,
) -> ChannelAdapters:
    buckets = SqlTokenBuckets(db, clock)
    amazon = AmazonConnectors(buckets, clock, http=http, sleep=sleep, retry=retry)
    return ChannelAdapters(
        accounts=SqlChannelAccounts(db, clock, CredentialBox(secret_key)),
        buckets=buckets,
        connectors=Connectors({"amazon": amazon, "shopify": shopify_connector}),
        amazon=amazon,
        inbound=InboundAdapters(amazon, SqlMarketplaceRecords(db)),
    )
