"""The flash sale: scarce stock listed on Amazon and Shopify, shoppers on both, and how many
orders each way of syncing stock lets the channels accept for units that no longer exist.

Each SKU holds a few units. Shoppers arrive per channel and SKU as Poisson processes drawn from
the seed alone, so every mode faces the very same arrivals. A channel takes an order only while
its own displayed quantity is above 0 (the sandboxes decrement it as orders are placed), exactly
as Amazon and Shopify do. ordermesh imports the orders as it normally does (Amazon by its
incremental sync at the usual interval, Shopify by webhooks plus the reconciliation poll),
reserves stock, and keeps the channels' figures up to date in one of these modes:

- `realtime`: ordermesh's push on change (the stock-sync worker);
- `interval-N`: no push on change, but every N seconds an absolute push of every listing's
  figure, which is what interval-sync tools do.

An **oversell** is a unit a channel sold that the single true stock no longer had: once every
accepted order is imported, it is a unit ordermesh could not reserve (backordered). The same
number follows from the channels' ground truth (units accepted per SKU beyond its stock), which
is reported beside it as a cross-check.

Each mode runs in a process of its own, with its own database and sandboxes on their own ports,
and by default one mode after another: modes sharing two cores slow each other's ordermesh, and
the one that suffers most is the one racing the shoppers in real time (24.8 oversells per 1,000
orders with all four modes side by side on a busy machine, 1.0 alone). `parallel` runs that
many modes at once, for a quicker look; its figures are not comparable."""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import stamina

from ordermesh.domain.commands import SyncChannel
from ordermesh.entrypoints.worker import Worker
from ordermesh.ports.stock_sync import Push
from ordermesh.services.handlers.channels import ChannelSync
from ordermesh.services.stock_sync_jobs import DEFAULT_PLAN, PUSH_PLANS
from ordermesh.simulation.world import World, WorldOptions, quiet

MODES = ("realtime", "interval-60", "interval-300", "interval-900")
CHANNELS = ("amazon", "shopify")
REALTIME_VS_SLOWEST_GOAL = 50.0
"""Real time must oversell at least this many times less than the 15-minute interval."""


@dataclass(frozen=True, slots=True)
class Arrival:
    at: float
    """Seconds from the start of the sale."""
    channel: str
    sku: str


@dataclass(frozen=True)
class Scenario:
    minutes: float = 10.0
    seed: int = 1
    skus: int = 1000
    min_units: int = 1
    max_units: int = 5
    demand: float = 1.0
    """Expected orders on each channel per unit of stock over the sale: at 1.0 either channel
    alone would sell the whole stock, so together they ask for twice what exists."""
    rate_limits: bool = True
    channel_sync_seconds: float = 60.0
    amazon_pending_seconds: float = 120.0
    amazon_visibility_lag_seconds: float = 120.0
    settle_seconds: float = 600.0
    """At most this long after the sale for ordermesh to import every accepted order."""
    fixed_stock: tuple[tuple[str, int], ...] | None = None
    """A hand-written catalogue instead of the generated one (tests)."""
    fixed_arrivals: tuple[Arrival, ...] | None = None
    """Hand-written arrivals instead of the Poisson ones (tests)."""

    @property
    def seconds(self) -> float:
        return self.minutes * 60.0

    def stock(self) -> dict[str, int]:
        if self.fixed_stock is not None:
            return dict(self.fixed_stock)
        rng = random.Random(f"stock:{self.seed}")
        return {
            f"FS-{n:05d}": rng.randint(self.min_units, self.max_units)
            for n in range(1, self.skus + 1)
        }

    def arrivals(self) -> list[Arrival]:
        """Every shopper of the sale, in time order; the same for every mode."""
        if self.fixed_arrivals is not None:
            return sorted(self.fixed_arrivals, key=lambda a: (a.at, a.channel, a.sku))
        found: list[Arrival] = []
        for sku, units in sorted(self.stock().items()):
            rate = self.demand * units / self.seconds
            for channel in CHANNELS:
                # One stream per channel and SKU, so a change elsewhere never shifts this one.
                rng = random.Random(f"arrivals:{self.seed}:{channel}:{sku}")
                at = rng.expovariate(rate)
                while at < self.seconds:
                    found.append(Arrival(round(at, 3), channel, sku))
                    at += rng.expovariate(rate)
        return sorted(found, key=lambda a: (a.at, a.channel, a.sku))


def interval_of(mode: str) -> float | None:
    """None for real time, else the seconds between full pushes; refuses anything else."""
    if mode == "realtime":
        return None
    prefix, _, seconds = mode.partition("-")
    if prefix == "interval" and seconds.isdigit() and int(seconds) > 0:
        return float(seconds)
    raise ValueError(f"unknown mode {mode!r}: use realtime or interval-<seconds>")


