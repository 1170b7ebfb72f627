"""Pure translation: an Orders API v2026-01-01 order → a ChannelOrder snapshot.

No I/O, no business rules: what an Amazon status means in ordermesh's vocabulary is data
(`STATES`), and what ordermesh then does about it is the core's business."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from pydantic import ValidationError

from ordermesh.adapters.channels.amazon import wire
from ordermesh.adapters.channels.amazon.settings import CHANNEL
from ordermesh.domain.commands import ChannelLine, ChannelOrder, ChannelState
from ordermesh.domain.errors import ValidationFailed
from ordermesh.domain.orders import Address, FulfilledBy
from ordermesh.ports.channels import OrderVersion, Unreadable
from ordermesh.ports.shipping import ShipmentNotice
from ordermesh.ports.stock_sync import PushOutcome, PushResult

# Amazon's order statuses, in both spellings: v2026 `fulfillmentStatus` and v0 / ORDER_CHANGE
# `OrderStatus`. PENDING_AVAILABILITY is a pre-order whose payment is not yet authorised.
STATES: dict[str, str] = {
    "PENDING_AVAILABILITY": ChannelState.PENDING,
    "PENDING": ChannelState.PENDING,
    "UNSHIPPED": ChannelState.RELEASED,
    "PARTIALLY_SHIPPED": ChannelState.PARTIALLY_SHIPPED,
    "SHIPPED": ChannelState.SHIPPED,
    "CANCELLED": ChannelState.CANCELLED,
    "PendingAvailability": ChannelState.PENDING,
    "Pending": ChannelState.PENDING,
    "Unshipped": ChannelState.RELEASED,
    "PartiallyShipped": ChannelState.PARTIALLY_SHIPPED,
    "Shipped": ChannelState.SHIPPED,
    "InvoiceUnconfirmed": ChannelState.SHIPPED,
    "Canceled": ChannelState.CANCELLED,
}
# UNFULFILLABLE (MCF orders only) is deliberately absent: it is not an Amazon sales order.

FULFILLED_BY = {"AMAZON": FulfilledBy.MARKETPLACE, "MERCHANT": FulfilledBy.MERCHANT}


def fulfilled_by_code(fulfilled_by: FulfilledBy) -> str:
    """Amazon's `fulfilledBy` for ours (searchOrders filters on it)."""
    return next(code for code, ours in FULFILLED_BY.items() if ours is fulfilled_by)


# Used only when an order carries no amount at all (a Pending order may show no prices).
MARKETPLACE_CURRENCIES = {
    "ATVPDKIKX0DER": "USD",  # US
    "A2EUQ1WTGCTBG2": "CAD",  # CA
    "A1AM78C64UM0Y8": "MXN",  # MX
    "A2Q3Y263D00KWC": "BRL",  # BR
    "A1F83G8C2ARO7P": "GBP",  # UK
    "A1PA6795UKMFR9": "EUR",  # DE
    "A13V1IB3VIYZZH": "EUR",  # FR
    "APJ6JRA9NG5V4": "EUR",  # IT
    "A1RKKUPIHCS9HS": "EUR",  # ES
    "A1805IZSGTT6HS": "EUR",  # NL
    "AMEN7PMS3EDWL": "EUR",  # BE
    "A28R8C7NBKEWEA": "EUR",  # IE
    "A2NODRKZP88ZB9": "SEK",  # SE
    "A1C3SOZRARQ6R3": "PLN",  # PL
    "A33AVAJ2PDY3EV": "TRY",  # TR
    "A2VIGQ35RCS4UG": "AED",  # AE
    "A17E79C6D8DWNP": "SAR",  # SA
    "ARBP9OOSHTCHU": "EGP",  # EG
    "A21TJRUUN4KGV": "INR",  # IN
    "AE08WJ6YKNBMC": "ZAR",  # ZA
    "A1VC38T7YXB528": "JPY",  # JP
    "A39IBJ37TRP1C6": "AUD",  # AU
    "A19VAU5U5O7RUS": "SGD",  # SG
}

