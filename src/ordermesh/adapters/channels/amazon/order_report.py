"""Pure translation: the tab-separated all-orders report
(GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL) → ChannelOrder snapshots.

The report is one row per order item and carries much less than searchOrders:
- no street, no recipient name, no phone: only ship-city / state / postal code / country, so
  no delivery address is set (the core keeps one it already has);
- no buyer name or e-mail, no ship-by or deliver-by window, no Prime flag;
- no order item id, so lines get `report-<n>` ids.
Open orders (Pending, Unshipped, PartiallyShipped) still need all of that to be fulfilled,
so the back-fill reads those again through getOrder; only closed orders (Shipped, Cancelled)
keep the report's thinner snapshot. Orders whose sales channel is "Non-Amazon" are
multi-channel fulfilment orders that ordermesh itself sent to Amazon: they are left out."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import orjson

from ordermesh.adapters.channels.amazon.mapping import MARKETPLACE_CURRENCIES, STATES
from ordermesh.adapters.channels.amazon.settings import CHANNEL
from ordermesh.domain.commands import ChannelLine, ChannelOrder, ChannelState
from ordermesh.domain.orders import FulfilledBy
from ordermesh.ports.channels import OrderVersion, Unreadable

REPORT_TYPE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"

# The report's order-status values, beyond the v0 spellings `mapping.STATES` already knows.
REPORT_STATES = {**STATES, "Cancelled": ChannelState.CANCELLED, "Shipping": ChannelState.RELEASED}
OPEN_STATES = frozenset(
    {ChannelState.PENDING, ChannelState.RELEASED, ChannelState.PARTIALLY_SHIPPED}
)

SALES_CHANNELS = {
    "Amazon.com": "ATVPDKIKX0DER",
    "Amazon.ca": "A2EUQ1WTGCTBG2",
    "Amazon.com.mx": "A1AM78C64UM0Y8",
    "Amazon.com.br": "A2Q3Y263D00KWC",
    "Amazon.co.uk": "A1F83G8C2ARO7P",
    "Amazon.de": "A1PA6795UKMFR9",
    "Amazon.fr": "A13V1IB3VIYZZH",
    "Amazon.it": "APJ6JRA9NG5V4",
    "Amazon.es": "A1RKKUPIHCS9HS",
    "Amazon.nl": "A1805IZSGTT6HS",
    "Amazon.com.be": "AMEN7PMS3EDWL",
    "Amazon.ie": "A28R8C7NBKEWEA",
    "Amazon.se": "A2NODRKZP88ZB9",
    "Amazon.pl": "A1C3SOZRARQ6R3",
    "Amazon.com.tr": "A33AVAJ2PDY3EV",
    "Amazon.ae": "A2VIGQ35RCS4UG",
    "Amazon.sa": "A17E79C6D8DWNP",
    "Amazon.eg": "ARBP9OOSHTCHU",
    "Amazon.in": "A21TJRUUN4KGV",
    "Amazon.co.za": "AE08WJ6YKNBMC",
    "Amazon.co.jp": "A1VC38T7YXB528",
    "Amazon.com.au": "A39IBJ37TRP1C6",
    "Amazon.sg": "A19VAU5U5O7RUS",
}
NOT_AN_AMAZON_SALE = "Non-Amazon"

_FULFILLED_BY = {"Amazon": FulfilledBy.MARKETPLACE, "AFN": FulfilledBy.MARKETPLACE}


class ReportRowError(ValueError):
    pass


def _when(text: str, column: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ReportRowError(f"{column} {text!r} is not an ISO 8601 date-time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _decimal(text: str | None) -> Decimal | None:
    if text is None or not text.strip():
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(abs(value))


def read_rows(content: str) -> Iterator[dict[str, str]]:
    """The report's rows as dicts by column name; blank lines are skipped."""
    reader = csv.DictReader(io.StringIO(content), delimiter="\t", quoting=csv.QUOTE_NONE)
    for row in reader:
        if row and any((value or "").strip() for value in row.values()):
            yield {k.strip(): (v or "") for k, v in row.items() if k is not None}