# -- one mode, in its own process -------------------------------------------------------------


@dataclass
class _Shoppers:
    """Replays the arrivals against the sandboxes in real time."""

    world: World
    arrivals: Sequence[Arrival]
    accepted: Counter[tuple[str, str]] = field(default_factory=Counter)
    sales: list[tuple[float, str, str]] = field(default_factory=list)
    """(seconds into the sale, channel, sku) of every accepted order."""
    refused: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latest_lag: float = 0.0
    """How late the last order was placed behind its arrival time (the driver's own lag)."""
    _started: float = 0.0

    def run(self, started: float, stop: threading.Event) -> None:
        self._started = started
        with httpx.Client(timeout=30.0) as http:
            for arrival in self.arrivals:
                wait = started + arrival.at - time.monotonic()
                if wait > 0 and stop.wait(wait):
                    return
                if stop.is_set():
                    return
                self.latest_lag = max(0.0, time.monotonic() - started - arrival.at)
                self._place(http, arrival)

    def _place(self, http: httpx.Client, arrival: Arrival) -> None:
        if arrival.channel == "amazon":
            response = http.post(
                f"{self.world.amazon_url}/_sandbox/orders",
                json={
                    "count": 1,
                    "fulfillmentChannel": "MFN",
                    "isPrime": False,
                    "isBusiness": False,
                    "buyerCancel": False,
                    "cancelWhilePending": False,
                    "items": [{"sku": arrival.sku, "quantity": 1}],
                },
            )
            # The sandbox refuses an order its listing cannot fill: the shopper saw 0.
            shown_zero = response.status_code == 400 and "stock" in response.text
        else:
            response = http.post(
                f"{self.world.shopify_url}/_sandbox/orders",
                json={"lines": [{"sku": arrival.sku, "quantity": 1}]},
            )
            shown_zero = response.status_code == 409
        if response.status_code < 300:
            self.accepted[(arrival.channel, arrival.sku)] += 1
            self.sales.append((time.monotonic() - self._started, arrival.channel, arrival.sku))
        elif shown_zero:
            self.refused[arrival.channel] += 1
        else:
            self.errors[f"{arrival.channel} {response.status_code}"] += 1


class _IntervalPush:
    """What an interval-sync tool does: every N seconds, every listing's figure, absolute."""

    def __init__(self, world: World, every: float) -> None:
        self.world, self.every = world, every
        self.rounds = 0
        """Full pushes made, counting each account's."""
        self.failures: list[str] = []
        self._lock = threading.Lock()

    def run(self, account_index: int, stop: threading.Event) -> None:
        """One account's full pushes; each account has its own thread, so Amazon's listings
        feed, which takes its time to process, never delays Shopify's push."""
        account = self.world.accounts[account_index]
        size = PUSH_PLANS.get(account.channel, DEFAULT_PLAN).batch
        while not stop.wait(self.every):
            pushes = [
                Push(account.id, sku, sku, quantity, None, False, 0)
                for sku, quantity in sorted(self.world.figures(account.id).items())
            ]
            try:
                sender = self.world.om.channel_adapters.connectors(account)
                for start in range(0, len(pushes), size):
                    sender.send(pushes[start : start + size])  # type: ignore[attr-defined]
            except Exception as failed:
                self.failures.append(f"{account.channel}: {type(failed).__name__}: {failed}")
            with self._lock:
                self.rounds += 1


def _without_stock_sync(worker: Worker) -> None:
    """The worker as an interval-sync tool would have it: orders still come in as usual, but
    nothing pushes on change and nothing reconciles; only the full push every N seconds."""
    worker.jobs = [
        job
        for job in worker.jobs
        if not job.name.startswith(("stock push", "stock reconciliation"))
    ]
    worker._start_push_loops = lambda: None  # type: ignore[method-assign]


def _wait_for(worker: Worker, deadline: float) -> None:
    """Worker threads caught in a channel's rate-limit wait outlive `stop()`'s patience; they
    must be done before the world's HTTP clients and database close under them."""
    threads = [*worker._threads, *worker._pushers.values()]
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))


def _pushes_sent(world: World) -> int:
    """Pushes the queue recorded as sent, ever: the worker's push on change (an interval
    tool's full pushes bypass the queue)."""
    return sum(q.sent for q in world.om.stock_sync.status())


def _push_failures(world: World) -> list[str]:
    return [
        f"{q.channel_account}: {q.failed_attempts} failed attempt(s), last: {q.last_error}"
        for q in world.om.stock_sync.status()
        if q.failed_attempts or q.last_error
    ]


