"""Assembling the dashboard: its routes, static files, sessions and error pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response

from ordermesh.bootstrap import Ordermesh
from ordermesh.entrypoints.web import (
    catalogue,
    channels,
    inventory,
    orders,
    overview,
    shipping,
    users,
)
from ordermesh.entrypoints.web.context import (
    HERE,
    SECURITY_HEADERS,
    Forbidden,
    LoginRequired,
    Web,
    check_csrf,
    local_path,
    login_url,
    make_templates,
    redirect,
)

SESSION_COOKIE = "om_session"
SESSION_SECONDS = 12 * 3600
"""A working day and then some: staff log in once in the morning."""


def web_router(om: Ordermesh) -> APIRouter:
    """Every dashboard page. Needs the session middleware and error handlers that `mount_web`
    adds; use that unless you assemble an app by hand."""
    return _router(Web(om, make_templates()))


def _router(web: Web) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    router.include_router(_login_routes(web))
    # shipping before orders: its /orders/{id}/shipments is not one of the order actions.
    for module in (overview, shipping, orders, inventory, catalogue, channels, users):
        router.include_router(module.routes(web))
    return router


def mount_web(app: FastAPI, om: Ordermesh) -> None:
    """Serve the dashboard from `app`: pages at `/`, assets at `/static`."""
    web = Web(om, make_templates())
    app.include_router(_router(web))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(
        SessionMiddleware,
        secret_key=om.settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_SECONDS,
        same_site="lax",
        # Secure cookies in production, where the dashboard sits behind HTTPS.
        https_only=om.settings.env == "production",
    )

    async def to_login(request: Request, exc: Exception) -> Response:
        if request.headers.get("hx-request"):
            # htmx swaps responses in place; a header tells it to go to the login page instead.
            return Response(status_code=204, headers={"HX-Redirect": login_url(request)})
        return redirect(login_url(request))

    async def forbidden(request: Request, exc: Exception) -> Response:
        message = exc.message if isinstance(exc, Forbidden) else "forbidden"
        return web.render(request, "forbidden.html", {"message": message}, status_code=403)

    app.add_exception_handler(LoginRequired, to_login)
    app.add_exception_handler(Forbidden, forbidden)


def _login_routes(web: Web) -> APIRouter:
    router = APIRouter()

    @router.get("/login")
    def login_page(request: Request, next: str = "/") -> Response:
        return web.render(request, "login.html", {"next": local_path(next), "error": None})

    @router.post("/login", dependencies=[Depends(check_csrf)])
    def login(
        request: Request,
        username: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        principal = web.om.users.authenticate(username, password)
        if principal is None:
            context = {
                "next": local_path(next),
                "username": username,
                "error": "That username and password do not match an active account.",
            }
            return web.render(request, "login.html", context, status_code=401)
        # A new session at login: a token planted before it (session fixation) is worthless.
        request.session.clear()
        request.session["user_id"] = principal.id
        return redirect(local_path(next))

    @router.post("/logout", dependencies=[Depends(check_csrf)])
    def logout(request: Request) -> Response:
        request.session.clear()
        response = redirect("/login", request, "You are signed out.")
        response.headers.update(SECURITY_HEADERS)
        return response

    return router
