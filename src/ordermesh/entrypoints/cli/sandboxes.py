"""The sandbox channels that `ordermesh demo` runs beside the app, so that orders flow in.

Each sandbox is served by uvicorn in a thread on a loopback port. The demo connects an Amazon
account (US and DE marketplaces) and a Shopify account to them, with the listings of the demo
catalogue, and lets their order generators run. On a restart the accounts are reused: the
sandboxes take the credentials stored on them and, when it is free, the port recorded."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain import commands as c
from ordermesh.entrypoints.serving import Served, loopback_socket, serve_in_thread
from ordermesh.sandbox.amazon.config import DE, US
from ordermesh.sandbox.amazon.config import SandboxConfig as AmazonConfig
from ordermesh.sandbox.amazon.sandbox import create_app as amazon_app
from ordermesh.sandbox.shopify import SandboxConfig as ShopifyConfig
from ordermesh.sandbox.shopify import create_app as shopify_app
from ordermesh.services.channel_accounts import AccountChange
from ordermesh.services.demo import demo_products, retail_price

AMAZON_ACCOUNT = "Amazon (sandbox)"
SHOPIFY_ACCOUNT = "Shopify (sandbox)"
SHOP_DOMAIN = "hearth-and-trail.myshopify.com"
SHOPIFY_WAREHOUSE = "WH1"
"""The ordermesh location the sandbox shop's one location stands for."""
SANDBOX_STOCK = 500
"""Units each sandbox listing starts with: enough for hours of demo orders."""
VISIBILITY_LAG_SECONDS = 5.0
"""How long the Amazon sandbox keeps a change out of searches. Amazon's own is two minutes;
a newcomer should not wait that long to see the first order."""
SETTLE_SECONDS = 10
"""How close to now the demo accounts are read (see the `sync_settle_seconds` setting)."""


def serve(name: str, app: Any, host: str = "127.0.0.1", port: int | None = None) -> Served:
    """Serve `app` on `port` (or a free port if that one is taken) and wait until it listens."""
    return serve_in_thread(app, loopback_socket(port, host), name=f"the {name} sandbox")


def _port(url: str | None) -> int | None:
    return urlsplit(url).port if url else None


@dataclass
class DemoChannels:
    """The running sandboxes and the accounts connected to them."""

    amazon: Served
    shopify: Served
    accounts: dict[str, str] = field(default_factory=dict)
    """Account name → account id."""
    reused: bool = False

    def stop(self) -> None:
        for served in (self.shopify, self.amazon):
            served.stop()


def _existing(om: Ordermesh, name: str) -> Any:
    for row in om.channel_adapters.accounts.list():
        if row["name"] == name:
            return om.channel_adapters.accounts.get(row["id"])
    return None


def _catalogue() -> list[tuple[str, str, Decimal]]:
    products = demo_products()
    by_sku = {p.sku: p for p in products}
    return [(p.sku, p.title, retail_price(p, by_sku)) for p in products if not p.is_bundle]


def _amazon(
    om: Ordermesh, host: str, app_url: str, orders_per_minute: float
) -> tuple[Served, str, bool]:
    account = _existing(om, AMAZON_ACCOUNT)
    # ORDER_CHANGE notifications bring an order in within seconds; the sync stays the net.
    notification_secret = (
        account.secrets.get("notification_secret", "") if account and account.secrets else ""
    ) or secrets.token_urlsafe(24)
    config = AmazonConfig(
        notification_url=f"{app_url}/webhooks/amazon/notifications",
        notification_secret=notification_secret,
        orders_per_minute=orders_per_minute,
        marketplaces=(US, DE),
        listings=0,
        # A new seed each run: order ids must not repeat those of an earlier run.
        seed=secrets.randbits(32),
        visibility_lag_seconds=VISIBILITY_LAG_SECONDS,
    )
    if account is not None and account.secrets:
        config.client_id = str(account.settings.get("lwa_client_id", config.client_id))
        config.seller_id = str(account.settings.get("selling_partner_id", config.seller_id))
        config.client_secret = account.secrets.get("lwa_client_secret", config.client_secret)
        config.refresh_token = account.secrets.get("refresh_token", config.refresh_token)
    app = amazon_app(config)
    for sku, title, price in _catalogue():
        app.state.sandbox.state.add_listing(
            sku=sku, title=title, price=price, mfn_quantity=SANDBOX_STOCK, fba_fulfillable=50
        )
    port = _port(account.settings.get("api_base_url")) if account is not None else None
    served = serve("amazon", app, host, port)
    settings = {
        "selling_partner_id": config.seller_id,
        "region": "NA",
        "marketplace_ids": [US, DE],
        "lwa_client_id": config.client_id,
        "endpoint": "custom",
        "api_base_url": served.url,
        "sync_settle_seconds": SETTLE_SECONDS,
    }
    credentials = {
        "lwa_client_secret": config.client_secret,
        "refresh_token": config.refresh_token,
        "notification_secret": notification_secret,
    }
    return (
        served,
        _connect(om, "amazon", AMAZON_ACCOUNT, account, settings, credentials),
        bool(account),
    )