def _settle(world: World, scenario: Scenario, expected: int) -> bool:
    """Import what the channels accepted, the way the worker would but without waiting for its
    next turn; True once every accepted order is in ordermesh and past allocation."""
    settle = timedelta(seconds=scenario.amazon_visibility_lag_seconds + 5)
    syncer = ChannelSync(
        world.om.channel_adapters.accounts,
        world.om.channel_adapters.connectors,
        world.om.handle,
        world.om.clock,
        settle=settle,
    )
    deadline = time.monotonic() + scenario.settle_seconds
    while True:
        for account in world.accounts:
            syncer.sync(SyncChannel(account.id, actor="simulation"))
        world.om.shopify_webhooks.process_pending()
        orders = world.orders()
        done = [o for o in orders if o[2] not in ("pending", "open")]
        if len(orders) >= expected and len(done) == len(orders):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(2.0)


def run_mode(
    scenario: Scenario, mode: str, folder: str, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """One mode from seeding to the count; the whole world lives and dies in this call."""
    quiet()
    every = interval_of(mode)
    stock = scenario.stock()
    arrivals = scenario.arrivals()
    world = World(
        WorldOptions(
            folder=Path(folder),
            name=mode.replace("-", "_"),
            seed=scenario.seed,
            rate_limits=scenario.rate_limits,
            channel_sync_seconds=scenario.channel_sync_seconds,
            amazon_pending_seconds=scenario.amazon_pending_seconds,
            amazon_visibility_lag_seconds=scenario.amazon_visibility_lag_seconds,
        )
    )
    try:
        world.stock(stock)
        say(f"[{mode}] {len(stock)} SKUs, {sum(stock.values())} units listed on both channels")
        seeded = _pushes_sent(world)
        stop = threading.Event()
        shoppers = _Shoppers(world, arrivals)
        interval = _IntervalPush(world, every) if every is not None else None
        worker = Worker(world.om)
        if every is not None:
            _without_stock_sync(worker)
        stop_worker = worker.start()
        threads = [threading.Thread(target=shoppers.run, args=(time.monotonic(), stop))]
        if interval is not None:
            threads.extend(
                threading.Thread(target=interval.run, args=(n, stop))
                for n in range(len(world.accounts))
            )
        for thread in threads:
            thread.daemon = True
            thread.start()
        threads[0].join(timeout=scenario.seconds + 60)
        stop.set()
        for thread in threads[1:]:
            thread.join(timeout=120)
        accepted = sum(shoppers.accepted.values())
        say(f"[{mode}] sale over: {accepted} orders accepted; importing them all")
        # A push thread may be waiting out a rate limit: let it wind down while the rest of
        # the orders come in, instead of before.
        stopping = threading.Thread(target=stop_worker, daemon=True)
        stopping.start()
        settled = _settle(world, scenario, accepted)
        stopping.join()
        _wait_for(worker, deadline=time.monotonic() + 60)
        failures = interval.failures if interval else _push_failures(world)
        found = _count(scenario, mode, world, stock, shoppers, interval, settled, failures)
        found["pushes_on_change"] = _pushes_sent(world) - seeded
        if interval is not None and found["pushes_on_change"]:
            # The worker pushed on change after all: this is no interval tool any more.
            say(f"[{mode}] WARNING: {found['pushes_on_change']} pushes went out on change")
        return found
    finally:
        world.close()


def _count(
    scenario: Scenario,
    mode: str,
    world: World,
    stock: dict[str, int],
    shoppers: _Shoppers,
    interval: _IntervalPush | None,
    settled: bool,
    failures: list[str],
) -> dict[str, Any]:
    sold: Counter[str] = Counter()
    for (_, sku), n in shoppers.accepted.items():
        sold[sku] += n
    truth = sum(max(0, n - stock.get(sku, 0)) for sku, n in sold.items())
    orders = sum(shoppers.accepted.values())
    imported = world.orders()
    short = Counter[str]()
    for channel, _, status, units, reserved in imported:
        if status not in ("pending", "open", "cancelled"):
            short[channel] += units - reserved
    by_ordermesh = sum(short.values())
    oversells = by_ordermesh if settled else truth
    amazon, shopify = world.amazon_stats(), world.shopify_stats()
    return {
        "mode": mode,
        "orders": orders,
        "oversells": oversells,
        "oversells_per_1000": round(1000.0 * oversells / orders, 2) if orders else 0.0,
        "oversells_by_channel": {ch: short.get(ch, 0) for ch in CHANNELS},
        "oversells_channel_truth": truth,
        "counted_by": "ordermesh backorders" if settled else "channel ground truth",
        "settled": settled,
        "orders_by_channel": {
            ch: sum(n for (c_, _), n in shoppers.accepted.items() if c_ == ch) for ch in CHANNELS
        },
        "refused_by_channel": {ch: shoppers.refused.get(ch, 0) for ch in CHANNELS},
        "shopper_errors": dict(shoppers.errors),
        "imported": len(imported),
        "interval_rounds": None if interval is None else interval.rounds,
        "push_failures": len(failures),
        "push_failure_examples": sorted(set(failures))[:5],
        "driver_lag_seconds": round(shoppers.latest_lag, 3),
        "oversell_delays": oversell_delays(stock, shoppers.sales),
        "amazon_throttled": amazon.get("throttled"),
        "amazon_throttled_by_operation": amazon.get("throttledByOperation"),
        "amazon_requests": amazon.get("requests"),
        "shopify_throttled": shopify.get("throttled"),
    }


def oversell_delays(
    stock: dict[str, int], sales: Sequence[tuple[float, str, str]]
) -> dict[str, dict[str, float | int]]:
    """Per channel that took an order for a unit already gone: how many, and how long after the
    sale that took the last real unit (median and 90th percentile, seconds). The delay is how
    late that channel still showed stock: it tells which way of syncing fell behind."""
    left = dict(stock)
    gone_at: dict[str, float] = {}
    delays: dict[str, list[float]] = {}
    for at, channel, sku in sorted(sales):
        left[sku] = left.get(sku, 0) - 1
        if left[sku] == 0:
            gone_at[sku] = at
        elif left[sku] < 0:
            delays.setdefault(channel, []).append(at - gone_at.get(sku, at))
    found: dict[str, dict[str, float | int]] = {}
    for channel, seen in sorted(delays.items()):
        seen.sort()
        found[channel] = {
            "oversells": len(seen),
            "median_seconds": round(seen[len(seen) // 2], 2),
            "p90_seconds": round(seen[min(len(seen) - 1, int(len(seen) * 0.9))], 2),
        }
    return found


# -- all modes at once ------------------------------------------------------------------------


def _run_in_child(scenario: Scenario, mode: str, folder: str) -> dict[str, Any]:
    # Retries are counted at the sandboxes; one log line per retry would drown the progress.
    stamina.instrumentation.set_on_retry_hooks([])
    return run_mode(scenario, mode, folder, say=lambda line: print(line, flush=True))


def run(
    scenario: Scenario,
    modes: Sequence[str] = MODES,
    *,
    folder: Path | None = None,
    say: Callable[[str], None] = print,
    parallel: int = 1,
) -> dict[str, Any]:
    """Every mode, each in its own process, `parallel` at a time; results and verdict."""
    if parallel < 1:
        raise ValueError("run at least one mode at a time")
    for mode in modes:
        interval_of(mode)
    if len(set(modes)) != len(modes) or not modes:
        raise ValueError("name each mode once")
    arrivals = scenario.arrivals()
    stock = scenario.stock()
    say(
        f"flash sale: {len(stock)} SKUs, {sum(stock.values())} units, "
        f"{len(arrivals)} shoppers over {scenario.minutes:g} min, modes {', '.join(modes)}"
    )
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        where = folder or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="flash-")))
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(parallel, len(modes)), mp_context=context) as pool:
            futures = {
                mode: pool.submit(_run_in_child, scenario, mode, str(where / mode))
                for mode in modes
            }
            results = {mode: future.result() for mode, future in futures.items()}
    return {
        "scenario": {
            **{k: v for k, v in asdict(scenario).items() if not k.startswith("fixed_")},
            "skus": len(stock),
            "units": sum(stock.values()),
            "shoppers": len(arrivals),
        },
        "modes": results,
        "verdict": verdict(results),
        "modes_at_once": min(parallel, len(modes)),
        "seconds": round(time.perf_counter() - started, 1),
    }


def verdict(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's goal: real time ≥ 50× fewer oversells than interval-900, fewer than
    interval-60. None where a mode needed for a comparison did not run."""
    realtime = results.get("realtime")

    def rate(mode: str) -> float | None:
        found = results.get(mode)
        return None if found is None else float(found["oversells_per_1000"])

    ours, slowest, fastest = rate("realtime"), rate("interval-900"), rate("interval-60")
    times_fewer: float | None = None
    if ours is not None and slowest is not None:
        times_fewer = math.inf if ours == 0 and slowest > 0 else (slowest / ours if ours else 1.0)
    return {
        "realtime_times_fewer_than_interval_900": (
            None
            if times_fewer is None
            else ("inf" if math.isinf(times_fewer) else round(times_fewer, 1))
        ),
        "goal_50x_met": None if times_fewer is None else times_fewer >= REALTIME_VS_SLOWEST_GOAL,
        "fewer_than_interval_60": (
            None
            if realtime is None or fastest is None
            else bool(ours is not None and ours < fastest)
        ),
    }
