"""The seller's commands for the Amazon inbound side: `channels sync --since` (back-fill with
a progress bar), `channels status` (sustainable order rate), `channels fba-inventory` and
`channels health`, against the Amazon sandbox on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ordermesh.entrypoints.serving import serve_in_thread
from ordermesh.sandbox.amazon import OrderRequest, SandboxConfig, create_app

US = "ATVPDKIKX0DER"


class ShiftedClock:
    """The wall clock, moved back by `behind`: orders placed while it is behind are old."""

    def __init__(self) -> None:
        self.behind = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) - self.behind


@pytest.fixture
def sandbox() -> Iterator[tuple[Any, ShiftedClock, str]]:
    clock = ShiftedClock()
    config = SandboxConfig(
        client_id="amzn1.application-oa2-client.cli",
        client_secret="cli-secret",
        refresh_token="Atzr|cli",
        seller_id="A1CLITEST",
        marketplaces=(US,),
        orders_per_minute=0.0,
        report_processing_seconds=0.2,
        tick_seconds=0.05,
        pending_seconds=0.0,
        visibility_lag_seconds=0.0,
    )
    application = create_app(config, clock)
    with serve_in_thread(application, name="the Amazon sandbox") as served:
        yield application.state.sandbox, clock, served.url


def test_a_seller_backfills_a_month_and_sees_rate_stock_and_health(
    cli: Any, sandbox: tuple[Any, ShiftedClock, str]
) -> None:
    amazon, clock, url = sandbox
    clock.behind = timedelta(days=10)
    placed = amazon.generate(6, OrderRequest(marketplace_id=US, fulfillment_channel="AFN"))
    clock.behind = timedelta(0)
    added = cli(
        "channels", "add", "amazon", "--name", "Amazon US", "--seller-id", "A1CLITEST",
        "--region", "NA", "--marketplace", US, "--client-id", "amzn1.application-oa2-client.cli",
        "--client-secret", "cli-secret", "--refresh-token", "Atzr|cli", "--endpoint", "custom",
        "--api-url", url, "--days", "1",
    )  # fmt: skip
    assert added.exit_code == 0, added.output

    since = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%d")
    synced = cli("channels", "sync", "Amazon US", "--since", since)

    assert synced.exit_code == 0, synced.output
    assert "report(s)" in synced.output, "the progress bar"
    assert "back-fill synced: 6 order(s) read from the report; 6 new" in synced.output
    again = cli("channels", "sync", "Amazon US", "--since", since)
    assert "0 new, 0 brought up to date, 6 already known" in again.output

    status = cli("channels", "status")
    assert "2,016/h" in status.output, "searchOrders: 0.0056/s × 100 orders a page"

    no_location = cli("channels", "fba-inventory", "Amazon US")
    assert no_location.exit_code != 0
    assert "location of kind marketplace" in no_location.output

    fetched = cli("channels", "health", "Amazon US")
    assert fetched.exit_code == 0, fetched.output
    assert "Late Shipment Rate" in fetched.output
    assert "account NORMAL" in fetched.output
    cached = cli("channels", "health", "Amazon US", "--cached")
    assert "Order Defect Rate (FBA)" in cached.output
    assert {o.order_id for o in placed} <= set(amazon.state.orders)
