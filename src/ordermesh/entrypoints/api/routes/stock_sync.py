"""Stock sync: how far each channel's pushes are behind, what reconciliation found, and how a
listing's available-to-sell figure was computed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from ordermesh.entrypoints.api import problems
from ordermesh.entrypoints.api.deps import OmDep, Viewer
from ordermesh.entrypoints.api.responses import JsonResponse
from ordermesh.entrypoints.api.routes import API
from ordermesh.services.stock_sync_views import drift_view, figure_view, health_view

router = APIRouter(prefix=API, tags=["stock sync"], responses=problems.RESPONSES)


@router.get("/stock-sync/status")
def status(om: OmDep, who: Viewer) -> Response:
    """Per channel account: queue depth, age of the oldest waiting push, urgent, in flight,
    sent, failed, rejected, last error, rate-limit budget, and `behind` with the reason.
    Role: viewer."""
    return JsonResponse({"accounts": [health_view(h) for h in om.stock_sync_jobs.health()]})


@router.get("/stock-sync/drift")
def drift(
    om: OmDep,
    who: Viewer,
    account: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """The last reconciliation of each account and the latest listings found showing another
    figure than ordermesh's (`ours`) on their channel (`theirs`). Role: viewer."""
    account_id = om.stock_sync_jobs.resolve(account) if account else None
    return JsonResponse(drift_view(om.stock_sync.drift_report(account_id, limit)))


@router.get("/listings/{account}/{channel_sku:path}/availability")
def availability(account: str, channel_sku: str, om: OmDep, who: Viewer) -> Response:
    """A listing's available-to-sell figure, how it was computed (locations, reserved, buffer,
    cap, rules, in-flight margin) and where its push stands. `account` is the channel
    account's id or name. Role: viewer."""
    figure = om.stock_sync.explain(om.stock_sync_jobs.resolve(account), channel_sku)
    return JsonResponse(figure_view(figure))
