"""`python -m bench --only stock-latency`: how long a stock movement takes to show on each
channel, and what the pushes cost in rate-limit budget.

Listings are split evenly over an Amazon and a Shopify sandbox account (each SKU listed on
both), with the sandboxes' real rate limits on and ordermesh's worker pushing on change. A
steady stream of stock counts (`RecordCount`) moves random SKUs; a share of them fall to the
low-stock threshold or below, which makes their pushes urgent (Amazon patches those one by one;
the rest wait for its next listings feed).

Latency of a change = the moment the sandbox set the new figure (its own timestamp of the
listing / inventory level) − the moment ordermesh was asked to record the movement (just before
its transaction, so the figure errs long). A figure that showed can be covered again by an older
one (a listings feed landing after a patch that overtook it): the watcher looks at what every
listing shows twenty times a second for that, and the time until the figure shows again (or,
if sooner, until a newer change makes it the wrong figure anyway) counts as `reverted`.
Exposure = latency + that time: how long the channel showed something else; the goal is judged
on it. A change overtaken by a newer figure of the same listing before it showed is
"superseded" (the queue sends only the latest figure) and is left
out of the percentiles, which measure how long each figure that had to show took. Cost is
counted at the sandboxes: SP-API calls per operation, and Shopify's query cost (the
`actualQueryCost` it charged), both per 1,000 changes."""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import report
from ordermesh.domain.availability import DEFAULT_LOW_STOCK
from ordermesh.domain.commands import RecordCount
from ordermesh.entrypoints.worker import Worker
from ordermesh.services.stock_sync_jobs import PUSH_PLANS
from ordermesh.simulation.world import WAREHOUSE, World, WorldOptions, quiet

NAME = "stock-latency"
GOAL_P99_SECONDS = 5.0
DRIVER_LATE_LIMIT_S = 2.0
"""A run whose change driver fell further behind than this (100 changes at 50/s) did not apply
the load it names, and its goals count as not met."""
GOAL = (
    "Shopify p99 ≤ 5 s; Amazon urgent (to the low-stock threshold or below) p99 ≤ 5 s; "
    "Amazon bulk within one feed cycle (reported)"
)


@dataclass(frozen=True)
class Size:
    label: str
    listings: int
    """Across both channels: each SKU is listed once on each."""
    per_second: float
    seconds: float
    urgent_share: float = 0.1
    """Share of changes that set a SKU to the low-stock threshold or below; those that fall
    there (most: a SKU starts above it) are the urgent ones."""
    grace_seconds: float = 240.0
    """After the last change, how long to wait for the channels to show everything (Amazon's
    bulk goes out in a feed every two minutes, and a feed takes its time to process)."""
    seed: int = 1
    amazon_feed_order: str = "feed_last"
    """The Amazon sandbox's `feed_order`: whether a feed landing overwrites a patch sent while
    it was processed (the worst case, judged) or not."""


FULL = Size("full", listings=10_000, per_second=50.0, seconds=300.0, urgent_share=0.07)
"""Judged. 3.5 urgent changes a second, 3.3 of them falls: two thirds of patchListingsItem's
5/s before the patches that set a listing right after a feed lands over one. On the Amazon
judged (`feed_last`) those are about as many as the falls to listings of the feed while it was
processed, 35 to 60 a landing, all due at once: they and the falls meanwhile take 10 s and
more of the budget, whatever ordermesh does (see SUSTAINED)."""
AT_THE_BUDGET = Size("at-the-budget", listings=10_000, per_second=50.0, seconds=300.0)
"""Reported beside it, not judged: 4.65 falls a second, 93 % of the patch budget before those
corrections and about 98 % with them. The goal covers urgent changes up to the budget; here the
patches queue for the budget itself, and the p99 shows how long."""
AS_RECEIVED = Size(
    "as-received",
    listings=10_000,
    per_second=50.0,
    seconds=300.0,
    urgent_share=0.07,
    amazon_feed_order="as_received",
)
"""The judged load on an Amazon that applies a patch sent during a feed after the feed: what
the corrections after a feed lands cost. Not part of `make bench`; run it alone with
`python -m bench.stock_latency as-received`."""
SUSTAINED = Size("sustained", listings=10_000, per_second=50.0, seconds=300.0, urgent_share=0.03)
"""The judged load with fewer urgent changes: 1.4 a second, under a third of the patch budget.
On the judged Amazon, where each feed landing makes every fall patched while it was processed
due again at once, the budget carries this within 5 s (exposure p99 about 4 s on 2 cores), not
2.1 a second (5.8 s). Not part of `make bench`; run it alone with
`python -m bench.stock_latency sustained`."""
QUICK = Size("quick", listings=200, per_second=10.0, seconds=10.0, grace_seconds=20.0)


