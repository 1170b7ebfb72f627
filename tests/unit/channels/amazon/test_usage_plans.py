"""The rate-limit table is the models' own "Usage Plan" tables."""

from __future__ import annotations

import re

from ordermesh.adapters.channels.amazon.client import USAGE_PLANS
from tests.unit.channels.amazon.models import operations

MODELS = (
    "orders_2026-01-01.json",
    "ordersV0.json",
    "listingsItems_2021-08-01.json",
    "feeds_2021-06-30.json",
    "fbaInventory.json",
    "reports_2021-06-30.json",
    "fulfillmentOutbound_2020-07-01.json",
)
_ROW = re.compile(r"\|\s*([0-9.]+)\s*\|\s*([0-9]+)\s*\|")


def _published() -> dict[str, tuple[float, float]]:
    plans = {}
    for name in MODELS:
        for op_id, op in operations(name).items():
            found = _ROW.search(op.get("description", ""))
            if found:
                plans[op_id] = (float(found[1]), float(found[2]))
    return plans


def test_every_operation_we_pace_uses_amazons_published_rate_and_burst() -> None:
    published = _published()
    for operation, plan in USAGE_PLANS.items():
        assert operation in published, f"{operation} is in no model"
        assert (plan.rate, plan.burst) == published[operation], operation