def group_by_order(rows: Iterator[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    grouped: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        grouped.setdefault(row.get("amazon-order-id", "").strip(), []).append(row)
    return grouped


def to_channel_order(order_id: str, rows: list[dict[str, str]], account_id: str) -> ChannelOrder:
    """Raises ReportRowError when the rows cannot be expressed without guessing."""
    if not order_id:
        raise ReportRowError("a row has no amazon-order-id")
    first = rows[0]
    status = first.get("order-status", "").strip()
    state = REPORT_STATES.get(status)
    if state is None:
        raise ReportRowError(f"unknown order-status {status!r}")
    sales_channel = first.get("sales-channel", "").strip()
    marketplace = SALES_CHANNELS.get(sales_channel)
    currency = first.get("currency", "").strip() or MARKETPLACE_CURRENCIES.get(marketplace or "")
    if not currency:
        raise ReportRowError(f"no currency and unknown sales channel {sales_channel!r}")
    lines = []
    for n, row in enumerate(rows, 1):
        sku = row.get("sku", "").strip() or row.get("asin", "").strip()
        if not sku:
            raise ReportRowError(f"row {n} has neither a sku nor an asin")
        try:
            quantity = int(row.get("quantity", "").strip() or "0")
        except ValueError:
            raise ReportRowError(f"row {n}: quantity {row.get('quantity')!r}") from None
        if quantity <= 0:
            continue
        price = _decimal(row.get("item-price"))
        lines.append(
            ChannelLine(
                channel_line_id=f"report-{n}",
                channel_sku=sku,
                quantity=quantity,
                # item-price is the line's price (unit price × quantity), as in v0 ItemPrice.
                unit_price=_text(price / quantity if price is not None else None),
                tax=_text(_decimal(row.get("item-tax"))),
                discount=_text(_decimal(row.get("item-promotion-discount"))),
            )
        )
    if not lines:
        raise ReportRowError("no order item with a quantity")
    fulfilment = first.get("fulfillment-channel", "").strip()
    total = sum(
        (
            (_decimal(r.get("item-price")) or Decimal(0))
            + (_decimal(r.get("shipping-price")) or Decimal(0))
            for r in rows
        ),
        Decimal(0),
    )
    priced = any(_decimal(r.get("item-price")) is not None for r in rows)
    return ChannelOrder(
        channel=CHANNEL,
        channel_account=account_id,
        channel_order_id=order_id,
        state=state,
        updated_at=_when(first.get("last-updated-date", ""), "last-updated-date"),
        purchase_date=_when(first.get("purchase-date", ""), "purchase-date"),
        lines=tuple(lines),
        currency=currency,
        marketplace=marketplace,
        is_business=first.get("is-business-order", "").strip().lower() == "true",
        fulfilled_by=_FULFILLED_BY.get(fulfilment, FulfilledBy.MERCHANT),
        service_level=first.get("ship-service-level", "").strip() or None,
        total=_text(total) if priced else None,
    )


def report_key(order: ChannelOrder) -> str:
    """The inbox key of a report snapshot: one per order version, apart from searchOrders'
    keys (the report's snapshot says less, so it is a different payload)."""
    return f"{order.channel_order_id}@{order.updated_at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#report"


def read_report(
    content: str, account_id: str
) -> tuple[list[OrderVersion], list[str], list[Unreadable]]:
    """(closed orders to import, ids of open orders to read again in full, unreadable)."""
    versions: list[OrderVersion] = []
    open_ids: list[str] = []
    unreadable: list[Unreadable] = []
    for order_id, rows in group_by_order(read_rows(content)).items():
        if rows[0].get("sales-channel", "").strip() == NOT_AN_AMAZON_SALE:
            continue
        payload = orjson.dumps({"reportType": REPORT_TYPE, "rows": rows}).decode()
        try:
            snapshot = to_channel_order(order_id, rows, account_id)
        except ReportRowError as why:
            key = f"{order_id or '?'}@{rows[0].get('last-updated-date', '?')}#report"
            unreadable.append(Unreadable(order_id or "?", key, payload, f"report row: {why}"))
            continue
        if snapshot.state in OPEN_STATES:
            open_ids.append(order_id)
        else:
            versions.append(OrderVersion(snapshot, report_key(snapshot), payload))
    return versions, open_ids, unreadable
