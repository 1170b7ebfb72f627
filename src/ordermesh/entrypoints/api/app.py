"""The REST API: `create_app(om)` builds it around a wired ordermesh.

Everything lives under /api/v1; /health, /ready and /metrics sit at the root for probes and
Prometheus (no key needed). OpenAPI is at /docs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ordermesh.bootstrap import Ordermesh
from ordermesh.entrypoints.api import problems
from ordermesh.entrypoints.api.observe import Metrics, Observe
from ordermesh.entrypoints.api.responses import JsonResponse
from ordermesh.entrypoints.api.routes import (
    access,
    amazon_notifications,
    catalogue,
    channels,
    integrations,
    orders,
    shopify_webhooks,
    stock,
    stock_sync,
)
from ordermesh.entrypoints.api.writes import InFlight
from ordermesh.entrypoints.web import mount_web
from ordermesh.entrypoints.worker import start_worker

log = logging.getLogger(__name__)


def create_app(om: Ordermesh) -> FastAPI:
    metrics = Metrics(om)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The in-process worker delivers the outbox when this process is the whole runtime.
        stop = start_worker(om) if om.settings.worker else None
        try:
            yield
        finally:
            if stop is not None:
                stop()

    app = FastAPI(
        title="ordermesh",
        summary="Orders from every channel, one true stock figure, never an oversell.",
        version="1",
        docs_url="/docs",
        default_response_class=JsonResponse,
        lifespan=lifespan,
        # Our metrics are Prometheus at /metrics. FastAPI's own OpenTelemetry hooks, with no
        # provider configured, would still look for one on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.om = om
    app.state.in_flight = InFlight()
    problems.install(app)
    app.add_middleware(Observe, metrics=metrics)

    # The busiest routes first: FastAPI tries the routers in this order, every route of each
    # (no two routers share a path, so the order changes nothing else).
    for module in (
        shopify_webhooks,
        orders,
        amazon_notifications,
        catalogue,
        stock,
        stock_sync,
        integrations,
        access,
        channels,
    ):
        app.include_router(module.router)

    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate_openapi()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = problems.PROBLEM_SCHEMA
        return document

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/health", tags=["operations"])
    async def health() -> Response:
        """Liveness: the process answers. No key needed."""
        return JsonResponse({"status": "ok"})

    @app.get("/ready", tags=["operations"])
    async def ready() -> Response:
        """Readiness: the database answers and carries the schema this code expects."""
        try:
            revision, heads = await run_in_threadpool(om.queries.schema_state)
        except Exception as exc:
            log.warning("not ready: database unreachable: %s", exc)
            return problems.problem(503, "the database cannot be reached", code="not-ready")
        if revision not in heads:
            return problems.problem(
                503,
                f"the database is at migration {revision}, this code needs "
                f"{', '.join(sorted(heads))}: run `ordermesh db upgrade`",
                code="not-migrated",
            )
        return JsonResponse({"status": "ready", "revision": revision})

    @app.get("/metrics", tags=["operations"])
    async def prometheus() -> Response:
        """Prometheus metrics: requests by route and status, orders by status, outbox backlog."""
        body = await run_in_threadpool(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    mount_web(app, om)
    return app
