"""Who am I, and the API keys (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ordermesh.entrypoints.api import problems
from ordermesh.entrypoints.api.deps import Admin, OmDep, Viewer
from ordermesh.entrypoints.api.responses import JsonResponse
from ordermesh.entrypoints.api.routes import API
from ordermesh.entrypoints.api.schemas import NewKey
from ordermesh.entrypoints.api.writes import Rendered, write

router = APIRouter(prefix=API, tags=["access"], responses=problems.RESPONSES)


@router.get("/me")
async def me(who: Viewer) -> Response:
    """The caller's key: id, name and role. Role: viewer."""
    return JsonResponse({"id": who.id, "name": who.name, "role": str(who.role)})


@router.get("/keys")
def list_keys(om: OmDep, who: Admin) -> Response:
    """Every API key (never the secret). Role: admin."""
    return JsonResponse({"items": om.api_keys.list()})


@router.post("/keys", status_code=201)
async def create_key(body: NewKey, request: Request, om: OmDep, who: Admin) -> Response:
    """Create a key; the answer holds it in plain text — the only time it is shown.
    Role: admin."""

    def render(made: Any) -> Rendered:
        principal, plain = made
        return (
            201,
            {"id": principal.id, "name": principal.name, "role": str(principal.role), "key": plain},
            {},
        )

    return await write(request, om, who, lambda: om.api_keys.create(body.name, body.role), render)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: str, request: Request, om: OmDep, who: Admin) -> Response:
    """Revoke a key at once (cached lookups are dropped). Role: admin."""

    def render(_: None) -> Rendered:
        return 200, {"id": key_id, "revoked": True}, {}

    return await write(request, om, who, lambda: om.api_keys.revoke(key_id), render)
