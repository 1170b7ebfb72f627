"""Users: admins add staff logins with a role, and switch off the ones that left."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from ordermesh.domain.access import Role
from ordermesh.domain.errors import DomainError
from ordermesh.entrypoints.web.context import Web, check_csrf, redirect

ROLES = {
    Role.VIEWER.value: "viewer: reads everything, changes nothing",
    Role.OPERATOR.value: "operator: works orders and stock",
    Role.ADMIN.value: "admin: also manages users and channels",
}


def routes(web: Web) -> APIRouter:
    router = APIRouter()

    def page(
        request: Request,
        values: dict[str, str] | None = None,
        errors: dict[str | None, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        context: dict[str, Any] = {
            "users": web.om.users.list(),
            "roles": ROLES,
            "values": values or {"role": Role.OPERATOR.value},
            "errors": errors or {},
        }
        return web.render(request, "users.html", context, status_code=status_code)

    @router.get("/users")
    def users(request: Request) -> Response:
        web.require(request, Role.ADMIN)
        return page(request)

    @router.post("/users", dependencies=[Depends(check_csrf)])
    def add_user(
        request: Request,
        username: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        role: Annotated[str, Form()] = "",
    ) -> Response:
        web.require(request, Role.ADMIN)
        try:
            added = web.om.users.create(username, password, role)
        except DomainError as exc:
            values = {"username": username, "role": role}
            return page(request, values, {exc.field: exc.message}, status_code=422)
        return redirect("/users", request, f"{added.name} can now sign in as {added.role}.")

    @router.post("/users/{user_id}/disable", dependencies=[Depends(check_csrf)])
    def disable_user(request: Request, user_id: str) -> Response:
        admin = web.require(request, Role.ADMIN)
        if user_id == admin.id:
            return page(
                request, errors={None: "You cannot switch off your own login."}, status_code=409
            )
        try:
            web.om.users.disable(user_id)
        except DomainError as exc:
            return page(request, errors={None: exc.message}, status_code=404)
        return redirect("/users", request, "The login is switched off; its sessions end now.")

    return router
