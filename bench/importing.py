"""(c) channel orders imported through ImportOrders in batches: stored, allocated, with
inbox and outbox rows, end to end."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import func, select, text

from bench.databases import restock_if_low
from ordermesh.bootstrap import Ordermesh
from ordermesh.domain import commands as c
from ordermesh.domain.orders import Address

ACCOUNT = "amazon-bench"
SOURCE = "amazon:bench"
_ADDRESS = Address("Bo Buyer", "Hauptstr. 5", "Hamburg", "20095", "DE")


def channel_orders(count: int, skus: list[str], prefix: str, seed: int = 11) -> list[c.ImportOrder]:
    """`count` released orders of 1–3 lines (2 on average) over `skus`, with a raw payload."""
    rng = random.Random(seed)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    made = []
    for i in range(count):
        order_id = f"{prefix}-{i:07d}"
        at = base + timedelta(seconds=i)
        lines = tuple(
            c.ChannelLine(f"{order_id}-{n}", sku, rng.randint(1, 2), "19.90", "3.18")
            for n, sku in enumerate(rng.sample(skus, rng.choice((1, 2, 3))), 1)
        )
        snapshot = c.ChannelOrder(
            channel="amazon",
            channel_account=ACCOUNT,
            channel_order_id=order_id,
            state=c.ChannelState.RELEASED,
            updated_at=at,
            purchase_date=at,
            lines=lines,
            currency="EUR",
            marketplace="A1PA6795UKMFR9",
            ship_by=at + timedelta(days=2),
            buyer_name=_ADDRESS.name,
            shipping_address=_ADDRESS,
        )
        payload = orjson.dumps(
            {
                "AmazonOrderId": order_id,
                "OrderStatus": "Unshipped",
                "PurchaseDate": at.isoformat(),
                "LastUpdateDate": at.isoformat(),
                "OrderItems": [
                    {
                        "SellerSKU": ln.channel_sku,
                        "QuantityOrdered": ln.quantity,
                        "ItemPrice": {"CurrencyCode": "EUR", "Amount": ln.unit_price},
                    }
                    for ln in lines
                ],
                "ShippingAddress": {
                    "Name": _ADDRESS.name,
                    "City": _ADDRESS.city,
                    "PostalCode": _ADDRESS.postal_code,
                    "CountryCode": "DE",
                },
            }
        ).decode()
        made.append(c.ImportOrder(snapshot, SOURCE, f"{order_id}@{at.isoformat()}", payload))
    return made


def _import(om: Ordermesh, items: list[c.ImportOrder], batch: int) -> tuple[float, int]:
    started = time.perf_counter()
    created = 0
    for start in range(0, len(items), batch):
        result = om.handle(c.ImportOrders(tuple(items[start : start + batch])))
        created += result.created
    return time.perf_counter() - started, created


def _check(om: Ordermesh, prefix: str) -> dict[str, int]:
    """What a user would check: the orders are there and allocated, the inbox and outbox too."""
    like = f"{prefix}-%"
    with om.db.reader.connect() as conn:
        allocated = conn.execute(
            text(
                "SELECT count(*) FROM orders WHERE channel_order_id LIKE :p AND status = 'allocated'"
            ),
            {"p": like},
        ).scalar_one()
        inbox = conn.execute(
            text("SELECT count(*) FROM inbox WHERE key LIKE :p AND processed_at IS NOT NULL"),
            {"p": like},
        ).scalar_one()
        outbox = conn.execute(select(func.count()).select_from(text("outbox"))).scalar_one()
    return {"allocated": allocated, "inbox_processed": inbox, "outbox_rows": outbox}


def run(
    om: Ordermesh,
    backend: str,
    skus: list[str],
    orders: int,
    batch_sizes: list[int],
    probe: int,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Probe each batch size on `probe` orders, then import `orders` with the fastest."""
    probes = []
    for n, size in enumerate(batch_sizes):
        restock_if_low(om)
        items = channel_orders(probe, skus, f"P{n}-{backend[:2]}", seed=100 + n)
        seconds, created = _import(om, items, size)
        probes.append({"batch": size, "orders": created, "per_second": round(created / seconds, 1)})
        progress(f"  import {backend} probe batch={size}: {created / seconds:.0f} orders/s")
    best = max(probes, key=lambda p: p["per_second"])["batch"]
    restock_if_low(om)
    prefix = f"IMP-{backend[:2]}"
    items = channel_orders(orders, skus, prefix)
    seconds, created = _import(om, items, best)
    checked = _check(om, prefix)
    progress(f"  import {backend} {created} orders, batch={best}: {created / seconds:.0f} orders/s")
    return {
        "backend": backend,
        "orders": created,
        "batch": best,
        "seconds": round(seconds, 2),
        "per_second": round(created / seconds, 1),
        "lines_per_order": round(sum(len(i.order.lines) for i in items) / len(items), 2),
        "probes": probes,
        "checked": checked,
    }
