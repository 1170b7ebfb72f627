"""`python -m bench [--quick] [--only allocation,import,api,dashboard,flash-sale,stock-latency] [--backends sqlite,postgresql]`.

Full sizes by default (about ten minutes on 2 cores); `--quick` or BENCH_QUICK=1 runs toy
sizes in seconds. Results go to bench/results/<name>.json plus summary.json, and one table is
printed at the end."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import amazon, flash_sale, report, shopify_webhooks, stock_latency
from bench.sizes import FULL, QUICK, Sizes
from bench.suite import run_suite

RESULTS = Path(__file__).parent / "results"
STANDALONE: dict[str, Callable[[bool, Path, Callable[[str], None]], dict[str, Any]]] = {
    "flash-sale": flash_sale.run,
    "stock-latency": stock_latency.run,
    "amazon": amazon.run,
    "shopify": shopify_webhooks.run,
}
"""Benchmarks that build their own worlds (sandboxes, SQLite files) instead of the suite's
seeded database per backend. They take wall time (the flash sale about 13 minutes, the stock
latency about 9 at full size), so they run when named, e.g. `--only flash-sale,stock-latency`."""
DEFAULT = ("allocation", "import", "api", "dashboard")
BENCHMARKS = (*DEFAULT, *STANDALONE)
BACKENDS = ("sqlite", "postgresql")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1"
    )
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT),
        help=f"comma-separated, of {', '.join(BENCHMARKS)}, or all (default: {', '.join(DEFAULT)})",
    )
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sizes: Sizes = QUICK if args.quick else FULL
    only = list(BENCHMARKS) if args.only == "all" else [b for b in args.only.split(",") if b]
    backends = [b for b in args.backends.split(",") if b]
    unknown = (set(only) - set(BENCHMARKS)) | (set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    in_suite = [b for b in only if b not in STANDALONE]
    results = run_suite(sizes, in_suite, backends) if in_suite else {}
    for name in only:
        if name in STANDALONE:
            results[name] = _standalone(name, args.quick, args.out)
    written = report.write(
        results,
        args.out,
        command=" ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        seconds=time.perf_counter() - started,
    )
    report.print_table(results)
    print(f"results: {', '.join(str(p) for p in written)}")
    return 0


def _standalone(name: str, quick: bool, folder: Path) -> dict[str, Any]:
    print(f"{name}:", flush=True)
    try:
        return STANDALONE[name](quick, folder, lambda line: print(line, flush=True))
    except Exception as exc:
        print(f"  FAILED:\n{traceback.format_exc()}", flush=True)
        return {
            "name": name,
            "size": "quick" if quick else "full",
            "figures": [],
            "skipped": {"sqlite": f"failed: {type(exc).__name__}: {exc}"},
            "goal": None,
            "met": None,
        }


if __name__ == "__main__":
    raise SystemExit(main())
