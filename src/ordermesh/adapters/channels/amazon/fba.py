"""FBA Inventory API v1: what Amazon holds for the seller in its fulfilment network.

getInventorySummaries with `details=true`, per marketplace, following `nextToken` at once
(Amazon lets a token live only 30 seconds)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ordermesh.adapters.channels.amazon.client import SpApiClient
from ordermesh.adapters.channels.amazon.wire import moment_of
from ordermesh.ports.channels import ChannelError
from ordermesh.ports.marketplace import NetworkStock

PATH = "/fba/inventory/v1/summaries"
_MAX_PAGES = 10_000


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _part(details: Mapping[str, Any], name: str, total: str) -> int:
    part = details.get(name)
    return _int(part.get(total)) if isinstance(part, Mapping) else 0


def read_summary(summary: Mapping[str, Any], marketplace_id: str) -> NetworkStock | None:
    """One inventory summary → NetworkStock; None when it names no seller SKU. Missing
    quantities count as zero (Amazon leaves out what does not apply)."""
    sku = summary.get("sellerSku")
    if not isinstance(sku, str) or not sku:
        return None
    details = summary.get("inventoryDetails")
    details = details if isinstance(details, Mapping) else {}
    reserved = details.get("reservedQuantity")
    reserved = reserved if isinstance(reserved, Mapping) else {}
    asin, fnsku = summary.get("asin"), summary.get("fnSku")
    return NetworkStock(
        channel_sku=sku,
        marketplace_id=marketplace_id,
        fulfillable=_int(details.get("fulfillableQuantity")),
        reserved=_int(reserved.get("totalReservedQuantity")),
        reserved_for_orders=_int(reserved.get("pendingCustomerOrderQuantity")),
        inbound_working=_int(details.get("inboundWorkingQuantity")),
        inbound_shipped=_int(details.get("inboundShippedQuantity")),
        inbound_receiving=_int(details.get("inboundReceivingQuantity")),
        unfulfillable=_part(details, "unfulfillableQuantity", "totalUnfulfillableQuantity"),
        researching=_part(details, "researchingQuantity", "totalResearchingQuantity"),
        asin=asin if isinstance(asin, str) else None,
        fnsku=fnsku if isinstance(fnsku, str) else None,
        updated_at=moment_of(summary.get("lastUpdatedTime")),
    )


def inventory_pages(client: SpApiClient, marketplace_id: str) -> Iterator[list[NetworkStock]]:
    params: dict[str, Any] = {
        "granularityType": "Marketplace",
        "granularityId": marketplace_id,
        "marketplaceIds": marketplace_id,
        "details": "true",
    }
    for _ in range(_MAX_PAGES):
        body = client.call("getInventorySummaries", "GET", PATH, params)
        payload = body.get("payload") if isinstance(body, dict) else None
        summaries = payload.get("inventorySummaries") if isinstance(payload, dict) else None
        if not isinstance(summaries, list):
            raise ChannelError(
                f"getInventorySummaries answered without payload.inventorySummaries: {body!r:.200}"
            )
        page = [
            stock
            for summary in summaries
            if isinstance(summary, Mapping)
            and (stock := read_summary(summary, marketplace_id)) is not None
        ]
        yield page
        pagination = body.get("pagination")
        token = pagination.get("nextToken") if isinstance(pagination, dict) else None
        if not token:
            return
        params = {**params, "nextToken": token}
    raise ChannelError(f"getInventorySummaries kept paging past {_MAX_PAGES} pages")
