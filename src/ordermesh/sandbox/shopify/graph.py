"""GraphQL execution over the shop's state: the schema, its resolvers and connections."""

from __future__ import annotations

import base64
import json
import re
import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema, build_schema
from graphql.execution.values import get_directive_values

from ordermesh.sandbox.shopify import state as st
from ordermesh.sandbox.shopify.state import Shop, gid, iso, parse_gid

MAX_PAGE_SIZE = 250


@cache
def schema() -> GraphQLSchema:
    sdl = resources.files("ordermesh.sandbox.shopify").joinpath("schema.graphql").read_text()
    built = build_schema(sdl)
    built.get_type("Node").resolve_type = lambda value, _info, _type: value.type_name  # type: ignore[union-attr]
    return built


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def field_resolver(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """Reads camelCase fields from snake_case attributes, calling methods with their args."""
    name = info.field_name
    if isinstance(source, dict):
        return source.get(name)
    value = getattr(source, _snake(name), None)
    if callable(value):
        arguments = {_snake(k): v for k, v in args.items()}
        if getattr(value, "needs_info", False):
            return value(info, **arguments)
        return value(**arguments)
    return value


Resolver = TypeVar("Resolver", bound=Callable[..., Any])


def needs_info(resolver: Resolver) -> Resolver:
    """Marks a resolver that also reads the query itself, such as a field's directives."""
    resolver.needs_info = True  # type: ignore[attr-defined]
    return resolver


# --- connections ---------------------------------------------------------------------------


def _encode_cursor(key: tuple[Any, ...]) -> str:
    return base64.b64encode(json.dumps({"k": list(key)}).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[Any, ...]:
    try:
        return tuple(json.loads(base64.b64decode(cursor.encode()))["k"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor!r}") from exc


def _beyond(key: tuple[Any, ...], mark: tuple[Any, ...], reverse: bool, cursor: str) -> bool:
    try:
        return bool(key < mark if reverse else key > mark)
    except TypeError as exc:
        # A cursor made under another sortKey holds values of another type.
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor!r}") from exc


def connection(
    keyed: list[tuple[tuple[Any, ...], Any]],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    reverse: bool = False,
) -> dict[str, Any]:
    """A Relay connection over (sort key, node) pairs; cursors carry the sort key."""
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    for size in (first, last):
        if size is not None and (size < 0 or size > MAX_PAGE_SIZE):
            raise GraphQLError(f"The page size must be between 0 and {MAX_PAGE_SIZE}.")
    ordered = sorted(keyed, key=lambda pair: pair[0], reverse=reverse)
    had_before_after = False
    if after is not None:
        mark = _decode_cursor(after)
        kept = [p for p in ordered if _beyond(p[0], mark, reverse, after)]
        had_before_after = len(kept) < len(ordered)
        ordered = kept
    had_after_before = False
    if before is not None:
        mark = _decode_cursor(before)
        kept = [p for p in ordered if _beyond(p[0], mark, not reverse, before)]
        had_after_before = len(kept) < len(ordered)
        ordered = kept
    has_next = had_after_before
    has_previous = had_before_after
    if first is not None:
        has_next = has_next or len(ordered) > first
        ordered = ordered[:first]
    if last is not None:
        has_previous = has_previous or len(ordered) > last
        ordered = ordered[-last:] if last else []
    edges = [{"cursor": _encode_cursor(key), "node": node} for key, node in ordered]
    return {
        "edges": edges,
        "nodes": [edge["node"] for edge in edges],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _by_id(nodes: list[Any]) -> list[tuple[tuple[Any, ...], Any]]:
    return [((node.numeric_id,), node) for node in nodes]


def money_bag(amount: Decimal, currency: str) -> dict[str, Any]:
    money = {"amount": str(amount.quantize(Decimal("0.01"))), "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": dict(money)}


# --- search syntax -------------------------------------------------------------------------

_TERM = re.compile(r"^(?P<field>[a-z_]+):(?P<op><=|>=|<|>|=)?(?P<value>.*)$")


def _parse_time(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def search_terms(query: str | None) -> list[tuple[str, str, str]]:
    """Splits Shopify search syntax into (field, operator, value); terms are ANDed.

    Free text and terms the sandbox does not know are ignored, as Shopify ignores unknown
    fields rather than failing the query.
    """
    alternatives = search_alternatives(query)
    return alternatives[0] if alternatives else []


def search_alternatives(query: str | None) -> list[list[tuple[str, str, str]]]:
    """Shopify search syntax as alternatives joined by `OR`, each a list of ANDed terms
    (`sku:A OR sku:B` is two alternatives of one term each); AND binds tighter than OR, as
    in Shopify's syntax."""
    if not query:
        return []
    try:
        tokens = shlex.split(query)
    except ValueError:
        tokens = query.split()
    alternatives: list[list[tuple[str, str, str]]] = [[]]
    for token in tokens:
        if token == "OR":
            alternatives.append([])
            continue
        match = _TERM.match(token)
        if match:
            alternatives[-1].append((match["field"], match["op"] or "=", match["value"]))
    return alternatives


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == ">":
        return bool(left > right)
    if op == ">=":
        return bool(left >= right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    return bool(left == right)


_FULFILLMENT_SEARCH = {
    "unshipped": "UNFULFILLED",
    "unfulfilled": "UNFULFILLED",
    "shipped": "FULFILLED",
    "fulfilled": "FULFILLED",
    "partial": "PARTIALLY_FULFILLED",
}


def order_matches(order: st.Order, terms: list[tuple[str, str, str]]) -> bool:
    for field, op, value in terms:
        if field in ("updated_at", "created_at", "processed_at"):
            moment = _parse_time(value)
            if moment is None:
                continue
            own = order.updated_at if field == "updated_at" else order.created_at
            if not _compare(own, op, moment):
                return False
        elif field == "financial_status":
            if order.financial_status.lower() != value.lower():
                return False
        elif field == "fulfillment_status":
            wanted = _FULFILLMENT_SEARCH.get(value.lower())
            if wanted is not None and order.display_fulfillment_status != wanted:
                return False
        elif field == "status":
            status = value.lower()
            if status == "cancelled" and order.cancelled_at is None:
                return False
            if status == "open" and (order.cancelled_at or order.closed_at):
                return False
            if status == "closed" and order.closed_at is None:
                return False
        elif field == "name":
            if order.name.lstrip("#") != value.lstrip("#"):
                return False
        elif field == "id":
            if value.isdigit() and not _compare(order.id, op, int(value)):
                return False
        elif (field == "sku" and all(li.sku != value for li in order.line_items)) or (
            field == "email" and order.email != value
        ):
            return False
    return True


# --- views ---------------------------------------------------------------------------------


class View:
    type_name = ""

    def __init__(self, shop: Shop, numeric_id: int) -> None:
        self.shop = shop
        self.numeric_id = numeric_id

    @property
    def id(self) -> str:
        return gid(self.type_name, self.numeric_id)

    @property
    def legacy_resource_id(self) -> str:
        return str(self.numeric_id)


class ShopView(View):
    type_name = "Shop"

    @property
    def name(self) -> str:
        return self.shop.domain.split(".", 1)[0]

    @property
    def myshopify_domain(self) -> str:
        return self.shop.domain

    @property
    def currency_code(self) -> str:
        return self.shop.currency


class OrderView(View):
    type_name = "Order"

    def __init__(self, shop: Shop, order: st.Order) -> None:
        super().__init__(shop, order.id)
        self.order = order

    @property
    def name(self) -> str:
        return self.order.name

    @property
    def created_at(self) -> str | None:
        return iso(self.order.created_at)

    processed_at = created_at

    @property
    def updated_at(self) -> str | None:
        return iso(self.order.updated_at)

    @property
    def cancelled_at(self) -> str | None:
        return iso(self.order.cancelled_at)

    @property
    def cancel_reason(self) -> str | None:
        return self.order.cancel_reason

    @property
    def closed(self) -> bool:
        return self.order.closed_at is not None

    @property
    def closed_at(self) -> str | None:
        return iso(self.order.closed_at)

    @property
    def display_financial_status(self) -> str:
        return self.order.financial_status

    @property
    def display_fulfillment_status(self) -> str:
        return self.order.display_fulfillment_status

    @property
    def email(self) -> str:
        return self.order.email

    @property
    def note(self) -> str | None:
        return self.order.note

    test = False

    @property
    def currency_code(self) -> str:
        return self.order.currency

    @property
    def total_price_set(self) -> dict[str, Any]:
        return money_bag(self.order.subtotal, self.order.currency)

    subtotal_price_set = total_price_set

    @property
    def current_total_price_set(self) -> dict[str, Any]:
        return money_bag(self.order.subtotal - self.order.total_refunded, self.order.currency)

    @property
    def total_refunded_set(self) -> dict[str, Any]:
        return money_bag(self.order.total_refunded, self.order.currency)

    @property
    def shipping_address(self) -> dict[str, Any]:
        address = self.order.shipping_address
        return {
            "id": f"gid://shopify/MailingAddress/{self.order.id}?model_name=Address",
            "name": address.get("name"),
            "firstName": address.get("first_name"),
            "lastName": address.get("last_name"),
            "company": address.get("company"),
            "address1": address.get("address1"),
            "address2": address.get("address2"),
            "city": address.get("city"),
            "province": address.get("province"),
            "provinceCode": address.get("province_code"),
            "zip": address.get("zip"),
            "country": address.get("country"),
            "countryCodeV2": address.get("country_code"),
            "phone": address.get("phone"),
        }

    def line_items(self, **page: Any) -> dict[str, Any]:
        views = [LineItemView(self.shop, self.order, li) for li in self.order.line_items]
        return connection(_by_id(views), **page)

    def fulfillment_orders(self, **page: Any) -> dict[str, Any]:
        views = [FulfillmentOrderView(self.shop, fo) for fo in self.order.fulfillment_orders]
        return connection(_by_id(views), **page)

    def fulfillments(self, first: int | None = None) -> list[FulfillmentView]:
        views = [FulfillmentView(self.shop, self.order, f) for f in self.order.fulfillments]
        return views[:first] if first is not None else views

    def refunds(self, first: int | None = None) -> list[RefundView]:
        views = [RefundView(self.shop, self.order, r) for r in self.order.refunds]
        return views[:first] if first is not None else views


class LineItemView(View):
    type_name = "LineItem"

    def __init__(self, shop: Shop, order: st.Order, item: st.LineItem) -> None:
        super().__init__(shop, item.id)
        self.order = order
        self.item = item

    @property
    def name(self) -> str:
        return self.item.title

    title = name

    @property
    def sku(self) -> str:
        return self.item.sku

    @property
    def quantity(self) -> int:
        return self.item.quantity

    @property
    def current_quantity(self) -> int:
        return self.item.quantity - self.item.refunded_quantity

    refundable_quantity = current_quantity

    @property
    def unfulfilled_quantity(self) -> int:
        return sum(
            line.remaining_quantity
            for fo in self.order.fulfillment_orders
            for line in fo.lines
            if line.line_item_id == self.item.id
        )

    requires_shipping = True

    @property
    def variant(self) -> VariantView | None:
        variant = self.shop.variants.get(self.item.variant_id)
        return VariantView(self.shop, variant) if variant else None

    @property
    def product(self) -> ProductView | None:
        product = self.shop.products.get(self.item.product_id)
        return ProductView(self.shop, product) if product else None

    @property
    def original_unit_price_set(self) -> dict[str, Any]:
        return money_bag(self.item.price, self.order.currency)

    @property
    def original_total_set(self) -> dict[str, Any]:
        return money_bag(self.item.price * self.item.quantity, self.order.currency)


class ProductView(View):
    type_name = "Product"

    def __init__(self, shop: Shop, product: st.Product) -> None:
        super().__init__(shop, product.id)
        self.product = product

    @property
    def title(self) -> str:
        return self.product.title

    @property
    def handle(self) -> str:
        return self.product.handle

    def variants(self, **page: Any) -> dict[str, Any]:
        views = [VariantView(self.shop, self.shop.variants[v]) for v in self.product.variant_ids]
        return connection(_by_id(views), **page)


class VariantView(View):
    type_name = "ProductVariant"

    def __init__(self, shop: Shop, variant: st.Variant) -> None:
        super().__init__(shop, variant.id)
        self.variant = variant

    @property
    def sku(self) -> str:
        return self.variant.sku

    @property
    def title(self) -> str:
        return self.variant.title

    @property
    def display_name(self) -> str:
        product = self.shop.products[self.variant.product_id]
        return f"{product.title} - {self.variant.title}"

    @property
    def price(self) -> str:
        return str(self.variant.price)

    @property
    def inventory_quantity(self) -> int:
        return self.shop.available_anywhere(self.variant)

    @property
    def inventory_item(self) -> InventoryItemView:
        return InventoryItemView(self.shop, self.variant)

    @property
    def product(self) -> ProductView:
        return ProductView(self.shop, self.shop.products[self.variant.product_id])


class InventoryItemView(View):
    type_name = "InventoryItem"

    def __init__(self, shop: Shop, variant: st.Variant) -> None:
        super().__init__(shop, variant.inventory_item_id)
        self.variant_ = variant

    @property
    def sku(self) -> str:
        return self.variant_.sku

    tracked = True

    @property
    def variant(self) -> VariantView:
        return VariantView(self.shop, self.variant_)

    def inventory_level(self, location_id: str) -> InventoryLevelView | None:
        numeric = parse_gid(location_id, "Location")
        level = self.shop.level(self.numeric_id, numeric) if numeric is not None else None
        return InventoryLevelView(self.shop, level) if level else None

    def inventory_levels(self, **page: Any) -> dict[str, Any]:
        views = [
            InventoryLevelView(self.shop, level)
            for (item_id, _), level in self.shop.levels.items()
            if item_id == self.numeric_id
        ]
        return connection(_by_id(views), **page)


class InventoryLevelView(View):
    type_name = "InventoryLevel"

    def __init__(self, shop: Shop, level: st.InventoryLevel) -> None:
        super().__init__(shop, level.id)
        self.level = level

    @property
    def id(self) -> str:
        # Shopify's inventory level ids name the item they belong to.
        return (
            f"gid://shopify/InventoryLevel/{self.level.id}"
            f"?inventory_item_id={self.level.inventory_item_id}"
        )

    @property
    def updated_at(self) -> str | None:
        return iso(self.level.updated_at)

    @property
    def item(self) -> InventoryItemView:
        variant = self.shop.variant_by_inventory_item(self.level.inventory_item_id)
        assert variant is not None
        return InventoryItemView(self.shop, variant)

    @property
    def location(self) -> LocationView:
        return LocationView(self.shop, self.shop.locations[self.level.location_id])

    def quantities(self, names: list[str]) -> list[dict[str, Any]]:
        found = []
        for name in names:
            if name not in st.QUANTITY_NAMES and name not in ("incoming", "reserved", "damaged"):
                raise GraphQLError(f"Quantity name {name!r} is not valid.")
            found.append(
                {
                    "id": f"gid://shopify/InventoryQuantity/{self.level.id}?name={name}",
                    "name": name,
                    "quantity": self.level.quantities.get(name, 0),
                    "updatedAt": iso(self.level.updated_at),
                }
            )
        return found


class LocationView(View):
    type_name = "Location"

    def __init__(self, shop: Shop, location: st.Location) -> None:
        super().__init__(shop, location.id)
        self.location = location

    @property
    def name(self) -> str:
        return self.location.name

    @property
    def is_active(self) -> bool:
        return self.location.is_active

    fulfills_online_orders = True

    def inventory_level(self, inventory_item_id: str) -> InventoryLevelView | None:
        numeric = parse_gid(inventory_item_id, "InventoryItem")
        level = self.shop.level(numeric, self.numeric_id) if numeric is not None else None
        return InventoryLevelView(self.shop, level) if level else None

    def inventory_levels(self, **page: Any) -> dict[str, Any]:
        views = [
            InventoryLevelView(self.shop, level)
            for (_, location_id), level in self.shop.levels.items()
            if location_id == self.numeric_id
        ]
        return connection(_by_id(views), **page)


class FulfillmentOrderView(View):
    type_name = "FulfillmentOrder"

    def __init__(self, shop: Shop, fo: st.FulfillmentOrder) -> None:
        super().__init__(shop, fo.id)
        self.fo = fo

    @property
    def status(self) -> str:
        return self.fo.status

    @property
    def created_at(self) -> str | None:
        return iso(self.fo.created_at)

    @property
    def updated_at(self) -> str | None:
        return iso(self.fo.updated_at)

    @property
    def order_id(self) -> str:
        return gid("Order", self.fo.order_id)

    @property
    def order(self) -> OrderView:
        return OrderView(self.shop, self.shop.orders[self.fo.order_id])

    @property
    def assigned_location(self) -> dict[str, Any]:
        location = self.shop.locations[self.fo.location_id]
        return {
            "location": LocationView(self.shop, location),
            "name": location.name,
            "countryCode": location.country_code,
        }

    def line_items(self, **page: Any) -> dict[str, Any]:
        order = self.shop.orders[self.fo.order_id]
        views = [FulfillmentOrderLineView(self.shop, order, line) for line in self.fo.lines]
        return connection(_by_id(views), **page)


class FulfillmentOrderLineView(View):
    type_name = "FulfillmentOrderLineItem"

    def __init__(self, shop: Shop, order: st.Order, line: st.FulfillmentOrderLine) -> None:
        super().__init__(shop, line.id)
        self.order = order
        self.line = line

    @property
    def _item(self) -> st.LineItem:
        return next(li for li in self.order.line_items if li.id == self.line.line_item_id)

    @property
    def sku(self) -> str:
        return self._item.sku

    @property
    def total_quantity(self) -> int:
        return self.line.total_quantity

    @property
    def remaining_quantity(self) -> int:
        return self.line.remaining_quantity

    @property
    def line_item(self) -> LineItemView:
        return LineItemView(self.shop, self.order, self._item)


class FulfillmentView(View):
    type_name = "Fulfillment"

    def __init__(self, shop: Shop, order: st.Order, fulfillment: st.Fulfillment) -> None:
        super().__init__(shop, fulfillment.id)
        self.order_ = order
        self.fulfillment = fulfillment

    @property
    def name(self) -> str:
        return f"{self.order_.name}.{self.order_.fulfillments.index(self.fulfillment) + 1}"

    @property
    def status(self) -> str:
        return self.fulfillment.status

    @property
    def created_at(self) -> str | None:
        return iso(self.fulfillment.created_at)

    updated_at = created_at

    @property
    def order(self) -> OrderView:
        return OrderView(self.shop, self.order_)

    @property
    def location(self) -> LocationView:
        return LocationView(self.shop, self.shop.locations[self.fulfillment.location_id])

    def tracking_info(self, first: int | None = None) -> list[dict[str, Any]]:
        infos = [
            {"company": t.company, "number": t.number, "url": t.url}
            for t in self.fulfillment.tracking
        ]
        return infos[:first] if first is not None else infos

    def fulfillment_line_items(self, **page: Any) -> dict[str, Any]:
        items = {li.id: li for li in self.order_.line_items}
        keyed = [
            (
                (index,),
                {
                    "id": f"gid://shopify/FulfillmentLineItem/{self.fulfillment.id}{index:03d}",
                    "quantity": quantity,
                    "lineItem": LineItemView(self.shop, self.order_, items[line_item_id]),
                },
            )
            for index, (line_item_id, quantity) in enumerate(self.fulfillment.lines)
        ]
        return connection(keyed, **page)


class RefundView(View):
    type_name = "Refund"

    def __init__(self, shop: Shop, order: st.Order, refund: st.Refund) -> None:
        super().__init__(shop, refund.id)
        self.order_ = order
        self.refund = refund

    @property
    def created_at(self) -> str | None:
        return iso(self.refund.created_at)

    updated_at = created_at

    @property
    def note(self) -> str | None:
        return self.refund.note

    @property
    def order(self) -> OrderView:
        return OrderView(self.shop, self.order_)

    @property
    def total_refunded_set(self) -> dict[str, Any]:
        return money_bag(self.refund.total, self.order_.currency)

    def refund_line_items(self, **page: Any) -> dict[str, Any]:
        items = {li.id: li for li in self.order_.line_items}
        keyed = [
            (
                (line.id,),
                {
                    "id": gid("RefundLineItem", line.id),
                    "quantity": line.quantity,
                    "restockType": line.restock_type,
                    "restocked": line.restock_type in ("RETURN", "CANCEL"),
                    "lineItem": LineItemView(self.shop, self.order_, items[line.line_item_id]),
                    "location": LocationView(self.shop, self.shop.locations[line.location_id])
                    if line.location_id in self.shop.locations
                    else None,
                    "subtotalSet": money_bag(line.subtotal, self.order_.currency),
                },
            )
            for line in self.refund.lines
        ]
        return connection(keyed, **page)


class AdjustmentGroupView(View):
    type_name = "InventoryAdjustmentGroup"

    def __init__(self, shop: Shop, group: st.InventoryAdjustmentGroup) -> None:
        super().__init__(shop, group.id)
        self.group = group

    @property
    def created_at(self) -> str | None:
        return iso(self.group.created_at)

    @property
    def reason(self) -> str:
        return self.group.reason

    @property
    def reference_document_uri(self) -> str | None:
        return self.group.reference_document_uri

    def changes(
        self,
        inventory_item_ids: list[str] | None = None,
        location_ids: list[str] | None = None,
        quantity_names: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        found = []
        for change in self.group.changes:
            if inventory_item_ids and gid("InventoryItem", change.inventory_item_id) not in (
                inventory_item_ids
            ):
                continue
            if location_ids and gid("Location", change.location_id) not in location_ids:
                continue
            if quantity_names and change.name not in quantity_names:
                continue
            variant = self.shop.variant_by_inventory_item(change.inventory_item_id)
            found.append(
                {
                    "name": change.name,
                    "delta": change.delta,
                    "quantityAfterChange": change.quantity_after_change,
                    "item": InventoryItemView(self.shop, variant) if variant else None,
                    "location": LocationView(self.shop, self.shop.locations[change.location_id]),
                    "ledgerDocumentUri": None,
                }
            )
        return found


# --- roots ---------------------------------------------------------------------------------

_SORT_VALUE = {
    "CREATED_AT": lambda o: iso(o.created_at),
    "PROCESSED_AT": lambda o: iso(o.created_at),
    "UPDATED_AT": lambda o: iso(o.updated_at),
    "ID": lambda o: o.id,
    "ORDER_NUMBER": lambda o: o.number,
    "TOTAL_PRICE": lambda o: int(o.subtotal * 100),
}


class QueryRoot:
    def __init__(self, shop: Shop) -> None:
        self.shop_ = shop

    @property
    def shop(self) -> ShopView:
        return ShopView(self.shop_, 1)

    def node(self, id: str) -> View | None:
        kind = id.removeprefix("gid://shopify/").split("/", 1)[0]
        lookups = {
            "Order": self.order,
            "Product": self.product,
            "ProductVariant": self.product_variant,
            "InventoryItem": self.inventory_item,
            "InventoryLevel": self.inventory_level,
            "Location": self.location,
            "FulfillmentOrder": self.fulfillment_order,
        }
        lookup = lookups.get(kind)
        return lookup(id) if lookup else None

    def order(self, id: str) -> OrderView | None:
        numeric = parse_gid(id, "Order")
        order = self.shop_.orders.get(numeric) if numeric is not None else None
        return OrderView(self.shop_, order) if order else None

    def orders(
        self,
        sort_key: str = "PROCESSED_AT",
        query: str | None = None,
        **page: Any,
    ) -> dict[str, Any]:
        terms = search_terms(query)
        sort_value = _SORT_VALUE[sort_key]
        keyed = [
            ((sort_value(order), order.id), OrderView(self.shop_, order))
            for order in self.shop_.orders.values()
            if order_matches(order, terms)
        ]
        return connection(keyed, **page)

    def product(self, id: str) -> ProductView | None:
        numeric = parse_gid(id, "Product")
        product = self.shop_.products.get(numeric) if numeric is not None else None
        return ProductView(self.shop_, product) if product else None

    def products(self, query: str | None = None, **page: Any) -> dict[str, Any]:
        views = [ProductView(self.shop_, p) for p in self.shop_.products.values()]
        return connection(_by_id(views), **page)

    def product_variant(self, id: str) -> VariantView | None:
        numeric = parse_gid(id, "ProductVariant")
        variant = self.shop_.variants.get(numeric) if numeric is not None else None
        return VariantView(self.shop_, variant) if variant else None

    def _variants(self, query: str | None) -> list[st.Variant]:
        everything = list(self.shop_.variants.values())
        chosen: dict[int, st.Variant] = {}
        for terms in search_alternatives(query) or [[]]:
            variants = everything
            for field, _op, value in terms:
                if field == "sku":
                    variants = [v for v in variants if v.sku == value]
                elif field == "product_id" and value.isdigit():
                    variants = [v for v in variants if v.product_id == int(value)]
            chosen.update((v.id, v) for v in variants)
        return list(chosen.values())

    def product_variants(
        self, sort_key: str = "ID", query: str | None = None, **page: Any
    ) -> dict[str, Any]:
        views = [VariantView(self.shop_, v) for v in self._variants(query)]
        if sort_key == "SKU":
            keyed = [((v.variant.sku, v.numeric_id), v) for v in views]
        elif sort_key == "TITLE":
            keyed = [((v.variant.title, v.numeric_id), v) for v in views]
        else:
            keyed = _by_id(views)
        return connection(keyed, **page)

    def inventory_item(self, id: str) -> InventoryItemView | None:
        numeric = parse_gid(id, "InventoryItem")
        variant = self.shop_.variant_by_inventory_item(numeric) if numeric is not None else None
        return InventoryItemView(self.shop_, variant) if variant else None

    def inventory_items(self, query: str | None = None, **page: Any) -> dict[str, Any]:
        views = [InventoryItemView(self.shop_, v) for v in self._variants(query)]
        return connection(_by_id(views), **page)

    def inventory_level(self, id: str) -> InventoryLevelView | None:
        numeric = parse_gid(id, "InventoryLevel")
        for level in self.shop_.levels.values():
            if level.id == numeric:
                return InventoryLevelView(self.shop_, level)
        return None

    def location(self, id: str | None = None) -> LocationView | None:
        if id is None:
            # Without an id Shopify answers with the shop's primary location.
            first = min(self.shop_.locations, default=None)
            return LocationView(self.shop_, self.shop_.locations[first]) if first else None
        numeric = parse_gid(id, "Location")
        location = self.shop_.locations.get(numeric) if numeric is not None else None
        return LocationView(self.shop_, location) if location else None

    def locations(
        self,
        sort_key: str = "NAME",
        query: str | None = None,
        include_inactive: bool = False,
        **page: Any,
    ) -> dict[str, Any]:
        views = [
            LocationView(self.shop_, loc)
            for loc in self.shop_.locations.values()
            if include_inactive or loc.is_active
        ]
        if sort_key == "NAME":
            keyed = [((v.location.name, v.numeric_id), v) for v in views]
        else:
            keyed = _by_id(views)
        return connection(keyed, **page)

    def fulfillment_order(self, id: str) -> FulfillmentOrderView | None:
        numeric = parse_gid(id, "FulfillmentOrder")
        for order in self.shop_.orders.values():
            for fo in order.fulfillment_orders:
                if fo.id == numeric:
                    return FulfillmentOrderView(self.shop_, fo)
        return None


class MutationRoot:
    def __init__(self, shop: Shop) -> None:
        self.shop = shop

    def fulfillment_create(
        self, fulfillment: dict[str, Any], message: str | None = None
    ) -> dict[str, Any]:
        requests: list[tuple[int, list[tuple[int, int]] | None]] = []
        for group in fulfillment["lineItemsByFulfillmentOrder"]:
            fo_id = parse_gid(group["fulfillmentOrderId"], "FulfillmentOrder") or 0
            lines = group.get("fulfillmentOrderLineItems")
            requests.append(
                (
                    fo_id,
                    None
                    if not lines
                    else [
                        (parse_gid(line["id"], "FulfillmentOrderLineItem") or 0, line["quantity"])
                        for line in lines
                    ],
                )
            )
        tracking_input = fulfillment.get("trackingInfo")
        tracking = None
        if tracking_input:
            numbers = tracking_input.get("numbers") or []
            urls = tracking_input.get("urls") or []
            tracking = st.TrackingInfo(
                tracking_input.get("company"),
                tracking_input.get("number") or (numbers[0] if numbers else None),
                tracking_input.get("url") or (urls[0] if urls else None),
            )
        created, errors = self.shop.fulfil(
            requests, tracking=tracking, notify_customer=bool(fulfillment.get("notifyCustomer"))
        )
        if created is None:
            return {
                "fulfillment": None,
                "userErrors": [{"field": path, "message": text} for path, text in errors],
            }
        order = self.shop.orders[created.order_id]
        return {"fulfillment": FulfillmentView(self.shop, order, created), "userErrors": []}

    @needs_info
    def inventory_set_quantities(
        self,
        info: GraphQLResolveInfo,
        input: dict[str, Any],
    ) -> dict[str, Any]:
        key = _idempotency_key(info)
        if key is None:
            raise GraphQLError(
                "The @idempotent directive is required for this mutation. "
                'Add @idempotent(key: "<unique key>") to inventorySetQuantities.'
            )
        quantities = [
            st.QuantityToSet(
                parse_gid(q["inventoryItemId"], "InventoryItem"),
                parse_gid(q["locationId"], "Location"),
                q["quantity"],
                q.get("changeFromQuantity", "missing"),
            )
            for q in input["quantities"]
        ]
        group, errors = self.shop.set_quantities(
            name=input["name"],
            reason=input["reason"],
            reference_document_uri=input.get("referenceDocumentUri"),
            quantities=quantities,
            idempotency_key=key,
            fingerprint=json.dumps(input, sort_keys=True),
        )
        return {
            "inventoryAdjustmentGroup": AdjustmentGroupView(self.shop, group) if group else None,
            "userErrors": [
                {"code": e.code, "field": e.field, "message": e.message} for e in errors
            ],
        }


def _idempotency_key(info: GraphQLResolveInfo) -> str | None:
    directive = info.schema.get_directive("idempotent")
    assert directive is not None
    values = get_directive_values(directive, info.field_nodes[0], info.variable_values)
    return values["key"] if values else None
