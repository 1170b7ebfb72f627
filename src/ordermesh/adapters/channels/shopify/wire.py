"""Shopify's JSON as the connector reads it: Admin GraphQL nodes (camelCase) and the REST-shaped
webhook payloads (snake_case). Only the fields ordermesh uses; anything else is ignored, so a
field Shopify adds does not break an import."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Graph(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class _Rest(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- GraphQL: the calculated query cost ------------------------------------------------------
class ThrottleStatus(_Graph):
    maximum_available: float
    currently_available: float
    restore_rate: float


class QueryCost(_Graph):
    requested_query_cost: float | None = None
    actual_query_cost: float | None = None
    throttle_status: ThrottleStatus | None = None


# -- GraphQL: orders -------------------------------------------------------------------------
class Money(_Graph):
    amount: Decimal
    currency_code: str | None = None


class MoneyBag(_Graph):
    shop_money: Money


class MailingAddress(_Graph):
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    province_code: str | None = None
    zip: str | None = None
    country_code_v2: str | None = Field(default=None, alias="countryCodeV2")
    phone: str | None = None


class NodeRef(_Graph):
    id: str


class LineItem(_Graph):
    id: str
    sku: str | None = None
    quantity: int
    current_quantity: int | None = None
    variant: NodeRef | None = None
    original_unit_price_set: MoneyBag | None = None


class PageInfo(_Graph):
    has_next_page: bool
    end_cursor: str | None = None


class LineItemConnection(_Graph):
    nodes: list[LineItem]
    page_info: PageInfo | None = None


class OrderNode(_Graph):
    id: str
    legacy_resource_id: int
    name: str
    created_at: datetime
    updated_at: datetime
    processed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    display_financial_status: str | None = None
    display_fulfillment_status: str
    email: str | None = None
    currency_code: str
    total_price_set: MoneyBag | None = None
    shipping_address: MailingAddress | None = None
    line_items: LineItemConnection


class OrderEdge(_Graph):
    cursor: str
    node: OrderNode


class OrderConnection(_Graph):
    edges: list[OrderEdge]
    page_info: PageInfo


# -- GraphQL: fulfilment and inventory -------------------------------------------------------
class FulfillmentOrderLine(_Graph):
    id: str
    remaining_quantity: int
    line_item: NodeRef


class FulfillmentOrderLines(_Graph):
    nodes: list[FulfillmentOrderLine]


class AssignedLocation(_Graph):
    location: NodeRef | None = None


class FulfillmentOrder(_Graph):
    id: str
    status: str
    assigned_location: AssignedLocation
    line_items: FulfillmentOrderLines


class TrackingInfo(_Graph):
    company: str | None = None
    number: str | None = None
    url: str | None = None


class FulfillmentLine(_Graph):
    quantity: int | None = None
    line_item: NodeRef


class FulfillmentLines(_Graph):
    nodes: list[FulfillmentLine]


class Fulfillment(_Graph):
    id: str
    status: str
    tracking_info: list[TrackingInfo] = []
    fulfillment_line_items: FulfillmentLines


class UserError(_Graph):
    field: list[str] | None = None
    message: str
    code: str | None = None


# -- REST-shaped webhook payloads ------------------------------------------------------------
class RestAddress(_Rest):
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    province_code: str | None = None
    zip: str | None = None
    country_code: str | None = None
    phone: str | None = None


class RestLineItem(_Rest):
    id: int
    sku: str | None = None
    variant_id: int | None = None
    quantity: int
    current_quantity: int | None = None
    price: Decimal | None = None


class RestOrder(_Rest):
    """The order resource that `orders/create`, `orders/updated` and `orders/cancelled` carry."""

    id: int
    admin_graphql_api_id: str | None = None
    name: str
    email: str | None = None
    created_at: datetime
    updated_at: datetime
    processed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    financial_status: str | None = None
    fulfillment_status: str | None = None
    currency: str
    total_price: Decimal | None = None
    shipping_address: RestAddress | None = None
    line_items: list[RestLineItem]


class RestRefund(_Rest):
    """What `refunds/create` carries: the refund, naming its order by id only."""

    id: int
    order_id: int
