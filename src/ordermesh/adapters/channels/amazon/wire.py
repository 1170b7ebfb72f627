"""Pydantic models of the SP-API JSON that ordermesh reads, after orders_2026-01-01.json.

Lenient where Amazon is: unknown fields are ignored, enums are plain strings (Amazon adds
values without notice; `mapping` decides what an unknown value means), and almost every field
is optional because `includedData` and the order's state decide what Amazon sends."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def timestamp(moment: datetime) -> str:
    """A moment as SP-API takes it in a query or a body: ISO 8601 in UTC, to the second."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%SZ")


def moment_of(text: Any) -> datetime | None:
    """An SP-API date-time read leniently, in UTC: None when it is missing or not ISO 8601."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Money(Wire):
    amount: Decimal
    currency_code: str = Field(alias="currencyCode")


class DateTimeRange(Wire):
    earliest: datetime | None = Field(default=None, alias="earliestDateTime")
    latest: datetime | None = Field(default=None, alias="latestDateTime")


class SalesChannel(Wire):
    channel_name: str | None = Field(default=None, alias="channelName")
    marketplace_id: str | None = Field(default=None, alias="marketplaceId")
    marketplace_name: str | None = Field(default=None, alias="marketplaceName")


class Buyer(Wire):
    name: str | None = Field(default=None, alias="buyerName")
    email: str | None = Field(default=None, alias="buyerEmail")
    company: str | None = Field(default=None, alias="buyerCompanyName")
    purchase_order_number: str | None = Field(default=None, alias="buyerPurchaseOrderNumber")


class CustomerAddress(Wire):
    name: str | None = None
    company_name: str | None = Field(default=None, alias="companyName")
    line1: str | None = Field(default=None, alias="addressLine1")
    line2: str | None = Field(default=None, alias="addressLine2")
    line3: str | None = Field(default=None, alias="addressLine3")
    city: str | None = None
    district_or_county: str | None = Field(default=None, alias="districtOrCounty")
    state_or_region: str | None = Field(default=None, alias="stateOrRegion")
    municipality: str | None = None
    postal_code: str | None = Field(default=None, alias="postalCode")
    country_code: str | None = Field(default=None, alias="countryCode")
    phone: str | None = None
    address_type: str | None = Field(default=None, alias="addressType")


class Recipient(Wire):
    delivery_address: CustomerAddress | None = Field(default=None, alias="deliveryAddress")


class ProceedsBreakdown(Wire):
    type: str
    subtotal: Money


class OrderProceeds(Wire):
    grand_total: Money | None = Field(default=None, alias="grandTotal")
    breakdowns: list[ProceedsBreakdown] = Field(default_factory=list)


class OrderFulfillment(Wire):
    status: str = Field(alias="fulfillmentStatus")
    fulfilled_by: str | None = Field(default=None, alias="fulfilledBy")
    service_level: str | None = Field(default=None, alias="fulfillmentServiceLevel")
    ship_by: DateTimeRange | None = Field(default=None, alias="shipByWindow")
    deliver_by: DateTimeRange | None = Field(default=None, alias="deliverByWindow")


class ItemPrice(Wire):
    unit_price: Money | None = Field(default=None, alias="unitPrice")


class ItemProduct(Wire):
    asin: str | None = None
    title: str | None = None
    seller_sku: str | None = Field(default=None, alias="sellerSku")
    price: ItemPrice | None = None


class ItemProceeds(Wire):
    total: Money | None = Field(default=None, alias="proceedsTotal")
    breakdowns: list[ProceedsBreakdown] = Field(default_factory=list)


class CancellationRequest(Wire):
    requester: str | None = None
    reason: str | None = Field(default=None, alias="cancelReason")


class ItemCancellation(Wire):
    request: CancellationRequest | None = Field(default=None, alias="cancellationRequest")


class ItemFulfillment(Wire):
    quantity_fulfilled: int | None = Field(default=None, alias="quantityFulfilled")
    quantity_unfulfilled: int | None = Field(default=None, alias="quantityUnfulfilled")


class OrderItem(Wire):
    order_item_id: str = Field(alias="orderItemId")
    quantity_ordered: int = Field(alias="quantityOrdered")
    product: ItemProduct = Field(default_factory=ItemProduct)
    proceeds: ItemProceeds | None = None
    cancellation: ItemCancellation | None = None
    fulfillment: ItemFulfillment | None = None


class Order(Wire):
    order_id: str = Field(alias="orderId", min_length=1)
    created_time: datetime = Field(alias="createdTime")
    last_updated_time: datetime = Field(alias="lastUpdatedTime")
    programs: list[str] = Field(default_factory=list)
    sales_channel: SalesChannel = Field(alias="salesChannel")
    buyer: Buyer | None = None
    recipient: Recipient | None = None
    proceeds: OrderProceeds | None = None
    fulfillment: OrderFulfillment | None = None
    order_items: list[OrderItem] = Field(alias="orderItems")


class Pagination(Wire):
    next_token: str | None = Field(default=None, alias="nextToken")


class SearchOrdersPage(Wire):
    """One page of searchOrders. Orders stay raw here so that one order Amazon got wrong
    is reported on its own instead of spoiling its whole page."""

    orders: list[dict[str, Any]]
    pagination: Pagination | None = None
    last_updated_before: datetime | None = Field(default=None, alias="lastUpdatedBefore")
    created_before: datetime | None = Field(default=None, alias="createdBefore")


class Error(Wire):
    code: str = ""
    message: str = ""
    details: str | None = None


class ErrorList(Wire):
    errors: list[Error] = Field(default_factory=list)


class LwaToken(Wire):
    access_token: str = Field(min_length=1)
    expires_in: int = 3600
    token_type: str | None = None


class LwaError(Wire):
    error: str = ""
    error_description: str = ""


# -- Orders v2026 packages (getOrder with includedData=PACKAGES) ------------------------------


class OrderPackage(Wire):
    package_reference_id: str = Field(alias="packageReferenceId")
    tracking_number: str | None = Field(default=None, alias="trackingNumber")
    carrier: str | None = None


class PackagesOfOrder(Wire):
    order_id: str = Field(alias="orderId")
    packages: list[OrderPackage] = Field(default_factory=list)


class GetOrderPackages(Wire):
    order: PackagesOfOrder


# -- Listings Items 2021-08-01 ----------------------------------------------------------------


class ListingIssue(Wire):
    code: str = ""
    message: str = ""
    severity: str = "ERROR"
    attribute_names: list[str] = Field(default_factory=list, alias="attributeNames")


class ListingSubmission(Wire):
    """patchListingsItem's answer."""

    sku: str
    status: str
    submission_id: str = Field(alias="submissionId")
    issues: list[ListingIssue] = Field(default_factory=list)