BUYER_CANCEL_WITHOUT_REASON = "buyer asked Amazon to cancel"


class Unmappable(ValueError):
    """An order this mapping cannot express faithfully; the message says why."""


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _amount(money: wire.Money | None, currency: str) -> str | None:
    """A non-negative amount as text, or None; the core refuses negative money."""
    if money is None or money.currency_code != currency or not money.amount.is_finite():
        return None
    return str(abs(money.amount)) if money.amount < 0 else str(money.amount)


def _breakdown(breakdowns: list[wire.ProceedsBreakdown], kind: str, currency: str) -> str | None:
    found = [b.subtotal.amount for b in breakdowns if b.type == kind]
    if not found:
        return None
    return _amount(wire.Money(amount=sum(found, Decimal(0)), currencyCode=currency), currency)


def _currency(order: wire.Order) -> str:
    if order.proceeds and order.proceeds.grand_total:
        return order.proceeds.grand_total.currency_code
    for item in order.order_items:
        price = item.product.price
        if price and price.unit_price:
            return price.unit_price.currency_code
    marketplace = order.sales_channel.marketplace_id
    if marketplace in MARKETPLACE_CURRENCIES:
        return MARKETPLACE_CURRENCIES[marketplace]
    raise Unmappable(f"no amount and unknown marketplace {marketplace!r}: cannot tell the currency")


def _line(item: wire.OrderItem, currency: str) -> ChannelLine:
    sku = item.product.seller_sku or item.product.asin
    if not sku:
        raise Unmappable(f"order item {item.order_item_id} has neither a seller SKU nor an ASIN")
    unit_price = item.product.price.unit_price if item.product.price else None
    breakdowns = item.proceeds.breakdowns if item.proceeds else []
    return ChannelLine(
        channel_line_id=item.order_item_id,
        channel_sku=sku,
        quantity=item.quantity_ordered,
        unit_price=_amount(unit_price, currency),
        tax=_breakdown(breakdowns, "TAX", currency),
        discount=_breakdown(breakdowns, "DISCOUNT", currency),
    )


def _address(recipient: wire.Recipient | None) -> Address | None:
    """The delivery address if Amazon shows a complete one (it hides it while Pending)."""
    wire_address = recipient.delivery_address if recipient else None
    if wire_address is None:
        return None
    a = wire_address
    try:
        return Address(
            name=a.name or "",
            line1=a.line1 or "",
            city=a.city or a.municipality or a.district_or_county or "",
            postal_code=a.postal_code or "",
            country=(a.country_code or "").upper(),
            line2=a.line2 or None,
            line3=a.line3 or None,
            state=a.state_or_region or None,
            phone=a.phone or None,
            company=a.company_name or None,
        )
    except ValidationFailed:
        return None


def _buyer_cancel_reason(order: wire.Order) -> str | None:
    for item in order.order_items:
        request = item.cancellation.request if item.cancellation else None
        if request is not None and (request.requester or "BUYER") == "BUYER":
            return request.reason or BUYER_CANCEL_WITHOUT_REASON
    return None


