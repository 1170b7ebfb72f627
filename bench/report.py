"""JSON files under bench/results and one Rich table with every figure and ratio."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench.databases import PG_ADMIN_DSN
from bench.machine import describe


def write(
    results: dict[str, dict[str, Any]], folder: Path, *, command: str, seconds: float
) -> list[Path]:
    machine = describe(PG_ADMIN_DSN)
    at = datetime.now(UTC).isoformat(timespec="seconds")
    written = [
        write_one(name, result, folder, command=command, machine=machine, at=at)
        for name, result in results.items()
    ]
    summary = {
        "name": "summary",
        "at": at,
        "command": command,
        "seconds": round(seconds, 1),
        "machine": machine,
        "benchmarks": {
            name: {"goal": r["goal"], "met": r["met"], "skipped": r["skipped"]}
            for name, r in results.items()
        },
    }
    path = folder / "summary.json"
    path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    written.append(path)
    return written


def write_one(
    name: str,
    result: dict[str, Any],
    folder: Path,
    *,
    command: str,
    machine: dict[str, Any] | None = None,
    at: str | None = None,
) -> Path:
    """One benchmark's figures as bench/results/<name>.json, with when, how and on what."""
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "name": name,
        "at": at or datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine or describe(PG_ADMIN_DSN),
        **result,
    }
    path = folder / f"{name}.json"
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    return path


def _met(value: bool | None) -> str:
    return "—" if value is None else ("[green]yes[/]" if value else "[red]no[/]")


def print_table(results: dict[str, dict[str, Any]], console: Console | None = None) -> None:
    console = console or Console(width=max(Console().width, 160))
    machine = describe(PG_ADMIN_DSN)
    table = Table(
        title=(
            f"ordermesh benchmarks — {machine['cores']} cores, {machine['cpu_model']}, "
            f"Python {machine['python']}, SQLite {machine['sqlite']}, "
            f"PostgreSQL {machine['postgresql']}"
        )
    )
    for column in (
        "benchmark",
        "backend",
        "case",
        "ordermesh",
        "p50 ms",
        "p99 ms",
        "raw",
        "ratio",
        "goal",
        "met",
    ):
        table.add_column(
            column, justify="left" if column in ("benchmark", "backend", "case") else "right"
        )
    for row in results.get("allocation", {}).get("figures", []):
        ours, raw = row["ordermesh"], row["raw"]
        table.add_row(
            "allocation",
            row["backend"],
            f"{row['dataset']} ({row['skus']} SKUs) ×{row['clients']}",
            f"{ours['per_second']:.0f}/s",
            f"{ours['p50_ms']:.2f}",
            f"{ours['p99_ms']:.2f}",
            f"{raw['per_second']:.0f}/s (p99 {raw['p99_ms']:.2f})",
            f"{row['ratio']:.2f}",
            f"≥ {row['goal']}",
            _met(row["met"]),
        )
    for row in results.get("import", {}).get("figures", []):
        table.add_row(
            "import",
            row["backend"],
            f"{row['orders']} orders, batch {row['batch']}",
            f"{row['per_second']:.0f} orders/s",
            "",
            "",
            "",
            "",
            "" if row["goal"] is None else f"≥ {row['goal']:.0f}/s",
            _met(row["met"]),
        )
    for row in results.get("api", {}).get("figures", []):
        table.add_row(
            "api",
            row["backend"],
            f"{row['method']} {row['path']} ×{row['connections']}",
            f"{row['per_second']:.0f} req/s",
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            "",
            "",
            "" if row["goal"] is None else f"p99 ≤ {row['goal']:.0f} ms",
            _met(row["met"]),
        )
    for row in results.get("dashboard", {}).get("figures", []):
        table.add_row(
            "dashboard",
            row["backend"],
            f"{row['page']} ({row['orders']:,} orders)",
            "",
            f"{row['p50_ms']:.1f}",
            f"p95 {row['p95_ms']:.1f}",
            "",
            "",
            f"p95 ≤ {row['goal']:.0f} ms",
            _met(row["met"]),
        )
    shopify = results.get("shopify", {})
    for row in shopify.get("figures", []):
        intake = row["case"] == "intake"
        table.add_row(
            "shopify",
            row["backend"],
            "webhook intake" if intake else "webhook → allocated",
            f"{row['per_second']:.0f}/s" if intake else f"{row['allocated']}/{row['orders']}",
            "" if row["p50_ms"] is None else f"{row['p50_ms']:.1f}",
            "" if row["p99_ms"] is None else f"{row['p99_ms']:.1f}",
            "",
            "",
            "≥ 1,000/s" if intake else "",
            _met(shopify.get("met")) if intake else "—",
        )
    for row in results.get("stock-latency", {}).get("figures", []):
        if "goal_p99_s" not in row:
            continue
        exposure = row["exposure_p99_s"]
        table.add_row(
            "stock-latency",
            row["channel"],
            f"{row['changes_kind']} changes → visible (exposure p99 "
            f"{'—' if exposure is None else f'{exposure:.2f} s'})",
            f"{row['visible']} shown",
            "" if row["p50_s"] is None else f"{row['p50_s'] * 1000:.0f}",
            "" if row["p99_s"] is None else f"{row['p99_s'] * 1000:.0f}",
            "",
            "",
            f"exposure p99 ≤ {row['goal_p99_s']:g} s",
            _met(row["met"]),
        )
    for name, result in results.items():
        for backend, reason in result["skipped"].items():
            table.add_row(name, backend, reason, "", "", "", "", "", "", "—")
    console.print(table)