@dataclass
class Change:
    sku: str
    figure: int
    asked_at: float
    urgent: bool
    seen: dict[str, float] = field(default_factory=dict)
    """Channel → latency in seconds."""
    superseded: set[str] = field(default_factory=set)
    """Channels on which a newer figure of the listing replaced this one before it showed: the
    queue keeps only the latest figure, so this one never had to."""
    reverted: set[str] = field(default_factory=set)
    stale: dict[str, float] = field(default_factory=dict)
    """Channel → seconds it showed an older figure again after this one had shown (Amazon
    landing a listings feed after a patch that overtook it), until this one showed again or a
    newer one replaced it."""


Shown = Callable[[str], "Mapping[str, tuple[int, Any]]"]
"""What a channel shows now: channel → {SKU: (figure, set at)}, "set at" in seconds or as a
datetime (converted only for a listing that changed)."""

CHANNELS = ("amazon", "shopify")


class Watch:
    """Follows each change until its channel shows it, and every figure shown until an older
    one covers it or a newer change replaces it.

    Each look takes one snapshot per channel and works only on the listings whose figure or
    time changed since the last look, and on those with a change asked for since (its figure
    may show already). It shares the process, and so the GIL, with the ordermesh it measures:
    looking up every listing one by one five times a second held the GIL so long that the
    change driver fell 48 s behind its 50 a second."""

    def __init__(self, shown: Shown) -> None:
        self._shown = shown
        self.pending: dict[tuple[str, str], list[Change]] = {}
        self.shown: dict[tuple[str, str], _Shown] = {}
        """The latest figure shown per listing, watched for an older one shown over it."""
        self.lock = threading.Lock()
        self._last: dict[str, Mapping[str, tuple[int, Any]]] = {c: {} for c in CHANNELS}
        self._asked: set[tuple[str, str]] = set()

    @classmethod
    def of(cls, world: World) -> Watch:
        """Looks into the world's sandboxes (in this process)."""
        amazon = world.amazon_app.state.sandbox.state
        shop = world.shopify_app.state.sandbox.shop
        location = int(world.shopify_location)

        def shown(channel: str) -> Mapping[str, tuple[int, Any]]:
            if channel == "amazon":
                with amazon.lock:
                    return {
                        sku: (listing.mfn_quantity, listing.last_updated)
                        for sku, listing in amazon.listings.items()
                    }
            with shop.lock:
                found = {}
                for (item, at), level in shop.levels.items():
                    variant = shop.variant_by_inventory_item(item) if at == location else None
                    if variant is not None:
                        found[variant.sku] = (level.quantities["available"], level.updated_at)
                return found

        return cls(shown)

    def expect(self, change: Change) -> None:
        with self.lock:
            for channel in CHANNELS:
                # An older figure still shown over the previous one is now this change's
                # latency: the previous figure is no longer the one to show.
                self._replaced(channel, change.sku, change.asked_at)
                self.pending.setdefault((channel, change.sku), []).append(change)
                self._asked.add((channel, change.sku))

    def look(self) -> int:
        """Resolve what the channels show now; returns how many listings still wait."""
        with self.lock:
            asked, self._asked = self._asked, set()
        for channel in CHANNELS:
            now = self._shown(channel)
            last = self._last[channel]
            self._last[channel] = now
            changed = {sku for sku, figure in now.items() if last.get(sku) != figure}
            changed |= {sku for c, sku in asked if c == channel and sku in now}
            for sku in changed:
                quantity, set_at = now[sku]
                self._saw(channel, sku, quantity, _seconds(set_at))
        with self.lock:
            return len(self.pending)

    def _saw(self, channel: str, sku: str, quantity: int, set_at: float) -> None:
        with self.lock:
            self._revert(channel, sku, quantity, set_at)
            waiting = self.pending.get((channel, sku), [])
            # The newest change this figure answers; it answers every older one too. A figure
            # set before the change was asked for is an older, equal one that still shows
            # (30 → 20 → 30 before the 20 went out): this one showed at once. Should the 20
            # land after all, it counts as an older figure shown over it.
            for index in range(len(waiting) - 1, -1, -1):
                change = waiting[index]
                if change.figure == quantity:
                    self._replaced(channel, sku, set_at)
                    for answered in waiting[: index + 1]:
                        answered.seen[channel] = max(0.0, set_at - answered.asked_at)
                        if answered is not change:
                            answered.superseded.add(channel)
                    del waiting[: index + 1]
                    self.shown[(channel, sku)] = _Shown(change, set_at)
                    break
            if not waiting:
                self.pending.pop((channel, sku), None)

    def close(self, now: float) -> int:
        """Count older figures still shown at the end up to `now`; returns how many."""
        with self.lock:
            open_ = [(k, v) for k, v in self.shown.items() if v.stale_since is not None]
            for (channel, _), shown in open_:
                shown.uncovered(channel, now)
            return len(open_)

    def _revert(self, channel: str, sku: str, quantity: int, set_at: float) -> None:
        shown = self.shown.get((channel, sku))
        if shown is None or set_at <= shown.set_at:
            return
        if quantity == shown.change.figure:
            shown.uncovered(channel, set_at)  # shown again
            shown.set_at = set_at
            return
        if self.pending.get((channel, sku)):
            return  # a newer figure is awaited: what shows until then is its latency
        if shown.stale_since is None:
            shown.stale_since = set_at
            shown.change.reverted.add(channel)

    def _replaced(self, channel: str, sku: str, set_at: float) -> None:
        """A newer figure shows: an older one shown over the previous figure stops counting."""
        shown = self.shown.get((channel, sku))
        if shown is not None:
            shown.uncovered(channel, set_at)


