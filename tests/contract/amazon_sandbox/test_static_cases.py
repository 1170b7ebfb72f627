"""Amazon's own static sandbox cases (the models' `x-amzn-api-sandbox` blocks) used as
fixtures: with the models folder configured, each request gets Amazon's recorded answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from amazon_sandbox_harness import (
    SPEC_DIR,
    RunningSandbox,
    model,
    running_sandbox,
    validate_response,
)

MODELS = (
    "ordersV0.json",
    "orders_2026-01-01.json",
    "feeds_2021-06-30.json",
    "reports_2021-06-30.json",
    "listingsItems_2021-08-01.json",
    "tokens_2021-03-01.json",
    "notifications.json",
)


def _cases() -> list[Any]:
    found = []
    for name in MODELS:
        spec = model(name)
        for template, methods in spec["paths"].items():
            for method, op in methods.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                where = {p["name"]: p["in"] for p in op.get("parameters", [])}
                for status, response in op["responses"].items():
                    static = response.get("x-amzn-api-sandbox", {}).get("static", [])
                    for index, case in enumerate(static):
                        params = case["request"].get("parameters", {})
                        concrete = {
                            k: v["value"]
                            for k, v in params.items()
                            if v.get("value") not in ({}, None)
                        }
                        if not concrete:
                            continue
                        found.append(
                            pytest.param(
                                name,
                                op["operationId"],
                                method.upper(),
                                spec.get("basePath", "").rstrip("/") + template,
                                where,
                                concrete,
                                int(status),
                                case.get("response"),
                                id=f"{op['operationId']}-{status}-{index}",
                            )
                        )
    return found


@pytest.fixture(scope="module")
def static_sandbox() -> Iterator[RunningSandbox]:
    """One sandbox for all cases: static answers do not change its state."""
    with running_sandbox(static_models_dir=str(SPEC_DIR), rate_limits=False) as running:
        yield running


@pytest.mark.parametrize(
    ("model_name", "operation_id", "method", "template", "where", "params", "status", "expected"),
    _cases(),
)
def test_static_case_is_answered_with_amazons_response(
    static_sandbox: RunningSandbox,
    model_name: str,
    operation_id: str,
    method: str,
    template: str,
    where: dict[str, str],
    params: dict[str, Any],
    status: int,
    expected: Any,
) -> None:
    path = re.sub(r"\{(\w+)\}", lambda m: str(params.get(m.group(1), "PLACEHOLDER")), template)
    query = {
        k: ",".join(map(str, v))
        if isinstance(v, list)
        else str(v).lower()
        if isinstance(v, bool)
        else v
        for k, v in params.items()
        if where.get(k) == "query"
    }
    body = next((v for k, v in params.items() if k == "body" or where.get(k) == "body"), None)

    response = static_sandbox.http.request(
        method,
        path,
        params=query,
        json=body,
        headers={"x-amz-access-token": static_sandbox.static_token},
    )

    assert response.status_code == status, response.text
    if expected is None or status == 204:
        assert response.content == b""
    else:
        assert response.json() == expected
    validate_response(model_name, operation_id, response)
