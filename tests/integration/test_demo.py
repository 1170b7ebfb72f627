"""The demo seller that `make run` shows a newcomer: believable, loaded once, the same each time."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def _start_demo(tmp_path: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        ORDERMESH_DATABASE_URL=f"sqlite:///{tmp_path}/demo.db",
        ORDERMESH_ENV="development",
        ORDERMESH_CHANNEL_SYNC_SECONDS="1",
        COLUMNS="200",
    )
    executable = str(Path(sys.executable).with_name("ordermesh"))
    with log.open("wb") as out:
        # A file, not a pipe: a pipe nobody reads would stall the server once it is full.
        return subprocess.Popen(
            [executable, "demo", "--port", str(port), "--orders-per-minute", "120"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _accounts_with_orders(
    base: str,
    log: Path,
    process: subprocess.Popen[bytes],
    key: str | None = None,
    more_than: dict[str, int] | None = None,
) -> Any:
    """Poll the channel accounts API until both sandbox accounts have brought (more) orders in."""
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "orders from both sandboxes did not arrive in 90 s"
        time.sleep(1)
        key = key or _admin_key(log.read_text())
        if key is None:
            continue
        try:
            answer = httpx.get(
                f"{base}/api/v1/channel-accounts",
                headers={"Authorization": f"Bearer {key}"},
                timeout=5,
            )
        except httpx.TransportError:
            continue
        if answer.status_code == 200:
            accounts = {a["channel"]: a for a in answer.json()["items"]}
            if set(accounts) == {"amazon", "shopify"} and all(
                a["orders"] > (more_than or {}).get(channel, 0) for channel, a in accounts.items()
            ):
                return key, accounts


def _admin_key(output: str) -> str | None:
    found = re.search(r"om_[A-Za-z0-9_-]+", output)
    return found.group(0) if found else None


@pytest.mark.slow
def test_make_run_brings_orders_in_from_both_sandboxes_and_a_restart_reuses_the_accounts(
    tmp_path: Path,
):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = _start_demo(tmp_path, port, first_log)
    try:
        key, accounts = _accounts_with_orders(base, first_log, first)
        orders = httpx.get(
            f"{base}/api/v1/orders",
            params={"limit": 200},
            headers={"Authorization": f"Bearer {key}"},
        ).json()["items"]
    finally:
        _stop(first)
    output = first_log.read_text()
    assert "Sandbox channels" in output
    assert "accounts connected" in output
    assert accounts["amazon"]["settings"]["marketplace_ids"] == ["ATVPDKIKX0DER", "A1PA6795UKMFR9"]
    assert accounts["amazon"]["secrets"] == {
        "lwa_client_secret": "set",
        "refresh_token": "set",
        # The sandbox's ORDER_CHANGE notifications are checked against it.
        "notification_secret": "set",
    }
    sandbox_orders = [
        o for o in orders if o["channel_account"] in {a["id"] for a in accounts.values()}
    ]
    assert {o["channel"] for o in sandbox_orders} == {"amazon", "shopify"}
    # Sandbox orders carry the demo catalogue's SKUs, so none waits for a SKU mapping.
    assert not [o for o in sandbox_orders if "unknown_sku" in str(o["holds"])]

    again = _start_demo(tmp_path, port, second_log)
    try:
        before = {channel: a["orders"] for channel, a in accounts.items()}
        _, reconnected = _accounts_with_orders(base, second_log, again, key, before)
    finally:
        _stop(again)
    assert "accounts reused" in second_log.read_text()
    assert {a["id"] for a in reconnected.values()} == {a["id"] for a in accounts.values()}
