"""Entry point used by `ordermesh sandbox amazon`."""

from __future__ import annotations

import uvicorn

from ordermesh.sandbox.amazon.config import SandboxConfig
from ordermesh.sandbox.amazon.sandbox import create_app


def run(
    port: int,
    host: str = "127.0.0.1",
    client_id: str | None = None,
    client_secret: str | None = None,
    refresh_token: str | None = None,
    seller_id: str | None = None,
    orders_per_minute: float = 2.0,
    rate_limits: bool = True,
    notification_url: str | None = None,
    notification_secret: str | None = None,
) -> None:
    """Serve the Amazon sandbox until interrupted, after printing the credentials it accepts."""
    config = SandboxConfig(orders_per_minute=orders_per_minute, rate_limits=rate_limits)
    if client_id:
        config.client_id = client_id
    if client_secret:
        config.client_secret = client_secret
    if refresh_token:
        config.refresh_token = refresh_token
    if seller_id:
        config.seller_id = seller_id
    config.notification_url = notification_url
    config.notification_secret = notification_secret
    base = f"http://{host}:{port}"
    print(
        "Amazon SP-API sandbox\n"
        f"  endpoint        {base}\n"
        f"  LWA token URL   {base}/auth/o2/token\n"
        f"  client_id       {config.client_id}\n"
        f"  client_secret   {config.client_secret}\n"
        f"  refresh_token   {config.refresh_token}\n"
        f"  seller_id       {config.seller_id}\n"
        f"  marketplaces    {', '.join(config.marketplaces)}\n"
        f"  orders/minute   {config.orders_per_minute:g}\n"
        f"  rate limits     {'on' if config.rate_limits else 'off'}\n"
        f"  notifications   {notification_url or 'not sent (--notification-url)'}\n"
        f"  admin           {base}/_sandbox/stats, /_sandbox/orders, /_sandbox/faults",
        flush=True,
    )
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")
