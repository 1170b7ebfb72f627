"""Pure translation: an Orders API v2026-01-01 order → a ChannelOrder snapshot.

No I/O, no business rules: what an Amazon status means in ordermesh's vocabulary is data
(`STATES`), and what ordermesh then does about it is the core's business."""

from __future__ import annotations

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
