"""Shipment confirmation through Orders API v0 `confirmShipment`, one call per package.

Amazon keeps no idempotency key, but a package has a seller-chosen `packageReferenceId`; ours
is derived from the shipment's id, so every retry of one shipment names the same package. An
identical resend is answered 204, and when Amazon refuses a resend (the order is already
fulfilled) the order's packages are read back: if ours is there, the shipment was confirmed
by an earlier attempt whose answer was lost."""

from __future__ import annotations

from ordermesh.adapters.channels.amazon import mapping
from ordermesh.adapters.channels.amazon.client import AmazonRefused, SpApiClient
from ordermesh.ports.shipping import ConfirmationOutcome, ConfirmationResult, ShipmentNotice

# 404: Amazon does not know the order (a typo'd or foreign id): a person must look.
_REFUSED_FOR_GOOD = frozenset({400, 404})


def confirm_shipment(client: SpApiClient, notice: ShipmentNotice) -> ConfirmationResult:
    """CONFIRMED or REJECTED; raises ChannelError when Amazon could not be asked (429, 5xx,
    timeouts once retries are spent, an account needing re-authorisation)."""
    marketplace = notice.marketplace or client.settings.marketplace_ids[0]
    try:
        body = mapping.confirm_shipment_body(notice, marketplace)
    except mapping.Unmappable as why:
        return ConfirmationResult(ConfirmationOutcome.REJECTED, str(why))
    detail = body["packageDetail"]
    reference = str(detail["packageReferenceId"])
    try:
        client.confirm_shipment(notice.channel_order_id, body)
    except AmazonRefused as refused:
        if refused.status not in _REFUSED_FOR_GOOD:
            raise
        if refused.status == 400 and _already_there(client, notice, reference):
            return ConfirmationResult(
                ConfirmationOutcome.CONFIRMED,
                f"Amazon already has package {reference} with tracking "
                f"{notice.tracking_number} (it answered the resend: {refused.errors})",
                reference,
            )
        return ConfirmationResult(ConfirmationOutcome.REJECTED, refused.errors, reference)
    carrier = detail["carrierCode"]
    if carrier == mapping.OTHER_CARRIER:
        carrier = f"Other ({detail['carrierName']})"
    return ConfirmationResult(
        ConfirmationOutcome.CONFIRMED,
        f"Amazon accepted package {reference}: {carrier} {notice.tracking_number}",
        reference,
    )


def _already_there(client: SpApiClient, notice: ShipmentNotice, reference: str) -> bool:
    try:
        packages = client.order_packages(notice.channel_order_id)
    except AmazonRefused:
        return False
    return any(
        package.package_reference_id == reference
        and package.tracking_number in (None, notice.tracking_number)
        for package in packages
    )
