"""What ordermesh asks of a Shopify shop, as Admin GraphQL operations: the orders changed in a
window (the reconciliation poll), one order, a fulfilment through fulfillment orders, and
available stock set with a compare-and-swap check."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from ordermesh.adapters.channels.shopify import mapping, wire
from ordermesh.adapters.channels.shopify.client import ShopifyClient, ShopifyQueryError
from ordermesh.adapters.channels.shopify.settings import CHANNEL, ShopifySettings
from ordermesh.ports.channels import ChangesPage, OrderVersion, Unreadable

log = logging.getLogger(__name__)

ORDERS_PER_PAGE = 25
LINE_ITEMS_PER_ORDER = 6
"""Shopify charges a query what it could return: each line item asked for costs about four
points per order, so 25 orders of up to 6 lines ask about 750, safely under the single-query
cap of 1,000, while the points refunded for lines that do not exist keep the real cost low.
The rare order with more lines has the rest read separately."""

_ORDER_FIELDS = """
fragment OrderFields on Order {
  id legacyResourceId name createdAt updatedAt processedAt cancelledAt cancelReason
  displayFinancialStatus displayFulfillmentStatus email currencyCode
  totalPriceSet { shopMoney { amount currencyCode } }
  shippingAddress {
    name firstName lastName company address1 address2 city provinceCode zip countryCodeV2 phone
  }
  lineItems(first: LINES) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id sku quantity currentQuantity variant { id }
      originalUnitPriceSet { shopMoney { amount currencyCode } }
    }
  }
}
""".replace("LINES", str(LINE_ITEMS_PER_ORDER))

CHANGED_ORDERS = (
    """
query ChangedOrders($first: Int!, $after: String, $query: String!) {
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...OrderFields } }
  }
}
"""
    + _ORDER_FIELDS
)

ONE_ORDER = (
    """
