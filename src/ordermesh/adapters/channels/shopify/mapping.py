"""Pure translation of a Shopify order into ordermesh's vocabulary.

Two shapes carry the same order: the Admin GraphQL `Order` node the reconciliation poll reads,
and the REST-shaped order resource that `orders/*` webhooks deliver. Both end as one
`ChannelOrder`, with the same channel order id (the numeric order id), the same line ids and the
same version key, so a webhook and a poll that saw the same version are one inbox row."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ordermesh.adapters.channels.shopify import wire
from ordermesh.adapters.channels.shopify.settings import CHANNEL
from ordermesh.domain.commands import ChannelLine, ChannelOrder, ChannelState
from ordermesh.domain.errors import ValidationFailed
from ordermesh.domain.orders import Address
from ordermesh.ports.channels import OrderVersion, Unreadable

log = logging.getLogger(__name__)

# Where the goods are decides first: what Shopify has fulfilled is shipped whatever the payment
# says. GraphQL `displayFulfillmentStatus` names; REST names are translated to these first.
STATE_BY_FULFILLMENT: Mapping[str, str] = {
    "FULFILLED": ChannelState.SHIPPED,
    "PARTIALLY_FULFILLED": ChannelState.PARTIALLY_SHIPPED,
}
# Then the money: an order is released for allocation once Shopify holds the buyer's payment
# (captured, part-paid, or authorised for capture at fulfilment, which is how manual-capture
# shops work). Unpaid, voided or expired payments keep it pending, so it reserves no stock.
STATE_BY_FINANCIAL: Mapping[str, str] = {
    "PENDING": ChannelState.PENDING,
    "AUTHORIZED": ChannelState.RELEASED,
    "PARTIALLY_PAID": ChannelState.RELEASED,
    "PAID": ChannelState.RELEASED,
    "PARTIALLY_REFUNDED": ChannelState.RELEASED,
    "REFUNDED": ChannelState.RELEASED,
    "VOIDED": ChannelState.PENDING,
    "EXPIRED": ChannelState.PENDING,
}
UNKNOWN_FINANCIAL_STATE = ChannelState.PENDING
"""A payment state this version does not know is not allocated until a person looks."""

# REST `fulfillment_status` → the GraphQL name (null means nothing is fulfilled).
_REST_FULFILLMENT = {"fulfilled": "FULFILLED", "partial": "PARTIALLY_FULFILLED"}


class UnreadableOrder(ValueError):
    """A payload that is not a Shopify order ordermesh can translate."""


def numeric_id(gid_or_id: str | int) -> str:
    """`gid://shopify/Order/450789469` or 450789469 → "450789469"."""
    return str(gid_or_id).rsplit("/", 1)[-1]


def gid(kind: str, numeric: str | int) -> str:
    return f"gid://shopify/{kind}/{numeric}"


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise UnreadableOrder(f"time {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)


def version_key(order: ChannelOrder) -> str:
    """One key per order version, whichever way it arrived (webhook or poll); the fingerprint
    keeps two changes within Shopify's one-second `updated_at` apart."""
    moment = _utc(order.updated_at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{order.channel_order_id}@{moment}#{order.fingerprint()}"


def channel_state(
    *,
    cancelled: bool,
    fulfillment_status: str | None,
    financial_status: str | None,
    units_left: int,
) -> str:
    """Where the order is, in ordermesh's channel vocabulary."""
    if cancelled:
        return ChannelState.CANCELLED
    shipped = STATE_BY_FULFILLMENT.get((fulfillment_status or "").upper())
    if shipped is not None:
        return shipped
    if units_left == 0:
        # Every unit refunded or removed before anything shipped: there is nothing to send,
        # even though Shopify leaves the order open.
        return ChannelState.CANCELLED
    return STATE_BY_FINANCIAL.get((financial_status or "").upper(), UNKNOWN_FINANCIAL_STATE)


def _lines(
    items: Sequence[tuple[str, str, int, int | None, str | None]],
) -> tuple[ChannelLine, ...]:
    """(line id, channel SKU, ordered, still wanted, unit price) → lines to fulfil.

    Units refunded or removed before shipping are not wanted; a line with none left is
    dropped unless none is left anywhere, so that a fully refunded order keeps its lines."""
    wanted = [(i, sku, cur if cur is not None else q, price) for i, sku, q, cur, price in items]
    if any(units > 0 for _, _, units, _ in wanted):
        kept = [w for w in wanted if w[2] > 0]
    else:
        kept = [(i, sku, q, price) for i, sku, q, _, price in items]
    return tuple(
        ChannelLine(channel_line_id=i, channel_sku=sku, quantity=units, unit_price=price)
        for i, sku, units, price in kept
    )


def _channel_sku(sku: str | None, variant_id: str | None, line_id: str) -> str:
    # A variant without a SKU still has to be matched to a product: its variant id is what a
    # seller can put in a listing; failing that, the line shows up as an unknown SKU hold.
    if sku and sku.strip():
        return sku.strip()
    if variant_id:
        return f"shopify-variant-{variant_id}"
    return f"shopify-line-{line_id}"


def _address(
    *,
    name: str | None,
    first_name: str | None,
    last_name: str | None,
    line1: str | None,
    line2: str | None,
    city: str | None,
    state: str | None,
    postal_code: str | None,
    country: str | None,
    phone: str | None,
    company: str | None,
    order_ref: str,
) -> Address | None:
    full_name = name or " ".join(p for p in (first_name, last_name) if p) or None
    try:
        return Address(
            name=full_name or "",
            line1=line1 or "",
            city=city or "",
            postal_code=postal_code or "",
            country=(country or "").upper(),
            line2=line2 or None,
            state=state or None,
            phone=phone or None,
            company=company or None,
        )
    except ValidationFailed as exc:
        # The order still comes in (stock must be reserved); it simply cannot be shipped until
        # someone completes the address, which the missing address makes plain.
        log.warning("shopify order %s: shipping address left out: %s", order_ref, exc.message)
        return None


def _shipping_address(a: Any, *, country: str | None, order_ref: str) -> Address | None:
    """Both wire shapes name the address fields alike but for the country code."""
    if a is None:
        return None
    return _address(
        name=a.name,
        first_name=a.first_name,
        last_name=a.last_name,
        line1=a.address1,
        line2=a.address2,
        city=a.city,
        state=a.province_code,
        postal_code=a.zip,
        country=country,
        phone=a.phone,
        company=a.company,
        order_ref=order_ref,
    )


def _snapshot(
    *,
    account_id: str,
    order_id: str,
    items: list[tuple[str, str, int, int | None, str | None]],
    address: Address | None,
    cancelled: bool,
    fulfillment_status: str | None,
    financial_status: str | None,
    updated_at: datetime,
    purchase_date: datetime,
    currency: str,
    email: str | None,
    total: str | None,
) -> ChannelOrder:
    """The one place a Shopify order becomes a snapshot, whichever way it came: a webhook and
    a poll of the same version must give equal snapshots (and so one inbox key)."""
    return ChannelOrder(
        channel=CHANNEL,
        channel_account=account_id,
        channel_order_id=order_id,
        state=channel_state(
            cancelled=cancelled,
            fulfillment_status=fulfillment_status,
            financial_status=financial_status,
            units_left=sum(cur if cur is not None else q for _, _, q, cur, _ in items),
        ),
        updated_at=_utc(updated_at),
        purchase_date=_utc(purchase_date),
        lines=_lines(items),
        currency=currency,
        buyer_name=address.name if address else None,
        buyer_email=email,
        shipping_address=address,
        total=total,
    )


def from_graphql(node: wire.OrderNode, *, account_id: str) -> ChannelOrder:
    """An Admin GraphQL `Order` node → our snapshot of it."""
    items = [
        (
            numeric_id(li.id),
            _channel_sku(li.sku, numeric_id(li.variant.id) if li.variant else None, li.id),
            li.quantity,
            li.current_quantity,
            str(li.original_unit_price_set.shop_money.amount)
            if li.original_unit_price_set
            else None,
        )
        for li in node.line_items.nodes
    ]
    a = node.shipping_address
    return _snapshot(
        account_id=account_id,
        order_id=str(node.legacy_resource_id),
        items=items,
        address=_shipping_address(a, country=a.country_code_v2 if a else None, order_ref=node.name),
        cancelled=node.cancelled_at is not None,
        fulfillment_status=node.display_fulfillment_status,
        financial_status=node.display_financial_status,
        updated_at=node.updated_at,
        purchase_date=node.processed_at or node.created_at,
        currency=node.currency_code,
        email=node.email,
        total=str(node.total_price_set.shop_money.amount) if node.total_price_set else None,
    )


def from_webhook(order: wire.RestOrder, *, account_id: str) -> ChannelOrder:
    """The order resource of an `orders/*` webhook → our snapshot of it."""
    items = [
        (
            str(li.id),
            _channel_sku(li.sku, str(li.variant_id) if li.variant_id else None, str(li.id)),
            li.quantity,
            li.current_quantity,
            str(li.price) if li.price is not None else None,
        )
        for li in order.line_items
    ]
    a = order.shipping_address
    return _snapshot(
        account_id=account_id,
        order_id=str(order.id),
        items=items,
        address=_shipping_address(a, country=a.country_code if a else None, order_ref=order.name),
        cancelled=order.cancelled_at is not None,
        fulfillment_status=_REST_FULFILLMENT.get(order.fulfillment_status or ""),
        financial_status=order.financial_status,
        updated_at=order.updated_at,
        purchase_date=order.processed_at or order.created_at,
        currency=order.currency,
        email=order.email,
        total=str(order.total_price) if order.total_price is not None else None,
    )


def _dump(raw: Mapping[str, Any] | bytes | str) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        return raw
    return json.dumps(raw, separators=(",", ":"), sort_keys=True)


def read_graphql_order(raw: Mapping[str, Any], *, account_id: str) -> OrderVersion | Unreadable:
    """One node of an `orders` page → a version to import, or the reason it cannot be."""
    payload = _dump(raw)
    ident = numeric_id(str(raw.get("legacyResourceId") or raw.get("id") or "?"))
    try:
        order = from_graphql(wire.OrderNode.model_validate(raw), account_id=account_id)
    except (ValidationError, UnreadableOrder, ValueError) as exc:
        return Unreadable(ident, f"{ident}@unreadable", payload, _reason(exc))
    return OrderVersion(order, version_key(order), payload)


def read_webhook_order(body: bytes | str, *, account_id: str) -> OrderVersion | Unreadable:
    """The body of an `orders/*` webhook → a version to import, or the reason it cannot be."""
    payload = _dump(body)
    try:
        rest = wire.RestOrder.model_validate_json(payload)
        order = from_webhook(rest, account_id=account_id)
    except (ValidationError, UnreadableOrder, ValueError) as exc:
        return Unreadable("?", "webhook@unreadable", payload, _reason(exc))
    return OrderVersion(order, version_key(order), payload)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" + (
            f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        )
    return str(exc)
