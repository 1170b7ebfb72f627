"""``ordermesh sandbox shopify``: serve a sandboxed shop on a local port."""

from __future__ import annotations

import uvicorn

from ordermesh.sandbox.shopify.app import create_app
from ordermesh.sandbox.shopify.config import API_VERSION, SandboxConfig


def run(
    port: int,
    host: str = "127.0.0.1",
    access_token: str | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    orders_per_minute: float = 2.0,
) -> None:
    """Serves the sandbox until interrupted, after printing the credentials a connector needs."""
    config = SandboxConfig(
        access_token=access_token or "",
        webhook_url=webhook_url,
        webhook_secret=webhook_secret or "",
        orders_per_minute=orders_per_minute,
    )
    base = f"http://{host}:{port}"
    print(f"Shopify sandbox for {config.shop_domain} (Admin API {API_VERSION})")
    print(f"  GraphQL endpoint : {base}/admin/api/{API_VERSION}/graphql.json")
    print(f"  access token     : {config.access_token}  (header X-Shopify-Access-Token)")
    print(f"  webhook secret   : {config.webhook_secret}")
    print(f"  webhooks to      : {webhook_url or '(none configured)'}")
    print(f"  orders per minute: {orders_per_minute}")
    print(f"  sandbox controls : {base}/_sandbox/docs")
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")
