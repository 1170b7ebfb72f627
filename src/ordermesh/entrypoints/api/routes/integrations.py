"""Webhook subscriptions and the outbox that delivers to them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ordermesh.entrypoints.api import problems
from ordermesh.entrypoints.api.deps import Admin, OmDep, Viewer
from ordermesh.entrypoints.api.responses import JsonResponse
from ordermesh.entrypoints.api.routes import API
from ordermesh.entrypoints.api.schemas import NewWebhook
from ordermesh.entrypoints.api.writes import Rendered, write

router = APIRouter(prefix=API, tags=["integrations"], responses=problems.RESPONSES)


@router.post("/webhooks", status_code=201)
async def create_webhook(body: NewWebhook, request: Request, om: OmDep, who: Admin) -> Response:
    """Subscribe a URL to events. The answer holds the signing `secret` — shown this once;
    each delivery carries `X-Ordermesh-Signature: sha256=<HMAC of the body>`. Role: admin."""
    url, types = str(body.url), list(body.event_types)

    def render(row: dict[str, Any]) -> Rendered:
        return 201, row, {}

    return await write(request, om, who, lambda: om.queries.add_webhook(url, types), render)


@router.get("/webhooks")
def list_webhooks(om: OmDep, who: Viewer) -> Response:
    """Subscribed endpoints (without their secrets). Role: viewer."""
    return JsonResponse({"items": om.queries.webhooks()})


@router.get("/outbox")
def outbox(om: OmDep, who: Viewer) -> Response:
    """Messages per status and the oldest still pending: is delivery keeping up? Role: viewer."""
    status = om.queries.outbox_status()
    oldest = status["oldest_pending"]
    age = (om.clock.now() - oldest).total_seconds() if oldest else None
    return JsonResponse(
        {"counts": status["counts"], "oldest_pending": oldest, "oldest_pending_age_seconds": age}
    )
