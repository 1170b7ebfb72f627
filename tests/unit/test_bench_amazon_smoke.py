"""The Amazon benchmark runs at toy size, so it cannot rot between the runs that matter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]


def test_the_amazon_benchmark_records_sync_requests_and_backfill_figures(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "amazon", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stdout + done.stderr

    result = orjson.loads((tmp_path / "amazon.json").read_bytes())
    assert result["skipped"] == {}
    by_part = {}
    for row in result["figures"]:
        by_part.setdefault(row["part"], []).append(row)
    [sync] = by_part["sync"]
    assert sync["imported"] == sync["orders"] == sync["allocated"] > 0
    assert sync["orders_per_second"] > 0
    for row in by_part["requests"]:
        assert row["imported"] == row["orders"] > 0, "nothing lost under the rate limits"
        assert row["throttled"] == 0, "a paced sync draws no 429"
        assert row["requests_per_1000_orders"] > 0
    [backfill] = by_part["backfill"]
    assert backfill["imported"] == backfill["orders"] > 0
    assert backfill["requests"]["createReport"] >= 1
    assert "searchOrders" not in backfill["requests"]