class FulfillmentAvailability(Wire):
    channel_code: str = Field(alias="fulfillmentChannelCode")
    quantity: int | None = None


class ListingsItem(Wire):
    sku: str
    fulfillment_availability: list[FulfillmentAvailability] = Field(
        default_factory=list, alias="fulfillmentAvailability"
    )


class ListingsSearch(Wire):
    """searchListingsItems' `ItemSearchResults`, as far as ordermesh reads it."""

    items: list[ListingsItem]


# -- Feeds 2021-06-30 -------------------------------------------------------------------------


class DocumentUpload(Wire):
    """createFeedDocument's answer: where to upload the feed, for five minutes."""

    document_id: str = Field(alias="feedDocumentId")
    url: str


class CreatedFeed(Wire):
    feed_id: str = Field(alias="feedId")


class Feed(Wire):
    feed_id: str = Field(alias="feedId")
    processing_status: str = Field(alias="processingStatus")
    result_document_id: str | None = Field(default=None, alias="resultFeedDocumentId")


class DocumentLocation(Wire):
    """getFeedDocument: a presigned URL, perhaps of a gzip."""

    url: str
    compression: str | None = Field(default=None, alias="compressionAlgorithm")


class ProcessingIssue(Wire):
    """One issue of a JSON_LISTINGS_FEED processing report (schema v2)."""

    message_id: int | None = Field(default=None, alias="messageId")
    sku: str | None = None
    code: str = ""
    severity: str = "ERROR"
    message: str = ""


class ProcessingReport(Wire):
    issues: list[ProcessingIssue] = Field(default_factory=list)