def to_channel_order(order: wire.Order, account_id: str) -> ChannelOrder:
    """Raises Unmappable when the order cannot be expressed without guessing."""
    if order.fulfillment is None:
        raise Unmappable("no fulfillment data (searchOrders was called without FULFILLMENT)")
    state = STATES.get(order.fulfillment.status)
    if state is None:
        raise Unmappable(f"unknown fulfillment status {order.fulfillment.status!r}")
    currency = _currency(order)
    items = [item for item in order.order_items if item.quantity_ordered > 0]
    if not items:
        raise Unmappable("no order item with a quantity")
    fulfilled_by = FULFILLED_BY.get(order.fulfillment.fulfilled_by or "MERCHANT")
    if fulfilled_by is None:
        raise Unmappable(f"unknown fulfilledBy {order.fulfillment.fulfilled_by!r}")
    ship_by = order.fulfillment.ship_by
    deliver_by = order.fulfillment.deliver_by
    buyer = order.buyer
    created, updated = _utc(order.created_time), _utc(order.last_updated_time)
    assert created is not None
    assert updated is not None
    return ChannelOrder(
        channel=CHANNEL,
        channel_account=account_id,
        channel_order_id=order.order_id,
        state=state,
        updated_at=updated,
        purchase_date=created,
        lines=tuple(_line(item, currency) for item in items),
        currency=currency,
        marketplace=order.sales_channel.marketplace_id,
        ship_by=_utc(ship_by.latest) if ship_by else None,
        deliver_by=_utc(deliver_by.latest) if deliver_by else None,
        is_prime="PRIME" in order.programs,
        is_business="AMAZON_BUSINESS" in order.programs,
        fulfilled_by=fulfilled_by,
        service_level=order.fulfillment.service_level,
        buyer_name=buyer.name if buyer else None,
        buyer_email=buyer.email if buyer else None,
        shipping_address=_address(order.recipient),
        total=_amount(order.proceeds.grand_total, currency) if order.proceeds else None,
        buyer_cancel_reason=_buyer_cancel_reason(order),
    )


def version_key(order: ChannelOrder) -> str:
    """One inbox key per order version: the same version seen twice is a no-op; the
    fingerprint keeps two changes stamped with the same time apart."""
    moment = _utc(order.updated_at)
    assert moment is not None
    return (
        f"{order.channel_order_id}@{moment.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{order.fingerprint()}"
    )


def read_order(raw: dict[str, Any], account_id: str) -> OrderVersion | Unreadable:
    """One raw searchOrders order → a version to import, or the reason it cannot be."""
    payload = orjson.dumps(raw).decode()
    order_id = str(raw.get("orderId") or "?")
    try:
        order = wire.Order.model_validate(raw)
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in invalid.errors()[:5]
        )
        key = f"{order_id}@{raw.get('lastUpdatedTime', '?')}"
        return Unreadable(order_id, key, payload, f"not a valid order: {problems}")
    try:
        snapshot = to_channel_order(order, account_id)
    except Unmappable as why:
        return Unreadable(
            order.order_id,
            f"{order.order_id}@{order.last_updated_time.isoformat()}",
            payload,
            str(why),
        )
    return OrderVersion(snapshot, version_key(snapshot), payload)


# -- shipment confirmation (Orders v0 confirmShipment) -----------------------------------------

# Amazon's `carrierCode` values (the CarrierCode list of Seller Central's shipping-confirmation
# help; the model names no enum). Anything else goes as carrierCode "Other" with carrierName.
CARRIER_CODES = (
    "AFL/Fedex",
    "Aramex",
    "Blue Package",
    "BlueDart",
    "Canada Post",
    "Chronopost",
    "City Link",
    "DHL",
    "DHL Global Mail",
    "DPD",
    "DTDC",
    "Delhivery",
    "Deutsche Post",
    "FEDEX_JP",
    "Fastway",
    "FedEx",
    "FedEx SmartPost",
    "First Flight",
    "GLS",
    "GO!",
    "Hermes Logistik Gruppe",
    "India Post",
    "JP_EXPRESS",
    "La Poste",
    "Lasership",
    "NITTSU",
    "Newgistics",
    "NipponExpress",
    "OSM",
    "OnTrac",
    "Overnite Express",
    "Parcelforce",
    "Parcelnet",
    "Poste Italiane",
    "Professional",
    "Royal Mail",
    "SDA",
    "SagawaExpress",
    "Smartmail",
    "Streamlite",
    "TNT",
    "Target",
    "UPS",
    "UPS Mail Innovations",
    "UPSMI",
    "USPS",
    "YamatoTransport",
    "Yodel",
)
OTHER_CARRIER = "Other"


