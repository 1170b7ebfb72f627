"""The sandbox as someone runs it: from the CLI, with shoppers arriving on their own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ordermesh.sandbox.shopify import API_VERSION, cli

from .conftest import RunningSandbox


class RacingClock:
    """A clock whose seconds pass in a hundredth of a real second, so a background loop runs."""

    def __init__(self) -> None:
        self._now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / 100)
        self._now += timedelta(seconds=seconds)


def test_shoppers_arrive_on_their_own_at_the_configured_rate(
    start_sandbox: Callable[..., RunningSandbox],
) -> None:
    sandbox = start_sandbox(clock=RacingClock(), orders_per_minute=60.0)

    deadline = time.monotonic() + 5
    while sandbox.admin("GET", "/stats")["orders"] < 3 and time.monotonic() < deadline:
        time.sleep(0.02)

    assert sandbox.admin("GET", "/stats")["orders"] >= 3


def test_the_cli_prints_what_a_connector_needs_and_serves(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served: dict[str, Any] = {}

    def fake_run(app: Any, **options: Any) -> None:
        served.update(options, app=app)

    monkeypatch.setattr(cli.uvicorn, "run", fake_run)

    cli.run(
        8765,
        access_token="shpat_given",
        webhook_url="http://127.0.0.1:9/hooks",
        webhook_secret="s3cret",
        orders_per_minute=0.5,
    )

    printed = capsys.readouterr().out
    assert "shpat_given" in printed
    assert "s3cret" in printed
    assert f"http://127.0.0.1:8765/admin/api/{API_VERSION}/graphql.json" in printed
    assert served["port"] == 8765
    assert served["host"] == "127.0.0.1"
    config = served["app"].state.sandbox.config
    assert (config.access_token, config.webhook_secret, config.orders_per_minute) == (
        "shpat_given",
        "s3cret",
        0.5,
    )
