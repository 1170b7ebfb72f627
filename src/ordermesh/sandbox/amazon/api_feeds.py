"""Feeds API 2021-06-30, Listings Items API 2021-08-01 (get, patch) and FBA Inventory v1
(getInventorySummaries and the sandbox-only seeding operations)."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import timedelta
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from ordermesh.sandbox.amazon.api_reports import document_url
from ordermesh.sandbox.amazon.clock import iso
from ordermesh.sandbox.amazon.feeds import default_quantity
from ordermesh.sandbox.amazon.marketplaces import MARKETPLACES
from ordermesh.sandbox.amazon.paging import TOKEN_LIFETIME, Cursor
from ordermesh.sandbox.amazon.state import Listing, SandboxError
from ordermesh.sandbox.amazon.transport import Call, invalid, json_response, operation

# -- feeds --------------------------------------------------------------------------------


async def create_feed_document(call: Call) -> Response:
    body = await call.json_body()
    content_type = body.get("contentType")
    if not isinstance(content_type, str) or not content_type:
        raise invalid("contentType is required.")
    document = call.sandbox.documents.create("feed", content_type)
    return json_response(
        {"feedDocumentId": document.document_id, "url": document_url(call, document.document_id)},
        201,
    )


async def create_feed(call: Call) -> Response:
    body = await call.json_body()
    feed_type = body.get("feedType")
    document_id = body.get("inputFeedDocumentId")
    marketplaces = body.get("marketplaceIds")
    if not isinstance(feed_type, str) or not feed_type:
        raise invalid("feedType is required.")
    if not isinstance(document_id, str) or call.sandbox.documents.get(document_id) is None:
        raise invalid("inputFeedDocumentId is missing or unknown.")
    if (
        not isinstance(marketplaces, list)
        or not marketplaces
        or not all(isinstance(m, str) for m in marketplaces)
    ):
        raise invalid("marketplaceIds is required and must be a non-empty array of strings.")
    feed = call.sandbox.feeds.create(feed_type, marketplaces, document_id)
    return json_response({"feedId": feed.feed_id}, 202)


def _feed(call: Call) -> Any:
    feed = call.sandbox.feeds.feeds.get(call.request.path_params["feedId"])
    if feed is None:
        raise SandboxError(404, "NotFound", "The feed was not found.")
    return feed


async def get_feed(call: Call) -> Response:
    return json_response(_feed(call).as_json())


async def cancel_feed(call: Call) -> Response:
    feed = _feed(call)
    if feed.status != "IN_QUEUE":
        raise invalid(f"Only IN_QUEUE feeds can be cancelled; this one is {feed.status}.")
    feed.status = "CANCELLED"
    return Response(status_code=200)


async def get_feeds(call: Call) -> Response:
    q = call.params
    types = set(q.array("feedTypes"))
    if not types and not q.has("nextToken"):
        raise invalid("feedTypes is required when nextToken is not provided.")
    size = q.integer("pageSize", default=10, low=1, high=100)
    feeds = [
        feed.as_json()
        for feed in sorted(call.sandbox.feeds.feeds.values(), key=lambda f: f.created, reverse=True)
        if not types or feed.feed_type in types
    ]
    return json_response({"feeds": feeds[:size]})


async def get_feed_document(call: Call) -> Response:
    document_id = call.request.path_params["feedDocumentId"]
    if call.sandbox.documents.get(document_id) is None:
        raise SandboxError(404, "NotFound", "The feed document was not found.")
    return json_response({"feedDocumentId": document_id, "url": document_url(call, document_id)})


# -- listings items -----------------------------------------------------------------------

_LISTING_DATA = frozenset(
    {
        "summaries",
        "attributes",
        "issues",
        "offers",
        "fulfillmentAvailability",
        "procurement",
        "relationships",
        "productTypes",
    }
)


def _own_listings(call: Call) -> None:
    if call.request.path_params["sellerId"] != call.seller_id:
        raise SandboxError(
            403, "Unauthorized", "Access to requested resource is denied.", "sellerId mismatch."
        )


def _listing(call: Call) -> tuple[str, list[str], Listing | None]:
    _own_listings(call)
    marketplaces = call.params.array("marketplaceIds", required=True, max_items=1)
    for marketplace_id in marketplaces:
        if marketplace_id not in MARKETPLACES:
            raise invalid(f"Invalid marketplaceId {marketplace_id}.")
    sku = call.request.path_params["sku"]
    return sku, marketplaces, call.sandbox.state.listings.get(sku)


def _item(listing: Listing, included: set[str], marketplace_id: str) -> dict[str, Any]:
    """A listing as getListingsItem and searchListingsItems render it (the model's `Item`)."""
    body: dict[str, Any] = {"sku": listing.sku}
    if "summaries" in included:
        body["summaries"] = [
            {
                "marketplaceId": marketplace_id,
                "asin": listing.asin,
                "productType": listing.product_type,
                "conditionType": listing.condition,
                "status": ["BUYABLE", "DISCOVERABLE"] if listing.mfn_quantity else ["DISCOVERABLE"],
                "fnSku": listing.fnsku,
                "itemName": listing.title,
                "createdDate": iso(listing.created),
                "lastUpdatedDate": iso(listing.last_updated),
            }
        ]
    if "attributes" in included:
        body["attributes"] = {
            "item_name": [{"value": listing.title, "marketplace_id": marketplace_id}],
            "fulfillment_availability": [
                {"fulfillment_channel_code": "DEFAULT", "quantity": listing.mfn_quantity}
            ],
        }
    if "issues" in included:
        body["issues"] = []
    if "fulfillmentAvailability" in included:
        body["fulfillmentAvailability"] = [
            {"fulfillmentChannelCode": "DEFAULT", "quantity": listing.mfn_quantity}
        ]
    return body


async def get_listings_item(call: Call) -> Response:
    included = set(call.params.array("includedData", allowed=_LISTING_DATA)) or {"summaries"}
    sku, marketplaces, listing = _listing(call)
    if listing is None:
        raise SandboxError(
            404, "NotFound", f"SKU '{sku}' not found in marketplace {marketplaces[0]}."
        )
    return json_response(_item(listing, included, marketplaces[0]))


SEARCH_MAX_RESULTS = 1000
"""The model: "The maximum number of items (SKUs) that can be returned and paged through is
1000"."""
_IDENTIFIER_TYPES = frozenset(
    {"ASIN", "EAN", "FNSKU", "GTIN", "ISBN", "JAN", "MINSAN", "SKU", "UPC"}
)
_SORTS = {
    "sku": lambda item: item.sku,
    "createdDate": lambda item: item.created,
    "lastUpdatedDate": lambda item: item.last_updated,
}


async def search_listings_items(call: Call) -> Response:
    """searchListingsItems: by identifiers (up to 20; SKU, ASIN or FNSKU, the ones a sandbox
    listing carries) or by creation and update time, sorted and paged."""
    _own_listings(call)
    q = call.params
    marketplaces = q.array("marketplaceIds", required=True, max_items=1)
    if marketplaces[0] not in MARKETPLACES:
        raise invalid(f"Invalid marketplaceId {marketplaces[0]}.")
    included = set(q.array("includedData", allowed=_LISTING_DATA)) or {"summaries"}
    identifiers = q.array("identifiers", max_items=20)
    kind = q.text("identifiersType")
    if kind is not None and kind not in _IDENTIFIER_TYPES:
        raise invalid(f"identifiersType must be one of {', '.join(sorted(_IDENTIFIER_TYPES))}.")
    if bool(identifiers) != (kind is not None):
        raise invalid("identifiers and identifiersType must be given together.")
    sort_by = q.text("sortBy") or "lastUpdatedDate"
    if sort_by not in _SORTS:
        raise invalid(f"sortBy must be one of {', '.join(_SORTS)}.")
    order = q.text("sortOrder") or "DESC"
    if order not in ("ASC", "DESC"):
        raise invalid("sortOrder must be ASC or DESC.")
    size = q.integer("pageSize", default=10, low=1, high=20)
    window = [
        (q.date(name), name)
        for name in ("createdAfter", "createdBefore", "lastUpdatedAfter", "lastUpdatedBefore")
    ]
    fingerprint = "|".join(
        [marketplaces[0], ",".join(sorted(included)), ",".join(identifiers), str(kind)]
        + [sort_by, order, str(size)]
        + [str(when) for when, _ in window]
    )
    state = call.sandbox.state
    token = q.text("pageToken")
    with state.lock:
        if token:
            cursor = _resumed(call, token, fingerprint, "pageToken")
        else:
            wanted = set(identifiers)
            matching = [
                item
                for item in state.listings.values()
                if (not wanted or _identifier(item, kind) in wanted) and _within(item, window)
            ]
            matching.sort(key=_SORTS[sort_by], reverse=order == "DESC")
            ids = [item.sku for item in matching[:SEARCH_MAX_RESULTS]]
            cursor = Cursor(ids, 0, fingerprint, call.now, call.now + TOKEN_LIFETIME)
        page = cursor.ids[cursor.offset : cursor.offset + size]
        items = [
            _item(state.listings[sku], included, marketplaces[0])
            for sku in page
            if sku in state.listings
        ]
    pagination: dict[str, str] = {}
    following = cursor.offset + size
    if following < len(cursor.ids):
        pagination["nextToken"] = call.sandbox.pages.issue(
            dataclasses.replace(cursor, offset=following)
        )
    if cursor.offset > 0:
        pagination["previousToken"] = call.sandbox.pages.issue(
            dataclasses.replace(cursor, offset=max(cursor.offset - size, 0))
        )
    body: dict[str, Any] = {"numberOfResults": len(cursor.ids), "items": items}
    if pagination:
        body["pagination"] = pagination
    return json_response(body)


def _resumed(call: Call, token: str, fingerprint: str, name: str) -> Cursor:
    """The search a page token continues, which must be asked with the same parameters."""
    cursor = call.sandbox.pages.get(token, call.now)
    if cursor is None:
        raise invalid(f"Invalid or expired {name}.")
    if cursor.fingerprint != fingerprint:
        raise invalid(
            f"The request parameters must be the same as in the request that returned the {name}."
        )
    return cursor


def _identifier(listing: Listing, kind: str | None) -> str | None:
    # The sandbox's listings carry no EAN, GTIN, ISBN, JAN, MINSAN or UPC: none match those.
    return {"SKU": listing.sku, "ASIN": listing.asin, "FNSKU": listing.fnsku}.get(kind or "")


def _within(listing: Listing, window: list[tuple[Any, str]]) -> bool:
    for when, name in window:
        if when is None:
            continue
        at = listing.created if name.startswith("created") else listing.last_updated
        if (name.endswith("After") and at < when) or (name.endswith("Before") and at > when):
            return False
    return True


async def patch_listings_item(call: Call) -> Response:
    sku, _, listing = _listing(call)
    mode = call.params.text("mode")
    if mode not in (None, "VALIDATION_PREVIEW"):
        raise invalid("mode must be VALIDATION_PREVIEW.")
    body = await call.json_body()
    patches = body.get("patches")
    if not isinstance(body.get("productType"), str) or not body["productType"]:
        raise invalid("productType is required.")
    if not isinstance(patches, list) or not patches:
        raise invalid("patches is required and must be a non-empty array.")
    issues: list[dict[str, Any]] = []
    quantity: int | None = None
    for index, patch in enumerate(patches):
        if not isinstance(patch, dict) or patch.get("op") not in (
            "add",
            "replace",
            "merge",
            "delete",
        ):
            raise invalid(f"patches[{index}].op must be add, replace, merge or delete.")
        if not isinstance(patch.get("path"), str) or not patch["path"].startswith("/attributes/"):
            raise invalid(f"patches[{index}].path must point at a top-level attribute.")
        if patch["path"] == "/attributes/fulfillment_availability":
            quantity = 0 if patch["op"] == "delete" else default_quantity(patch.get("value"))
    if listing is None:
        issues.append(
            {
                "code": "100",
                "message": f"SKU {sku} does not exist for this selling partner.",
                "severity": "ERROR",
                "categories": ["INVALID_ATTRIBUTE"],
            }
        )
    elif quantity is not None and quantity < 0:
        issues.append(
            {
                "code": "4000001",
                "message": "The quantity must not be negative.",
                "severity": "ERROR",
                "attributeNames": ["fulfillment_availability"],
                "categories": ["INVALID_ATTRIBUTE"],
            }
        )
    status = "INVALID" if issues else ("VALID" if mode else "ACCEPTED")
    if status == "ACCEPTED" and quantity is not None and listing is not None:
        call.sandbox.state.set_mfn_quantity(sku, quantity, patched=True)
    return json_response(
        {"sku": sku, "status": status, "submissionId": secrets.token_hex(16), "issues": issues}
    )


# -- FBA inventory ------------------------------------------------------------------------

INVENTORY_PAGE_SIZE = 50


def _summary(listing: Listing, details: bool) -> dict[str, Any]:
    reserved = listing.fba_reserved_customer_orders
    total = (
        listing.fba_fulfillable
        + reserved
        + listing.fba_inbound_working
        + listing.fba_inbound_shipped
    )
    summary: dict[str, Any] = {
        "asin": listing.asin,
        "fnSku": listing.fnsku,
        "sellerSku": listing.sku,
        "condition": "NewItem",
        "lastUpdatedTime": iso(listing.last_updated),
        "productName": listing.title,
        "totalQuantity": total,
        "stores": [],
    }
    if details:
        summary["inventoryDetails"] = {
            "fulfillableQuantity": listing.fba_fulfillable,
            "inboundWorkingQuantity": listing.fba_inbound_working,
            "inboundShippedQuantity": listing.fba_inbound_shipped,
            "inboundReceivingQuantity": 0,
            "reservedQuantity": {
                "totalReservedQuantity": reserved,
                "pendingCustomerOrderQuantity": reserved,
                "pendingTransshipmentQuantity": 0,
                "fcProcessingQuantity": 0,
            },
            "researchingQuantity": {
                "totalResearchingQuantity": 0,
                "researchingQuantityBreakdown": [],
            },
            "unfulfillableQuantity": {
                "totalUnfulfillableQuantity": 0,
                "customerDamagedQuantity": 0,
                "warehouseDamagedQuantity": 0,
                "distributorDamagedQuantity": 0,
                "carrierDamagedQuantity": 0,
                "defectiveQuantity": 0,
                "expiredQuantity": 0,
            },
        }
    return summary


async def get_inventory_summaries(call: Call) -> Response:
    q = call.params
    if q.text("granularityType", required=True) != "Marketplace":
        raise invalid("granularityType must be Marketplace.")
    granularity_id = q.text("granularityId", required=True)
    marketplaces = q.array("marketplaceIds", required=True, max_items=1)
    if marketplaces[0] not in MARKETPLACES:
        raise invalid(f"Invalid marketplaceId {marketplaces[0]}.")
    details = q.boolean("details")
    since = q.date("startDateTime")
    skus = set(q.array("sellerSkus", max_items=50))
    single = q.text("sellerSku")
    if single:
        skus.add(single)
    state = call.sandbox.state
    fingerprint = "|".join(
        (str(granularity_id), marketplaces[0], str(details), str(since), ",".join(sorted(skus)))
    )
    token = q.text("nextToken")
    with state.lock:
        if token:
            cursor = _resumed(call, token, fingerprint, "nextToken")
        else:
            matching = [
                listing.sku
                for listing in sorted(state.listings.values(), key=lambda item: item.sku)
                if (not skus or listing.sku in skus)
                and (since is None or listing.last_updated >= since)
            ]
            cursor = Cursor(matching, 0, fingerprint, call.now, call.now)
        page = cursor.ids[cursor.offset : cursor.offset + INVENTORY_PAGE_SIZE]
        found = [_summary(state.listings[sku], details) for sku in page if sku in state.listings]
    body: dict[str, Any] = {
        "payload": {
            "granularity": {"granularityType": "Marketplace", "granularityId": granularity_id},
            "inventorySummaries": found,
        }
    }
    following = cursor.offset + INVENTORY_PAGE_SIZE
    if following < len(cursor.ids):
        # The model: "will expire 30 seconds after being created".
        body["pagination"] = {
            "nextToken": call.sandbox.pages.issue(
                dataclasses.replace(
                    cursor, offset=following, expires_at=call.now + timedelta(seconds=30)
                )
            )
        }
    return json_response(body)


async def create_inventory_item(call: Call) -> Response:
    body = await call.json_body()
    for name in ("sellerSku", "marketplaceId", "productName"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise invalid(f"{name} is required.")
    state = call.sandbox.state
    with state.lock:
        existing = state.listings.get(body["sellerSku"])
        if existing is None:
            state.add_listing(sku=body["sellerSku"], title=body["productName"])
    return json_response({})


async def add_inventory(call: Call) -> Response:
    if not call.request.headers.get("x-amzn-idempotency-token"):
        raise invalid("The x-amzn-idempotency-token header is required.")
    body = await call.json_body()
    items = body.get("inventoryItems")
    if not isinstance(items, list) or not items:
        raise invalid("inventoryItems is required.")
    state = call.sandbox.state
    token = call.request.headers["x-amzn-idempotency-token"]
    with state.lock:
        if token in call.sandbox.idempotency_tokens:
            return json_response({})
        for item in items:
            sku = item.get("sellerSku") if isinstance(item, dict) else None
            quantity = item.get("quantity") if isinstance(item, dict) else None
            if not isinstance(sku, str) or sku not in state.listings:
                raise invalid(f"Unknown sellerSku {sku}; create the inventory item first.")
            if not isinstance(quantity, int) or quantity < 1:
                raise invalid("quantity must be a positive integer.")
        for item in items:
            listing = state.listings[item["sellerSku"]]
            listing.fba_fulfillable += item["quantity"]
            listing.last_updated = call.now
        call.sandbox.idempotency_tokens.add(token)
    return json_response({})


async def delete_inventory_item(call: Call) -> Response:
    call.params.text("marketplaceId", required=True)
    state = call.sandbox.state
    sku = call.request.path_params["sellerSku"]
    with state.lock:
        listing = state.listings.get(sku)
        if listing is None:
            raise SandboxError(404, "NotFound", f"sellerSku {sku} was not found.")
        listing.fba_fulfillable = 0
        listing.last_updated = call.now
    return json_response({})


def routes() -> list[Route]:
    feeds = "/feeds/2021-06-30"
    listings = "/listings/2021-08-01/items/{sellerId}/{sku:path}"
    inventory = "/fba/inventory/v1"
    return [
        Route(
            feeds + "/documents",
            operation("createFeedDocument", create_feed_document),
            methods=["POST"],
        ),
        Route(
            feeds + "/documents/{feedDocumentId}",
            operation("getFeedDocument", get_feed_document),
            methods=["GET"],
        ),
        Route(feeds + "/feeds", operation("createFeed", create_feed), methods=["POST"]),
        Route(feeds + "/feeds", operation("getFeeds", get_feeds), methods=["GET"]),
        Route(feeds + "/feeds/{feedId}", operation("getFeed", get_feed), methods=["GET"]),
        Route(feeds + "/feeds/{feedId}", operation("cancelFeed", cancel_feed), methods=["DELETE"]),
        Route(
            "/listings/2021-08-01/items/{sellerId}",
            operation("searchListingsItems", search_listings_items),
            methods=["GET"],
        ),
        Route(listings, operation("getListingsItem", get_listings_item), methods=["GET"]),
        Route(listings, operation("patchListingsItem", patch_listings_item), methods=["PATCH"]),
        Route(
            inventory + "/summaries",
            operation("getInventorySummaries", get_inventory_summaries),
            methods=["GET"],
        ),
        Route(
            inventory + "/items",
            operation("createInventoryItem", create_inventory_item),
            methods=["POST"],
        ),
        Route(
            inventory + "/items/inventory",
            operation("addInventory", add_inventory),
            methods=["POST"],
        ),
        Route(
            inventory + "/items/{sellerSku}",
            operation("deleteInventoryItem", delete_inventory_item),
            methods=["DELETE"],
        ),
    ]