def _carrier_key(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch.isalnum())


# How sellers write some of them.
_CARRIER_ALIASES = {
    "hermes": "Hermes Logistik Gruppe",
    "yamato": "YamatoTransport",
    "sagawa": "SagawaExpress",
    "nipponexpress": "NipponExpress",
    "unitedparcelservice": "UPS",
    "unitedstatespostalservice": "USPS",
    "federalexpress": "FedEx",
    "dhlexpress": "DHL",
    "dhlparcel": "DHL",
    "dhlpaket": "DHL",
    "fedexground": "FedEx",
    "upsmailinnovation": "UPS Mail Innovations",
}
_CARRIERS = {_carrier_key(code): code for code in CARRIER_CODES} | _CARRIER_ALIASES


def carrier_code(carrier: str) -> str | None:
    """Amazon's code for a carrier as the seller wrote it, or None if Amazon has none."""
    return _CARRIERS.get(_carrier_key(carrier))


_PACKAGE_REFERENCE_SPACE = 2_147_483_647


def package_reference_id(shipment_id: str) -> str:
    """A positive number ("only positive numeric values are supported") that is the same for
    every retry of one shipment. Within one order (the scope Amazon keeps it unique in) two
    shipments would collide with a chance of about one in two billion."""
    if shipment_id.isdigit() and 0 < int(shipment_id) <= _PACKAGE_REFERENCE_SPACE:
        return str(int(shipment_id))
    digest = hashlib.sha256(shipment_id.encode()).digest()
    return str(int.from_bytes(digest[:8], "big") % _PACKAGE_REFERENCE_SPACE + 1)


def confirm_shipment_body(notice: ShipmentNotice, marketplace_id: str) -> dict[str, Any]:
    """Raises Unmappable when a line lacks Amazon's orderItemId."""
    items: dict[str, int] = {}
    for line in notice.lines:
        if not line.channel_line_id:
            raise Unmappable(
                f"line {line.sku} has no Amazon orderItemId; the order must be imported from "
                "Amazon before its shipment can be confirmed"
            )
        items[line.channel_line_id] = items.get(line.channel_line_id, 0) + line.quantity
    if not items:
        raise Unmappable("the shipment has no lines")
    code = carrier_code(notice.carrier)
    detail: dict[str, Any] = {
        "packageReferenceId": package_reference_id(notice.shipment_id),
        "carrierCode": code or OTHER_CARRIER,
        "trackingNumber": notice.tracking_number,
        "shipDate": wire.timestamp(notice.shipped_at),
        "orderItems": [{"orderItemId": k, "quantity": q} for k, q in items.items()],
    }
    if code is None:
        detail["carrierName"] = notice.carrier
    if notice.service:
        detail["shippingMethod"] = notice.service
    return {"marketplaceId": marketplace_id, "packageDetail": detail}


# -- stock out (Listings Items patch, JSON_LISTINGS_FEED) --------------------------------------

MERCHANT_CHANNEL = "DEFAULT"
"""`fulfillment_channel_code` of the seller's own (MFN) stock; FBA channels are Amazon's."""
OFFER_PRODUCT_TYPE = "PRODUCT"
"""The product type Amazon accepts for offer-only changes such as a quantity, so that pushing
stock never needs the listing's real product type."""
QUANTITY_PATH = "/attributes/fulfillment_availability"


def quantity_patches(quantity: int) -> list[dict[str, Any]]:
    return [
        {
            "op": "replace",
            "path": QUANTITY_PATH,
            "value": [{"fulfillment_channel_code": MERCHANT_CHANNEL, "quantity": max(quantity, 0)}],
        }
    ]


def quantity_patch_body(quantity: int) -> dict[str, Any]:
    return {"productType": OFFER_PRODUCT_TYPE, "patches": quantity_patches(quantity)}


