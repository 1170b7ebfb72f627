"""`python -m bench --only amazon`: the Amazon connector against the Amazon sandbox.

(a) sync: N orders waiting on Amazon, the sandbox's rate limits off, one `ChannelSync.sync`;
    orders per second end to end (fetched over HTTP, stored through the inbox, allocated).
    The sandbox runs in its own process so that it does not share ordermesh's GIL.
(b) requests: the rate limits on, orders arriving at a steady rate while the account is synced
    at the worker's own cadence (`SyncCadence`, the object the worker's sync thread uses), or
    at a fixed interval for comparison; SP-API requests per 1,000 incremental orders, counted
    at the sandbox (goal ≤ 12), and the import lag (order placed on Amazon → in ordermesh)
    p50 / p99. Simulated time: a wait for Amazon's next token moves a manual clock.
(c) backfill: D days of O orders a day, older than the incremental window, brought in through
    the order report with the rate limits on and the sandbox preparing the report for a
    configurable time; the figure is the time it takes (wall time plus the simulated waits).

Every size is a parameter of `Scenario`; `--quick` runs toy sizes."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select

from bench.databases import sqlite_target
from bench.serving import free_port, running
from bench.timing import percentile
from ordermesh.adapters.channels import channel_adapters
from ordermesh.adapters.channels.amazon.client import RetryPolicy
from ordermesh.adapters.channels.amazon.reports import ReportPolling
from ordermesh.adapters.channels.amazon.settings import (
    AmazonAccountSettings,
    AmazonCredentials,
    stored,
)
from ordermesh.adapters.channels.inbound import InboundAdapters
from ordermesh.adapters.db import tables as t
from ordermesh.bootstrap import Ordermesh, bootstrap
from ordermesh.config import Settings
from ordermesh.domain import commands as c
from ordermesh.domain.catalogue import Product
from ordermesh.domain.inventory import Location, LocationKind
from ordermesh.entrypoints.serving import Served, serve_in_thread
from ordermesh.ports.clock import SystemClock
from ordermesh.sandbox.amazon import ManualClock, SandboxConfig, create_app
from ordermesh.sandbox.amazon.state import SHIPPED, UNSHIPPED
from ordermesh.services.handlers.channels import TRAIL_SETTING, ChannelSync
from ordermesh.services.marketplace_inbound import marketplace_inbound
from ordermesh.services.sync_cadence import SyncCadence

NAME = "amazon"
GOAL_REQUESTS_PER_1000 = 12.0
GOAL = "SP-API requests per 1,000 incremental orders ≤ 12 (sync and back-fill figures reported)"
CLIENT_ID = "amzn1.application-oa2-client.bench"
CLIENT_SECRET = "bench-secret"
REFRESH_TOKEN = "Atzr|bench-refresh"
SELLER_ID = "A1ORDERMESHBENCH"
US, DE = "ATVPDKIKX0DER", "A1PA6795UKMFR9"
SECRET_KEY = "a-benchmark-secret-key-that-is-long-enough-for-the-rules"
LISTINGS = 12
PLENTY = 10**9
NOT_SP_API = frozenset({"lwaToken", "submitFulfillmentOrderStatusUpdate"})


@dataclass(frozen=True)
class Scenario:
    sync_orders: int = 50_000
    stream_orders_per_hour: float = 1_500.0
    """74 % of the 2,016 order changes an hour that searchOrders' usage plan reads in full
    pages: a volume the plan sustains all day. Nearer its ceiling the bucket runs dry after
    its burst, the windows stretch and the import lag grows (the order-rate warning says so)."""
    other_orders_per_hour: tuple[float, ...] = (1_200.0, 1_800.0)
    """Volumes measured beside it, at the worker's cadence, for the figure's dependence on
    volume (reported, not judged)."""
    stream_hours: float = 26.5
    steady_from_hours: float = 2.5
    """The figure is taken from here to the end of the stream: the hours before it fill
    the pipeline (FBA orders are read once Amazon has shipped them, about 2.5 hours after
    they are placed), and the day after it pays for the cadence's daily deep read (`DEEP_EVERY`).
    The whole run, ramp and tail included, is reported beside it."""
    sync_intervals_seconds: tuple[float, ...] = (60.0,)
    """Fixed intervals measured beside the worker's cadence, for comparison."""
    max_lag_seconds: float = 600.0
    """The cadence's longest wait between syncs (`channel_sync_max_lag_seconds`)."""
    page_size: int = 100
    backfill_days: int = 30
    backfill_orders_per_day: int = 2_000
    backfill_open_share: float = 0.02
    """Orders of the range still open (read again through getOrder); the rest are closed."""
    report_seconds: float = 60.0
    """How long the sandbox takes to prepare a report (Amazon: a minute to many)."""