def _seconds(set_at: Any) -> float:
    return set_at.timestamp() if isinstance(set_at, datetime) else float(set_at)


@dataclass
class _Shown:
    change: Change
    set_at: float
    stale_since: float | None = None

    def uncovered(self, channel: str, at: float) -> None:
        """An older figure covering this one (if one does) stops counting at `at`."""
        if self.stale_since is not None:
            self.change.stale[channel] = self.change.stale.get(channel, 0.0) + max(
                0.0, at - self.stale_since
            )
            self.stale_since = None


def met(row: dict[str, Any], driver_late_s: float) -> bool:
    """A judged row meets the goal on its exposure, with every figure shown, under the load the
    run names."""
    return (
        row["exposure_p99_s"] is not None
        and row["exposure_p99_s"] <= GOAL_P99_SECONDS
        and row["not_visible"] == 0
        and driver_late_s <= DRIVER_LATE_LIMIT_S
    )


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 3)


def _summary(latencies: list[float], changes: int, superseded: int) -> dict[str, Any]:
    return {
        "changes": changes,
        "superseded": superseded,
        "visible": len(latencies),
        "not_visible": changes - superseded - len(latencies),
        "p50_s": _percentile(latencies, 0.50),
        "p99_s": _percentile(latencies, 0.99),
        "max_s": round(max(latencies), 3) if latencies else None,
        "mean_s": round(statistics.fmean(latencies), 3) if latencies else None,
    }


