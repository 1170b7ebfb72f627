"""Dependencies of the routes: the wired ordermesh and the authenticated caller.

Roles, as every route declares them:
- viewer: every GET;
- operator: also order and stock writes (create, cancel, hold, release, allocate; receipts,
  adjustments, transfers, counts) and channel listings;
- admin: also locations, products, webhooks and API keys.

The dependencies are `async def` on purpose: FastAPI runs plain `def` dependencies in the
threadpool, a hop per request that the cached key lookup does not need."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain.access import Principal, Role


async def get_om(request: Request) -> Ordermesh:
    return request.app.state.om  # type: ignore[no-any-return]


OmDep = Annotated[Ordermesh, Depends(get_om)]


def authenticate(request: Request) -> Principal:
    """The principal behind `Authorization: Bearer <key>` (or `X-API-Key: <key>`, for tools
    that cannot set Authorization), or 401.

    The key store caches answers, so this is no database query on the hot path."""
    header = request.headers.get("authorization")
    if not header:
        plain = request.headers.get("x-api-key")
        if not plain:
            raise HTTPException(
                401,
                "an API key is required: Authorization: Bearer <key>",
                {"WWW-Authenticate": "Bearer"},
            )
        header = f"Bearer {plain}"
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise HTTPException(401, "use Authorization: Bearer <key>", {"WWW-Authenticate": "Bearer"})
    principal: Principal | None = request.app.state.om.api_keys.authenticate(key)
    if principal is None:
        raise HTTPException(
            401,
            "the API key is unknown or revoked",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return principal


def _authorise(request: Request, role: Role) -> Principal:
    principal = authenticate(request)
    if not principal.role.allows(role):
        raise HTTPException(
            403, f"this needs the {role} role; the key {principal.name!r} is {principal.role}"
        )
    return principal


async def _viewer(request: Request) -> Principal:
    return _authorise(request, Role.VIEWER)


async def _operator(request: Request) -> Principal:
    return _authorise(request, Role.OPERATOR)


async def _admin(request: Request) -> Principal:
    return _authorise(request, Role.ADMIN)


Viewer = Annotated[Principal, Depends(_viewer)]
"""Any valid key: reads."""
Operator = Annotated[Principal, Depends(_operator)]
"""Operator or admin: order and stock writes."""
Admin = Annotated[Principal, Depends(_admin)]
"""Admin only: locations, products, webhooks, keys."""