FULL = Scenario()
QUICK = Scenario(
    other_orders_per_hour=(),
    sync_orders=300,
    stream_orders_per_hour=600.0,
    stream_hours=3.0,
    steady_from_hours=2.5,
    backfill_days=2,
    backfill_orders_per_day=150,
    report_seconds=2.0,
    sync_intervals_seconds=(60.0,),
)


def run(quick: bool, folder: Path, say: Callable[[str], None]) -> dict[str, Any]:
    scenario = QUICK if quick else FULL
    figures: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    parts: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("sync", lambda: sync_rate(scenario, say))
    ]
    parts.append(("requests@cadence", lambda: requests_per_1000(scenario, None, say)))
    parts += [
        (
            f"requests@cadence,{rate:g}/h",
            lambda rate=rate: requests_per_1000(
                replace(scenario, stream_orders_per_hour=rate), None, say, judged=False
            ),
        )
        for rate in scenario.other_orders_per_hour
    ]
    parts += [
        (
            f"requests@{every:g}s",
            lambda every=every: requests_per_1000(scenario, every, say, judged=False),
        )
        for every in scenario.sync_intervals_seconds
    ]
    parts.append(("backfill", lambda: backfill_time(scenario, say)))
    for part, measure in parts:
        say(f"  amazon {part}…")
        try:
            row = measure()
        except Exception as exc:  # one part failing must not hide the others
            skipped[part] = f"failed: {type(exc).__name__}: {exc}"
            say(f"  amazon {part} FAILED: {exc}")
            continue
        say(f"    {row}")
        figures.append(row)
    verdicts = [r["met"] for r in figures if r.get("met") is not None]
    return {
        "name": NAME,
        "size": "quick" if quick else "full",
        "parameters": asdict(scenario),
        "figures": figures,
        "skipped": skipped,
        "goal": GOAL,
        "met": (all(verdicts) if verdicts else None),
    }


# -- shared set-up -----------------------------------------------------------------------------


def _in_process(app: Any) -> Served:
    """The sandbox on a thread of this process (its clock is the benchmark's), on uvicorn's
    fastest loop and parser: wall time is part of the figures."""
    return serve_in_thread(app, name="the Amazon sandbox", loop="auto", http="auto")


def _config(**overrides: Any) -> SandboxConfig:
    return SandboxConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH_TOKEN,
        seller_id=SELLER_ID,
        marketplaces=(US, DE),
        orders_per_minute=0.0,
        listings=LISTINGS,
        **overrides,
    )


@contextmanager
def _ordermesh() -> Iterator[Ordermesh]:
    with sqlite_target() as target:
        om = bootstrap(Settings(database_url=target.url, env="test", db_pool_size=20))
        try:
            _catalogue(om)
            yield om
        finally:
            om.close()


