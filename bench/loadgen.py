"""`python -m bench.loadgen`: a closed-loop HTTP load generator for when `wrk` is missing.

Runs in its own process (asyncio, raw HTTP/1.1 keep-alive over asyncio streams, so it costs
the server little CPU) and prints one JSON line: requests, errors, requests/s, p50, p99."""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from urllib.parse import urlsplit

import orjson

from bench.timing import percentile


def order_body(rng: random.Random, skus: int) -> bytes:
    first = rng.randrange(max(skus - 2, 1))
    return orjson.dumps(
        {
            "lines": [
                {"sku": f"SKU-{first + n:06d}", "quantity": 1, "unit_price": "12.50"}
                for n in range(3)
            ],
            "shipping_address": {
                "name": "Ada Buyer",
                "line1": "Unter den Linden 1",
                "city": "Berlin",
                "postal_code": "10117",
                "country": "DE",
            },
            "currency": "EUR",
        }
    )


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    """Reads one HTTP/1.1 answer off a keep-alive connection (status line, headers and a body
    of Content-Length bytes) and returns its status line."""
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status_line


async def _client(
    host: str,
    port: int,
    head: bytes,
    method: str,
    skus: int,
    stop: float,
    start: float,
    latencies: list[float],
    errors: list[int],
    seed: int,
) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop:
            if method == "POST":
                body = order_body(rng, skus)
                request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
            else:
                request = head + b"\r\n"
            began = time.perf_counter()
            writer.write(request)
            status_line = await read_answer(reader)
            ended = time.perf_counter()
            if began >= start:
                latencies.append(ended - began)
                if not status_line.split(b" ")[1].startswith(b"2"):
                    errors.append(1)
    finally:
        writer.close()


async def run(
    url: str, method: str, key: str, connections: int, seconds: float, warmup: float, skus: int
) -> dict[str, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\n"
    ).encode()
    latencies: list[float] = []
    errors: list[int] = []
    now = time.perf_counter()
    start, stop = now + warmup, now + warmup + seconds
    await asyncio.gather(
        *(
            _client(host, port, head, method, skus, stop, start, latencies, errors, n)
            for n in range(connections)
        )
    )
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "per_second": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--method", default="GET", choices=("GET", "POST"))
    parser.add_argument("--key", required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--skus", type=int, default=1000)
    args = parser.parse_args()
    figures = asyncio.run(
        run(args.url, args.method, args.key, args.connections, args.seconds, args.warmup, args.skus)
    )
    sys.stdout.write(orjson.dumps(figures).decode() + "\n")


if __name__ == "__main__":
    main()
