"""What ordermesh asks of a Shopify shop, as Admin GraphQL operations: the orders changed in a
window (the reconciliation poll), one order, a shipment confirmed through fulfillment orders,
and available stock set with a compare-and-swap check and read back."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from ordermesh.adapters.channels.shopify import mapping, wire
from ordermesh.adapters.channels.shopify.client import (
    ShopifyClient,
    ShopifyError,
    ShopifyQueryError,
    ShopifyUnanswered,
)
from ordermesh.adapters.channels.shopify.settings import CHANNEL, ShopifySettings
from ordermesh.domain.errors import ValidationFailed
from ordermesh.domain.orders import FulfilledBy
from ordermesh.ports.channels import ChangesPage, OrderVersion, Unreadable
from ordermesh.ports.shipping import ConfirmationOutcome, ConfirmationResult, ShipmentNotice
from ordermesh.ports.stock_sync import ListedQuantity, Push, PushOutcome, PushResult

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

_FULFILLMENT_ORDER_FIELDS = """
fragment FulfillmentOrderFields on FulfillmentOrder {
  id status
  assignedLocation { location { id } }
  lineItems(first: 20) {
    pageInfo { hasNextPage endCursor }
    nodes { id remainingQuantity lineItem { id } }
  }
}
"""

SHIPMENT_STATE = (
    """
query ShipmentState($id: ID!) {
  order(id: $id) {
    fulfillmentOrders(first: 5) {
      pageInfo { hasNextPage endCursor }
      nodes { ...FulfillmentOrderFields }
    }
    fulfillments(first: 10) {
      id status
      trackingInfo(first: 2) { company number url }
      fulfillmentLineItems(first: 25) { nodes { quantity lineItem { id } } }
    }
  }
}
"""
    + _FULFILLMENT_ORDER_FIELDS
)
"""What a confirmation needs in one read: the open units (fulfillment orders) and what was
shipped already (fulfillments, to recognise our own after a lost answer). Sized so the query
asks well under Shopify's 1,000-point cap; more fulfillment orders or lines are paged."""

MORE_FULFILLMENT_ORDERS = (
    """
query MoreFulfillmentOrders($id: ID!, $after: String) {
  order(id: $id) {
    fulfillmentOrders(first: 5, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { ...FulfillmentOrderFields }
    }
  }
}
"""
    + _FULFILLMENT_ORDER_FIELDS
)

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

LEVELS_AT = """
query LevelsAt($location: ID!, $after: String) {
  location(id: $location) {
    inventoryLevels(first: 250, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { item { id sku } quantities(names: ["available"]) { name quantity } }
    }
  }
}
"""
"""Every level at a location, 250 a page at about three points each: half what looking SKUs
up one by one costs, so reconciling a whole catalogue reads the location instead."""

ITEMS_BY_SKU = """
query ItemsBySku($first: Int!, $after: String, $query: String!) {
  inventoryItems(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes { id sku }
  }
}
"""
"""The inventory items of many SKUs in one search (`sku:'A' OR sku:'B' …`), about one point
per SKU: a third of what an aliased `productVariants` lookup costs each. A push needs nothing
else of a listing whose figure Shopify confirmed, and after a restart that is every listing."""

PRIMARY_LOCATION = """
query PrimaryLocation {
  location { id }
}
"""

_FULFILLABLE = frozenset({"OPEN", "IN_PROGRESS"})
_SHIPPED = frozenset({"SUCCESS", "OPEN", "PENDING"})
"""Fulfillment statuses that stand: a cancelled or failed fulfillment shipped nothing."""
SKUS_PER_READ = 50
"""SKUs looked up per query (one aliased `productVariants` each, about six points apiece)."""
SKUS_PER_ITEM_SEARCH = 50
"""SKUs per `inventoryItems` search: a query string of a few hundred characters, well within
what Shopify's search takes, for about 52 points."""
SCAN_FROM = 250
"""From this many SKUs on, quantities are read by paging through the location's levels."""
QUANTITIES_PER_SET = 250
"""Quantities per `inventorySetQuantities` call: Shopify caps input lists at 250, and a whole
call is refused when one quantity fails, so smaller calls lose less to one stale listing."""
_STALE = "CHANGE_FROM_QUANTITY_STALE"
_PASSING = frozenset(
    {"IDEMPOTENCY_CONCURRENT_REQUEST", "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED", "SERVICE_UNAVAILABLE"}
)
"""Set-quantity errors that say "try again", not "this listing is wrong"."""