def measure(size: Size, say: Callable[[str], None] = print) -> dict[str, Any]:
    quiet()
    rng = random.Random(f"latency:{size.seed}")
    skus = max(1, size.listings // 2)
    stock = {f"LT-{n:05d}": rng.randint(DEFAULT_LOW_STOCK + 5, 60) for n in range(1, skus + 1)}
    with tempfile.TemporaryDirectory(prefix="latency-") as folder:
        world = World(
            WorldOptions(
                folder=Path(folder),
                name="latency",
                seed=size.seed,
                amazon_feed_order=size.amazon_feed_order,
            )
        )
        try:
            started = time.perf_counter()
            world.stock(stock)
            say(f"  {skus} SKUs listed on both channels in {time.perf_counter() - started:.0f} s")
            return _measure(world, size, rng, stock, say)
        finally:
            world.close()


def _measure(
    world: World, size: Size, rng: random.Random, stock: dict[str, int], say: Callable[[str], None]
) -> dict[str, Any]:
    amazon_before = Counter(world.amazon_stats()["requests"])
    amazon_throttled_before = int(world.amazon_stats()["throttled"])
    shopify_before = world.shopify_stats()
    cost_before, calls_before = world.shopify_cost.spent, world.shopify_cost.calls
    watch = Watch.of(world)
    stop = threading.Event()

    def watching() -> None:
        while not stop.wait(0.05):
            watch.look()

    watcher = threading.Thread(target=watching, daemon=True)
    stop_worker = Worker(world.om).start()
    watcher.start()
    changes: list[Change] = []
    names = sorted(stock)
    total = int(size.per_second * size.seconds)
    began = time.monotonic()
    late = 0.0
    try:
        for n in range(total):
            wait = began + n / size.per_second - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            else:
                late = max(late, -wait)
            sku = rng.choice(names)
            urgent = rng.random() < size.urgent_share
            current = stock[sku]
            if urgent:
                figure = rng.choice([q for q in range(DEFAULT_LOW_STOCK + 1) if q != current])
            else:
                figure = rng.choice([q for q in range(DEFAULT_LOW_STOCK + 1, 61) if q != current])
            stock[sku] = figure
            # Urgent as ordermesh and the issue mean it: a fall to the threshold or below. A
            # rise from 2 to 4 is below the threshold too, but it cannot oversell, and it waits
            # for the bulk feed like any other rise.
            falls_low = figure <= DEFAULT_LOW_STOCK and figure < current
            change = Change(sku, figure, time.time(), falls_low)
            watch.expect(change)
            world.om.handle(RecordCount(sku, WAREHOUSE, figure, reference="latency bench"))
            changes.append(change)
        say(
            f"  {total} changes at {size.per_second:g}/s made (the driver ran up to {late:.2f} s "
            "late); waiting for the channels"
        )
        if late > DRIVER_LATE_LIMIT_S:
            say(
                f"  the driver fell more than {DRIVER_LATE_LIMIT_S:g} s behind: the load was not "
                "applied as named, so no goal counts as met"
            )
        # Until every figure showed and no push is in flight any more: a feed that lands after
        # the last figure showed may still show an older figure over it.
        deadline = time.monotonic() + size.grace_seconds
        while time.monotonic() < deadline:
            waiting = watch.look()
            if not waiting and not any(q.depth for q in world.om.stock_sync.status()):
                watch.look()
                break
            time.sleep(0.5)
        still_stale = watch.close(time.time())
    finally:
        stop.set()
        watcher.join(timeout=5)
        stop_worker()
    amazon_after = world.amazon_stats()
    shopify_after = world.shopify_stats()
    per_thousand = 1000.0 / max(1, len(changes))
    sp_api_calls = {
        op: round((n - amazon_before.get(op, 0)) * per_thousand, 1)
        for op, n in sorted(amazon_after["requests"].items())
        if n - amazon_before.get(op, 0) and op not in ("searchOrders", "getOrders")
    }

    # A change still waiting at the end behind a newer change of its listing was superseded
    # too; the newer one carries the wait.
    last_of = {c.sku: c for c in changes}
    for c in changes:
        if last_of[c.sku] is not c:
            for channel in ("amazon", "shopify"):
                if channel not in c.seen:
                    c.superseded.add(channel)

    def latencies(channel: str, urgent: bool | None) -> dict[str, Any]:
        chosen = [c for c in changes if urgent is None or c.urgent == urgent]
        own = [c for c in chosen if channel not in c.superseded]
        seen = [c for c in own if channel in c.seen]
        reverted = [c for c in chosen if channel in c.reverted]
        return {
            **_summary([c.seen[channel] for c in seen], len(chosen), len(chosen) - len(own)),
            "reverted": len(reverted),
            "reverted_p99_s": _percentile([c.stale.get(channel, 0.0) for c in reverted], 0.99),
            # How long the channel showed something other than this figure: until it first
            # showed, and while an older one showed over it afterwards.
            "exposure_p99_s": _percentile(
                [c.seen[channel] + c.stale.get(channel, 0.0) for c in seen], 0.99
            ),
        }

    rows = []
    for channel, kind, urgent in (
        ("shopify", "all", None),
        ("shopify", "urgent", True),
        ("amazon", "urgent", True),
        ("amazon", "bulk", False),
        ("amazon", "all", None),
    ):
        row = {"channel": channel, "changes_kind": kind, **latencies(channel, urgent)}
        if (channel, kind) in (("shopify", "all"), ("amazon", "urgent")):
            row["goal_p99_s"] = GOAL_P99_SECONDS
            # Judged on the exposure: a figure that showed fast and was then covered by an
            # older one for long did not stop the overselling.
            row["met"] = met(row, late)
        if (channel, kind) == ("amazon", "bulk"):
            every = PUSH_PLANS["amazon"].bulk_every
            row["feed_every_s"] = None if every is None else every.total_seconds()
        rows.append(row)
    return {
        "rows": rows,
        "cost_per_1000_changes": {
            "sp_api_calls": sp_api_calls,
            "sp_api_calls_total": round(sum(sp_api_calls.values()), 1),
            "shopify_query_cost": round((world.shopify_cost.spent - cost_before) * per_thousand, 1),
            "shopify_calls": round((world.shopify_cost.calls - calls_before) * per_thousand, 1),
        },
        "throttled": {
            "amazon_429": int(amazon_after["throttled"]) - amazon_throttled_before,
            "shopify_throttled": int(shopify_after["throttled"]) - int(shopify_before["throttled"]),
        },
        "changes": len(changes),
        "driver_late_s": round(late, 3),
        "still_stale_at_end": still_stale,
    }


def run(quick: bool, folder: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """The bench-suite result for the latency benchmark."""
    size = QUICK if quick else FULL
    found = _run_one(size, say)
    verdicts = [r["met"] for r in found["rows"] if "met" in r]
    result: dict[str, Any] = {
        "name": NAME,
        "size": size.label,
        "parameters": asdict(size),
        "figures": found["rows"],
        "cost_per_1000_changes": found["cost_per_1000_changes"],
        "throttled": found["throttled"],
        "driver_late_s": found["driver_late_s"],
        "skipped": {},
        "goal": GOAL,
        "met": bool(verdicts) and all(verdicts),
    }
    if not quick:
        edge = _run_one(AT_THE_BUDGET, say)
        result["at_the_budget"] = {
            "parameters": asdict(AT_THE_BUDGET),
            "figures": edge["rows"],
            "cost_per_1000_changes": edge["cost_per_1000_changes"],
            "throttled": edge["throttled"],
        }
    return result


def _run_one(size: Size, say: Callable[[str], None]) -> dict[str, Any]:
    say(
        f"stock-latency ({size.label}): {size.listings} listings, {size.per_second:g} "
        f"changes/s for {size.seconds:g} s, {size.urgent_share:.0%} set low"
    )
    found = measure(size, say)
    Console(width=max(Console().width, 120)).print(table(found, size.label))
    return found


def table(found: dict[str, Any], label: str = "") -> Table:
    shown = Table(
        title="Stock movement → figure visible on the channel" + (f" ({label})" if label else "")
    )
    for column in (
        "channel",
        "changes",
        "count",
        "superseded",
        "p50 s",
        "p99 s",
        "max s",
        "not visible",
        "reverted",
        "reverted p99 s",
        "exposure p99 s",
        "met",
    ):
        shown.add_column(column, justify="left" if column in ("channel", "changes") else "right")
    for row in found["rows"]:
        met = row.get("met")
        shown.add_row(
            row["channel"],
            row["changes_kind"],
            str(row["changes"]),
            str(row["superseded"]),
            "—" if row["p50_s"] is None else f"{row['p50_s']:.2f}",
            "—" if row["p99_s"] is None else f"{row['p99_s']:.2f}",
            "—" if row["max_s"] is None else f"{row['max_s']:.2f}",
            str(row["not_visible"]),
            str(row["reverted"]),
            "—" if row["reverted_p99_s"] is None else f"{row['reverted_p99_s']:.2f}",
            "—" if row["exposure_p99_s"] is None else f"{row['exposure_p99_s']:.2f}",
            "—" if met is None else ("[green]yes[/]" if met else "[red]no[/]"),
        )
    cost = found["cost_per_1000_changes"]
    shown.caption = (
        f"per 1,000 changes: SP-API {cost['sp_api_calls_total']} calls {cost['sp_api_calls']}, "
        f"Shopify query cost {cost['shopify_query_cost']} in {cost['shopify_calls']} calls; "
        f"429s: {found['throttled']}"
    )
    return shown


def main(argv: list[str]) -> None:
    """`python -m bench.stock_latency [full|at-the-budget|as-received|sustained|quick]`: one
    load alone, its table printed and its figures written to
    bench/results/stock-latency-<load>.json."""
    sizes = {s.label: s for s in (FULL, AT_THE_BUDGET, AS_RECEIVED, SUSTAINED, QUICK)}
    label = argv[0] if argv else FULL.label
    if label not in sizes:
        raise SystemExit(f"unknown load {label!r}: one of {', '.join(sizes)}")
    size = sizes[label]
    found = _run_one(size, print)
    out = report.write_one(
        f"{NAME}-{label}",
        {"parameters": asdict(size), **found},
        Path(__file__).resolve().parent / "results",
        command=f"python -m bench.stock_latency {label}",
    )
    print(f"results: {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
