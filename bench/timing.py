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


MakeWork = Callable[[], tuple[Work, Callable[[], None]]]
"""Makes one client's work and what closes it (its connection), in the client's thread."""


def alternate(
    first: MakeWork,
    second: MakeWork,
    clients: int,
    seconds: float,
    warmup: float,
    before_each: Callable[[], None] = lambda: None,
    seed: int = 7,
) -> tuple[Figures, Figures, list[float]]:
    """Both loads for `seconds` each, in halves run first, second, second, first.

    Run one after the other, whatever the machine drifts by between them (another tenant, the
    database growing, a checkpoint) counts against one of them only; this machine's own runs of
    the same code moved by a third from one minute to the next. In this order a steady drift
    weighs on both alike. Returns both figures and each pair's ratio (first / second), whose
    spread shows what drift is left."""
    halves: dict[int, list[tuple[list[float], int]]] = {0: [], 1: []}
    for turn, which in enumerate((0, 1, 1, 0)):
        before_each()
        make = first if which == 0 else second
        halves[which].append(_timed(make, clients, seconds / 2, warmup, seed + turn))
    figures = [
        _figures(
            clients,
            seconds,
            sorted(x for latencies, _ in halves[which] for x in latencies),
            sum(failed for _, failed in halves[which]),
        )
        for which in (0, 1)
    ]
    # The halves that ran next to each other: turns one and two, then three and four.
    ratios = [
        len(halves[0][pair][0]) / len(halves[1][pair][0]) if halves[1][pair][0] else 0.0
        for pair in (0, 1)
    ]
    return figures[0], figures[1], ratios


def _timed(
    make_work: MakeWork, clients: int, seconds: float, warmup: float, seed: int
) -> tuple[list[float], int]:
    """Run `clients` threads for warmup + seconds; the sorted latencies of the operations that
    began and ended inside the last `seconds`, and how many of them failed."""
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
    return sorted(x for per_client in latencies for x in per_client), sum(failures)


def _figures(clients: int, seconds: float, merged: list[float], failed: int) -> Figures:
    return Figures(
        clients=clients,
        operations=len(merged),
        failed=failed,
        seconds=seconds,
        per_second=len(merged) / seconds,
        p50_ms=percentile(merged, 0.50) * 1000,
        p99_ms=percentile(merged, 0.99) * 1000,
    )