query OneOrder($id: ID!) {
  order(id: $id) { ...OrderFields }
}
"""
    + _ORDER_FIELDS
)

MORE_LINE_ITEMS = """
query MoreLineItems($id: ID!, $after: String) {
  order(id: $id) {
    lineItems(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id sku quantity currentQuantity variant { id }
        originalUnitPriceSet { shopMoney { amount currencyCode } }
      }
    }
  }
}
"""

FULFILLMENT_ORDERS = """
query FulfillmentOrders($id: ID!) {
  order(id: $id) {
    fulfillmentOrders(first: 10) {
      nodes {
        id status
        assignedLocation { location { id } }
        lineItems(first: 25) {
          pageInfo { hasNextPage endCursor }
          nodes { id remainingQuantity lineItem { id } }
        }
      }
    }
  }
}
"""

MORE_FULFILLMENT_ORDER_LINES = """
query MoreFulfillmentOrderLines($id: ID!, $after: String) {
  fulfillmentOrder(id: $id) {
    lineItems(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { id remainingQuantity lineItem { id } }
    }
  }
}
"""

FULFILLMENT_CREATE = """
mutation FulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status }
    userErrors { field message }
  }
}
"""

INVENTORY_SET = """
mutation SetAvailable($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}
"""

_FULFILLABLE = frozenset({"OPEN", "IN_PROGRESS"})
_STOCK_BATCH = 20
_STALE = "CHANGE_FROM_QUANTITY_STALE"


def _search_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Tracking:
    company: str | None = None
    number: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class FulfilmentResult:
    """What Shopify recorded. Partial failures come back as data, not exceptions."""

    fulfillment_ids: tuple[str, ...] = ()
    nothing_left: bool = False
    """Everything asked for was fulfilled on Shopify already (a repeated confirmation)."""
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class StockAtShopify:
    inventory_item_id: str
    available: int | None
    """None when the item is not stocked at the location."""


@dataclass(frozen=True, slots=True)
class StockPushResult:
    applied: dict[str, int] = field(default_factory=dict)
    """SKU → available quantity now set on Shopify."""
    unknown: tuple[str, ...] = ()
    """SKUs with no variant on Shopify."""
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors and not self.unknown


class ShopifyConnector:
    """One Shopify shop behind ordermesh's ChannelConnector port (and a little more)."""

    channel = CHANNEL

    def __init__(self, account_id: str, settings: ShopifySettings, client: ShopifyClient) -> None:
        self.account_id = account_id
        self.settings = settings
        self.client = client

    # -- orders --------------------------------------------------------------------------
    def changed_orders(self, since: datetime, until: datetime) -> Iterator[ChangesPage]:
        """Every order whose updated_at is within [since, until], oldest change first.

        Shopify's search works to the second, so the window is widened to whole seconds;
        versions seen twice share a key and are no-ops on import."""
        start = since.astimezone(UTC).replace(microsecond=0)
        end = until.astimezone(UTC)
        if end.microsecond:
            end = end.replace(microsecond=0) + timedelta(seconds=1)
        search = f"updated_at:>='{_search_time(start)}' updated_at:<='{_search_time(end)}'"
        after: str | None = None
        while True:
            answer = self.client.execute(
                CHANGED_ORDERS, {"first": ORDERS_PER_PAGE, "after": after, "query": search}
            )
            try:
                page = wire.OrderConnection.model_validate(answer.data["orders"])
            except (KeyError, ValidationError) as exc:
                raise ShopifyQueryError(f"Shopify's orders page is not readable: {exc}") from exc
            raw_edges = answer.data["orders"]["edges"]
            yield self._page([self._complete(edge["node"]) for edge in raw_edges])
            if not page.page_info.has_next_page:
                return
            after = page.page_info.end_cursor

    def order(self, channel_order_id: str) -> OrderVersion | Unreadable | None:
        """The order as Shopify shows it now (None if Shopify has no such order)."""
        answer = self.client.execute(ONE_ORDER, {"id": mapping.gid("Order", channel_order_id)})
        node = answer.data.get("order")
        if node is None:
            return None
        return mapping.read_graphql_order(self._complete(node), account_id=self.account_id)

    def _page(self, nodes: Sequence[dict[str, Any]]) -> ChangesPage:
        versions: list[OrderVersion] = []
        unreadable: list[Unreadable] = []
        for node in nodes:
            result = mapping.read_graphql_order(node, account_id=self.account_id)
            if isinstance(result, Unreadable):
                log.warning(
                    "shopify %s: order %s unreadable: %s",
                    self.settings.shop_domain,
                    result.channel_order_id,
                    result.reason,
                )
                unreadable.append(result)
            else:
                versions.append(result)
        return ChangesPage(tuple(versions), tuple(unreadable))

    def _complete(self, node: dict[str, Any]) -> dict[str, Any]:
        """The node with every line item, reading past the first page of lines if need be."""
        lines = node.get("lineItems") or {}
        info = lines.get("pageInfo") or {}
        after = info.get("endCursor")
        more = bool(info.get("hasNextPage"))
        if not more:
            return node
        nodes = list(lines.get("nodes") or [])
        while more:
            answer = self.client.execute(MORE_LINE_ITEMS, {"id": node["id"], "after": after})
            extra = (answer.data.get("order") or {}).get("lineItems") or {}
            nodes.extend(extra.get("nodes") or [])
            info = extra.get("pageInfo") or {}
            more, after = bool(info.get("hasNextPage")), info.get("endCursor")
        return {**node, "lineItems": {"nodes": nodes, "pageInfo": {"hasNextPage": False}}}

    # -- fulfilment ----------------------------------------------------------------------
    def fulfil(
        self,
        channel_order_id: str,
        lines: Mapping[str, int] | None = None,
        *,
        tracking: Tracking | None = None,
        notify_customer: bool = False,
    ) -> FulfilmentResult:
        """Mark units shipped on Shopify with their tracking, through the order's fulfillment
        orders (`fulfillmentCreate`). `lines` maps a line id (the numeric line item id) to
        units; None ships everything still open. Units Shopify already fulfilled are not
        sent again, so repeating a confirmation is harmless."""
        answer = self.client.execute(
            FULFILLMENT_ORDERS, {"id": mapping.gid("Order", channel_order_id)}
        )
        order = answer.data.get("order")
        if order is None:
            return FulfilmentResult(errors=(f"Shopify has no order {channel_order_id}",))
        fulfillment_orders = [
            wire.FulfillmentOrder.model_validate(self._all_lines(fo))
            for fo in order["fulfillmentOrders"]["nodes"]
        ]
        wanted = None if lines is None else dict(lines)
        by_location: dict[str, list[dict[str, Any]]] = {}
        for fo in fulfillment_orders:
            if fo.status not in _FULFILLABLE:
                continue
            picked = []
            for line in fo.line_items.nodes:
                line_id = mapping.numeric_id(line.line_item.id)
                units = line.remaining_quantity
                if wanted is not None:
                    units = min(units, wanted.get(line_id, 0))
                    if units:
                        wanted[line_id] -= units
                if units > 0:
                    picked.append({"id": line.id, "quantity": units})
            if picked:
                where = fo.assigned_location.location.id if fo.assigned_location.location else ""
                by_location.setdefault(where, []).append(
                    {"fulfillmentOrderId": fo.id, "fulfillmentOrderLineItems": picked}
                )
        if not by_location:
            return FulfilmentResult(nothing_left=True)
        created: list[str] = []
        errors: list[str] = []
        # Shopify fulfils the fulfillment orders of one location per call.
        for groups in by_location.values():
            payload: dict[str, Any] = {
                "lineItemsByFulfillmentOrder": groups,
                "notifyCustomer": notify_customer,
            }
            if tracking is not None:
                payload["trackingInfo"] = {
                    k: v
                    for k, v in (
                        ("company", tracking.company),
                        ("number", tracking.number),
                        ("url", tracking.url),
                    )
                    if v
                }
            result = self.client.execute(FULFILLMENT_CREATE, {"fulfillment": payload}).data
            body = result.get("fulfillmentCreate") or {}
            problems = [wire.UserError.model_validate(e) for e in body.get("userErrors") or []]
            errors.extend(_describe(e) for e in problems)
            if body.get("fulfillment"):
                created.append(body["fulfillment"]["id"])
        if wanted and any(units > 0 for units in wanted.values()):
            left = ", ".join(f"{k}×{v}" for k, v in sorted(wanted.items()) if v > 0)
            errors.append(f"no open units left on Shopify for line(s) {left}")
        return FulfilmentResult(tuple(created), False, tuple(errors))

    def _all_lines(self, fulfillment_order: dict[str, Any]) -> dict[str, Any]:
        lines = fulfillment_order["lineItems"]
        nodes = list(lines["nodes"])
        info = lines.get("pageInfo") or {}
        while info.get("hasNextPage"):
            answer = self.client.execute(
                MORE_FULFILLMENT_ORDER_LINES,
                {"id": fulfillment_order["id"], "after": info.get("endCursor")},
            )
            more = (answer.data.get("fulfillmentOrder") or {}).get("lineItems") or {}
            nodes.extend(more.get("nodes") or [])
            info = more.get("pageInfo") or {}
        return {**fulfillment_order, "lineItems": {"nodes": nodes}}

    # -- stock ---------------------------------------------------------------------------
    def stock_at(self, location_code: str, skus: Sequence[str]) -> dict[str, StockAtShopify]:
        """Shopify's available quantity of these SKUs at the Shopify location mapped to an
        ordermesh location. SKUs Shopify does not have are left out."""
        location = self._location(location_code)
        found: dict[str, StockAtShopify] = {}
        unique = list(dict.fromkeys(skus))
        for start in range(0, len(unique), _STOCK_BATCH):
            batch = unique[start : start + _STOCK_BATCH]
            fields = "\n".join(
                f"""  v{i}: productVariants(first: 1, query: $q{i}) {{
    nodes {{ sku inventoryItem {{ id inventoryLevel(locationId: $location) {{
      quantities(names: ["available"]) {{ name quantity }} }} }} }}
  }}"""
                for i in range(len(batch))
            )
            params = ", ".join(f"$q{i}: String!" for i in range(len(batch)))
            query = f"query StockAt($location: ID!, {params}) {{\n{fields}\n}}"
            variables: dict[str, Any] = {"location": location}
            for i, sku in enumerate(batch):
                variables[f"q{i}"] = f"sku:{_quoted(sku)}"
            data = self.client.execute(query, variables).data
            for i, sku in enumerate(batch):
                nodes = (data.get(f"v{i}") or {}).get("nodes") or []
                node = next((n for n in nodes if n.get("sku") == sku), None)
                if node is None:
                    continue
                item = node["inventoryItem"]
                level = item.get("inventoryLevel")
                available = None
                if level is not None:
                    available = next(
                        (q["quantity"] for q in level["quantities"] if q["name"] == "available"),
                        0,
                    )
                found[sku] = StockAtShopify(item["id"], available)
        return found

    def set_available(
        self,
        location_code: str,
        quantities: Mapping[str, int],
        *,
        reference: str | None = None,
        attempts: int = 3,
    ) -> StockPushResult:
        """Set Shopify's available quantity of each SKU at a location to ordermesh's figure.

        Each change names the quantity it replaces (`changeFromQuantity`), so a sale Shopify
        took in between is not overwritten blindly: on a stale answer the figures are read
        again and the push retried. Every call carries an idempotency key, so a retried HTTP
        request cannot apply twice."""
        location = self._location(location_code)
        current = self.stock_at(location_code, list(quantities))
        unknown = tuple(sorted(set(quantities) - set(current)))
        wanted = {sku: q for sku, q in quantities.items() if sku in current}
        if not wanted:
            return StockPushResult(unknown=unknown)
        errors: list[str] = []
        for attempt in range(attempts):
            changes = [
                {
                    "inventoryItemId": current[sku].inventory_item_id,
                    "locationId": location,
                    "quantity": quantity,
                    "changeFromQuantity": current[sku].available,
                }
                for sku, quantity in sorted(wanted.items())
            ]
            body: dict[str, Any] = {
                "name": "available",
                "reason": "correction",
                "quantities": changes,
            }
            if reference:
                body["referenceDocumentUri"] = reference
            key = f"{reference or 'ordermesh'}:{uuid.uuid4().hex}"
            data = self.client.execute(INVENTORY_SET, {"input": body, "key": key}).data
            payload = data.get("inventorySetQuantities") or {}
            problems = [wire.UserError.model_validate(e) for e in payload.get("userErrors") or []]
            if not problems:
                return StockPushResult(applied=dict(wanted), unknown=unknown)
            if any(p.code == _STALE for p in problems) and attempt + 1 < attempts:
                log.info(
                    "shopify %s: stock changed on Shopify while pushing; reading it again",
                    self.settings.shop_domain,
                )
                current = {**current, **self.stock_at(location_code, list(wanted))}
                continue
            errors = [_describe(p) for p in problems]
            break
        return StockPushResult(unknown=unknown, errors=tuple(errors))

    def _location(self, location_code: str) -> str:
        shopify_id = self.settings.shopify_location(location_code)
        if shopify_id is None:
            raise ValueError(
                f"ordermesh location {location_code!r} is not mapped to a Shopify location "
                "in the account's settings"
            )
        return mapping.gid("Location", shopify_id)


def _describe(error: wire.UserError) -> str:
    where = ".".join(error.field or [])
    code = f"{error.code}: " if error.code else ""
    return f"{code}{error.message}" + (f" ({where})" if where else "")


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
