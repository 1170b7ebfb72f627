"""One simulated seller: ordermesh on its own SQLite file, an Amazon sandbox account and a
Shopify sandbox shop, each served over real HTTP on its own loopback port, with one catalogue
listed on both channels.

Everything runs in the calling process (uvicorn servers in threads), so several worlds can run
side by side in separate processes without sharing a port, a database or a rate-limit bucket."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import text

from ordermesh.bootstrap import Ordermesh, bootstrap
from ordermesh.config import Settings
from ordermesh.domain import commands as c
from ordermesh.domain.catalogue import Product
from ordermesh.domain.inventory import Location, LocationKind
from ordermesh.entrypoints.api.app import create_app as create_api
from ordermesh.entrypoints.serving import Served, loopback_socket, serve_in_thread, url_of
from ordermesh.ports.channels import ChannelAccount
from ordermesh.ports.stock_sync import Push, PushOutcome, PushResult
from ordermesh.sandbox import amazon as amazon_sandbox
from ordermesh.sandbox import shopify as shopify_sandbox

WAREHOUSE = "WH1"
US = "ATVPDKIKX0DER"
SECRET_KEY = "simulation-secret-key-0123456789-abcdefghijklmnop"
_SELLER_ID = "A1SIMULATEDSLR"
_LWA_CLIENT = "amzn1.application-oa2-client.simulation"
_LWA_SECRET = "simulation-lwa-secret"
_REFRESH_TOKEN = "Atzr|simulation-refresh-token"
_SHOP_TOKEN = "shpat_simulation_token"
_SHOP_SECRET = "simulation-webhook-secret"
_NOTIFICATION_SECRET = "simulation-notification-secret"


def bind() -> tuple[socket.socket, str]:
    """A loopback socket for a server to come, so its URL is known before it starts."""
    sock = loopback_socket()
    return sock, url_of(sock)


def serve(app: Any, sock: socket.socket | None = None) -> Served:
    return serve_in_thread(app, sock, name="a simulated server")


class CostMeter:
    """Wraps the Shopify sandbox and adds up the query cost it charges (the
    `extensions.cost.actualQueryCost` of every Admin API answer), so a benchmark can say what
    its pushes cost without the sandbox having to keep the books."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state
        self.spent = 0
        self.calls = 0
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/graphql.json"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def metered(message: Any) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self._charge(b"".join(chunks))
            await send(message)

        await self.app(scope, receive, metered)

    def _charge(self, body: bytes) -> None:
        try:
            cost = orjson.loads(body)["extensions"]["cost"]["actualQueryCost"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        with self._lock:
            self.calls += 1
            self.spent += int(cost or 0)


@dataclass(frozen=True)
class WorldOptions:
    folder: Path
    """Where the world's SQLite database lives."""
    name: str = "world"
    seed: int = 1
    rate_limits: bool = True
    """The sandboxes' real rate limits (SP-API usage plans, Shopify's cost bucket)."""
    channel_sync_seconds: float = 60.0
    """How often the worker pulls changed orders from each account (ordermesh's default)."""
    amazon_pending_seconds: float = 120.0
    amazon_visibility_lag_seconds: float = 120.0
    amazon_feed_order: str = "feed_last"
    """Which wins on Amazon, a listings feed or a patch sent while it was processed (the
    sandbox's `feed_order`)."""


class _AlreadyListed:
    """The channel shows these figures because the world seeded it with them: settles the
    first pushes of a fresh world as sent without spending the channel's rate limits."""

    def __init__(self, seeded: Mapping[str, int]) -> None:
        self.seeded = seeded

    def send(self, batch: Sequence[Push]) -> list[PushResult]:
        return [
            PushResult(
                p.channel_sku,
                PushOutcome.SENT
                if self.seeded.get(p.channel_sku) == p.quantity
                else PushOutcome.RETRY,
            )
            for p in batch
        ]


class World:
    def __init__(self, options: WorldOptions) -> None:
        self.options = options
        options.folder.mkdir(parents=True, exist_ok=True)
        database = options.folder / f"{options.name}.db"
        for leftover in options.folder.glob(f"{options.name}.db*"):
            leftover.unlink()
        self.om: Ordermesh = bootstrap(
            Settings(
                database_url=f"sqlite:///{database}",
                env="test",
                worker=False,
                secret_key=SECRET_KEY,
                channel_sync_seconds=options.channel_sync_seconds,
                log_level="WARNING",
            )
        )
        self._served: list[Served] = []
        self.http = httpx.Client(timeout=30.0)
        api_socket, api_url = bind()
        self.shop_domain = f"{options.name.replace('_', '-')}-sim.myshopify.com"
        self.amazon_app = amazon_sandbox.create_app(
            amazon_sandbox.SandboxConfig(
                client_id=_LWA_CLIENT,
                client_secret=_LWA_SECRET,
                refresh_token=_REFRESH_TOKEN,
                seller_id=_SELLER_ID,
                marketplaces=(US,),
                orders_per_minute=0.0,
                listings=0,
                rate_limits=options.rate_limits,
                seed=options.seed,
                pending_seconds=options.amazon_pending_seconds,
                visibility_lag_seconds=options.amazon_visibility_lag_seconds,
                feed_order=options.amazon_feed_order,
                notification_url=f"{api_url}/webhooks/amazon/notifications",
                notification_secret=_NOTIFICATION_SECRET,
            )
        )
        self.shopify_app = shopify_sandbox.create_app(
            shopify_sandbox.SandboxConfig(
                shop_domain=self.shop_domain,
                access_token=_SHOP_TOKEN,
                webhook_secret=_SHOP_SECRET,
                webhook_url=f"{api_url}/webhooks/shopify",
                orders_per_minute=0.0,
                cancel_share=0.0,
                refund_share=0.0,
                pending_share=0.0,
                throttling=options.rate_limits,
                demo_catalogue=False,
                seed=options.seed,
            )
        )
        self.amazon_url = self._serve(self.amazon_app).url
        self.shopify_cost = CostMeter(self.shopify_app)
        self.shopify_url = self._serve(self.shopify_cost).url
        self.api_url = self._serve(create_api(self.om), api_socket).url
        location = self._admin("POST", self.shopify_url, "/locations", {"name": "Warehouse"})
        self.shopify_location = str(location["id"])
        self.amazon_account, self.shopify_account = self._register()
        self.om.handle(c.CreateLocation(Location(WAREHOUSE, "Warehouse", LocationKind.WAREHOUSE)))

    # -- wiring ---------------------------------------------------------------------------

    def _serve(self, app: Any, sock: socket.socket | None = None) -> Served:
        served = serve(app, sock)
        self._served.append(served)
        return served

    def _admin(self, method: str, base: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{base}/_sandbox{path}", json=body)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def _register(self) -> tuple[ChannelAccount, ChannelAccount]:
        accounts = self.om.channel_adapters.accounts
        since = datetime.now(UTC) - timedelta(minutes=1)
        amazon_settings = {
            "selling_partner_id": _SELLER_ID,
            "region": "NA",
            "marketplace_ids": [US],
            "lwa_client_id": _LWA_CLIENT,
            "endpoint": "custom",
            "api_base_url": self.amazon_url,
        }
        amazon_secrets = {
            "lwa_client_secret": _LWA_SECRET,
            "refresh_token": _REFRESH_TOKEN,
            "notification_secret": _NOTIFICATION_SECRET,
        }
        shopify_settings = {
            "shop_domain": self.shop_domain,
            "admin_url": self.shopify_url,
            "locations": {self.shopify_location: WAREHOUSE},
        }
        shopify_secrets = {"access_token": _SHOP_TOKEN, "webhook_secret": _SHOP_SECRET}
        self.om.channel_adapters.check("amazon", amazon_settings, amazon_secrets)
        self.om.channel_adapters.check("shopify", shopify_settings, shopify_secrets)
        return (
            accounts.register(
                channel="amazon",
                name=f"{self.options.name} Amazon",
                settings=amazon_settings,
                secrets=amazon_secrets,
                sync_from=since,
            ),
            accounts.register(
                channel="shopify",
                name=f"{self.options.name} Shopify",
                settings=shopify_settings,
                secrets=shopify_secrets,
                sync_from=since,
            ),
        )

    @property
    def accounts(self) -> tuple[ChannelAccount, ChannelAccount]:
        return self.amazon_account, self.shopify_account

    # -- catalogue ------------------------------------------------------------------------

    def stock(self, units: Mapping[str, int]) -> None:
        """Each SKU with this many units in the warehouse, listed on both channels, which show
        the same figures from the start (as after a first full sync)."""
        skus = sorted(units)
        self.om.handle(c.UpsertProducts(tuple(Product(sku, f"Flash item {sku}") for sku in skus)))
        self.om.handle(
            c.ImportStockCounts(
                tuple(
                    c.StockRow(line, sku, WAREHOUSE, units[sku])
                    for line, sku in enumerate(skus, start=1)
                ),
                reference="simulation opening stock",
            )
        )
        seeded = self._admin(
            "POST",
            self.amazon_url,
            "/listings",
            [{"sku": sku, "quantity": units[sku], "title": f"Flash item {sku}"} for sku in skus],
        )["listings"]
        asins = {entry["sku"]: entry["asin"] for entry in seeded}
        # The shop is seeded in-process, as its /_sandbox/products endpoint would: one request
        # per product takes minutes for thousands of them.
        shop = self.shopify_app.state.sandbox.shop
        variants: dict[str, str] = {}
        with shop.lock:
            for sku in skus:
                product = shop.add_product(
                    f"Flash item {sku}", [(sku, "Default Title", Decimal("19.99"))]
                )
                shop.stock(sku, int(self.shopify_location), units[sku])
                variants[sku] = str(product.variant_ids[0])
        amazon, shopify = self.accounts
        for sku in skus:
            self.om.handle(c.UpsertListing(amazon.id, sku, sku, asin=asins[sku]))
            self.om.handle(c.UpsertListing(shopify.id, sku, sku, variant_id=variants[sku]))
        for account in self.accounts:
            self.om.handle(c.ConfigureStockSync(account.id, locations=(WAREHOUSE,)))
            listed = _AlreadyListed(units)
            while self.om.stock_sync.drain_pushes(account.id, listed, 1000).claimed:
                pass

    # -- reading the world ----------------------------------------------------------------

    def figures(self, account_id: str) -> dict[str, int]:
        """The latest figure ordermesh holds for every listing of an account."""
        with self.om.db.reader.connect() as conn:
            rows = conn.execute(
                text("SELECT channel_sku, quantity FROM stock_pushes WHERE channel_account = :a"),
                {"a": account_id},
            ).all()
        return {row.channel_sku: int(row.quantity) for row in rows}

    def orders(self) -> list[tuple[str, str, str, int, int]]:
        """(channel, channel order id, status, ordered units, reserved units) per channel order."""
        with self.om.db.reader.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT o.channel, o.channel_order_id, o.status, "
                    "(SELECT COALESCE(SUM(l.quantity), 0) FROM order_lines l "
                    " WHERE l.order_id = o.id) AS units, "
                    "(SELECT COALESCE(SUM(a.quantity), 0) FROM allocations a "
                    " WHERE a.order_id = o.id) AS reserved "
                    "FROM orders o WHERE o.channel IN ('amazon', 'shopify')"
                )
            ).all()
        return [
            (row.channel, row.channel_order_id, row.status, int(row.units), int(row.reserved))
            for row in rows
        ]

    def amazon_stats(self) -> dict[str, Any]:
        return dict(self._admin("GET", self.amazon_url, "/stats"))

    def shopify_stats(self) -> dict[str, Any]:
        return dict(self._admin("GET", self.shopify_url, "/stats"))

    def close(self) -> None:
        for served in reversed(self._served):
            served.stop()
        self.http.close()
        self.om.close()


def quiet() -> None:
    """Simulations print their own progress; ordermesh's and uvicorn's logs would drown it."""
    logging.getLogger().setLevel(logging.ERROR)
    for name in ("ordermesh", "uvicorn", "uvicorn.error", "httpx", "structlog"):
        logging.getLogger(name).setLevel(logging.ERROR)
