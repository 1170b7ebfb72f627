"""Closed-loop load from threads: each client waits for its answer before the next request."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

Work = Callable[[random.Random], bool]
"""One operation; returns whether it did what was asked (e.g. the order was allocated)."""


@dataclass
class Figures:
    clients: int
    operations: int
    failed: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def drive(
    make_work: Callable[[], tuple[Work, Callable[[], None]]],
    clients: int,
    seconds: float,
    warmup: float,
    seed: int = 7,
) -> Figures:
    """Run `clients` threads for warmup + seconds; only the last `seconds` are counted."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    errors: list[BaseException] = []
    ready = threading.Barrier(clients + 1)
    go = threading.Event()
    window: dict[str, float] = {}

    def client(n: int) -> None:
        rng = random.Random(seed * 1_000 + n)
        try:
            work, close = make_work()
        except BaseException as exc:
            errors.append(exc)
            ready.abort()
            return
        try:
            ready.wait()
            go.wait()
            start, stop = window["start"], window["stop"]
            mine = latencies[n]
            while True:
                began = time.perf_counter()
                if began >= stop:
                    break
                ok = work(rng)
                ended = time.perf_counter()
                if began >= start and ended <= stop:
                    mine.append(ended - began)
                    if not ok:
                        failures[n] += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait()
    # Clients have their connections; the clock starts now.
    now = time.perf_counter()
    window["start"], window["stop"] = now + warmup, now + warmup + seconds
    go.set()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    merged = sorted(x for per_client in latencies for x in per_client)
    return Figures(
        clients=clients,
        operations=len(merged),
        failed=sum(failures),
        seconds=seconds,
        per_second=len(merged) / seconds,
        p50_ms=percentile(merged, 0.50) * 1000,
        p99_ms=percentile(merged, 0.99) * 1000,
    )
