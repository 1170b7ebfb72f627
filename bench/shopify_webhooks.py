"""`python -m bench --only shopify`: Shopify webhook intake, as `ordermesh serve` runs it.

(1) Intake: `orders/create` deliveries, each a new order with its own X-Shopify-Webhook-Id and
a genuine X-Shopify-Hmac-Sha256, sent by a closed-loop load generator in another process (wrk
with requests signed beforehand when installed, else an asyncio one) over keep-alive connections
to POST /webhooks/shopify: requests/s and p50/p99 while the server verifies every signature
and writes every delivery to the inbox (and applies them behind the answers, as it does in
production). Goal: ≥ 1,000/s, so intake is never the bottleneck.

(2) Webhook to allocation: single deliveries at a calm pace; for each, the time from sending it
to the order's `allocated` entry in its history (both on this machine's clock): p50/p99.

The server is `ordermesh serve` on a fresh SQLite file with the in-process worker on."""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import create_engine, select

from bench.databases import seed
from bench.loadgen import read_answer
from bench.serving import ROOT, cpu_seconds, free_port, running
from bench.timing import percentile

NAME = "shopify"
GOAL = "webhook intake ≥ 1,000 requests/s (p99 well inside Shopify's 5 s); webhook → allocated"
DOMAIN = "bench-shop.myshopify.com"
WEBHOOK_SECRET = "bench-shopify-app-secret"
SECRET_KEY = "bench-secret-key-that-is-long-enough-for-production-rules"
PATH = "/webhooks/shopify"

FULL = {"skus": 2_000, "connections": 32, "seconds": 10.0, "latency_orders": 200, "pace": 20.0}
QUICK = {"skus": 50, "connections": 4, "seconds": 1.5, "latency_orders": 10, "pace": 20.0}
WRK_PREPARED_PER_SECOND = 4_000
"""Requests made for wrk per second of the run: above what one process on this machine
answers, so no webhook id is sent twice (the figures say `resent` if one was)."""


def order_body(order_id: int, skus: list[str], now: str) -> bytes:
    """An `orders/create` payload as Shopify sends it (REST shape, the fields ordermesh reads)."""
    sku = skus[order_id % len(skus)]
    return orjson.dumps(
        {
            "id": order_id,
            "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
            "name": f"#B{order_id}",
            "email": "ada@example.com",
            "created_at": now,
            "updated_at": now,
            "processed_at": now,
            "cancelled_at": None,
            "financial_status": "paid",
            "fulfillment_status": None,
            "currency": "EUR",
            "total_price": "25.00",
            "shipping_address": {
                "name": "Ada Buyer",
                "address1": "Unter den Linden 1",
                "city": "Berlin",
                "zip": "10117",
                "country_code": "DE",
            },
            "line_items": [
                {
                    "id": order_id * 10 + 1,
                    "sku": sku,
                    "variant_id": 40_000 + order_id % len(skus),
                    "quantity": 1,
                    "current_quantity": 1,
                    "price": "25.00",
                }
            ],
        }
    )


def signed_request(host: str, order_id: int, skus: list[str], secret: bytes) -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = order_body(order_id, skus, now)
    mac = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
    return (
        b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
        b"X-Shopify-Topic: orders/create\r\nX-Shopify-Shop-Domain: %s\r\n"
        b"X-Shopify-Hmac-Sha256: %s\r\nX-Shopify-Webhook-Id: bench-%d\r\n"
        b"X-Shopify-API-Version: 2026-10\r\nContent-Length: %d\r\n\r\n%s"
        % (
            PATH.encode(),
            host.encode(),
            DOMAIN.encode(),
            mac,
            order_id,
            len(body),
            body,
        )
    )


