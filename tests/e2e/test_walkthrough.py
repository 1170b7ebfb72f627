"""The walkthrough a newcomer follows: set up, key, serve, stock a mug, sell it 16 times at once.

Ten units, sixteen simultaneous orders: exactly ten are allocated, six wait for stock, and the
stock level reads ten on hand, ten reserved, none available — on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from typer.testing import CliRunner

from ordermesh.bootstrap import bootstrap
from ordermesh.config import Settings
from ordermesh.entrypoints.cli.main import app as cli
from tests.e2e.conftest import serving

BUYERS = 16


def test_sixteen_buyers_race_for_ten_mugs(database_url, tmp_path):
    if database_url.startswith("sqlite"):
        database_url = f"sqlite:///{tmp_path / 'fresh' / 'ordermesh.db'}"  # nothing there yet
    env = {"ORDERMESH_DATABASE_URL": database_url, "ORDERMESH_ENV": "test"}
    runner = CliRunner()
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    made = runner.invoke(cli, ["apikey", "create", "--role", "admin"], env=env)
    assert made.exit_code == 0, made.output
    key = made.output.strip().splitlines()[-1]

    om = bootstrap(Settings(database_url=database_url, env="test", worker=False), migrate=False)
    try:
        with serving(om) as url:
            auth = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=url, headers=auth, timeout=30) as seller:
                location = {"code": "WH1", "name": "Main warehouse", "kind": "warehouse"}
                assert seller.post("/api/v1/locations", json=location).status_code == 201
                mug = {"sku": "MUG-1", "title": "Mug"}
                assert seller.post("/api/v1/products", json=mug).status_code == 201
                receipt = {"sku": "MUG-1", "location": "WH1", "quantity": 10}
                assert seller.post("/api/v1/stock/receipts", json=receipt).status_code == 200

            start = threading.Barrier(BUYERS)

            def buy(n: int) -> httpx.Response:
                with httpx.Client(base_url=url, headers=auth, timeout=30) as buyer:
                    start.wait()
                    return buyer.post(
                        "/api/v1/orders",
                        json={
                            "channel": "manual",
                            "lines": [{"sku": "MUG-1", "quantity": 1}],
                            "shipping_address": {
                                "name": f"Buyer {n}",
                                "line1": "Unter den Linden 1",
                                "city": "Berlin",
                                "postal_code": "10117",
                                "country": "DE",
                            },
                        },
                    )

            with ThreadPoolExecutor(BUYERS) as pool:
                answers = list(pool.map(buy, range(BUYERS)))

            assert [a.status_code for a in answers] == [201] * BUYERS
            statuses = [a.json()["status"] for a in answers]
            assert statuses.count("allocated") == 10
            assert statuses.count("backordered") == 6
            with httpx.Client(base_url=url, headers=auth) as seller:
                listed = seller.get("/api/v1/orders", params={"limit": 200}).json()["items"]
                [level] = seller.get("/api/v1/stock/levels", params={"sku": "MUG-1"}).json()[
                    "items"
                ]
            assert sorted(o["status"] for o in listed) == ["allocated"] * 10 + ["backordered"] * 6
            assert (level["on_hand"], level["reserved"], level["available"]) == (10, 10, 0)
    finally:
        om.close()
