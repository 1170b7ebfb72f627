"""Stock levels, the movement ledger, and the movements people book by hand."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ordermesh.domain import commands as c
from ordermesh.entrypoints.api import problems
from ordermesh.entrypoints.api.deps import OmDep, Operator, Viewer
from ordermesh.entrypoints.api.responses import JsonResponse
from ordermesh.entrypoints.api.routes import API
from ordermesh.entrypoints.api.schemas import Adjustment, Count, Receipt, Transfer
from ordermesh.entrypoints.api.writes import Rendered, write

router = APIRouter(prefix=f"{API}/stock", tags=["stock"], responses=problems.RESPONSES)


def _levels(result: Any) -> Rendered:
    views = result if isinstance(result, list) else [result]
    return 200, {"levels": [dataclasses.asdict(v) for v in views]}, {}


@router.get("/levels")
def levels(
    om: OmDep,
    who: Viewer,
    sku: str | None = None,
    location: str | None = None,
    low_stock: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    cursor: str | None = None,
) -> Response:
    """On hand, reserved and available per SKU and location. Role: viewer."""
    page = om.queries.stock_levels(
        sku=sku, location=location, low_stock=low_stock, limit=limit, cursor=cursor
    )
    return JsonResponse({"items": page.items, "next_cursor": page.next_cursor})


@router.get("/movements")
def movements(
    om: OmDep,
    who: Viewer,
    sku: str | None = None,
    location: str | None = None,
    reference: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> Response:
    """The ledger, newest first. Role: viewer."""
    page = om.queries.movements(
        sku=sku, location=location, reference=reference, limit=limit, cursor=cursor
    )
    return JsonResponse({"items": page.items, "next_cursor": page.next_cursor})


@router.post("/receipts")
async def receive(body: Receipt, request: Request, om: OmDep, who: Operator) -> Response:
    """Book goods received at a location; backorders waiting for the SKU are retried.
    Role: operator."""
    cmd = c.ReceiveStock(body.sku, body.location, body.quantity, body.reference, actor=who.name)
    return await write(request, om, who, cmd, _levels)


@router.post("/adjustments")
async def adjust(body: Adjustment, request: Request, om: OmDep, who: Operator) -> Response:
    """Correct on-hand by `delta` (damage, loss, found), with a reason. Role: operator."""
    cmd = c.AdjustStock(
        body.sku, body.location, body.delta, body.reason, body.reference, actor=who.name
    )
    return await write(request, om, who, cmd, _levels)


@router.post("/transfers")
async def transfer(body: Transfer, request: Request, om: OmDep, who: Operator) -> Response:
    """Move free units `from` one location `to` another. Role: operator."""
    cmd = c.TransferStock(
        body.sku, body.source, body.destination, body.quantity, body.reference, actor=who.name
    )
    return await write(request, om, who, cmd, _levels)


@router.post("/counts")
async def count(body: Count, request: Request, om: OmDep, who: Operator) -> Response:
    """Book a cycle count; the variance becomes a movement. Role: operator."""
    cmd = c.RecordCount(body.sku, body.location, body.counted, body.reference, actor=who.name)
    return await write(request, om, who, cmd, _levels)