def _search_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class _Level:
    inventory_item_id: str
    available: int | None
    """None when the item is not stocked at the location."""


_ITEMS: dict[tuple[str, str], str] = {}
"""(shop's Admin API URL, SKU) → inventory item id, for the life of the process: an item's id
never changes, so a push whose last figure is known costs one mutation and no read. A deleted
variant shows up as INVALID_INVENTORY_ITEM, which drops it from here."""


class ShopifyConnector:
    """One Shopify shop behind ordermesh's ports: ChannelConnector (orders in),
    ShipmentConfirmer (fulfilments out), ListingPushSender and ListingReader (stock)."""

    channel = CHANNEL
    reads_by_fulfilment = False

    def __init__(self, account_id: str, settings: ShopifySettings, client: ShopifyClient) -> None:
        self.account_id = account_id
        self.settings = settings
        self.client = client
        self._primary_location: str | None = None

    # -- orders --------------------------------------------------------------------------
    def changed_orders(
        self, since: datetime, until: datetime, *, fulfilled_by: FulfilledBy | None = None
    ) -> Iterator[ChangesPage]:
        """Every order whose updated_at is within [since, until], oldest change first (a shop
        fulfils its own orders: `fulfilled_by` is never asked of it, see `reads_by_fulfilment`).

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
    def confirm_shipment(self, notice: ShipmentNotice) -> ConfirmationResult:
        """Mark the notice's units shipped on Shopify with its tracking (`fulfillmentCreate`
        through the order's fulfillment orders), exactly once.

        Shopify keeps no idempotency key for fulfillmentCreate, so before creating anything
        the order's fulfillments are read and ours recognised by tracking number and lines:
        a retry after an answer that was lost finds them and confirms without shipping the
        units twice. A create whose answer is lost is not sent again here; the ChannelError
        sends the confirmation back to the outbox, whose next attempt reads first."""
        wanted: dict[str, int] = {}
        for line in notice.lines:
            if not line.channel_line_id:
                return ConfirmationResult(
                    ConfirmationOutcome.REJECTED,
                    f"line {line.sku} carries no Shopify line item id to confirm",
                )
            key = mapping.numeric_id(line.channel_line_id)
            wanted[key] = wanted.get(key, 0) + line.quantity
        order_gid = mapping.gid("Order", notice.channel_order_id)
        order = self.client.execute(SHIPMENT_STATE, {"id": order_gid}).data.get("order")
        if order is None:
            return ConfirmationResult(
                ConfirmationOutcome.REJECTED, f"Shopify has no order {notice.channel_order_id}"
            )
        ours = self._ours(order, notice.tracking_number)
        left = {k: q - ours.get(k, 0) for k, q in wanted.items() if q > ours.get(k, 0)}
        if not left:
            return self._confirmed(order, notice.tracking_number, "already on Shopify")
        plan, short = self._plan(order_gid, order, left)
        if short:
            missing = ", ".join(f"line {k} ×{q}" for k, q in sorted(short.items()))
            return ConfirmationResult(
                ConfirmationOutcome.REJECTED,
                f"Shopify has no open units left for {missing}: fulfilled on Shopify without "
                "this shipment, or not on the order",
            )
        tracking = {
            k: v
            for k, v in (
                ("company", notice.carrier),
                ("number", notice.tracking_number),
                ("url", notice.tracking_url),
            )
            if v
        }
        created: list[str] = []
        # Shopify fulfils the fulfillment orders of one location per call.
        for groups in plan.values():
            payload: dict[str, Any] = {
                "lineItemsByFulfillmentOrder": groups,
                "notifyCustomer": notice.notify_customer,
            }
            if tracking:
                payload["trackingInfo"] = tracking
            try:
                answer = self.client.execute(
                    FULFILLMENT_CREATE, {"fulfillment": payload}, repeatable=False
                )
            except ShopifyUnanswered:
                log.warning(
                    "shopify %s: no answer to fulfillmentCreate for order %s (shipment %s); "
                    "it will be looked for before sending again",
                    self.settings.shop_domain,
                    notice.channel_order_id,
                    notice.shipment_id,
                )
                raise
            body = answer.data.get("fulfillmentCreate") or {}
            problems = [wire.UserError.model_validate(e) for e in body.get("userErrors") or []]
            if problems:
                done = f" (after {len(created)} fulfilment(s) made)" if created else ""
                return ConfirmationResult(
                    ConfirmationOutcome.REJECTED,
                    "; ".join(_describe(e) for e in problems) + done,
                    created[0] if created else None,
                )
            if body.get("fulfillment"):
                created.append(body["fulfillment"]["id"])
        return ConfirmationResult(
            ConfirmationOutcome.CONFIRMED,
            f"fulfilled on Shopify: {', '.join(created)}",
            created[0] if created else None,
        )

    @staticmethod
    def _ours(order: dict[str, Any], tracking_number: str) -> dict[str, int]:
        """Units per line item already shipped under this tracking number."""
        shipped: dict[str, int] = {}
        for raw in order.get("fulfillments") or []:
            fulfillment = wire.Fulfillment.model_validate(raw)
            if fulfillment.status not in _SHIPPED:
                continue
            numbers = {(t.number or "").strip() for t in fulfillment.tracking_info} or {""}
            if tracking_number.strip() not in numbers:
                continue
            for line in fulfillment.fulfillment_line_items.nodes:
                key = mapping.numeric_id(line.line_item.id)
                shipped[key] = shipped.get(key, 0) + (line.quantity or 0)
        return shipped

    @staticmethod
    def _confirmed(order: dict[str, Any], tracking_number: str, how: str) -> ConfirmationResult:
        ids = [
            f["id"]
            for f in order.get("fulfillments") or []
            if f.get("status") in _SHIPPED
            and any((t.get("number") or "") == tracking_number for t in f.get("trackingInfo") or [])
        ]
        return ConfirmationResult(
            ConfirmationOutcome.CONFIRMED,
            f"{how}: {', '.join(ids)}" if ids else how,
            ids[0] if ids else None,
        )

    def _plan(
        self, order_gid: str, order: dict[str, Any], wanted: Mapping[str, int]
    ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
        """Fulfillment-order lines to fulfil per location for these units, and the units
        Shopify has no open line for."""
        left = dict(wanted)
        by_location: dict[str, list[dict[str, Any]]] = {}
        for fo in self._fulfillment_orders(order_gid, order):
            if fo.status not in _FULFILLABLE:
                continue
            picked = []
            for line in fo.line_items.nodes:
                key = mapping.numeric_id(line.line_item.id)
                units = min(line.remaining_quantity, left.get(key, 0))
                if units > 0:
                    left[key] -= units
                    picked.append({"id": line.id, "quantity": units})
            if picked:
                where = fo.assigned_location.location.id if fo.assigned_location.location else ""
                by_location.setdefault(where, []).append(
                    {"fulfillmentOrderId": fo.id, "fulfillmentOrderLineItems": picked}
                )
        return by_location, {k: q for k, q in left.items() if q > 0}

    def _fulfillment_orders(
        self, order_gid: str, order: dict[str, Any]
    ) -> list[wire.FulfillmentOrder]:
        connection = order["fulfillmentOrders"]
        raw = list(connection["nodes"])
        info = connection.get("pageInfo") or {}
        while info.get("hasNextPage"):
            answer = self.client.execute(
                MORE_FULFILLMENT_ORDERS, {"id": order_gid, "after": info.get("endCursor")}
            )
            more = (answer.data.get("order") or {}).get("fulfillmentOrders") or {}
            raw.extend(more.get("nodes") or [])
            info = more.get("pageInfo") or {}
        return [wire.FulfillmentOrder.model_validate(self._all_lines(fo)) for fo in raw]

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
    def send(self, batch: Sequence[Push]) -> Sequence[PushResult]:
        """Set each listing's `available` quantity at the account's stock location.

        Each quantity names the figure the channel last confirmed (`changeFromQuantity`), so a
        change made on Shopify since (a sale ordermesh has not imported yet) is not
        overwritten: that listing comes back as RETRY with Shopify's quantity now, and the
        core pushes again once it knows why. A listing never confirmed is compared with the
        quantity read just before the push. Shopify refuses a whole call when one quantity
        fails, so the rest of the batch is sent again without the failed ones."""
        if not batch:
            return []
        try:
            location = self._stock_location()
        except ValidationFailed as exc:
            return [PushResult(p.channel_sku, PushOutcome.REJECTED, exc.message) for p in batch]
        latest: dict[str, Push] = {}
        for push in batch:
            latest[push.channel_sku] = push
        results: dict[str, PushResult] = {}
        unconfirmed = [sku for sku, p in latest.items() if p.confirmed is None]
        levels = self._read(location, unconfirmed) if unconfirmed else {}
        items = self._items([sku for sku, p in latest.items() if p.confirmed is not None])
        for sku in unconfirmed:
            level = levels.get(sku)
            if level is not None:
                items[sku] = level.inventory_item_id
        ready: list[tuple[Push, str, int | None]] = []
        for sku, push in latest.items():
            item = items.get(sku)
            if item is None:
                results[sku] = PushResult(
                    sku, PushOutcome.REJECTED, f"Shopify has no product variant with SKU {sku}"
                )
                continue
            if push.confirmed is None:
                level = levels[sku]
                if level.available is None:
                    results[sku] = self._not_stocked(sku)
                    continue
                ready.append((push, item, level.available))
            else:
                ready.append((push, item, push.confirmed))
        for start in range(0, len(ready), QUANTITIES_PER_SET):
            results.update(self._set(location, ready[start : start + QUANTITIES_PER_SET]))
        return [results[sku] for sku in latest]

    def _set(
        self, location: str, changes: list[tuple[Push, str, int | None]]
    ) -> dict[str, PushResult]:
        results: dict[str, PushResult] = {}
        pending = list(changes)
        while pending:
            quantities = [
                {
                    "inventoryItemId": item,
                    "locationId": location,
                    "quantity": push.quantity,
                    "changeFromQuantity": change_from,
                }
                for push, item, change_from in pending
            ]
            body = {"name": "available", "reason": "correction", "quantities": quantities}
            # One key per call: the client's own resends after a lost answer reuse it, so Shopify
            # applies the call once. A later call is new even with equal figures; a repeat of an
            # applied one fails its compare check instead, and is found SENT below.
            key = f"ordermesh-{uuid.uuid4()}"
            data = self.client.execute(INVENTORY_SET, {"input": body, "key": key}).data
            payload = data.get("inventorySetQuantities") or {}
            problems = [wire.UserError.model_validate(e) for e in payload.get("userErrors") or []]
            if not problems:
                results.update(
                    {
                        p.channel_sku: PushResult(p.channel_sku, PushOutcome.SENT)
                        for p, _, _ in pending
                    }
                )
                return results
            failed = self._failures(pending, problems, location)
            if failed is None:
                # Nothing names a listing: the whole call failed for a passing reason.
                why = "; ".join(_describe(p) for p in problems)
                results.update(
                    {
                        p.channel_sku: PushResult(p.channel_sku, PushOutcome.RETRY, why)
                        for p, _, _ in pending
                    }
                )
                return results
            results.update(failed)
            pending = [c for c in pending if c[0].channel_sku not in failed]
        return results

    def _failures(
        self,
        pending: list[tuple[Push, str, int | None]],
        problems: list[wire.UserError],
        location: str,
    ) -> dict[str, PushResult] | None:
        """The listings Shopify's errors name, with what to do about each; None when an
        error names no listing (then none of the call can be trusted to be wrong)."""
        named: dict[int, wire.UserError] = {}
        for problem in problems:
            index = _quantity_index(problem)
            if index is None or index >= len(pending) or problem.code in _PASSING:
                return None
            named[index] = problem
        stale = [pending[i][0].channel_sku for i, p in named.items() if p.code == _STALE]
        now = self._read(location, stale) if stale else {}
        out: dict[str, PushResult] = {}
        for index, problem in named.items():
            push = pending[index][0]
            sku = push.channel_sku
            if problem.code == _STALE:
                level = now.get(sku)
                current = level.available if level else None
                if current == push.quantity:
                    # Shopify shows our figure already (a sale took it where we wanted it).
                    out[sku] = PushResult(sku, PushOutcome.SENT, channel_quantity=current)
                else:
                    out[sku] = PushResult(
                        sku,
                        PushOutcome.RETRY,
                        f"Shopify's quantity changed since ordermesh last set it "
                        f"(expected {pending[index][2]}, Shopify has {current})",
                        channel_quantity=current,
                    )
            elif problem.code == "INVALID_INVENTORY_ITEM":
                _ITEMS.pop((self.settings.graphql_url, sku), None)
                out[sku] = PushResult(sku, PushOutcome.RETRY, _describe(problem))
            elif problem.code == "ITEM_NOT_STOCKED_AT_LOCATION":
                out[sku] = self._not_stocked(sku)
            else:
                out[sku] = PushResult(sku, PushOutcome.REJECTED, _describe(problem))
        return out

    def _not_stocked(self, sku: str) -> PushResult:
        return PushResult(
            sku,
            PushOutcome.REJECTED,
            f"SKU {sku} is not stocked at the Shopify location that carries ordermesh's figure "
            "(activate its inventory there in Shopify)",
        )

    def listed_quantities(self, channel_skus: Sequence[str]) -> Sequence[ListedQuantity]:
        """The `available` quantity Shopify shows for each SKU at the account's stock location
        (None: no such variant, or not stocked there). Read in the background: it leaves
        room in the shop's cost bucket for the pushes (`BACKGROUND_RESERVE`)."""
        unique = list(dict.fromkeys(channel_skus))
        try:
            location = self._stock_location()
        except ValidationFailed as exc:
            raise ShopifyError(exc.message) from exc
        if len(unique) >= SCAN_FROM:
            levels = self._scan(location, set(unique))
        else:
            levels = self._read(location, unique, background=True)
        return [
            ListedQuantity(sku, levels[sku].available if sku in levels else None)
            for sku in channel_skus
        ]

    def _scan(self, location: str, skus: set[str]) -> dict[str, _Level]:
        """These SKUs' levels, read from every level stocked at the location."""
        found: dict[str, _Level] = {}
        after: str | None = None
        while True:
            data = self.client.execute(
                LEVELS_AT, {"location": location, "after": after}, background=True
            ).data
            page = (data.get("location") or {}).get("inventoryLevels")
            if page is None:
                raise ShopifyError(f"Shopify has no location {location} to read stock from")
            for node in page.get("nodes") or []:
                sku = (node.get("item") or {}).get("sku")
                if sku not in skus:
                    continue
                _ITEMS[(self.settings.graphql_url, sku)] = node["item"]["id"]
                available = next(
                    (q["quantity"] for q in node["quantities"] if q["name"] == "available"), 0
                )
                found[sku] = _Level(node["item"]["id"], available)
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return found
            after = info.get("endCursor")

    def _stock_location(self) -> str:
        chosen = self.settings.push_location()
        if chosen is not None:
            return mapping.gid("Location", chosen)
        if self._primary_location is None:
            found = self.client.execute(PRIMARY_LOCATION).data.get("location")
            if not found:
                raise ShopifyError(f"{self.settings.shop_domain} has no location to stock")
            self._primary_location = str(found["id"])
        return self._primary_location

    def _items(self, skus: Sequence[str]) -> dict[str, str]:
        """Inventory item id per SKU Shopify has, from memory where it can."""
        shop = self.settings.graphql_url
        found = {sku: _ITEMS[(shop, sku)] for sku in skus if (shop, sku) in _ITEMS}
        missing = [sku for sku in skus if sku not in found]
        for start in range(0, len(missing), SKUS_PER_ITEM_SEARCH):
            found.update(self._search_items(missing[start : start + SKUS_PER_ITEM_SEARCH]))
        return found

    def _search_items(self, skus: Sequence[str]) -> dict[str, str]:
        """The inventory item of each of these SKUs that Shopify has (the oldest item when
        several share a SKU, as a variant lookup by SKU finds)."""
        wanted = set(skus)
        search = " OR ".join(f"sku:{_quoted(sku)}" for sku in skus)
        found: dict[str, str] = {}
        after: str | None = None
        while True:
            data = self.client.execute(
                ITEMS_BY_SKU, {"first": len(skus), "after": after, "query": search}
            ).data
            page = data.get("inventoryItems") or {}
            for node in page.get("nodes") or []:
                sku = node.get("sku")
                if sku in wanted and sku not in found:
                    found[sku] = node["id"]
                    _ITEMS[(self.settings.graphql_url, sku)] = node["id"]
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return found
            after = info.get("endCursor")

    def _read(
        self, location: str, skus: Sequence[str], *, background: bool = False
    ) -> dict[str, _Level]:
        """Each SKU's inventory item and its available quantity at the location. SKUs
        Shopify does not have are left out."""
        found: dict[str, _Level] = {}
        unique = list(dict.fromkeys(skus))
        level = """ inventoryLevel(locationId: $location) {
      quantities(names: ["available"]) { name quantity } }"""
        for start in range(0, len(unique), SKUS_PER_READ):
            batch = unique[start : start + SKUS_PER_READ]
            fields = "\n".join(
                f"""  v{i}: productVariants(first: 1, query: $q{i}) {{
    nodes {{ sku inventoryItem {{ id{level} }} }}
  }}"""
                for i in range(len(batch))
            )
            params = "$location: ID!, " + ", ".join(f"$q{i}: String!" for i in range(len(batch)))
            query = f"query StockLevels({params}) {{\n{fields}\n}}"
            variables: dict[str, Any] = {"location": location}
            for i, sku in enumerate(batch):
                variables[f"q{i}"] = f"sku:{_quoted(sku)}"
            data = self.client.execute(query, variables, background=background).data
            for i, sku in enumerate(batch):
                nodes = (data.get(f"v{i}") or {}).get("nodes") or []
                node = next((n for n in nodes if n.get("sku") == sku), None)
                if node is None:
                    continue
                item = node["inventoryItem"]
                _ITEMS[(self.settings.graphql_url, sku)] = item["id"]
                available = None
                stocked = item.get("inventoryLevel")
                if stocked is not None:
                    available = next(
                        (q["quantity"] for q in stocked["quantities"] if q["name"] == "available"),
                        0,
                    )
                found[sku] = _Level(item["id"], available)
        return found


def _quantity_index(problem: wire.UserError) -> int | None:
    """Which quantity of the call an error names (its field is input.quantities.<i>…)."""
    path = problem.field or []
    if len(path) >= 3 and path[0] == "input" and path[1] == "quantities" and path[2].isdigit():
        return int(path[2])
    return None


def _describe(error: wire.UserError) -> str:
    where = ".".join(error.field or [])
    code = f"{error.code}: " if error.code else ""
    return f"{code}{error.message}" + (f" ({where})" if where else "")


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
