"""The benchmark suite runs at toy size, so it cannot rot between the runs that matter."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from bench.api import parse_wrk

ROOT = Path(__file__).resolve().parents[2]


def _bench(out: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **env},
    )


def _read(out: Path, name: str) -> dict:
    return orjson.loads((out / f"{name}.json").read_bytes())


def test_every_benchmark_runs_at_toy_size_and_records_its_figures(tmp_path: Path) -> None:
    done = _bench(tmp_path, "--backends", "sqlite")
    assert done.returncode == 0, done.stdout + done.stderr

    allocation = _read(tmp_path, "allocation")
    assert allocation["machine"]["cores"] >= 1
    assert allocation["machine"]["sqlite"]
    assert allocation["goal"]
    cases = {(row["dataset"], row["clients"]) for row in allocation["figures"]}
    assert cases == {("hot", 1), ("hot", 4), ("spread", 1), ("spread", 4)}
    for row in allocation["figures"]:
        assert row["ordermesh"]["operations"] > 0, row
        assert row["ordermesh"]["failed"] == 0, "orders were backordered, not allocated"
        assert row["raw"]["operations"] > 0, row
        assert row["ratio"] > 0
        # The whole case's ratio is the mediant of its two pairs', so it lies between them.
        low, high = sorted(row["ratio_of_each_pair"])
        assert low - 0.001 <= row["ratio"] <= high + 0.001, row

    [imported] = _read(tmp_path, "import")["figures"]
    assert imported["checked"]["allocated"] == imported["orders"]
    assert imported["checked"]["inbox_processed"] == imported["orders"]
    assert imported["per_second"] > 0

    api = _read(tmp_path, "api")
    if not api["skipped"]:
        assert {row["method"] for row in api["figures"]} == {"GET", "POST"}
        assert all(row["requests"] > 0 and row["errors"] == 0 for row in api["figures"])

    dashboard = _read(tmp_path, "dashboard")
    pages = {row["page"] for row in dashboard["figures"]}
    assert {"overview", "order page", "orders list, SKU filter"} <= pages
    assert all(row["p95_ms"] >= row["p50_ms"] > 0 for row in dashboard["figures"])

    summary = _read(tmp_path, "summary")
    assert set(summary["benchmarks"]) == {"allocation", "import", "api", "dashboard"}
    assert "ordermesh benchmarks" in done.stdout


def test_an_unreachable_postgresql_is_recorded_as_skipped(tmp_path: Path) -> None:
    done = _bench(
        tmp_path,
        "--backends",
        "postgresql",
        "--only",
        "import",
        BENCH_PG_DSN="postgresql://postgres@127.0.0.1:1/postgres",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _read(tmp_path, "import")["skipped"]["postgresql"].startswith("skipped:")


@pytest.mark.parametrize(
    ("latency", "expected_ms"), [("812.00us", 0.812), ("12.50ms", 12.5), ("1.20s", 1200.0)]
)
def test_wrk_figures_are_read_in_milliseconds(latency: str, expected_ms: float) -> None:
    output = f"""Running 10s test @ http://127.0.0.1:8000/api/v1/orders
  Latency Distribution
     50%    {latency}
     75%    2.00ms
     90%    3.00ms
     99%    {latency}
  12345 requests in 10.00s, 3.00MB read
  Non-2xx or 3xx responses: 7
Requests/sec:   1234.50
"""
    figures = parse_wrk(output, 10)
    assert figures["requests"] == 12345
    assert figures["errors"] == 7
    assert figures["per_second"] == 1234.5
    assert figures["p50_ms"] == pytest.approx(expected_ms)
    assert figures["p99_ms"] == pytest.approx(expected_ms)


def test_two_loads_alternate_first_second_second_first_and_each_counts_its_own_work():
    from bench.timing import alternate

    turns: list[str] = []

    def load(name: str, pause: float):
        def make():
            turns.append(name)

            def work(rng) -> bool:
                time.sleep(pause)
                return True

            return work, lambda: None

        return make

    first, second, ratios = alternate(load("a", 0.001), load("b", 0.002), 1, 0.4, 0.0)

    assert turns == ["a", "b", "b", "a"]
    assert first.seconds == second.seconds == 0.4
    assert first.per_second > second.per_second  # a's operations take half as long
    assert all(r > 1 for r in ratios)
