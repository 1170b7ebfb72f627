"""(d) the HTTP API: GET and POST /api/v1/orders at 32 connections, requests/s and p99.

The server runs in a subprocess on a free loopback port; the load comes from `wrk` (with a
Lua script for POST bodies) or, if wrk is missing, from bench.loadgen in another process."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import update

from bench.allocation import ADDRESS, PRICE
from bench.databases import Target, restock_if_low
from bench.serving import cpu_seconds, free_port, running
from bench.sizes import Sizes
from ordermesh.adapters.db.tables import outbox
from ordermesh.bootstrap import Ordermesh
from ordermesh.domain import commands as c

ORDERS = "/api/v1/orders"
ROOT = Path(__file__).resolve().parent.parent


class Skipped(Exception):
    """The API cannot be benchmarked here; the reason is recorded instead of figures."""


@contextmanager
def server(target: Target) -> Iterator[str]:
    with serving(target) as (base, _):
        yield base


@contextmanager
def serving(target: Target) -> Iterator[tuple[str, int]]:
    """The API's base URL and its process id."""
    port = free_port()
    command = [sys.executable, "-m", "bench.api_server", target.url, str(port)]
    env = {**os.environ, "ORDERMESH_LOG_LEVEL": "WARNING"}
    with running("the API server", command, port, env) as served:
        yield served


_WRK_POST = """
local skus = {skus}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
request = function()
  local first = math.random(0, math.max(skus - 3, 0))
  local lines = {{}}
  for n = 0, 2 do
    lines[#lines + 1] = string.format(
      '{{"sku": "SKU-%06d", "quantity": 1, "unit_price": "{price}"}}', first + n)
  end
  local body = '{{"lines": [' .. table.concat(lines, ", ") .. '], "currency": "EUR", '
    .. '"shipping_address": {address}}}'
  return wrk.format(nil, nil, nil, body)
end
"""

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str, seconds: float) -> dict[str, Any]:
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "requests": requests,
        "errors": int(bad.group(1)) if bad else 0,
        "socket_errors": socket_errors.group(1).strip() if socket_errors else "",
        "per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(re.search(r"\s50%\s+(\S+)", output).group(1)),  # type: ignore[union-attr]
        "p99_ms": _ms(re.search(r"\s99%\s+(\S+)", output).group(1)),  # type: ignore[union-attr]
    }


def _wrk(
    url: str, method: str, key: str, connections: int, seconds: float, skus: int
) -> dict[str, Any]:
    threads = min(2, connections)
    duration = max(1, round(seconds))
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if method == "POST":
            address = orjson.dumps(
                {
                    "name": ADDRESS.name,
                    "line1": ADDRESS.line1,
                    "city": ADDRESS.city,
                    "postal_code": ADDRESS.postal_code,
                    "country": ADDRESS.country,
                }
            ).decode()
            script.write(_WRK_POST.format(skus=skus, key=key, price=PRICE, address=address))
        else:
            script.write(f'wrk.headers["Authorization"] = "Bearer {key}"\n')
    try:
        done = subprocess.run(
            [*command, "-s", script.name, url],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        )
    finally:
        os.unlink(script.name)
    return {"tool": "wrk", **parse_wrk(done.stdout, duration)}


def _python(
    url: str, method: str, key: str, connections: int, seconds: float, skus: int
) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            "--url",
            url,
            "--method",
            method,
            "--key",
            key,
            "--connections",
            str(connections),
            "--seconds",
            str(seconds),
            "--skus",
            str(skus),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    return {"tool": "bench.loadgen (asyncio)", **orjson.loads(done.stdout.strip().splitlines()[-1])}


def load(
    url: str, method: str, key: str, connections: int, seconds: float, skus: int
) -> dict[str, Any]:
    if shutil.which("wrk") and os.environ.get("BENCH_NO_WRK") != "1":
        return _wrk(url, method, key, connections, seconds, skus)
    return _python(url, method, key, connections, seconds, skus)


def _drain_outbox(om: Ordermesh) -> int:
    """Mark the events of the earlier benchmarks delivered, as a caught-up dispatcher would have:
    the server's in-process worker then only has the events of this run to deliver, instead of
    a backlog of hundreds of thousands competing with the requests for the write lock."""
    with om.db.writer.begin() as conn:
        done = conn.execute(
            update(outbox)
            .where(outbox.c.status == "pending")
            .values(status="delivered", delivered_at=om.clock.now())
        )
    return int(done.rowcount)


def run(
    om: Ordermesh,
    target: Target,
    skus: list[str],
    sizes: Sizes,
    progress: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    if importlib.util.find_spec("ordermesh.entrypoints.api.server") is None:
        raise Skipped("ordermesh.entrypoints.api.server is not there yet (the API is not written)")
    try:
        importlib.import_module("ordermesh.entrypoints.api.app")
        importlib.import_module("ordermesh.entrypoints.api.server")
    except ImportError as exc:
        raise Skipped(f"the API does not import: {exc}") from exc
    restock_if_low(om)
    for i in range(sizes.api_orders):
        first = (i * 3) % max(len(skus) - 3, 1)
        om.handle(
            c.CreateOrder(
                tuple(c.NewLine(s, 1, PRICE) for s in skus[first : first + 3]),
                ADDRESS,
                buyer_name="Ada",
            )
        )
    backlog = _drain_outbox(om)
    # As a running server's worker would have kept them: folding in the hundreds of thousands
    # of orders the earlier benchmarks wrote is a one-off catch-up (seconds of CPU), which
    # the server's first round of jobs would otherwise run during the measured loads.
    om.queries.figures.refresh()
    om.queries.figures.snapshot_cover()
    _, key = om.api_keys.create("bench", "operator")
    rows = []
    with serving(target) as (base, pid):
        for method in ("GET", "POST"):
            # Unmeasured first: the first requests of a method fill the server's caches of
            # statements and compiled queries, and would otherwise sit in the p99 of a
            # steady load.
            load(f"{base}{ORDERS}", method, key, sizes.api_connections, sizes.warmup, len(skus))
            cpu_before = cpu_seconds(pid)
            figures = load(
                f"{base}{ORDERS}", method, key, sizes.api_connections, sizes.api_seconds, len(skus)
            )
            cpu_after = cpu_seconds(pid)
            if cpu_before is not None and cpu_after is not None and figures["requests"]:
                # Where the time goes: the server's own CPU per request (the load generator's
                # is not in it). Closed-loop latency is connections / throughput, so this is
                # what bounds p99 on a machine the server shares with the load.
                figures["server_cpu_ms_per_request"] = round(
                    1000 * (cpu_after - cpu_before) / figures["requests"], 3
                )
            progress(
                f"  api {target.backend} {method} {ORDERS} x{sizes.api_connections}: "
                f"{figures['per_second']:.0f} req/s, p50 {figures['p50_ms']:.1f} ms, "
                f"p99 {figures['p99_ms']:.1f} ms, errors {figures['errors']} ({figures['tool']}), "
                f"server CPU {figures.get('server_cpu_ms_per_request', float('nan')):.2f} ms/request"
            )
            rows.append(
                {
                    "backend": target.backend,
                    "method": method,
                    "path": ORDERS,
                    "connections": sizes.api_connections,
                    "seconds": sizes.api_seconds,
                    "outbox_backlog_marked_delivered": backlog,
                    **figures,
                }
            )
    return rows