def _shopify(
    om: Ordermesh, host: str, app_url: str, orders_per_minute: float
) -> tuple[Served, str, bool]:
    account = _existing(om, SHOPIFY_ACCOUNT)
    config = ShopifyConfig(
        shop_domain=SHOP_DOMAIN,
        access_token=account.secrets.get("access_token", "") if account else "",
        webhook_secret=account.secrets.get("webhook_secret", "") if account else "",
        webhook_url=f"{app_url}/webhooks/shopify",
        orders_per_minute=orders_per_minute,
        currency="EUR",
        demo_catalogue=False,
        seed=secrets.randbits(32),
    )
    app = shopify_app(config)
    shop = app.state.sandbox.shop
    # Ids a tenth of a second apart per run: a restarted shop never reuses an imported id.
    shop.number_ids_from(int(time.time() * 10))
    location = shop.add_location("Berlin warehouse", "DE")
    for sku, title, price in _catalogue():
        shop.add_product(title, [(sku, "Default Title", price)])
        shop.stock(sku, location.id, SANDBOX_STOCK)
    port = _port(account.settings.get("admin_url")) if account is not None else None
    served = serve("shopify", app, host, port)
    settings = {
        "shop_domain": SHOP_DOMAIN,
        "admin_url": served.url,
        "locations": {str(location.id): SHOPIFY_WAREHOUSE},
        "sync_settle_seconds": SETTLE_SECONDS,
    }
    credentials = {"access_token": config.access_token, "webhook_secret": config.webhook_secret}
    return (
        served,
        _connect(om, "shopify", SHOPIFY_ACCOUNT, account, settings, credentials),
        bool(account),
    )


def _connect(
    om: Ordermesh,
    channel: str,
    name: str,
    account: Any,
    settings: dict[str, Any],
    credentials: dict[str, str],
) -> str:
    if account is None:
        # From now on: the demo's history was loaded already, the sandboxes bring what is new.
        return str(
            om.channel_accounts.add(
                channel=channel,
                name=name,
                settings=settings,
                secrets=credentials,
                sync_from=om.clock.now(),
            )["id"]
        )
    # Endpoints (a port that was taken, a new shop location) follow the sandboxes of this run.
    om.channel_accounts.change(
        account.id,
        AccountChange(
            settings=settings, secrets=credentials if account.secrets != credentials else None
        ),
    )
    return str(account.id)


def _list_catalogue(om: Ordermesh, account_id: str) -> None:
    """Listings of every demo SKU on the account, so stock figures are pushed to it."""
    for sku, _, _ in _catalogue():
        om.handle(c.UpsertListing(account_id, sku, sku))


def start_demo_channels(
    om: Ordermesh, *, app_url: str, orders_per_minute: float, host: str = "127.0.0.1"
) -> DemoChannels:
    """Start both sandboxes and connect (or reconnect) the demo accounts to them."""
    amazon, amazon_id, amazon_reused = _amazon(om, host, app_url, orders_per_minute)
    try:
        shopify, shopify_id, shopify_reused = _shopify(om, host, app_url, orders_per_minute)
    except BaseException:
        amazon.stop()
        raise
    channels = DemoChannels(
        amazon,
        shopify,
        {AMAZON_ACCOUNT: amazon_id, SHOPIFY_ACCOUNT: shopify_id},
        reused=amazon_reused and shopify_reused,
    )
    if not channels.reused:
        for account_id in channels.accounts.values():
            _list_catalogue(om, account_id)
    return channels
