"""`python -m bench [--quick] [--only allocation,import,api] [--backends sqlite,postgresql]`.

Full sizes by default (about ten minutes on 2 cores); `--quick` or BENCH_QUICK=1 runs toy
sizes in seconds. Results go to bench/results/<name>.json plus summary.json, and one table is
printed at the end."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench import report
from bench.sizes import FULL, QUICK, Sizes
from bench.suite import run_suite

RESULTS = Path(__file__).parent / "results"
BENCHMARKS = ("allocation", "import", "api")
BACKENDS = ("sqlite", "postgresql")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1"
    )
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated benchmarks")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sizes: Sizes = QUICK if args.quick else FULL
    only = [b for b in args.only.split(",") if b]
    backends = [b for b in args.backends.split(",") if b]
    unknown = (set(only) - set(BENCHMARKS)) | (set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    results = run_suite(sizes, only, backends)
    written = report.write(
        results,
        args.out,
        command=" ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        seconds=time.perf_counter() - started,
    )
    report.print_table(results)
    print(f"results: {', '.join(str(p) for p in written)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
