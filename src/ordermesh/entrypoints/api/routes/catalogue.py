"""Locations, products and bundles, channel listings."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ordermesh.domain import commands as c
from ordermesh.domain.errors import AlreadyExists, NotFound
from ordermesh.entrypoints.api import problems
from ordermesh.entrypoints.api.deps import Admin, OmDep, Operator, Viewer
from ordermesh.entrypoints.api.responses import JsonResponse
from ordermesh.entrypoints.api.routes import API
from ordermesh.entrypoints.api.schemas import (
    BulkProducts,
    NewListing,
    NewLocation,
    NewProduct,
    ProductFields,
)
from ordermesh.entrypoints.api.writes import Rendered, write

router = APIRouter(prefix=API, tags=["catalogue"], responses=problems.RESPONSES)

Limit = Annotated[int, Query(ge=1, le=500)]


def _page(page: Any) -> JsonResponse:
    return JsonResponse({"items": page.items, "next_cursor": page.next_cursor})


# -- locations -------------------------------------------------------------------------------
@router.post("/locations", status_code=201)
async def create_location(body: NewLocation, request: Request, om: OmDep, who: Admin) -> Response:
    """Add a warehouse, marketplace network (FBA) or 3PL. Role: admin."""
    cmd = body.to_command(actor=who.name)

    def render(code: str) -> Rendered:
        found = next(loc for loc in om.queries.locations() if loc["code"] == code)
        return 201, found, {"Location": f"{API}/locations/{code}"}

    return await write(request, om, who, cmd, render)


@router.get("/locations")
def list_locations(om: OmDep, who: Viewer) -> Response:
    """Every location, by code. Role: viewer."""
    return JsonResponse({"items": om.queries.locations()})


@router.get("/locations/{code}")
def get_location(code: str, om: OmDep, who: Viewer) -> Response:
    """One location. Role: viewer."""
    found = next((loc for loc in om.queries.locations() if loc["code"] == code), None)
    if found is None:
        raise NotFound(f"no location {code}", field="code")
    return JsonResponse(found)


# -- products --------------------------------------------------------------------------------
@router.post("/products", status_code=201)
async def create_product(body: NewProduct, request: Request, om: OmDep, who: Admin) -> Response:
    """Add a product (a bundle when `components` is given); 409 if the SKU exists (use PUT to
    change it). Role: admin."""
    product = body.to_product(body.sku)

    def create() -> str:
        # Checked on the writer, so two creations of one SKU cannot both pass on SQLite.
        if om.queries.product(product.sku) is not None:
            raise AlreadyExists(f"product {product.sku} already exists", field="sku")
        om.handle(c.UpsertProducts((product,), actor=who.name))
        return product.sku

    def render(sku: str) -> Rendered:
        return 201, om.queries.product(sku), {"Location": f"{API}/products/{quote(sku)}"}

    return await write(request, om, who, create, render)


@router.put("/products/{sku:path}")
async def put_product(
    sku: str, body: ProductFields, request: Request, om: OmDep, who: Admin
) -> Response:
    """Create or replace the product with this SKU: 201 if new, 200 if it existed. Role: admin."""
    cmd = c.UpsertProducts((body.to_product(sku),), actor=who.name)

    def render(result: Any) -> Rendered:
        return (201 if result.created else 200), om.queries.product(sku.strip()), {}

    return await write(request, om, who, cmd, render)


@router.post("/products/bulk")
async def bulk_products(body: BulkProducts, request: Request, om: OmDep, who: Admin) -> Response:
    """Create or update many products in one transaction. A bad item refuses the batch; the
    problem names every bad item by index (`items[3].title`). Role: admin."""
    cmd = body.to_command(actor=who.name)

    def render(result: Any) -> Rendered:
        return 200, {"created": result.created, "updated": result.updated}, {}

    return await write(request, om, who, cmd, render)


@router.get("/products/{sku:path}")
def get_product(sku: str, om: OmDep, who: Viewer) -> Response:
    """One product, with its bundle components. Role: viewer."""
    found = om.queries.product(sku)
    if found is None:
        raise NotFound(f"no product with SKU {sku}", field="sku")
    return JsonResponse(found)


@router.get("/products")
def list_products(
    om: OmDep,
    who: Viewer,
    q: Annotated[str | None, Query(description="SKU, title, GTIN or ASIN")] = None,
    bundles: bool = False,
    limit: Limit = 100,
    cursor: str | None = None,
) -> Response:
    """Products by SKU, `next_cursor` for the next page. Role: viewer."""
    if bundles:
        return _page(om.queries.bundles(limit=limit, cursor=cursor))
    return _page(om.queries.products(search=q, limit=limit, cursor=cursor))


@router.get("/bundles")
def list_bundles(om: OmDep, who: Viewer, limit: Limit = 100, cursor: str | None = None) -> Response:
    """Bundles (kits) with their components. Role: viewer."""
    return _page(om.queries.bundles(limit=limit, cursor=cursor))


# -- listings --------------------------------------------------------------------------------
@router.post("/listings")
async def upsert_listing(body: NewListing, request: Request, om: OmDep, who: Operator) -> Response:
    """Map a channel's SKU (and ASIN / variant) to one of our SKUs; replaces an existing
    mapping of the same channel SKU. Role: operator (resolving unknown-SKU holds is daily work)."""

    def render(_: None) -> Rendered:
        return 200, body.model_dump(), {}

    return await write(request, om, who, body.to_command(), render)


@router.get("/listings")
def list_listings(
    om: OmDep, who: Viewer, sku: str | None = None, channel_account: str | None = None
) -> Response:
    """Channel listings, optionally of one SKU or one channel account. Role: viewer."""
    return JsonResponse({"items": om.queries.listings(sku=sku, channel_account=channel_account)})