def _catalogue(om: Ordermesh) -> None:
    """The sandbox's SKUs as products, with stock in a warehouse and at FBA so that every
    order can be allocated."""
    skus = [f"SKU-{n:04d}" for n in range(1, LISTINGS + 1)]
    om.handle(c.CreateLocation(Location("WH1", "Warehouse", LocationKind.WAREHOUSE)))
    om.handle(c.CreateLocation(Location("FBA", "Amazon FBA", LocationKind.MARKETPLACE)))
    om.handle(c.UpsertProducts(tuple(Product(sku=sku, title=sku) for sku in skus)))
    for sku in skus:
        om.handle(c.ReceiveStock(sku, "WH1", PLENTY))
        om.handle(c.ReceiveStock(sku, "FBA", PLENTY))


def _account(
    om: Ordermesh,
    url: str,
    clock: Any,
    sleep: Callable[[float], None],
    page_size: int,
    **extra: Any,
) -> tuple[Any, Any]:
    channels = channel_adapters(
        om.db,
        clock,
        SECRET_KEY,
        sleep=sleep,
        retry=RetryPolicy(wait_initial=0.05, wait_max=1.0, wait_jitter=0.05),
    )
    settings = AmazonAccountSettings(
        selling_partner_id=SELLER_ID,
        region="NA",
        marketplace_ids=(US, DE),
        lwa_client_id=CLIENT_ID,
        endpoint="custom",
        api_base_url=url,
        page_size=page_size,
    )
    account = channels.accounts.register(
        channel="amazon",
        name="Amazon bench",
        settings={**stored(settings), **extra},
        secrets=AmazonCredentials(
            lwa_client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN
        ).sealable(),
        sync_from=clock.now() - timedelta(hours=1),
    )
    return channels, account


def _allocated(om: Ordermesh) -> int:
    o = t.orders.c
    with om.db.reader.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(t.orders).where(o.status == "allocated")
            ).scalar_one()
        )


def _sp_api_requests(stats: dict[str, Any]) -> dict[str, int]:
    return {op: n for op, n in stats["requests"].items() if op not in NOT_SP_API}


# -- (a) sync throughput, rate limits off ----------------------------------------------------


def serve_sandbox(config: dict[str, Any], port: int) -> None:
    """The sandbox on the wall clock, in this process (run by the parent as a child)."""
    uvicorn.run(create_app(_config(**config)), host="127.0.0.1", port=port, log_level="warning")


def sync_rate(scenario: Scenario, say: Callable[[str], None]) -> dict[str, Any]:
    port = free_port()
    config = {
        "rate_limits": False,
        "pending_seconds": 0.0,
        "visibility_lag_seconds": 0.0,
        "buyer_cancellation_share": 0.0,
        "pending_cancellation_share": 0.0,
    }
    sandbox = [sys.executable, "-m", "bench.amazon", json.dumps(config), str(port)]
    with (
        running("the Amazon sandbox", sandbox, port, ready="/_sandbox/stats") as (url, _),
        httpx.Client(base_url=url, timeout=120.0) as http,
    ):
        for listing in http.get("/_sandbox/listings").json()["listings"]:
            http.post(
                "/_sandbox/listings",
                json={"sku": listing["sku"], "quantity": PLENTY, "fbaQuantity": PLENTY},
            )
        placed = 0
        while placed < scenario.sync_orders:
            batch = min(2_000, scenario.sync_orders - placed)
            placed += len(http.post("/_sandbox/orders", json={"count": batch}).json()["orders"])
        time.sleep(1.2)
        http.get("/_sandbox/stats")  # releases the pending orders now
        time.sleep(1.2)
        with _ordermesh() as om:
            clock = SystemClock()
            # Every order of the backlog read in one go, FBA ones too: the figure is the
            # import path's speed, and these orders are all placed just now.
            channels, account = _account(
                om,
                url,
                clock,
                time.sleep,
                scenario.page_size,
                sync_settle_seconds=0,
                **{TRAIL_SETTING: 0},
            )
            try:
                syncer = ChannelSync(channels.accounts, channels.connectors, om.handle, clock)
                started = time.perf_counter()
                report = syncer.sync(c.SyncChannel(account.id))
                seconds = time.perf_counter() - started
                allocated = _allocated(om)
            finally:
                channels.close()
    if report.error:
        raise RuntimeError(report.error)
    return {
        "part": "sync",
        "orders": placed,
        "imported": report.imported.created,
        "allocated": allocated,
        "pages": report.pages,
        "seconds": round(seconds, 2),
        "orders_per_second": round(report.imported.created / seconds, 1) if seconds else None,
        "goal": None,
        "met": None,
    }


