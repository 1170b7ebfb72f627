"""The operations dashboard: server-rendered pages (Jinja2) with htmx for partial updates.

`mount_web(app, om)` adds it to the API's FastAPI app: the pages at `/`, the static files at
`/static`, signed session cookies and the login redirect."""

from __future__ import annotations

from ordermesh.entrypoints.web.app import mount_web, web_router

__all__ = ["mount_web", "web_router"]
