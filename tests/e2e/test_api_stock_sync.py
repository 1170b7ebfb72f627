"""Stock sync from the outside: a seller asks why a listing shows its figure, how far each
channel's pushes are behind, and what reconciliation found — over the API, in Prometheus and
from a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
import pytest
from typer.testing import CliRunner

from ordermesh.domain import commands as c
from ordermesh.entrypoints.cli.main import app
from ordermesh.ports.stock_sync import ListedQuantity, Push, PushOutcome, PushResult
from tests.builders.catalogue import a_location, a_product, stock


class Shop:
    def __init__(self) -> None:
        self.shows: dict[str, int] = {}

    def send(self, batch: Sequence[Push]) -> list[PushResult]:
        self.shows.update({p.channel_sku: p.quantity for p in batch})
        return [PushResult(p.channel_sku, PushOutcome.SENT) for p in batch]

    def listed_quantities(self, channel_skus: Sequence[str]) -> list[ListedQuantity]:
        return [ListedQuantity(s, self.shows.get(s)) for s in channel_skus]


@pytest.fixture
def shop(om):
    a_location(om, "WH1")
    a_product(om, "MUG-1")
    account = om.channel_adapters.accounts.register(
        channel="shopify",
        name="Main shop",
        settings={},
        secrets={"access_token": "x"},
        sync_from=datetime(2026, 11, 1, tzinfo=UTC),
    )
    om.handle(c.UpsertListing(account.id, "mug-red", "MUG-1"))
    om.handle(c.ConfigureStockSync(account.id, buffer_units=2, max_quantity=20))
    stock(om, "MUG-1", 30)
    channel = Shop()
    om.stock_sync_jobs.connectors = lambda _account: channel
    return account.id, channel


def test_a_seller_asks_why_a_listing_shows_its_figure(api, shop):
    account, _ = shop
    answer = api.viewer.get("/api/v1/listings/Main shop/mug-red/availability")
    assert answer.status_code == 200
    body = answer.json()
    assert body["available_to_sell"] == 20
    assert (body["free"], body["buffer"]["units_held"], body["max_quantity"]) == (30, 2, 20)
    assert body["rules"] == ["buffer", "cap"]
    assert body["locations"] == [
        {"sku": "MUG-1", "location": "WH1", "on_hand": 30, "reserved": 0, "available": 30}
    ]
    assert body["push"] == {
        "queued": 20,
        "confirmed": None,
        "status": "pending",
        "urgent": False,
        "last_error": None,
    }
    assert api.viewer.get(f"/api/v1/listings/{account}/mug-red/availability").json() == body


def test_an_unknown_listing_is_a_problem_naming_the_field(api, shop):
    answer = api.viewer.get("/api/v1/listings/Main shop/nope/availability")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["errors"][0]["field"] == "channel_sku"


def test_status_and_metrics_show_each_channels_queue(api, om, shop):
    account, _ = shop
    [status] = api.viewer.get("/api/v1/stock-sync/status").json()["accounts"]
    assert status["channel_account"] == account
    assert (status["depth"], status["sent"], status["behind"], status["alert"]) == (
        1,
        0,
        False,
        None,
    )
    om.stock_sync_jobs.push_round(account)
    [status] = api.viewer.get("/api/v1/stock-sync/status").json()["accounts"]
    assert (status["depth"], status["sent"]) == (0, 1)
    metrics = api.anonymous.get("/metrics").text
    assert f'ordermesh_stock_pushes_sent_total{{account="{account}",channel="shopify"}} 1.0' in (
        metrics
    )
    assert f'ordermesh_stock_sync_behind{{account="{account}",channel="shopify"}} 0.0' in metrics


def test_drift_found_by_reconciliation_is_reported_and_counted(api, om, shop):
    account, channel = shop
    om.stock_sync_jobs.push_round(account)
    channel.shows["mug-red"] = 26
    om.stock_sync_jobs.reconcile(account)
    report = api.viewer.get("/api/v1/stock-sync/drift", params={"account": "Main shop"}).json()
    assert [(d["channel_sku"], d["ours"], d["theirs"]) for d in report["drift"]] == [
        ("mug-red", 20, 26)
    ]
    assert (report["accounts"][0]["checked"], report["accounts"][0]["drifted"]) == (1, 1)
    assert f'ordermesh_stock_drift_listings{{account="{account}"}} 1.0' in (
        api.anonymous.get("/metrics").text
    )
    om.stock_sync_jobs.push_round(account)
    assert channel.shows["mug-red"] == 20


def test_the_cli_explains_a_listing_and_reports_drift(om, shop, database_url):
    account, channel = shop
    runner = CliRunner()
    env = {"ORDERMESH_DATABASE_URL": database_url, "COLUMNS": "200"}
    explained = runner.invoke(app, ["stock", "explain", "Main shop", "mug-red"], env=env)
    assert explained.exit_code == 0, explained.output
    assert "20 available to sell" in explained.output
    assert "2 of 30 held back as a buffer (account)" in explained.output
    assert "push: queued 20" in explained.output

    missing = runner.invoke(app, ["stock", "explain", "Main shop", "nope"], env=env)
    assert missing.exit_code != 0
    assert "no listing nope" in missing.output

    om.stock_sync_jobs.push_round(account)
    channel.shows["mug-red"] = 40
    om.stock_sync_jobs.reconcile(account)
    drift = runner.invoke(app, ["stock", "drift", "--json"], env=env)
    assert drift.exit_code == 0, drift.output
    assert orjson.loads(drift.output)["drift"][0]["theirs"] == 40
