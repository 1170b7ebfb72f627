"""The demo seller that `make run` shows a newcomer: believable, loaded once, the same each time."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ordermesh.domain.catalogue import check_gtin
from ordermesh.entrypoints.cli.main import app
from ordermesh.services.demo import load_demo


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def test_the_demo_seller_has_a_catalogue_stock_listings_and_three_months_of_orders(om):
    summary = load_demo(om.handle, FixedClock(NOW))

    locations = {loc["code"]: loc for loc in om.queries.locations()}
    assert {code: loc["kind"] for code, loc in locations.items()} == {
        "WH1": "warehouse",
        "FBA-EU": "marketplace",
        "3PL-NL": "3pl",
    }
    assert locations["WH1"]["address"]["city"] == "Berlin"
    assert locations["WH1"]["working_days"] == ["mon", "tue", "wed", "thu", "fri"]
    assert str(locations["WH1"]["cutoff"]).startswith("14:00")

    products = om.queries.products(limit=1000).items
    assert 180 <= len(products) <= 220
    assert all(check_gtin(p["gtin"]) for p in products)
    gift_sets = [p for p in products if p["is_bundle"]]
    assert len(gift_sets) == summary.bundles >= 3
    assert all(len(g["components"]) >= 2 for g in gift_sets)

    levels = om.queries.stock_levels(limit=2000).items
    stocked = {lv["sku"] for lv in levels if lv["on_hand"] > 0}
    singles = {p["sku"] for p in products if not p["is_bundle"]}
    assert singles - stocked, "some SKUs are sold out"
    assert om.queries.stock_levels(low_stock=True).items, "some SKUs run low"
    assert {lv["location"] for lv in levels} == {"WH1", "FBA-EU", "3PL-NL"}

    statuses = om.queries.count_orders_by_status()
    assert 250 <= sum(statuses.values()) <= 400
    assert statuses["delivered"] + statuses["shipped"] > sum(statuses.values()) / 2
    for status in ("pending", "cancelled", "allocated"):
        assert statuses.get(status, 0) > 0, status
    orders = list(om.queries.iter_orders())
    assert {(o["channel"], o["marketplace"]) for o in orders} == {
        ("amazon", "US"),
        ("amazon", "DE"),
        ("shopify", None),
    }
    assert any(o["is_prime"] for o in orders)
    assert any(o["is_business"] for o in orders)
    assert min(o["purchase_date"] for o in orders).replace(tzinfo=UTC) >= NOW.replace(
        month=8, day=24
    )
    assert not any(o["holds"] for o in orders), "every channel SKU maps to a product"

    fba = [o for o in orders if o["fulfilled_by"] == "marketplace"]
    assert fba
    assert all(o["marketplace"] == "DE" for o in fba)
    reserved_at = {
        a["location"]
        for o in fba
        if o["status"] == "allocated"
        for a in om.queries.get_order(o["id"])["allocations"]
    }
    assert reserved_at <= {"FBA-EU"}
    assert any(listing["channel_sku"].endswith("-FBA") for listing in om.queries.listings()), (
        "FBA offers have their own seller SKUs, mapped to ours"
    )


def test_the_same_seed_gives_the_same_demo():
    def commands(seed: int) -> list[object]:
        seen: list[object] = []
        load_demo(seen.append, FixedClock(NOW), seed=seed)
        return seen

    assert commands(7) == commands(7)
    assert commands(7) != commands(8)


def test_running_the_demo_twice_keeps_the_data_and_loads_it_once(database_url):
    runner = CliRunner()
    env = {"ORDERMESH_DATABASE_URL": database_url, "COLUMNS": "200"}

    first = runner.invoke(app, ["demo", "--no-serve"], env=env)
    orders_after_first = runner.invoke(app, ["export", "orders"], env=env).stdout
    second = runner.invoke(app, ["demo", "--no-serve"], env=env)
    orders_after_second = runner.invoke(app, ["export", "orders"], env=env).stdout
    keys = runner.invoke(app, ["apikey", "list"], env=env).stdout

    assert first.exit_code == 0, first.output
    assert "Admin API key" in first.output
    assert "om_" in first.output
    assert second.exit_code == 0, second.output
    assert "demo not reloaded" in second.output
    assert "om_" not in second.output
    assert orders_after_second == orders_after_first
    assert keys.count("key_") == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["demo", "serve"])
def test_the_started_server_answers_health(tmp_path: Path, command: str):
    if importlib.util.find_spec("ordermesh.entrypoints.api.server") is None:
        pytest.skip("the API server module does not exist yet")
    port = _free_port()
    executable = Path(sys.executable).with_name("ordermesh")
    env = dict(
        os.environ,
        ORDERMESH_DATABASE_URL=f"sqlite:///{tmp_path}/demo.db",
        ORDERMESH_ENV="development",
        COLUMNS="200",
    )
    process = subprocess.Popen(
        [str(executable), command, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"`ordermesh {command}` did not answer in 60 s"
            time.sleep(0.3)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
    if command == "demo":
        assert f"http://127.0.0.1:{port}/docs" in output
        assert "Admin API key" in output
