"""The sandbox as one object, and the ASGI application that serves it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from ordermesh.sandbox.amazon import (
    admin,
    api_feeds,
    api_mcf,
    api_orders,
    api_reports,
    lwa_routes,
)
from ordermesh.sandbox.amazon.clock import Clock, SystemClock
from ordermesh.sandbox.amazon.config import SandboxConfig
from ordermesh.sandbox.amazon.documents import DocumentStore
from ordermesh.sandbox.amazon.faults import FaultPlan
from ordermesh.sandbox.amazon.feeds import FeedDesk
from ordermesh.sandbox.amazon.lwa import LwaAuthority
from ordermesh.sandbox.amazon.mcf import FulfillmentCenter
from ordermesh.sandbox.amazon.paging import PageTokens
from ordermesh.sandbox.amazon.reports import ReportDesk
from ordermesh.sandbox.amazon.state import Order, OrderRequest, SandboxState
from ordermesh.sandbox.amazon.static_cases import StaticCases
from ordermesh.sandbox.amazon.transport import error_body, json_response, static_fallback
from ordermesh.sandbox.amazon.usage_plans import RateLimiter

log = logging.getLogger(__name__)


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.statuses: dict[str, dict[str, int]] = {}

    def record(self, operation: str, status: int) -> None:
        with self._lock:
            self.requests[operation] = self.requests.get(operation, 0) + 1
            by_status = self.statuses.setdefault(operation, {})
            by_status[str(status)] = by_status.get(str(status), 0) + 1


class Sandbox:
    def __init__(self, config: SandboxConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.state = SandboxState(config, self.clock)
        self.lwa = LwaAuthority(config, self.clock)
        self.limiter = RateLimiter(self.clock, enabled=config.rate_limits)
        self.faults = FaultPlan()
        self.pages = PageTokens()
        self.documents = DocumentStore()
        self.stats = Stats()
        self.reports = ReportDesk(self)
        self.feeds = FeedDesk(self)
        self.mcf = FulfillmentCenter(self)
        self.static_cases = StaticCases.load(config.static_models_dir)
        self.idempotency_tokens: set[str] = set()
        self._pushed = 0

    def generate(self, n: int = 1, request: OrderRequest | None = None) -> list[Order]:
        """Place n orders now, deterministically for a given seed and call sequence."""
        return self.state.generate(n, request)

    def tick(self) -> None:
        self.state.advance()
        self.reports.advance()
        self.feeds.advance()
        self.mcf.advance()
        self.pages.purge(self.clock.now())

    async def push_notifications(self, client: httpx.AsyncClient) -> None:
        url = self.config.notification_url
        if not url:
            return
        with self.state.lock:
            pending = self.state.notifications[self._pushed :]
        secret = self.config.notification_secret
        headers = {"x-notification-secret": secret} if secret else {}
        for notification in pending:
            try:
                await client.post(url, json=notification.payload, headers=headers, timeout=5.0)
            except httpx.HTTPError as failure:
                # The receiver being down must not stop the sandbox; it is retried next tick.
                log.warning("notification push to %s failed: %s", url, failure)
                return
            self._pushed = notification.sequence


def create_app(config: SandboxConfig | None = None, clock: Clock | None = None) -> Starlette:
    """An ASGI app serving the SP-API operations, LWA and the /_sandbox admin paths."""
    sandbox = Sandbox(config or SandboxConfig(), clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()

        async def ticker() -> None:
            async with httpx.AsyncClient() as client:
                while not stop.is_set():
                    sandbox.tick()
                    await sandbox.push_notifications(client)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=sandbox.config.tick_seconds)

        task = asyncio.create_task(ticker())
        try:
            yield
        finally:
            stop.set()
            await task

    routes: list[BaseRoute] = [
        *lwa_routes.routes(),
        *api_orders.routes(),
        *api_reports.routes(),
        *api_feeds.routes(),
        *api_mcf.routes(),
        *admin.routes(),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        static = await static_fallback(request)
        if static is not None:
            return static
        return json_response(
            error_body("NotFound", f"Resource {request.url.path} is not found."), 404
        )

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        static = await static_fallback(request)
        if static is not None:
            return static
        return json_response(
            error_body("MethodNotAllowed", f"{request.method} is not allowed here."), 405
        )

    handlers: dict[Any, Any] = {404: not_found, 405: method_not_allowed}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    # SP-API paths never end in a slash; redirecting would send clients to a different
    # operation (searchListingsItems would land on getListingsItem with an empty SKU).
    app.router.redirect_slashes = False
    app.state.sandbox = sandbox
    return app
