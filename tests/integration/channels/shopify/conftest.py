"""A sandboxed Shopify shop on a loopback port, and the connector pointed at it.

The sandbox runs on a manual clock; the connector's sleeps move that clock (and the pacer's
own), so pacing and THROTTLED waits are real behaviour that costs no wall time."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn

from ordermesh.adapters.channels.accounts import SqlChannelAccounts
from ordermesh.adapters.channels.credentials import CredentialBox
from ordermesh.adapters.channels.shopify import webhook_receiver
from ordermesh.adapters.channels.shopify.client import CostPacer, ShopifyClient
from ordermesh.adapters.channels.shopify.connector import ShopifyConnector
from ordermesh.adapters.channels.shopify.settings import ShopifySettings
from ordermesh.adapters.channels.shopify.webhooks import ShopifyWebhooks
from ordermesh.adapters.db.uow import SqlAlchemyUnitOfWork
from ordermesh.bootstrap import Ordermesh
from ordermesh.entrypoints.api.app import create_app as create_api
from ordermesh.entrypoints.api.routes import shopify_webhooks
from ordermesh.entrypoints.serving import loopback_socket, serve_in_thread, url_of
from ordermesh.ports.channels import AccountStatus, ChannelAccount
from ordermesh.sandbox.shopify import API_VERSION, ManualClock, SandboxConfig, create_app

TOKEN = "shpat_connector_test_token"
SECRET = "connector-test-app-secret"
DOMAIN = "ordermesh-test.myshopify.com"


def bind() -> tuple[socket.socket, str]:
    """A loopback socket for a server to come: its URL is known before the server starts."""
    sock = loopback_socket()
    return sock, url_of(sock)


def serve(
    app: Any, sock: socket.socket | None = None
) -> tuple[uvicorn.Server, threading.Thread, str]:
    served = serve_in_thread(app, sock, name="the server")
    return served.server, served.thread, served.url


@dataclass
class Shop:
    """The sandboxed shop, driven the way a test needs it."""

    base_url: str
    http: httpx.Client
    clock: ManualClock
    config: SandboxConfig
    slept: list[float] = field(default_factory=list)
    _mono: float = 1000.0

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"{self.base_url}/_sandbox{path}", json=body)
        assert response.status_code < 300, response.text
        return response.json()

    def advance(self, seconds: float) -> None:
        self.admin("POST", "/clock/advance", {"seconds": seconds})

    def flush(self) -> None:
        self.admin("POST", "/webhooks/flush")

    def now(self) -> datetime:
        return self.clock.now()

    # The connector's view of time: sleeping moves the shop's clock too.
    def monotonic(self) -> float:
        return self._mono

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._mono += seconds
        self.clock.advance(seconds)

    def account(self, account_id: str = "cha_shopify_test", **settings: Any) -> ChannelAccount:
        return ChannelAccount(
            id=account_id,
            channel="shopify",
            name="Test shop",
            status=AccountStatus.ACTIVE,
            settings={"shop_domain": DOMAIN, "admin_url": self.base_url, **settings},
            secrets={"access_token": TOKEN, "webhook_secret": SECRET},
        )

    def connector(self, account: ChannelAccount | None = None) -> ShopifyConnector:
        account = account or self.account()
        settings = ShopifySettings.from_account(account)
        client = ShopifyClient(
            settings, http=self.http, pacer=CostPacer(self.monotonic), sleep=self.sleep
        )
        return ShopifyConnector(account.id, settings, client)

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/admin/api/{API_VERSION}/graphql.json"


@pytest.fixture
def start_shop() -> Iterator[Callable[..., Shop]]:
    running: list[tuple[uvicorn.Server, threading.Thread, httpx.Client]] = []

    def start(**overrides: Any) -> Shop:
        clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        options: dict[str, Any] = {
            "shop_domain": DOMAIN,
            "access_token": TOKEN,
            "webhook_secret": SECRET,
            "clock": clock,
            "webhook_retry_delays": (60, 300),
            "seed": 11,
            "cancel_share": 0.0,
            "refund_share": 0.0,
            "pending_share": 0.0,
        }
        options.update(overrides)
        config = SandboxConfig(**options)
        server, thread, base_url = serve(create_app(config))
        http = httpx.Client(timeout=10)
        running.append((server, thread, http))
        return Shop(base_url, http, clock, config)

    yield start
    for server, thread, http in running:
        http.close()
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture
def shop(start_shop: Callable[..., Shop]) -> Shop:
    return start_shop()


# -- ordermesh wired to a Shopify account ------------------------------------------------------
@dataclass
class Wired:
    om: Ordermesh
    accounts: SqlChannelAccounts
    account: ChannelAccount
    receiver: ShopifyWebhooks
    shop: Shop | None = None

    def app(self) -> Any:
        """The API as the lead mounts it: create_app plus the Shopify webhook router."""
        app = create_api(self.om)
        app.include_router(shopify_webhooks.router)
        return app

    def order(self, channel_order_id: str) -> dict[str, Any] | None:
        for summary in self.om.queries.iter_orders():
            if summary["channel_order_id"] == channel_order_id:
                return self.om.queries.get_order(summary["id"])
        return None

    def orders(self) -> dict[str, dict[str, Any]]:
        return {
            o["channel_order_id"]: self.om.queries.get_order(o["id"]) or {}
            for o in self.om.queries.iter_orders()
            if o["channel"] == "shopify"
        }


def wire(om: Ordermesh, shop: Shop | None = None, **settings: Any) -> Wired:
    accounts = SqlChannelAccounts(om.db, om.clock, CredentialBox(om.settings.secret_key))
    account_settings: dict[str, Any] = {"shop_domain": DOMAIN, **settings}
    if shop is not None:
        account_settings["admin_url"] = shop.base_url
    account = accounts.register(
        channel="shopify",
        name="Test shop",
        settings=account_settings,
        secrets={"access_token": TOKEN, "webhook_secret": SECRET},
        sync_from=datetime(2026, 1, 5, 8, 0, tzinfo=UTC),
    )

    def connectors(acc: ChannelAccount) -> ShopifyConnector:
        assert wired.shop is not None, "this test has no sandboxed shop to read from"
        return wired.shop.connector(acc)

    wired: Wired
    receiver = webhook_receiver(
        db=om.db,
        accounts=accounts,
        uow=lambda: SqlAlchemyUnitOfWork(om.db, om.clock),
        handle=om.handle,
        clock=om.clock,
        connectors=connectors,
    )
    # What bootstrap will wire: the route finds the receiver on the Ordermesh object.
    om.shopify_webhooks = receiver  # type: ignore[attr-defined]
    wired = Wired(om, accounts, account, receiver, shop)
    return wired
