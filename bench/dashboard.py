"""The dashboard at a big seller's scale: 1,000,000 orders and 100,000 SKUs.

The generator writes orders straight into the tables in bulk (through SQLAlchemy Core, the
same schema ordermesh writes): going through ImportOrder would take an hour for a read
benchmark. What it writes is what the dashboard reads: orders spread over 90 days with a
weekly rhythm, three channel accounts, lines drawn from a skewed SKU popularity, the status an
order of that age would have (old ones shipped, recent ones pending, allocated, backordered or
held), allocations for allocated orders and a history for each.

Then the dashboard is served as `ordermesh serve` serves it, in its own process, and each page
is requested one at a time by a signed-in user: with one client the response time is the
server's time. Goal: p95 ≤ 300 ms for the overview, the orders list with a filter and the
order page."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert

from bench.api import server
from bench.databases import Target, sku_name
from bench.timing import percentile
from ordermesh.adapters.db import tables as t
from ordermesh.bootstrap import Ordermesh

GOAL_P95_MS = 300.0
DAYS = 90
CHANNELS = (
    ("amazon", "amazon-us", "ATVPDKIKX0DER", 0.45),
    ("amazon", "amazon-de", "A1PN6AFTZ7W56J", 0.20),
    ("shopify", "shopify-main", None, 0.35),
)
PASSWORD = "bench password, long enough"
Say = Callable[[str], None]


def _status(age: timedelta, rng: random.Random) -> str:
    """What an order of this age usually is by now."""
    roll = rng.random()
    if age > timedelta(days=3):
        if roll < 0.03:
            return "cancelled"
        if roll < 0.85:
            return "shipped"
        return "delivered" if roll < 0.93 else "completed"
    if roll < 0.06:
        return "pending"
    if roll < 0.45:
        return "allocated"
    if roll < 0.50:
        return "backordered"
    if roll < 0.55:
        return "cancelled"
    return "shipped"


def _order_id(created: datetime, rng: random.Random) -> str:
    """An id as ordermesh gives one at `created`: its ids sort by creation time (a ULID), and
    the orders list filtered by SKU relies on it, so generated ids must keep that order."""
    value = (int(created.timestamp() * 1000) << 80) | rng.getrandbits(80)
    return f"ord_{_base32(value)}"


def _base32(value: int) -> str:
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return "".join(reversed(chars))


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _orders(
    count: int, skus: int, now: datetime, rng: random.Random
) -> Iterator[
    tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]
]:
    # More orders on weekdays than at weekends, as sellers see.
    weights = [1.0 if (now - timedelta(days=d)).weekday() < 5 else 0.7 for d in range(DAYS)]
    cumulative_channels = []
    total = 0.0
    for channel in CHANNELS:
        total += channel[3]
        cumulative_channels.append((total, channel))
    # Written oldest first, as orders arrive: the tables' rows then lie in time order, as in
    # a real database, and a day's orders sit together instead of across the whole table.
    purchases = sorted(
        min(
            now
            - timedelta(days=rng.choices(range(DAYS), weights)[0], seconds=rng.uniform(0, 86_400)),
            now - timedelta(seconds=60),
        )
        for _ in range(count)
    )
    for n, purchased in enumerate(purchases):
        roll = rng.random()
        channel, account, marketplace, _ = next(
            c for edge, c in cumulative_channels if roll <= edge
        )
        status = _status(now - purchased, rng)
        held = status in ("allocated", "pending", "backordered") and rng.random() < 0.02
        created = min(purchased + timedelta(minutes=rng.uniform(1, 30)), now)
        order_id = _order_id(created, rng)
        order = {
            "id": order_id,
            "channel": channel,
            "channel_account": account,
            "channel_order_id": f"{account}-{n:08d}",
            "marketplace": marketplace,
            "status": status,
            "purchase_date": purchased,
            "ship_by": purchased + timedelta(days=rng.choice((1, 2, 2, 3))),
            "deliver_by": purchased + timedelta(days=5),
            "is_prime": channel == "amazon" and rng.random() < 0.4,
            "is_business": rng.random() < 0.05,
            "fulfilled_by": "merchant",
            "service_level": "Standard",
            "buyer_name": f"Buyer {rng.randrange(400_000):06d}",
            "buyer_email": None,
            "shipping_address": {
                "name": "Buyer",
                "line1": "1 Main Street",
                "city": "Springfield",
                "postal_code": "12345",
                "country": "US" if account == "amazon-us" else "DE",
            },
            "currency": "USD" if account == "amazon-us" else "EUR",
            "total_minor": rng.randrange(999, 20_000),
            "tags": [],
            "holds": (
                [{"kind": "fraud", "reason": "score", "actor": "bench", "at": created.isoformat()}]
                if held
                else []
            ),
            "buyer_cancel_requested": None,
            "channel_updated_at": created,
            "created_at": created,
            "updated_at": created,
            "version": 2,
        }
        lines = []
        allocations = []
        for line_no in range(1, rng.choice((1, 1, 2, 2, 3)) + 1):
            # A few SKUs sell a lot and most sell a little, as in any catalogue.
            sku = sku_name(
                min(int(rng.paretovariate(1.2)) - 1, skus - 1)
                if rng.random() < 0.5
                else rng.randrange(skus)
            )
            quantity = rng.choice((1, 1, 1, 2))
            lines.append(
                {
                    "order_id": order_id,
                    "line_no": line_no,
                    "sku": sku,
                    "quantity": quantity,
                    "unit_price_minor": rng.randrange(499, 9_999),
                    "tax_minor": None,
                    "discount_minor": None,
                    "channel_line_id": f"{order_id}-{line_no}",
                    "channel_sku": sku,
                }
            )
            if status == "allocated":
                allocations.append(
                    {
                        "order_id": order_id,
                        "line_no": line_no,
                        "sku": sku,
                        "location": "WH1",
                        "quantity": quantity,
                    }
                )
        history = [
            {
                "order_id": order_id,
                "action": "placed",
                "from_status": "open",
                "to_status": "open",
                "actor": f"channel:{account}",
                "reason": "imported",
                "at": created,
            }
        ]
        if status != "open":
            history.append(
                {
                    "order_id": order_id,
                    "action": status,
                    "from_status": "open",
                    "to_status": status,
                    "actor": "ordermesh",
                    "reason": "bench",
                    "at": created + timedelta(minutes=1),
                }
            )
        yield order, lines, allocations, history


def generate(om: Ordermesh, orders: int, skus: int, say: Say, chunk: int = 10_000) -> list[str]:
    """Write `orders` orders over the last 90 days; returns a sample of their ids."""
    rng = random.Random(20261123)
    now = om.clock.now().astimezone(UTC)
    sample: list[str] = []
    batches: dict[str, list[dict[str, Any]]] = {"o": [], "l": [], "a": [], "h": []}
    started = time.perf_counter()

    def flush() -> None:
        with om.db.writer.begin() as conn:
            conn.execute(insert(t.orders), batches["o"])
            conn.execute(insert(t.order_lines), batches["l"])
            if batches["a"]:
                conn.execute(insert(t.allocations), batches["a"])
            conn.execute(insert(t.order_history), batches["h"])
        for rows in batches.values():
            rows.clear()

    for n, (order, lines, allocations, history) in enumerate(_orders(orders, skus, now, rng), 1):
        batches["o"].append(order)
        batches["l"].extend(lines)
        batches["a"].extend(allocations)
        batches["h"].extend(history)
        if n % 997 == 0:
            sample.append(order["id"])
        if n % chunk == 0:
            flush()
            if n % (chunk * 10) == 0:
                rate = n / (time.perf_counter() - started)
                say(f"  {n:,} orders written ({rate:,.0f}/s)")
    if batches["o"]:
        flush()
    return sample


def _sign_in(base: str, om: Ordermesh) -> httpx.Client:
    om.users.create("bench", PASSWORD, "viewer")
    client = httpx.Client(base_url=base, timeout=60)
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = client.post(
        "/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"could not sign in to the dashboard: {answer.status_code}")
    return client


def _time(client: httpx.Client, paths: Callable[[int], str], samples: int) -> dict[str, float]:
    for n in range(3):  # the first requests warm the connection and the statement caches
        client.get(paths(n))
    times = []
    for n in range(samples):
        began = time.perf_counter()
        response = client.get(paths(n))
        times.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {paths(n)} answered {response.status_code}")
    times.sort()
    return {"p50_ms": round(percentile(times, 0.5), 1), "p95_ms": round(percentile(times, 0.95), 1)}


def run(
    om: Ordermesh, target: Target, orders: int, skus: int, samples: int, say: Say
) -> list[dict[str, Any]]:
    say(f"{target.backend}: dashboard: generating {orders:,} orders")
    began = time.perf_counter()
    sample = generate(om, orders, skus, say)
    say(f"  generated in {time.perf_counter() - began:.0f} s")
    # A server that has run for 90 days has its worker's rollups up to date: fold the
    # generated orders in as its jobs would have, then time the pages on what users get.
    # The generated orders carry the creation times they would have had, most of them behind
    # the watermark an earlier benchmark's server left: start the rollups from scratch.
    began = time.perf_counter()
    with om.db.writer.begin() as conn:
        for table in (
            t.dashboard_order_days,
            t.dashboard_sku_days,
            t.dashboard_unmapped_skus,
            t.dashboard_snapshots,
        ):
            conn.execute(table.delete())
    figures = om.queries.figures
    folded = figures.roll_up()
    figures.snapshot_alerts()
    figures.snapshot_cover()
    say(
        f"  dashboard rollups caught up on {folded.orders:,} orders "
        f"in {time.perf_counter() - began:.0f} s"
    )
    if om.db.is_sqlite:
        # In a transaction that commits: a connection that only closes rolls ANALYZE back.
        with om.db.writer.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with om.db.writer.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    rng = random.Random(5)
    popular = [sku_name(i) for i in range(20)]
    pages: dict[str, Callable[[int], str]] = {
        "overview": lambda n: "/",
        "overview panels": lambda n: "/overview/panels",
        "overview charts": lambda n: "/overview/charts",
        "orders list, status + channel filter": lambda n: (
            "/orders?status=allocated&channel=amazon&sort=ship_by"
            if n % 2
            else "/orders?status=shipped&channel=shopify"
        ),
        "orders list, SKU filter": lambda n: f"/orders?sku={popular[n % len(popular)]}",
        "orders list, search": lambda n: f"/orders?q={sample[rng.randrange(len(sample))]}",
        "order page": lambda n: f"/orders/{sample[rng.randrange(len(sample))]}",
    }
    rows = []
    with server(target) as base:
        client = _sign_in(base, om)
        for name, path in pages.items():
            figures = _time(client, path, samples)
            rows.append(
                {
                    "backend": target.backend,
                    "page": name,
                    "orders": orders,
                    "skus": skus,
                    **figures,
                }
            )
            say(f"  {name}: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms")
        client.close()
    return rows
