"""Per-(seller, operation) token buckets with the default usage plans of Amazon's models.

Rates are requests per second and bursts are bucket sizes, copied from the "Usage Plan" table
in each operation's description in the SP-API models.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from ordermesh.sandbox.amazon.clock import Clock


@dataclass(frozen=True, slots=True)
class UsagePlan:
    rate: float
    burst: int

    @property
    def header(self) -> str:
        return f"{self.rate:g}"


# Sandbox-only operations carry no usage plan in the models; Amazon's sandbox page gives 5 / 15
# for the sandbox as a whole.
SANDBOX_DEFAULT = UsagePlan(5.0, 15)

USAGE_PLANS: dict[str, UsagePlan] = {
    # ordersV0.json
    "getOrders": UsagePlan(0.0167, 20),
    "getOrderV0": UsagePlan(0.5, 30),
    "getOrderBuyerInfo": UsagePlan(0.5, 30),
    "getOrderAddress": UsagePlan(0.5, 30),
    "getOrderItems": UsagePlan(0.5, 30),
    "getOrderItemsBuyerInfo": UsagePlan(0.5, 30),
    "updateShipmentStatus": UsagePlan(5.0, 15),
    "confirmShipment": UsagePlan(2.0, 10),
    # orders_2026-01-01.json
    "searchOrders": UsagePlan(0.0056, 20),
    "getOrder": UsagePlan(0.5, 30),
    # reports_2021-06-30.json
    "getReports": UsagePlan(0.0222, 10),
    "createReport": UsagePlan(0.0167, 15),
    "cancelReport": UsagePlan(0.0222, 10),
    "getReport": UsagePlan(2.0, 15),
    "getReportDocument": UsagePlan(0.0167, 15),
    # feeds_2021-06-30.json
    "getFeeds": UsagePlan(0.0222, 10),
    "createFeed": UsagePlan(0.0083, 15),
    "cancelFeed": UsagePlan(2.0, 15),
    "getFeed": UsagePlan(2.0, 15),
    "createFeedDocument": UsagePlan(0.5, 15),
    "getFeedDocument": UsagePlan(0.0222, 10),
    # listingsItems_2021-08-01.json
    "getListingsItem": UsagePlan(5.0, 10),
    "patchListingsItem": UsagePlan(5.0, 5),
    "searchListingsItems": UsagePlan(5.0, 5),
    # fbaInventory.json
    "getInventorySummaries": UsagePlan(2.0, 2),
    # fulfillmentOutbound_2020-07-01.json
    "getFulfillmentPreview": UsagePlan(2.0, 30),
    "createFulfillmentOrder": UsagePlan(2.0, 30),
    "getFulfillmentOrder": UsagePlan(2.0, 30),
    "listAllFulfillmentOrders": UsagePlan(2.0, 30),
    "getPackageTrackingDetails": UsagePlan(2.0, 30),
    "cancelFulfillmentOrder": UsagePlan(2.0, 30),
    "updateFulfillmentOrder": UsagePlan(2.0, 30),
}


def plan_for(operation: str) -> UsagePlan:
    return USAGE_PLANS.get(operation, SANDBOX_DEFAULT)


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: datetime) -> None:
        self.tokens = tokens
        self.stamp = stamp


class RateLimiter:
    """Token buckets that start full and refill continuously on the sandbox clock."""

    def __init__(self, clock: Clock, *, enabled: bool = True) -> None:
        self._clock = clock
        self.enabled = enabled
        self.throttled = 0
        self.throttled_by_operation: dict[str, int] = {}
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def try_acquire(self, seller_id: str, operation: str) -> bool:
        if not self.enabled:
            return True
        plan = plan_for(operation)
        now = self._clock.now()
        with self._lock:
            bucket = self._buckets.get((seller_id, operation))
            if bucket is None:
                bucket = self._buckets[(seller_id, operation)] = _Bucket(plan.burst, now)
            elapsed = max(0.0, (now - bucket.stamp).total_seconds())
            bucket.tokens = min(float(plan.burst), bucket.tokens + elapsed * plan.rate)
            bucket.stamp = now
            # A hair of slack so a client pacing itself at exactly 1/rate is never refused
            # because of float rounding.
            if bucket.tokens >= 1.0 - 1e-6:
                bucket.tokens -= 1.0
                return True
            self.throttled += 1
            self.throttled_by_operation[operation] = (
                self.throttled_by_operation.get(operation, 0) + 1
            )
            return False

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