def requests_per_1000(
    scenario: Scenario, every: float | None, say: Callable[[str], None], *, judged: bool = True
) -> dict[str, Any]:
    """`every` None: the worker's cadence; a number: a fixed interval in seconds. `judged`
    False: a figure reported beside the goal's, not held to it."""
    clock = ManualClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    app = create_app(_config(rate_limits=True, buyer_cancellation_share=0.0), clock)
    sandbox = app.state.sandbox
    for listing in sandbox.state.listings.values():
        listing.mfn_quantity = listing.fba_fulfillable = PLENTY

    def let_time_pass(seconds: float) -> None:
        # The sandbox stamps what falls due (a release, a shipment) when it next looks at its
        # clock: it must look often, or changes land later than they happened.
        while seconds > 0:
            step = min(seconds, 5.0)
            clock.advance(step)
            sandbox.tick()
            seconds -= step

    with _in_process(app) as served, _ordermesh() as om:
        url = served.url
        channels, account = _account(om, url, clock, let_time_pass, scenario.page_size)
        try:
            syncer = ChannelSync(channels.accounts, channels.connectors, om.handle, clock)
            standing = marketplace_inbound(
                channels.accounts, channels.inbound, channels.inbound.records, om.handle, clock
            ).standing

            def capacity(account_id: str) -> Any:
                rate = standing.order_rate(account_id)
                return rate.capacity if rate is not None else None

            cadence = SyncCadence(
                syncer,
                capacity,
                clock,
                base=timedelta(seconds=Settings().channel_sync_seconds),
                max_lag=timedelta(seconds=scenario.max_lag_seconds),
            )
            seen: set[str] = set()
            lags: list[float] = []
            lags_by: dict[str, list[float]] = {"merchant": [], "marketplace": []}
            marketplace_reads = [0]
            waits: list[float] = []
            deep = [0]
            changes = [0]
            late = [0]

            def sync_once() -> str:
                if every is None:
                    turn = cadence.turn(account.id)
                    report, wait = turn.report, turn.wait
                    deep[0] += turn.deep
                else:
                    report, wait = syncer.sync(c.SyncChannel(account.id)), every
                changes[0] += report.imported.created + report.imported.updated
                late[0] += report.late
                marketplace_reads[0] += report.marketplace_until is not None
                for order_id, fulfilled_by in _orders_of(om).items():
                    if order_id in seen:
                        continue
                    seen.add(order_id)
                    placed_at = sandbox.state.orders[order_id].created
                    lag = (clock.now() - placed_at).total_seconds()
                    lags.append(lag)
                    lags_by[fulfilled_by].append(lag)
                waits.append(wait)
                next_sync[0] = clock.now() + timedelta(seconds=wait)
                return report.status

            next_sync = [clock.now()]
            sync_once()  # the quiet hour before the stream starts
            lags.clear()
            waits.clear()
            for kept in lags_by.values():
                kept.clear()
            marketplace_reads[0] = 0
            changes[0] = 0
            before = _sp_api_requests(_stats(sandbox))
            start = clock.now()
            end = start + timedelta(hours=scenario.stream_hours)
            steady = start + timedelta(hours=scenario.steady_from_hours)
            at: dict[str, dict[str, int]] = {}
            interval = 3600.0 / scenario.stream_orders_per_hour
            wanted = int(scenario.stream_hours * 3600 / interval)
            placed, syncs, failed = 0, 0, 0
            # The stream, then the worker going on at its pace until every order is in.
            while clock.now() < end or len(seen) < placed:
                if clock.now() > end + timedelta(hours=4):
                    break
                for mark, moment in (("steady", steady), ("end", end)):
                    if mark not in at and clock.now() >= moment:
                        at[mark] = _sp_api_requests(_stats(sandbox))
                due = min(int((clock.now() - start).total_seconds() / interval), wanted)
                if due > placed:
                    placed += len(sandbox.generate(due - placed))
                if clock.now() >= next_sync[0]:
                    syncs += 1
                    failed += sync_once() != "synced"
                else:
                    step = (next_sync[0] - clock.now()).total_seconds()
                    if placed < wanted:
                        step = min(step, interval)
                    let_time_pass(max(step, 0.001))
            used = {
                op: n - before.get(op, 0)
                for op, n in _sp_api_requests(_stats(sandbox)).items()
                if n - before.get(op, 0)
            }
            imported = len(seen)
        finally:
            channels.close()
    total = sum(used.values())
    whole_run = 1000 * total / placed if placed else None
    steady_orders = sum(
        1 for order in sandbox.state.orders.values() if steady <= order.created < end
    )
    steady_requests = {
        op: n - at["steady"].get(op, 0)
        for op, n in at["end"].items()
        if n - at["steady"].get(op, 0)
    }
    per_1000 = 1000 * sum(steady_requests.values()) / steady_orders if steady_orders else None
    lags.sort()
    waits.sort()
    return {
        "part": "requests",
        "cadence": (
            f"worker (max lag {scenario.max_lag_seconds:g} s)"
            if every is None
            else f"every {every:g} s"
        ),
        "orders_per_hour": scenario.stream_orders_per_hour,
        "orders": placed,
        "imported": imported,
        "syncs": syncs,
        "deep_reads": deep[0],
        # Changes a sync's overlap brought in that the sync before it had missed: Amazon
        # showing them later than the settle time (each asks for a deep read).
        "late_changes": late[0],
        "failed_syncs": failed,
        "sync_wait_p50_seconds": round(percentile(waits, 0.5), 1) if waits else None,
        "import_lag_p50_seconds": round(percentile(lags, 0.5), 1) if lags else None,
        "import_lag_p99_seconds": round(percentile(lags, 0.99), 1) if lags else None,
        "import_lag_max_seconds": round(lags[-1], 1) if lags else None,
        # FBA orders are read apart and behind (MARKETPLACE_TRAIL), once Amazon shipped them;
        # the seller's own orders, the ones whose lag matters for stock, at the cadence.
        "import_lag_by_fulfilment": {
            who: {
                "orders": len(found),
                "p50_seconds": round(percentile(sorted(found), 0.5), 1),
                "p99_seconds": round(percentile(sorted(found), 0.99), 1),
            }
            for who, found in lags_by.items()
            if found
        },
        "fba_reads_apart": marketplace_reads[0],
        "throttled": sandbox.limiter.throttled,
        "requests": used,
        # Steady state: requests made between `steady_from_hours` and the end of the stream,
        # per 1,000 orders placed in that time (the goal's figure).
        "steady_window_hours": scenario.stream_hours - scenario.steady_from_hours,
        "steady_orders": steady_orders,
        "steady_requests": steady_requests,
        "requests_per_1000_orders": round(per_1000, 2) if per_1000 is not None else None,
        # The whole run: the stream's first hours (FBA orders not yet due) and the tail after
        # it (syncs at the maximum lag with nothing new, until the last FBA order is in).
        "whole_run_requests_per_1000_orders": (
            round(whole_run, 2) if whole_run is not None else None
        ),
        # Orders change after they are placed (released from Pending, FBA orders shipped an
        # hour later): each change is read again, and costs its share of a page.
        "order_changes": changes[0],
        "requests_per_1000_changes": round(1000 * total / changes[0], 2) if changes[0] else None,
        # Every change read in full pages and none twice: no cadence can do better.
        "full_pages_floor_per_1000_orders": (
            round(1000 * changes[0] / scenario.page_size / placed, 2) if placed else None
        ),
        "goal": GOAL_REQUESTS_PER_1000 if judged else None,
        "met": (
            per_1000 is not None and per_1000 <= GOAL_REQUESTS_PER_1000 and imported == placed
            if judged
            else None
        ),
    }