# -- the load generator (its own process) ------------------------------------------------------
async def _client(
    host: str,
    port: int,
    ids: Iterator[int],
    skus: list[str],
    stop: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    secret = WEBHOOK_SECRET.encode()
    try:
        while time.perf_counter() < stop:
            request = signed_request(f"{host}:{port}", next(ids), skus, secret)
            sent = time.perf_counter()
            writer.write(request)
            status_line = await read_answer(reader)
            latencies.append(time.perf_counter() - sent)
            if not status_line.startswith(b"HTTP/1.1 2"):
                errors.append(1)
    finally:
        writer.close()


async def _load(url: str, connections: int, seconds: float, skus: list[str], first: int) -> None:
    host, port = url.split("//", 1)[1].split(":")
    latencies: list[float] = []
    errors: list[int] = []
    ids = iter(range(first, first + 10_000_000))
    start = time.perf_counter()
    stop = start + seconds
    await asyncio.gather(
        *(_client(host, int(port), ids, skus, stop, latencies, errors) for _ in range(connections))
    )
    elapsed = time.perf_counter() - start
    millis = sorted(x * 1000 for x in latencies)
    print(
        orjson.dumps(
            {
                "requests": len(latencies),
                "errors": len(errors),
                "per_second": len(latencies) / elapsed,
                "p50_ms": percentile(millis, 0.50),
                "p99_ms": percentile(millis, 0.99),
            }
        ).decode()
    )


# -- the server (`ordermesh serve`) ------------------------------------------------------------
def _environment(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "ORDERMESH_DATABASE_URL": database_url,
        "ORDERMESH_SECRET_KEY": SECRET_KEY,
        "ORDERMESH_ENV": "test",
        "ORDERMESH_LOG_LEVEL": "WARNING",
    }


def _unapplied(database_url: str) -> int:
    from sqlalchemy import func

    from ordermesh.adapters.db import tables as t

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(t.inbox)
                    .where(
                        t.inbox.c.source.like("shopify-webhook:%"),
                        t.inbox.c.processed_at.is_(None),
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


@contextmanager
def serving(database_url: str) -> Iterator[tuple[str, int]]:
    command = shutil.which("ordermesh") or str(Path(sys.executable).parent / "ordermesh")
    port = free_port()
    serve = [command, "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running("ordermesh serve", serve, port, _environment(database_url)) as served:
        yield served


def _prepare(database_url: str, skus: int) -> list[str]:
    """A migrated database with a stocked catalogue and one Shopify account."""
    from ordermesh.adapters.channels.accounts import SqlChannelAccounts
    from ordermesh.adapters.channels.credentials import CredentialBox
    from ordermesh.bootstrap import bootstrap
    from ordermesh.config import Settings

    om = bootstrap(
        Settings(
            database_url=database_url,
            env="test",
            secret_key=SECRET_KEY,
            worker=False,
            log_level="WARNING",
        ),
        migrate=True,
    )
    try:
        catalogue = seed(om, skus)
        SqlChannelAccounts(om.db, om.clock, CredentialBox(SECRET_KEY)).register(
            channel="shopify",
            name="Bench shop",
            settings={"shop_domain": DOMAIN, "admin_url": "http://127.0.0.1:9"},
            secrets={"access_token": "shpat_bench", "webhook_secret": WEBHOOK_SECRET},
            sync_from=datetime.now(UTC),
        )
    finally:
        om.close()
    return catalogue


# -- the load from wrk (when installed: it costs the shared cores far less than Python) --------
_WRK_SCRIPT = """
local threads = {{}}
local counter = 0
function setup(thread)
  thread:set("path", string.format("{folder}/requests-%d.bin", counter))
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  -- Requests made beforehand, signed, each with its own webhook id: wrk sends them as they
  -- are, so the load costs no HMAC or JSON per request. NUL separates them (JSON has none).
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  prepared = {{}}
  for raw in string.gmatch(data, "([^%z]+)") do
    prepared[#prepared + 1] = raw
  end
  next_one = 0
end
function request()
  next_one = next_one + 1
  -- Past the end the first ones go again: resends, answered as duplicates (counted below).
  return prepared[(next_one - 1) % #prepared + 1]
end
"""


def _intake_wrk(
    base: str, connections: int, seconds: float, skus: list[str], per_second: float
) -> dict[str, Any]:
    """wrk sends requests prepared here: enough for `per_second` for the whole run, split
    between its threads so that no two send the same webhook id."""
    from bench.api import parse_wrk

    threads = min(2, connections)
    duration = max(1, round(seconds))
    per_thread = int(per_second * duration / threads) + 1
    host = base.split("//", 1)[1]
    secret = WEBHOOK_SECRET.encode()
    first = 100_000_000
    with tempfile.TemporaryDirectory() as folder:
        for n in range(threads):
            start = first + n * per_thread
            with open(f"{folder}/requests-{n}.bin", "wb") as out:
                out.write(
                    b"\0".join(
                        signed_request(host, order_id, skus, secret)
                        for order_id in range(start, start + per_thread)
                    )
                )
        script = Path(folder, "intake.lua")
        script.write_text(_WRK_SCRIPT.format(folder=folder))
        done = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{duration}s",
                "--latency",
                "-s",
                str(script),
                f"{base}{PATH}",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 120,
        )
    figures = parse_wrk(done.stdout, duration)
    figures["resent"] = max(figures["requests"] - per_thread * threads, 0)
    return {"tool": "wrk", **figures}


def _intake(base: str, connections: int, seconds: float, skus: list[str]) -> dict[str, Any]:
    if shutil.which("wrk") and os.environ.get("BENCH_NO_WRK") != "1":
        return _intake_wrk(base, connections, seconds, skus, WRK_PREPARED_PER_SECOND)
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as listed:
        listed.write(orjson.dumps(skus))
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.shopify_webhooks",
                "load",
                "--url",
                base,
                "--connections",
                str(connections),
                "--seconds",
                str(seconds),
                "--skus",
                listed.name,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 120,
        )
    finally:
        os.unlink(listed.name)
    figures = orjson.loads(done.stdout.strip().splitlines()[-1])
    return {"tool": "bench.shopify_webhooks (asyncio)", **figures}


def _to_allocation(
    base: str, database_url: str, count: int, pace: float, skus: list[str]
) -> dict[str, Any]:
    host = base.split("//", 1)[1]
    sent: dict[str, datetime] = {}
    first = 900_000_000
    with httpx.Client(base_url=base, timeout=10) as http:
        for n in range(count):
            order_id = first + n
            raw = signed_request(host, order_id, skus, WEBHOOK_SECRET.encode())
            head, _, body = raw.partition(b"\r\n\r\n")
            headers = dict(
                line.decode().split(": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line
            )
            headers.pop("Content-Length", None)
            sent[str(order_id)] = datetime.now(UTC)
            answer = http.post(PATH, content=body, headers=headers)
            answer.raise_for_status()
            time.sleep(1 / pace)
    engine = create_engine(database_url)
    from ordermesh.adapters.db import tables as t

    o, h = t.orders.c, t.order_history.c
    deadline = time.monotonic() + 60
    found: dict[str, datetime] = {}
    try:
        while len(found) < count and time.monotonic() < deadline:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(o.channel_order_id, h.at)
                    .select_from(t.orders.join(t.order_history, h.order_id == o.id))
                    .where(o.channel_order_id.in_(list(sent)), h.to_status == "allocated")
                ).all()
            for channel_order_id, at in rows:
                found.setdefault(channel_order_id, at if at.tzinfo else at.replace(tzinfo=UTC))
            if len(found) < count:
                time.sleep(0.2)
    finally:
        engine.dispose()
    delays = sorted((found[k] - sent[k]).total_seconds() * 1000 for k in found)
    return {
        "orders": count,
        "allocated": len(found),
        "p50_ms": percentile(delays, 0.50) if delays else None,
        "p99_ms": percentile(delays, 0.99) if delays else None,
        "pace_per_second": pace,
    }


def run(quick: bool, folder: Path, say: Callable[[str], None]) -> dict[str, Any]:
    size = QUICK if quick else FULL
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{tmp}/bench-shopify.db"
        skus = _prepare(database_url, int(size["skus"]))
        with serving(database_url) as (base, pid):
            before = cpu_seconds(pid)
            intake = _intake(base, int(size["connections"]), float(size["seconds"]), skus)
            after = cpu_seconds(pid)
            # Deliveries are applied after their answers: wait for the backlog to be applied
            # (its time and CPU belong to the cost of a delivery too).
            waited = time.perf_counter()
            while _unapplied(database_url) and time.perf_counter() - waited < 300:
                time.sleep(0.2)
            intake["backlog_applied_seconds"] = round(time.perf_counter() - waited, 2)
            applied = cpu_seconds(pid)
            if before is not None and after is not None and applied is not None:
                intake["server_cpu_ms_per_request_during_load"] = round(
                    (after - before) * 1000 / max(intake["requests"], 1), 3
                )
                intake["server_cpu_ms_per_delivery_applied"] = round(
                    (applied - before) * 1000 / max(intake["requests"], 1), 3
                )
            say(
                f"  shopify webhook intake x{size['connections']}: "
                f"{intake['per_second']:.0f} req/s, p50 {intake['p50_ms']:.1f} ms, "
                f"p99 {intake['p99_ms']:.1f} ms, errors {intake['errors']} "
                f"({intake['tool']}), server CPU "
                f"{intake.get('server_cpu_ms_per_delivery_applied', '?')} ms per delivery "
                f"(verified, stored, applied); backlog applied "
                f"{intake['backlog_applied_seconds']} s after the load"
            )
            allocation = _to_allocation(
                base, database_url, int(size["latency_orders"]), float(size["pace"]), skus
            )
            say(
                f"  shopify webhook → allocated ({allocation['allocated']}/"
                f"{allocation['orders']}): p50 {allocation['p50_ms']} ms, "
                f"p99 {allocation['p99_ms']} ms"
            )
    return {
        "name": NAME,
        "size": "quick" if quick else "full",
        "parameters": size,
        "figures": [
            {"case": "intake", "backend": "sqlite", **intake},
            {"case": "webhook_to_allocated", "backend": "sqlite", **allocation},
        ],
        "skipped": {},
        "goal": GOAL,
        "met": None if quick else intake["per_second"] >= 1000 and intake["errors"] == 0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.shopify_webhooks")
    parser.add_argument("mode", choices=["load"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--skus", type=Path, required=True, help="JSON list of SKUs")
    parser.add_argument("--first-id", type=int, default=100_000_000)
    args = parser.parse_args(argv)
    skus = orjson.loads(args.skus.read_bytes())
    asyncio.run(_load(args.url, args.connections, args.seconds, skus, args.first_id))


if __name__ == "__main__":
    main()
