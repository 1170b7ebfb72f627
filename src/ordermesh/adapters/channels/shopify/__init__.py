"""The Shopify connector: one shop's Admin GraphQL API behind the ChannelConnector port, and
its webhooks into the inbox.

`shopify_connector(account)` is the ConnectorFactory the sync uses; `webhook_receiver(...)`
builds what the `/webhooks/shopify` route needs. Everything Shopify-specific stays in this
package: the core sees ChannelOrder snapshots only."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from ordermesh.adapters.channels.shopify.client import ShopifyClient
from ordermesh.adapters.channels.shopify.connector import ShopifyConnector
from ordermesh.adapters.channels.shopify.settings import API_VERSION, CHANNEL, ShopifySettings
from ordermesh.adapters.channels.shopify.webhooks import Accounts, ShopifyWebhooks
from ordermesh.adapters.db.engine import Database
from ordermesh.domain.commands import Command
from ordermesh.ports.channels import ChannelAccount
from ordermesh.ports.clock import Clock
from ordermesh.ports.storage import UnitOfWork

__all__ = [
    "API_VERSION",
    "CHANNEL",
    "ShopifyConnector",
    "ShopifySettings",
    "ShopifyWebhooks",
    "shopify_connector",
    "webhook_receiver",
]


def shopify_connector(
    account: ChannelAccount,
    *,
    http: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ShopifyConnector:
    """The connector of one Shopify channel account (a ConnectorFactory)."""
    settings = ShopifySettings.from_account(account)
    return ShopifyConnector(account.id, settings, ShopifyClient(settings, http=http, sleep=sleep))


def webhook_receiver(
    *,
    db: Database,
    accounts: Accounts,
    uow: Callable[[], UnitOfWork],
    handle: Callable[[Command], Any],
    clock: Clock,
    connectors: Callable[[ChannelAccount], ShopifyConnector] = shopify_connector,
) -> ShopifyWebhooks:
    """What bootstrap wires for POST /webhooks/shopify."""
    return ShopifyWebhooks(
        db=db, accounts=accounts, uow=uow, handle=handle, readers=connectors, clock=clock
    )
