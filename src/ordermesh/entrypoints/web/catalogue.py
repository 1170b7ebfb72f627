"""Products and listings: what exists, and what still needs a mapping."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ordermesh.entrypoints.web.context import Web

PRODUCTS_PER_PAGE = 100


def routes(web: Web) -> APIRouter:
    router = APIRouter()

    @router.get("/products")
    def products(request: Request, q: str = "", cursor: str | None = None) -> Response:
        web.user(request)
        found = web.om.queries.products(
            search=q.strip() or None, limit=PRODUCTS_PER_PAGE, cursor=cursor
        )
        # Per SKU on this page: a catalogue of 100,000 SKUs is never read whole.
        listings = {p["sku"]: web.om.queries.listings(sku=p["sku"]) for p in found.items}
        context = {
            "products": found.items,
            "next_cursor": found.next_cursor,
            "q": q.strip(),
            "listings": listings,
            "unmapped": web.om.queries.unmapped_channel_skus(),
        }
        return web.render(request, "products.html", context)

    return router
