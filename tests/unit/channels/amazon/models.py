"""Amazon's own examples, read from the SP-API models in the shared reference folder."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import orjson

SPEC_DIR = Path(__file__).resolve().parents[5] / "shared" / "reference" / "sp-api"
ORDERS = "orders_2026-01-01.json"


@cache
def model(name: str) -> dict[str, Any]:
    return orjson.loads((SPEC_DIR / name).read_bytes())


def operations(name: str) -> dict[str, dict[str, Any]]:
    found = {}
    for methods in model(name)["paths"].values():
        for op in methods.values():
            if isinstance(op, dict) and "operationId" in op:
                found[op["operationId"]] = op
    return found


def example_orders() -> dict[str, dict[str, Any]]:
    """Every order in the Orders v2026 model: the documented examples and the static sandbox
    responses of searchOrders and getOrder, by order id."""
    orders: dict[str, dict[str, Any]] = {}
    for op_id in ("searchOrders", "getOrder"):
        response = operations(ORDERS)[op_id]["responses"]["200"]
        bodies = [response.get("examples", {}).get("application/json", {})]
        bodies += [case["response"] for case in response["x-amzn-api-sandbox"]["static"]]
        for body in bodies:
            for order in body.get("orders", []) + ([body["order"]] if "order" in body else []):
                orders[order["orderId"]] = order
    return copy.deepcopy(orders)
