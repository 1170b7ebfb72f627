"""What every dashboard route needs: the wired ordermesh, the templates, who is asking, and a
way to run a command on the writer thread."""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain.access import Principal, Role
from ordermesh.domain.commands import Command

HERE = Path(__file__).parent
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# Scripts and styles come from /static alone: no inline script, no CDN.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class LoginRequired(Exception):
    """No signed-in user: the browser is sent to the login page."""


class Forbidden(Exception):
    """Signed in, but the role does not allow this; or the form's CSRF token is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use. Every form carries it back."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing request whose token does not match the session's."""
    expected = request.session.get("csrf")
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not expected or not given or not hmac.compare_digest(str(expected), given):
        raise Forbidden("the form was stale or not sent by this dashboard: reload and try again")


def local_path(target: str | None) -> str:
    """Where to go after login: only a path on this site, never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    # Globals, not context: imported macros see these too.
    templates.env.globals.update(iso=iso, Role=Role)
    return templates


_UNKNOWN = object()
CHANNELS_SECONDS = 60.0
"""How long the list of channels for the filters is reused: listing them scans the orders."""


@dataclass
class Web:
    om: Ordermesh
    templates: Jinja2Templates
    _cache: dict[Any, tuple[float, Any]] = field(default_factory=dict, repr=False)

    def cached(self, key: Any, seconds: float, read: Callable[[], Any]) -> Any:
        """`read()`, reused for `seconds`: for aggregates that change slowly and cost a scan
        (channels for the filters, the 90-day charts). A race only reads twice."""
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is None or hit[0] < now:
            if len(self._cache) > 1000:
                self._cache.clear()
            hit = (now + seconds, read())
            self._cache[key] = hit
        return hit[1]

    def channels(self) -> list[str]:
        """Every channel an order came from or that is connected, for the filter menus."""
        return list(self.cached("channels", CHANNELS_SECONDS, self.om.queries.order_channels))

    def user(self, request: Request) -> Principal:
        """The signed-in user; a disabled or deleted user's session no longer counts."""
        # Looked up once per request: the route and the page layout both ask.
        principal = getattr(request.state, "principal", _UNKNOWN)
        if principal is _UNKNOWN:
            user_id = request.session.get("user_id")
            principal = self.om.users.get(user_id) if user_id else None
            request.state.principal = principal
        if principal is None:
            request.session.pop("user_id", None)
            raise LoginRequired
        return principal

    def require(self, request: Request, role: Role) -> Principal:
        principal = self.user(request)
        if not principal.role.allows(role):
            if principal.role == Role.VIEWER:
                raise Forbidden("your role (viewer) may look but not change anything")
            raise Forbidden(f"this needs the {role} role; yours is {principal.role}")
        return principal

    def run(self, command: Command) -> Any:
        """Run a command on the writer pool: one thread on SQLite, so dashboard writes queue
        behind the API's in arrival order instead of racing for SQLite's lock."""
        return self.om.writes.submit(self.om.handle, command).result()

    async def run_async(self, command: Command) -> Any:
        """`run` for async routes: the event loop waits without blocking."""
        return await asyncio.wrap_future(self.om.writes.submit(self.om.handle, command))

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any] | None = None,
        *,
        status_code: int = 200,
    ) -> HTMLResponse:
        values = {
            "user": _optional_user(self, request),
            "csrf": csrf_token(request),
            "path": request.url.path,
            "flash": request.session.pop("flash", None),
        }
        values.update(context or {})
        response = self.templates.TemplateResponse(
            request, template, values, status_code=status_code
        )
        response.headers.update(SECURITY_HEADERS)
        return response


def _optional_user(web: Web, request: Request) -> Principal | None:
    try:
        return web.user(request)
    except LoginRequired:
        return None


def redirect(url: str, request: Request | None = None, flash: str | None = None) -> Response:
    """After a successful POST: see-other, so a reload does not post again."""
    if request is not None and flash:
        request.session["flash"] = flash
    return RedirectResponse(url, status_code=303)


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"
