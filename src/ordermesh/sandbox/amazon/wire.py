"""The sandbox's orders rendered in Amazon's JSON and flat-file shapes (ordersV0.json,
orders_2026-01-01.json and the order reports)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ordermesh.sandbox.amazon.clock import iso
from ordermesh.sandbox.amazon.state import (
    CANCELED,
    PARTIALLY_SHIPPED,
    PENDING,
    SHIPPED,
    UNSHIPPED,
    Order,
    OrderLine,
)

V2026_STATUS = {
    PENDING: "PENDING",
    UNSHIPPED: "UNSHIPPED",
    PARTIALLY_SHIPPED: "PARTIALLY_SHIPPED",
    SHIPPED: "SHIPPED",
    CANCELED: "CANCELLED",
}
V0_STATUS = {value: key for key, value in V2026_STATUS.items()}
FULFILLED_BY = {"AFN": "AMAZON", "MFN": "MERCHANT"}
_ADDRESS_STATUSES = frozenset({UNSHIPPED, PARTIALLY_SHIPPED, SHIPPED})
_V2026_SERVICE_LEVEL = {"Expedited": "EXPEDITED", "Standard": "STANDARD"}


def _amount(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


def money_v0(value: Decimal, currency: str) -> dict[str, str]:
    return {"CurrencyCode": currency, "Amount": _amount(value)}


def money_v2026(value: Decimal, currency: str) -> dict[str, str]:
    return {"amount": _amount(value), "currencyCode": currency}


def order_v0(order: Order) -> dict[str, Any]:
    body: dict[str, Any] = {
        "AmazonOrderId": order.order_id,
        "PurchaseDate": iso(order.created),
        "LastUpdateDate": iso(order.last_updated),
        "OrderStatus": order.status,
        "FulfillmentChannel": order.fulfillment_channel,
        "SalesChannel": order.marketplace.sales_channel,
        "ShipServiceLevel": f"{order.service_level}{'' if order.is_prime else ' Shipping'}",
        "NumberOfItemsShipped": order.items_shipped,
        "NumberOfItemsUnshipped": order.items_unshipped,
        "PaymentMethod": "Other",
        "PaymentMethodDetails": ["Standard"],
        "MarketplaceId": order.marketplace_id,
        "ShipmentServiceLevelCategory": order.service_level,
        "OrderType": "StandardOrder",
        "IsBusinessOrder": order.is_business,
        "IsPrime": order.is_prime,
        "IsPremiumOrder": False,
        "IsGlobalExpressEnabled": False,
        "IsReplacementOrder": False,
        "IsSoldByAB": False,
        "IsISPU": False,
        "IsAccessPointOrder": False,
        "HasRegulatedItems": False,
    }
    if order.status != PENDING:
        body["OrderTotal"] = money_v0(order.total, order.currency)
    if order.fulfillment_channel == "MFN":
        body["EarliestShipDate"] = iso(order.earliest_ship)
        body["LatestShipDate"] = iso(order.latest_ship)
    if order.status not in (PENDING, CANCELED):
        body["EarliestDeliveryDate"] = iso(order.earliest_delivery)
        body["LatestDeliveryDate"] = iso(order.latest_delivery)
    if order.status in _ADDRESS_STATUSES:
        address = {
            key: value
            for key, value in order.address.items()
            if not (key == "Phone" and order.fulfillment_channel == "AFN")
        }
        body["ShippingAddress"] = address
    return body


def order_item_v0(order: Order, line: OrderLine) -> dict[str, Any]:
    item: dict[str, Any] = {
        "ASIN": line.asin,
        "SellerSKU": line.sku,
        "OrderItemId": line.order_item_id,
        "Title": line.title,
        "QuantityOrdered": line.quantity,
        "QuantityShipped": line.quantity_shipped,
        "ProductInfo": {"NumberOfItems": "1"},
        "ConditionId": "New",
        "ConditionSubtypeId": "New",
        "IsTransparency": False,
        "SerialNumberRequired": False,
        "BuyerRequestedCancel": {
            "IsBuyerRequestedCancel": "true" if line.buyer_requested_cancel else "false",
            "BuyerCancelReason": line.buyer_cancel_reason or "",
        },
    }
    # The model: a Pending order's items carry no pricing, taxes, gift status or promotions.
    if order.status != PENDING:
        zero = Decimal("0")
        item.update(
            {
                "ItemPrice": money_v0(line.unit_price * line.quantity, order.currency),
                "ItemTax": money_v0(zero, order.currency),
                "ShippingPrice": money_v0(zero, order.currency),
                "ShippingTax": money_v0(zero, order.currency),
                "ShippingDiscount": money_v0(zero, order.currency),
                "PromotionDiscount": money_v0(zero, order.currency),
                "PromotionDiscountTax": money_v0(zero, order.currency),
                "IsGift": "false",
                "PromotionIds": [],
            }
        )
    return item


def order_v2026(order: Order, included: set[str]) -> dict[str, Any]:
    programs = []
    if order.is_prime:
        programs.append("PRIME")
    if order.is_business:
        programs.append("AMAZON_BUSINESS")
    if order.fulfillment_channel == "AFN":
        programs.append("DELIVERY_BY_AMAZON")
    body: dict[str, Any] = {
        "orderId": order.order_id,
        "createdTime": iso(order.created),
        "lastUpdatedTime": iso(order.last_updated),
        "programs": programs,
        "salesChannel": {
            "channelName": "AMAZON",
            "marketplaceId": order.marketplace_id,
            "marketplaceName": order.marketplace.sales_channel,
        },
        "orderItems": [_item_v2026(order, line, included) for line in order.lines],
    }
    if "BUYER" in included:
        body["buyer"] = {"buyerName": order.buyer_name, "buyerEmail": order.buyer_email}
    if "RECIPIENT" in included and order.status in _ADDRESS_STATUSES:
        address = order.address
        delivery: dict[str, Any] = {
            "name": address["Name"],
            "addressLine1": address["AddressLine1"],
            "city": address["City"],
            "stateOrRegion": address["StateOrRegion"],
            "postalCode": address["PostalCode"],
            "countryCode": address["CountryCode"],
            "addressType": address["AddressType"].upper(),
        }
        if order.fulfillment_channel == "MFN":
            delivery["phone"] = address["Phone"]
        body["recipient"] = {"deliveryAddress": delivery}
    if "PROCEEDS" in included and order.status != PENDING:
        body["proceeds"] = {"grandTotal": money_v2026(order.total, order.currency)}
    if "FULFILLMENT" in included:
        fulfillment: dict[str, Any] = {
            "fulfillmentStatus": V2026_STATUS[order.status],
            "fulfilledBy": FULFILLED_BY[order.fulfillment_channel],
            "fulfillmentServiceLevel": _V2026_SERVICE_LEVEL[order.service_level],
        }
        if order.fulfillment_channel == "MFN":
            fulfillment["shipByWindow"] = {
                "earliestDateTime": iso(order.earliest_ship),
                "latestDateTime": iso(order.latest_ship),
            }
        if order.status not in (PENDING, CANCELED):
            fulfillment["deliverByWindow"] = {
                "earliestDateTime": iso(order.earliest_delivery),
                "latestDateTime": iso(order.latest_delivery),
            }
        body["fulfillment"] = fulfillment
    if "PACKAGES" in included and order.packages:
        body["packages"] = [
            {
                "packageReferenceId": package.package_reference_id,
                "createdTime": iso(package.created),
                "packageStatus": {"status": "SHIPPED"},
                "carrier": package.carrier_name or package.carrier_code,
                "shipTime": iso(package.ship_date),
                "shippingService": package.shipping_method or "",
                "trackingNumber": package.tracking_number,
                "packageItems": [
                    {"orderItemId": item_id, "quantity": quantity}
                    for item_id, quantity in package.items.items()
                ],
            }
            for package in order.packages.values()
        ]
    return body


def _item_v2026(order: Order, line: OrderLine, included: set[str]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "orderItemId": line.order_item_id,
        "quantityOrdered": line.quantity,
        "product": {
            "asin": line.asin,
            "title": line.title,
            "sellerSku": line.sku,
            "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
            "price": {"unitPrice": money_v2026(line.unit_price, order.currency)},
        },
    }
    if "PROCEEDS" in included and order.status != PENDING:
        subtotal = money_v2026(line.unit_price * line.quantity, order.currency)
        item["proceeds"] = {
            "proceedsTotal": subtotal,
            "breakdowns": [{"type": "ITEM", "subtotal": subtotal}],
        }
    if "CANCELLATION" in included and line.buyer_requested_cancel:
        item["cancellation"] = {
            "cancellationRequest": {
                "requester": "BUYER",
                "cancelReason": line.buyer_cancel_reason or "",
            }
        }
    if "FULFILLMENT" in included:
        unfulfilled = 0 if order.status == CANCELED else line.quantity - line.quantity_shipped
        item["fulfillment"] = {
            "quantityFulfilled": line.quantity_shipped,
            "quantityUnfulfilled": unfulfilled,
        }
    return item


FLAT_FILE_COLUMNS = (
    "amazon-order-id",
    "merchant-order-id",
    "purchase-date",
    "last-updated-date",
    "order-status",
    "fulfillment-channel",
    "sales-channel",
    "order-channel",
    "ship-service-level",
    "product-name",
    "sku",
    "asin",
    "item-status",
    "quantity",
    "currency",
    "item-price",
    "item-tax",
    "shipping-price",
    "shipping-tax",
    "ship-city",
    "ship-state",
    "ship-postal-code",
    "ship-country",
    "is-business-order",
)


def orders_flat_file(orders: list[Order]) -> str:
    """The tab-separated layout of the GET_FLAT_FILE_ALL_ORDERS_DATA_* reports, one row per
    order item."""
    rows = ["\t".join(FLAT_FILE_COLUMNS)]
    for order in orders:
        for line in order.lines:
            priced = order.status != PENDING
            values = (
                order.order_id,
                "",
                iso(order.created),
                iso(order.last_updated),
                order.status,
                "Amazon" if order.fulfillment_channel == "AFN" else "Merchant",
                order.marketplace.sales_channel,
                "",
                order.service_level,
                line.title,
                line.sku,
                line.asin,
                order.status,
                str(line.quantity),
                order.currency if priced else "",
                _amount(line.unit_price * line.quantity) if priced else "",
                "0.00" if priced else "",
                "0.00" if priced else "",
                "0.00" if priced else "",
                order.address["City"],
                order.address["StateOrRegion"],
                order.address["PostalCode"],
                order.address["CountryCode"],
                "true" if order.is_business else "false",
            )
            rows.append("\t".join(value.replace("\t", " ") for value in values))
    return "\n".join(rows) + "\n"
