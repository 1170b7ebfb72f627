"""Runs the chosen benchmarks on each backend, one throwaway database per backend."""

from __future__ import annotations

import time
import traceback
from typing import Any

from bench import allocation, api, dashboard, importing
from bench.databases import Unavailable, open_ordermesh, postgres_target, seed, sqlite_target
from bench.sizes import Sizes

ALLOCATION_GOAL = {"sqlite": 0.25, "postgresql": 0.5}
"""ordermesh throughput / raw driver throughput, at every concurrency and dataset."""
IMPORT_GOAL = {"sqlite": 3_000.0}
"""Channel orders imported per second, end to end."""
API_POST_P99_GOAL_MS = {"sqlite": 50.0}


def _say(message: str) -> None:
    print(message, flush=True)


def run_suite(sizes: Sizes, only: list[str], backends: list[str]) -> dict[str, dict[str, Any]]:
    collected: dict[str, dict[str, Any]] = {name: {"rows": [], "skipped": {}} for name in only}
    for backend in backends:
        context = sqlite_target() if backend == "sqlite" else postgres_target()
        try:
            with context as target:
                _say(f"{backend}: seeding {sizes.skus} SKUs")
                om = open_ordermesh(target)
                try:
                    started = time.perf_counter()
                    skus = seed(om, sizes.skus)
                    _say(f"  seeded in {time.perf_counter() - started:.1f} s")
                    _on(backend, target, om, skus, sizes, only, collected)
                finally:
                    om.close()
        except Unavailable as exc:
            for name in only:
                collected[name]["skipped"][backend] = f"skipped: {exc}"
            _say(f"{backend}: skipped: {exc}")
    return {name: _result(name, sizes, collected[name]) for name in only}


def _on(backend, target, om, skus, sizes, only, collected) -> None:  # type: ignore[no-untyped-def]
    # Each benchmark fails on its own: the others still report.
    if "allocation" in only:
        pools = {"hot": skus[: sizes.hot_skus], "spread": skus}
        _guard(
            collected["allocation"],
            backend,
            lambda: collected["allocation"]["rows"].extend(
                allocation.run(
                    om, target, pools, list(sizes.clients), sizes.seconds, sizes.warmup, _say
                )
            ),
        )
    if "import" in only:
        _guard(
            collected["import"],
            backend,
            lambda: collected["import"]["rows"].append(
                importing.run(
                    om,
                    backend,
                    skus,
                    sizes.import_orders,
                    list(sizes.import_batches),
                    sizes.import_probe,
                    _say,
                )
            ),
        )
    if "api" in only:
        _guard(
            collected["api"],
            backend,
            lambda: collected["api"]["rows"].extend(api.run(om, target, skus, sizes, _say)),
        )
    if "dashboard" in only:
        # Last: its million orders would change what the benchmarks above measure.
        _guard(
            collected["dashboard"],
            backend,
            lambda: collected["dashboard"]["rows"].extend(
                dashboard.run(
                    om, target, sizes.dashboard_orders, len(skus), sizes.dashboard_samples, _say
                )
            ),
        )


def _guard(into: dict[str, Any], backend: str, step: Any) -> None:
    try:
        step()
    except api.Skipped as exc:
        into["skipped"][backend] = f"skipped: {exc}"
        _say(f"  skipped: {exc}")
    except Exception as exc:
        into["skipped"][backend] = f"failed: {type(exc).__name__}: {exc}"
        _say(f"  FAILED on {backend}:\n{traceback.format_exc()}")


def _result(name: str, sizes: Sizes, found: dict[str, Any]) -> dict[str, Any]:
    rows, skipped = found["rows"], found["skipped"]
    if name == "allocation":
        for row in rows:
            row["goal"] = ALLOCATION_GOAL[row["backend"]]
            row["met"] = row["ratio"] >= row["goal"]
        goal = "ordermesh/raw throughput ≥ 0.25 on SQLite and ≥ 0.5 on PostgreSQL"
        parameters = {
            "lines_per_order": allocation.LINES,
            "clients": list(sizes.clients),
            "datasets": {"hot": sizes.hot_skus, "spread": sizes.skus},
            "seconds_per_run": sizes.seconds,
            "warmup_seconds": sizes.warmup,
        }
    elif name == "import":
        for row in rows:
            row["goal"] = IMPORT_GOAL.get(row["backend"])
            row["met"] = None if row["goal"] is None else row["per_second"] >= row["goal"]
        goal = "≥ 3,000 orders/s on SQLite (PostgreSQL reported)"
        parameters = {
            "orders": sizes.import_orders,
            "batch_sizes_probed": list(sizes.import_batches),
            "probe_orders": sizes.import_probe,
            "skus": sizes.skus,
        }
    elif name == "dashboard":
        for row in rows:
            row["goal"] = dashboard.GOAL_P95_MS
            row["met"] = row["p95_ms"] <= row["goal"]
        goal = "server time p95 ≤ 300 ms for the overview, the filtered orders list, the order page"
        parameters = {
            "orders": sizes.dashboard_orders,
            "skus": sizes.skus,
            "samples_per_page": sizes.dashboard_samples,
        }
    else:
        for row in rows:
            limit = API_POST_P99_GOAL_MS.get(row["backend"])
            row["goal"] = None if limit is None or row["method"] != "POST" else limit
            row["met"] = None if row["goal"] is None else row["p99_ms"] <= row["goal"]
        goal = "POST p99 ≤ 50 ms at 32 connections on SQLite"
        parameters = {
            "connections": sizes.api_connections,
            "seconds": sizes.api_seconds,
            "orders_before_get": sizes.api_orders,
        }
    verdicts = [r["met"] for r in rows if r.get("met") is not None]
    return {
        "name": name,
        "size": sizes.label,
        "parameters": parameters,
        "figures": rows,
        "skipped": skipped,
        "goal": goal,
        "met": bool(verdicts) and all(verdicts) if verdicts else None,
    }
