"""Shipping use cases: record a package leaving with tracking, and the channel's answer.

The confirmation to the channel is an outbox message written in the transaction that books
the stock out, so a crash can neither lose it nor separate it from the shipment. Its payload
is plain JSON (see `notice_payload`); the channel deliverer turns it into a ShipmentNotice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ordermesh.domain import commands as c
from ordermesh.domain.ids import new_id
from ordermesh.domain.orders import Order
from ordermesh.domain.shipments import Confirmation, Shipment
from ordermesh.ports.shipping import CHANNEL_DESTINATION, CONFIRM_SHIPMENT, NOTICE_PAYLOAD_VERSION
from ordermesh.ports.storage import OutboxMessage, UnitOfWork
from ordermesh.services.handlers.orders import _get, _give_back
from ordermesh.services.messagebus import Deps


@dataclass
class Shipped:
    order_id: str
    shipment_id: str
    order_status: str
    confirmation: str
    lines: list[tuple[int, str, int]]
    location: str | None


def notice_payload(order: Order, shipment: Shipment, *, notify_customer: bool) -> dict[str, Any]:
    """The outbox payload of a shipment confirmation: the fields of ports.shipping's
    ShipmentNotice as JSON (times ISO 8601 UTC), each line with the channel's own ids."""
    return {
        "version": NOTICE_PAYLOAD_VERSION,
        "shipment_id": shipment.id,
        "order_id": order.id,
        "channel": order.channel,
        "channel_account": order.channel_account,
        "channel_order_id": order.channel_order_id,
        "marketplace": order.marketplace,
        "carrier": shipment.carrier,
        "service": shipment.service,
        "tracking_number": shipment.tracking_number,
        "tracking_url": shipment.tracking_url,
        "shipped_at": shipment.shipped_at.isoformat(),
        "notify_customer": notify_customer,
        "lines": [
            {
                "line_no": sl.line_no,
                "sku": order.line(sl.line_no).channel_sku or sl.sku,
                "quantity": sl.quantity,
                "channel_line_id": order.line(sl.line_no).channel_line_id,
            }
            for sl in shipment.lines
        ],
    }


def ship_order(cmd: c.ShipOrder, uow: UnitOfWork, deps: Deps) -> Shipped:
    order = _get(uow, cmd.order_id)
    now = deps.clock.now()
    shipment, taken, leftover = order.ship(
        new_id("shp"),
        cmd.lines,
        carrier=cmd.carrier,
        tracking_number=cmd.tracking_number,
        shipped_at=cmd.shipped_at or now,
        actor=cmd.actor,
        at=now,
        service=cmd.service,
        tracking_url=cmd.tracking_url,
        location=cmd.location,
    )
    _give_back(uow, order, taken, actor=cmd.actor, shipped=True)
    _give_back(uow, order, leftover, actor=cmd.actor)
    uow.orders.save([order])
    if shipment.confirmation is Confirmation.PENDING:
        uow.send(
            OutboxMessage(
                destination=f"{CHANNEL_DESTINATION}{order.channel_account}",
                topic=CONFIRM_SHIPMENT,
                idempotency_key=shipment.id,
                payload=notice_payload(order, shipment, notify_customer=cmd.notify_customer),
            )
        )
    uow.commit()
    return Shipped(
        order.id,
        shipment.id,
        str(order.status),
        str(shipment.confirmation),
        [(sl.line_no, sl.sku, sl.quantity) for sl in shipment.lines],
        shipment.location,
    )


def record_shipment_confirmation(
    cmd: c.RecordShipmentConfirmation, uow: UnitOfWork, deps: Deps
) -> bool:
    """Keep the channel's answer; returns False if it was heard before."""
    order = _get(uow, cmd.order_id)
    changed = order.record_confirmation(
        cmd.shipment_id,
        confirmed=cmd.confirmed,
        message=cmd.message,
        reference=cmd.reference,
        at=deps.clock.now(),
    )
    if changed:
        uow.orders.save([order])
        uow.commit()
    return changed