def _stats(sandbox: Any) -> dict[str, Any]:
    return {"requests": dict(sandbox.stats.requests)}


def _orders_of(om: Ordermesh) -> dict[str, str]:
    """Who fulfils each order ordermesh holds, by channel order id."""
    o = t.orders.c
    with om.db.reader.connect() as conn:
        return dict(conn.execute(select(o.channel_order_id, o.fulfilled_by)).tuples().all())


# -- (c) back-fill through the order report ----------------------------------------------------


def backfill_time(scenario: Scenario, say: Callable[[str], None]) -> dict[str, Any]:
    now = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    clock = ManualClock(now - timedelta(days=scenario.backfill_days + 1))
    app = create_app(
        _config(
            rate_limits=True,
            report_processing_seconds=scenario.report_seconds,
            buyer_cancellation_share=0.0,
        ),
        clock,
    )
    sandbox = app.state.sandbox
    for listing in sandbox.state.listings.values():
        listing.mfn_quantity = listing.fba_fulfillable = PLENTY
    per_step = max(1, scenario.backfill_orders_per_day // 48)
    placed = 0
    for step in range(scenario.backfill_days * 48):
        placed += len(sandbox.generate(per_step))
        clock.advance(1800)
        if step % 8 == 7:  # the world catches up every four hours, as it would on requests
            sandbox.tick()
    clock.advance((now - clock.now()).total_seconds())
    sandbox.tick()
    # Older orders have long been shipped by the seller; the newest stay open.
    orders = sorted(sandbox.state.orders.values(), key=lambda o: o.created)
    keep_open = int(len(orders) * scenario.backfill_open_share)
    for order in orders[: len(orders) - keep_open]:
        if order.status == UNSHIPPED:
            for line in order.lines:
                line.quantity_shipped = line.quantity
            order.status = SHIPPED
            order.last_updated = order.created + timedelta(days=1)
    waited = [0.0]

    def wait(seconds: float) -> None:
        waited[0] += seconds
        clock.advance(seconds)

    with _in_process(app) as served, _ordermesh() as om:
        url = served.url
        channels, account = _account(om, url, clock, wait, scenario.page_size)
        inbound = marketplace_inbound(
            channels.accounts,
            InboundAdapters(
                channels.amazon,
                channels.inbound.records,
                ReportPolling(first_wait=5.0, max_wait=30.0),
            ),
            channels.inbound.records,
            om.handle,
            clock,
        )
        try:
            started = time.perf_counter()
            report = inbound.backfill.backfill(
                account.id, clock.now() - timedelta(days=scenario.backfill_days + 1)
            )
            seconds = time.perf_counter() - started
            imported = len(_orders_of(om))
        finally:
            channels.close()
    if report.error:
        raise RuntimeError(report.error)
    return {
        "part": "backfill",
        "days": scenario.backfill_days,
        "orders": placed,
        "imported": imported,
        "requests": _sp_api_requests(_stats(sandbox)),
        "wall_seconds": round(seconds, 2),
        "waited_seconds": round(waited[0], 1),
        "seconds": round(seconds + waited[0], 1),
        "goal": None,
        "met": None if imported == placed else False,
    }


if __name__ == "__main__":
    serve_sandbox(json.loads(sys.argv[1]), int(sys.argv[2]))
