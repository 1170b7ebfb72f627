"""Multi-Channel Fulfillment (Fulfillment Outbound API 2020-07-01): Amazon ships an order of
any channel from the seller's FBA stock.

`sellerFulfillmentOrderId` is the idempotency key. A create that Amazon refuses because the id
exists already is looked up: if the order there is the one we asked for (same items and
quantities), the retry is a success (`ALREADY_CREATED`); if it differs, the refusal stands.
So the outcome is right whichever way Amazon answers a duplicate (the notes leave it to
verify): 200 again, or 400 "already exists"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ordermesh.adapters.channels.amazon.client import AmazonRefused, SpApiClient
from ordermesh.adapters.channels.amazon.wire import moment_of, timestamp
from ordermesh.ports.channels import ChannelError
from ordermesh.ports.marketplace import (
    CreateOutcome,
    FulfilmentAddress,
    FulfilmentItem,
    FulfilmentOrderView,
    FulfilmentRefused,
    FulfilmentRequest,
    FulfilmentShipment,
    PackageTracking,
    PreviewOption,
    TrackingEvent,
)

BASE = "/fba/outbound/2020-07-01"
SPEEDS = ("Standard", "Expedited", "Priority", "ScheduledDelivery")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def address_json(address: FulfilmentAddress) -> dict[str, str]:
    body = {
        "name": address.name,
        "addressLine1": address.line1,
        "postalCode": address.postal_code,
        "countryCode": address.country,
    }
    for key, value in (
        ("addressLine2", address.line2),
        ("addressLine3", address.line3),
        ("city", address.city),
        ("stateOrRegion", address.state),
        ("phone", address.phone),
    ):
        if value:
            body[key] = value
    return body


def _items_json(items: Sequence[FulfilmentItem]) -> list[dict[str, Any]]:
    return [
        {
            "sellerSku": i.channel_sku,
            "sellerFulfillmentOrderItemId": i.item_id,
            "quantity": i.quantity,
        }
        for i in items
    ]


def order_json(request: FulfilmentRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sellerFulfillmentOrderId": request.fulfilment_order_id,
        "displayableOrderId": request.displayable_order_id,
        "displayableOrderDate": timestamp(request.order_date),
        "displayableOrderComment": request.comment,
        "shippingSpeedCategory": request.speed,
        "destinationAddress": address_json(request.address),
        "fulfillmentAction": "Hold" if request.hold else "Ship",
        "fulfillmentPolicy": request.policy,
        "items": _items_json(request.items),
    }
    if request.marketplace_id:
        body["marketplaceId"] = request.marketplace_id
    if request.notification_emails:
        body["notificationEmails"] = list(request.notification_emails)
    return body


def read_preview(preview: Mapping[str, Any]) -> PreviewOption:
    shipments = _list(preview.get("fulfillmentPreviewShipments"))
    arrivals = [
        (moment_of(s.get("earliestArrivalDate")), moment_of(s.get("latestArrivalDate")))
        for s in shipments
        if isinstance(s, Mapping)
    ]
    fees = {}
    for fee in _list(preview.get("estimatedFees")):
        amount = _dict(_dict(fee).get("amount"))
        if _str(_dict(fee).get("name")):
            fees[str(fee["name"])] = f"{amount.get('value', '?')} {amount.get('currencyCode', '')}"
    earliest = [a for a, _ in arrivals if a is not None]
    latest = [b for _, b in arrivals if b is not None]
    return PreviewOption(
        speed=str(preview.get("shippingSpeedCategory", "")),
        fulfillable=preview.get("isFulfillable") is True,
        earliest_arrival=min(earliest) if earliest else None,
        latest_arrival=max(latest) if latest else None,
        fees=fees,
        unfulfillable_reasons=tuple(
            str(r) for r in _list(preview.get("orderUnfulfillableReasons")) if isinstance(r, str)
        ),
        unfulfillable_skus=tuple(
            str(_dict(i).get("sellerSku"))
            for i in _list(preview.get("unfulfillablePreviewItems"))
            if _str(_dict(i).get("sellerSku"))
        ),
    )


def read_order(payload: Mapping[str, Any]) -> FulfilmentOrderView:
    order = _dict(payload.get("fulfillmentOrder"))
    order_id = _str(order.get("sellerFulfillmentOrderId"))
    if order_id is None:
        raise ChannelError(f"getFulfillmentOrder answered without an order: {payload!r:.200}")
    items = {
        str(_dict(i).get("sellerFulfillmentOrderItemId")): (
            _int(_dict(i).get("quantity")),
            _int(_dict(i).get("cancelledQuantity")),
            _int(_dict(i).get("unfulfillableQuantity")),
        )
        for i in _list(payload.get("fulfillmentOrderItems"))
    }
    shipments = []
    for raw in _list(payload.get("fulfillmentShipments")):
        shipment = _dict(raw)
        packages = [_dict(p) for p in _list(shipment.get("fulfillmentShipmentPackage"))]
        shipments.append(
            FulfilmentShipment(
                shipment_id=str(shipment.get("amazonShipmentId", "")),
                status=str(shipment.get("fulfillmentShipmentStatus", "")),
                shipped_at=moment_of(shipment.get("shippingDate")),
                packages=tuple(_int(p.get("packageNumber")) for p in packages),
                tracking_numbers=tuple(
                    str(p["trackingNumber"]) for p in packages if _str(p.get("trackingNumber"))
                ),
                carrier=next(
                    (str(p["carrierCode"]) for p in packages if _str(p.get("carrierCode"))), None
                ),
            )
        )
    return FulfilmentOrderView(
        fulfilment_order_id=order_id,
        status=str(order.get("fulfillmentOrderStatus", "")),
        status_updated_at=moment_of(order.get("statusUpdatedDate")),
        speed=str(order.get("shippingSpeedCategory", "")),
        items=items,
        shipments=tuple(shipments),
    )


def read_tracking(payload: Mapping[str, Any]) -> PackageTracking:
    events = []
    for raw in _list(payload.get("trackingEvents")):
        event = _dict(raw)
        where = _dict(event.get("eventAddress"))
        events.append(
            TrackingEvent(
                at=moment_of(event.get("eventDate")),
                code=str(event.get("eventCode", "")),
                description=str(event.get("eventDescription", "")),
                where=", ".join(
                    str(where[k]) for k in ("city", "state", "country") if _str(where.get(k))
                ),
            )
        )
    return PackageTracking(
        package_number=_int(payload.get("packageNumber")),
        tracking_number=_str(payload.get("trackingNumber")),
        carrier=_str(payload.get("carrierCode")),
        status=str(payload.get("currentStatus", "UNKNOWN")),
        shipped_at=moment_of(payload.get("shipDate")),
        estimated_arrival=moment_of(payload.get("estimatedArrivalDate")),
        tracking_link=_str(payload.get("customerTrackingLink")),
        events=tuple(events),
        signed_for_by=_str(payload.get("signedForBy")),
    )


def _payload(answer: Any, operation: str) -> Mapping[str, Any]:
    payload = answer.get("payload") if isinstance(answer, dict) else None
    if not isinstance(payload, dict):
        raise ChannelError(f"{operation} answered without a payload: {answer!r:.200}")
    return payload


def _refused(refusal: AmazonRefused) -> FulfilmentRefused:
    return FulfilmentRefused(str(refusal), [str(refusal)])


class Mcf:
    def __init__(self, client: SpApiClient) -> None:
        self.client = client

    @staticmethod
    def _one(order_id: str) -> str:
        return f"{BASE}/fulfillmentOrders/{quote(order_id, safe='')}"

    def preview(
        self,
        address: FulfilmentAddress,
        items: Sequence[FulfilmentItem],
        speeds: Sequence[str] = (),
        marketplace_id: str | None = None,
    ) -> list[PreviewOption]:
        body: dict[str, Any] = {"address": address_json(address), "items": _items_json(items)}
        if speeds:
            body["shippingSpeedCategories"] = list(speeds)
        if marketplace_id:
            body["marketplaceId"] = marketplace_id
        try:
            answer = self.client.call(
                "getFulfillmentPreview", "POST", BASE + "/fulfillmentOrders/preview", body=body
            )
        except AmazonRefused as refusal:
            raise _refused(refusal) from refusal
        previews = _payload(answer, "getFulfillmentPreview").get("fulfillmentPreviews")
        return [read_preview(p) for p in _list(previews) if isinstance(p, Mapping)]

    def create(self, request: FulfilmentRequest) -> CreateOutcome:
        try:
            self.client.call(
                "createFulfillmentOrder",
                "POST",
                BASE + "/fulfillmentOrders",
                body=order_json(request),
            )
        except AmazonRefused as refusal:
            if refusal.status != 400:
                raise _refused(refusal) from refusal
            existing = self._existing(request.fulfilment_order_id)
            if existing is not None and self._same(existing, request):
                return CreateOutcome.ALREADY_CREATED
            raise _refused(refusal) from refusal
        return CreateOutcome.CREATED

    def _existing(self, order_id: str) -> FulfilmentOrderView | None:
        try:
            return self.get(order_id)
        except AmazonRefused:
            return None

    @staticmethod
    def _same(existing: FulfilmentOrderView, request: FulfilmentRequest) -> bool:
        return {k: v[0] for k, v in existing.items.items()} == {
            i.item_id: i.quantity for i in request.items
        }

    def get(self, order_id: str) -> FulfilmentOrderView:
        answer = self.client.call("getFulfillmentOrder", "GET", self._one(order_id))
        return read_order(_payload(answer, "getFulfillmentOrder"))

    def tracking(self, package_number: int) -> PackageTracking:
        try:
            answer = self.client.call(
                "getPackageTrackingDetails",
                "GET",
                BASE + "/tracking",
                {"packageNumber": package_number},
            )
        except AmazonRefused as refusal:
            raise _refused(refusal) from refusal
        return read_tracking(_payload(answer, "getPackageTrackingDetails"))

    def cancel(self, order_id: str) -> None:
        try:
            self.client.call("cancelFulfillmentOrder", "PUT", self._one(order_id) + "/cancel")
        except AmazonRefused as refusal:
            raise _refused(refusal) from refusal
