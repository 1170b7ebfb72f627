"""Prometheus metrics of the API, and the last line of defence against unexpected errors.

Each app has its own registry, so several apps in one process (tests) never collide."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ordermesh.bootstrap import Ordermesh
from ordermesh.entrypoints.api.problems import internal_error

log = logging.getLogger(__name__)

GAUGE_REFRESH_SECONDS = 5.0
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class BusinessGauges(Collector):
    """Orders by status and the outbox backlog, read at most every few seconds however often
    Prometheus scrapes: two grouped counts, never a scan per request."""

    def __init__(self, om: Ordermesh) -> None:
        self.om = om
        self._lock = threading.Lock()
        self._at = 0.0
        self._cached: tuple[dict[str, int], dict[str, Any]] = ({}, {"counts": {}})

    def _figures(self) -> tuple[dict[str, int], dict[str, Any]]:
        with self._lock:
            if time.monotonic() - self._at > GAUGE_REFRESH_SECONDS:
                try:
                    self._cached = (
                        self.om.queries.count_orders_by_status(),
                        self.om.queries.outbox_status(),
                    )
                    self._at = time.monotonic()
                except Exception:
                    log.exception("could not refresh the business gauges")
            return self._cached

    def describe(self) -> list[GaugeMetricFamily]:
        # Without this the registry would collect (query the database) when it is built.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_status, outbox = self._figures()
        orders = GaugeMetricFamily("ordermesh_orders", "Orders by status", labels=["status"])
        for status, n in sorted(by_status.items()):
            orders.add_metric([status], n)
        yield orders
        yield GaugeMetricFamily(
            "ordermesh_outbox_pending",
            "Outbox messages waiting for delivery",
            value=outbox["counts"].get("pending", 0),
        )
        yield GaugeMetricFamily(
            "ordermesh_outbox_failed",
            "Outbox messages that gave up (see GET /api/v1/outbox)",
            value=outbox["counts"].get("failed", 0),
        )
        oldest = outbox.get("oldest_pending")
        age = (self.om.clock.now() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "ordermesh_outbox_oldest_pending_age_seconds",
            "Age of the oldest undelivered outbox message",
            value=max(age, 0.0),
        )


class StockSyncGauges(Collector):
    """Per channel account: the push queue, whether it is behind, the rate-limit budget and
    the drift the last reconciliation found; read at most every few seconds."""

    def __init__(self, om: Ordermesh) -> None:
        self.om = om
        self._lock = threading.Lock()
        self._at = 0.0
        self._cached: tuple[list[Any], Any] = ([], None)

    def _figures(self) -> tuple[list[Any], Any]:
        with self._lock:
            if time.monotonic() - self._at > GAUGE_REFRESH_SECONDS:
                try:
                    self._cached = (
                        self.om.stock_sync_jobs.health(),
                        self.om.stock_sync.drift_report(limit=1),
                    )
                    self._at = time.monotonic()
                except Exception:
                    log.exception("could not refresh the stock sync gauges")
            return self._cached

    def describe(self) -> list[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        health, drift = self._figures()
        labels = ["account", "channel"]
        gauges = {
            "depth": GaugeMetricFamily(
                "ordermesh_stock_push_queue_depth", "Listings with a push waiting", labels=labels
            ),
            "urgent": GaugeMetricFamily(
                "ordermesh_stock_push_urgent", "Waiting pushes that are urgent", labels=labels
            ),
            "in_flight": GaugeMetricFamily(
                "ordermesh_stock_push_in_flight", "Pushes being sent", labels=labels
            ),
            "age": GaugeMetricFamily(
                "ordermesh_stock_push_oldest_pending_age_seconds",
                "Age of the oldest waiting stock push",
                labels=labels,
            ),
            "rejected": GaugeMetricFamily(
                "ordermesh_stock_push_rejected", "Listings the channel refused", labels=labels
            ),
            "behind": GaugeMetricFamily(
                "ordermesh_stock_sync_behind", "1 when the channel is behind", labels=labels
            ),
        }
        sent = CounterMetricFamily(
            "ordermesh_stock_pushes_sent", "Pushes the channel confirmed", labels=labels
        )
        failed = CounterMetricFamily(
            "ordermesh_stock_pushes_failed", "Push attempts that failed", labels=labels
        )
        budget = GaugeMetricFamily(
            "ordermesh_channel_rate_limit_available",
            "Requests the account may still send at once, per operation",
            labels=[*labels, "operation"],
        )
        for h in health:
            key = [h.channel_account, h.channel]
            q = h.queue
            age = q.oldest_pending_age.total_seconds() if q.oldest_pending_age else 0.0
            for name, value in (
                ("depth", q.depth),
                ("urgent", q.urgent),
                ("in_flight", q.in_flight),
                ("age", age),
                ("rejected", q.rejected),
                ("behind", 1 if h.behind else 0),
            ):
                gauges[name].add_metric(key, value)
            sent.add_metric(key, q.sent)
            failed.add_metric(key, q.failed_attempts)
            for level in h.rate_limits:
                budget.add_metric([*key, str(level["operation"])], float(level["available"]))
        yield from gauges.values()
        yield sent
        yield failed
        yield budget
        drifted = GaugeMetricFamily(
            "ordermesh_stock_drift_listings",
            "Listings the last reconciliation found showing another figure than ours",
            labels=["account"],
        )
        for run in drift.runs if drift is not None else ():
            drifted.add_metric([run.channel_account], run.drifted)
        yield drifted


class Metrics:
    def __init__(self, om: Ordermesh) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "ordermesh_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ordermesh_http_request_duration_seconds",
            "HTTP request latency by route template and status",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(BusinessGauges(om))
        self.registry.register(StockSyncGauges(om))
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def of(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        """The request counter and latency histogram of one route and status, looked up once:
        `labels()` takes a lock and builds the key each time, a few µs on every request."""
        key = (method, route, status)
        found = self._children.get(key)
        if found is None:
            labels = (method, route, str(status))
            found = self._children.setdefault(
                key, (self.requests.labels(*labels), self.latency.labels(*labels))
            )
        return found


class Observe:
    """Pure ASGI (no BaseHTTPMiddleware: it would cost a task per request). Counts every
    request under its route template, and turns an unexpected exception into a 500 problem
    with the details in the log only."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        answered = False

        async def sending(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            status = 500
            if not answered:
                await internal_error()(scope, receive, send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            count, latency = self.metrics.of(scope["method"], template, status)
            count.inc()
            latency.observe(time.perf_counter() - started)
