"""Configuration and time source of the Shopify sandbox."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

# The one Admin API version this sandbox speaks. 2026-10 is the version shopify.dev shows as
# "latest" (stable) in the stored docs. Requests to any other well-formed version are answered
# with this one, as Shopify "falls forward" from a version it no longer serves; the
# X-Shopify-API-Version response header says which version answered.
API_VERSION = "2026-10"

# Shopify's standard plan: 100 points restored per second (shopify.dev GraphQL Admin API rate
# limits); the bucket holds 20 seconds of restore, as the live API reports for that plan.
STANDARD_BUCKET_SIZE = 2000.0
STANDARD_RESTORE_RATE = 100.0
# A single query may not request more than this, whatever the bucket holds.
SINGLE_QUERY_MAX_COST = 1000

# Shopify retries a failed webhook 8 times over about 4 hours with exponential backoff
# (shopify.dev changelog "Updates to webhook retry mechanism"); the exact schedule is not
# published, this one adds up to just under 4 hours.
SHOPIFY_RETRY_DELAYS: tuple[float, ...] = (60, 120, 300, 600, 1200, 2400, 3600, 6000)


class Clock(Protocol):
    """The sandbox's only source of time, so time-dependent behaviour is testable fast."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that only moves when told to; sleeping jumps it forward at once."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)


def _new_token() -> str:
    return "shpat_" + secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class LineCountWeights:
    """How many distinct lines an order has: weights for 1, 2, 3, … lines."""

    weights: tuple[float, ...] = (0.6, 0.25, 0.1, 0.05)


@dataclass(slots=True)
class SandboxConfig:
    shop_domain: str = "ordermesh-demo.myshopify.com"
    access_token: str = field(default_factory=_new_token)
    webhook_url: str | None = None
    webhook_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    currency: str = "USD"
    orders_per_minute: float = 0.0
    line_counts: LineCountWeights = field(default_factory=LineCountWeights)
    max_quantity_per_line: int = 3
    # Share of generated orders that are later cancelled / refunded / left unpaid.
    cancel_share: float = 0.05
    refund_share: float = 0.05
    pending_share: float = 0.1
    throttling: bool = True
    bucket_size: float = STANDARD_BUCKET_SIZE
    restore_rate: float = STANDARD_RESTORE_RATE
    seed: int = 0
    # A demo catalogue (locations, products, stock) so the shop is usable from the first call.
    demo_catalogue: bool = True
    webhook_retry_delays: tuple[float, ...] = SHOPIFY_RETRY_DELAYS
    webhook_timeout_seconds: float = 5.0
    clock: Clock = field(default_factory=SystemClock)

    def __post_init__(self) -> None:
        # Callers pass through optional CLI flags, so None means "make one up" here too.
        if not self.access_token:
            self.access_token = _new_token()
        if not self.webhook_secret:
            self.webhook_secret = secrets.token_hex(32)