def push_result_of_submission(channel_sku: str, submission: wire.ListingSubmission) -> PushResult:
    """ACCEPTED → SENT; INVALID → REJECTED with Amazon's ERROR messages."""
    if submission.status == "ACCEPTED":
        return PushResult(channel_sku, PushOutcome.SENT)
    errors = [i for i in submission.issues if i.severity == "ERROR"] or submission.issues
    why = "; ".join(f"{i.code}: {i.message}" for i in errors) or (
        f"Amazon answered {submission.status} without saying why"
    )
    return PushResult(channel_sku, PushOutcome.REJECTED, why)


def listings_feed(seller_id: str, quantities: Sequence[tuple[str, int]]) -> bytes:
    """A JSON_LISTINGS_FEED document (schema v2) setting each SKU's merchant quantity; message
    ids are positions from 1, which is how the processing report refers back to them."""
    messages = [
        {
            "messageId": number,
            "sku": sku,
            "operationType": "PATCH",
            "productType": OFFER_PRODUCT_TYPE,
            "patches": quantity_patches(quantity),
        }
        for number, (sku, quantity) in enumerate(quantities, start=1)
    ]
    return orjson.dumps({"header": {"sellerId": seller_id, "version": "2.0"}, "messages": messages})


def push_results_of_report(skus: Sequence[str], report: wire.ProcessingReport) -> list[PushResult]:
    """Per SKU of a DONE feed (`skus[i]` was message i + 1): an ERROR issue rejects it with
    Amazon's words; warnings and silence mean it was applied."""
    by_message = dict(enumerate(skus, start=1))
    ours = set(skus)
    errors: dict[str, list[str]] = {}
    for issue in report.issues:
        if issue.severity != "ERROR":
            continue
        sku = by_message.get(issue.message_id) if issue.message_id is not None else None
        if sku is None and issue.sku in ours:
            sku = issue.sku
        if sku is not None:
            errors.setdefault(sku, []).append(f"{issue.code}: {issue.message}".strip(": "))
    return [
        PushResult(sku, PushOutcome.REJECTED, "; ".join(errors[sku]))
        if sku in errors
        else PushResult(sku, PushOutcome.SENT)
        for sku in skus
    ]


def feed_failure(report: wire.ProcessingReport | None, status: str) -> str:
    """What a whole feed's failure (FATAL, CANCELLED) says, for every SKU in it."""
    said = "; ".join(i.message for i in report.issues if i.message) if report else ""
    return f"the listings feed ended {status}" + (f": {said}" if said else "")


def merchant_quantities(listings_report: str) -> dict[str, int | None]:
    """GET_MERCHANT_LISTINGS_ALL_DATA (tab-separated, header row) → merchant quantity per
    seller SKU; None for an Amazon-fulfilled listing, whose quantity is not the seller's."""
    lines = listings_report.lstrip("\ufeff").splitlines()
    if not lines:
        return {}
    header = [name.strip().lower() for name in lines[0].split("\t")]
    try:
        sku_at, quantity_at = header.index("seller-sku"), header.index("quantity")
    except ValueError as missing:
        raise Unmappable(f"the merchant listings report has no {missing} column") from missing
    channel_at = header.index("fulfillment-channel") if "fulfillment-channel" in header else None
    found: dict[str, int | None] = {}
    for line in lines[1:]:
        cells = line.split("\t")
        if len(cells) <= max(sku_at, quantity_at) or not cells[sku_at]:
            continue
        channel = cells[channel_at].strip() if channel_at is not None else MERCHANT_CHANNEL
        text = cells[quantity_at].strip()
        merchant = channel in ("", MERCHANT_CHANNEL)
        found[cells[sku_at]] = int(text) if merchant and text.isdigit() else None
    return found


def merchant_quantity(item: wire.ListingsItem) -> int | None:
    for entry in item.fulfillment_availability:
        if entry.channel_code == MERCHANT_CHANNEL:
            return entry.quantity
    return None
