"""POST /webhooks/shopify: where a Shopify shop delivers order webhooks.

Shopify's signature is the authentication here (no API key): a delivery whose
X-Shopify-Hmac-Sha256 does not match the raw body under the shop's app secret is refused with
401 and stores nothing. A genuine one is stored raw in the inbox under its X-Shopify-Webhook-Id
and answered 200 at once (Shopify waits five seconds at most, then retries); it is applied
after the answer. A resent delivery is answered 200 too, and changes nothing."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Protocol

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from starlette.responses import Response

from ordermesh.entrypoints.api import problems
from ordermesh.entrypoints.api.deps import OmDep
from ordermesh.entrypoints.api.responses import JsonResponse

log = logging.getLogger(__name__)

router = APIRouter(tags=["channels"])


class Delivery(Protocol):
    webhook_id: str
    topic: str


class Receipt(Protocol):
    outcome: str
    reason: str

    @property
    def delivery(self) -> Delivery | None: ...


class ShopifyWebhookReceiver(Protocol):
    """What bootstrap wires as `Ordermesh.shopify_webhooks` (the Shopify adapter's receiver)."""

    def receive(
        self,
        *,
        shop_domain: str | None,
        topic: str | None,
        webhook_id: str | None,
        hmac_header: str | None,
        body: bytes,
    ) -> Receipt: ...

    def process(self, delivery: Delivery) -> str | None: ...


async def _receiver(om: OmDep) -> ShopifyWebhookReceiver | None:
    return getattr(om, "shopify_webhooks", None)


ReceiverDep = Annotated[ShopifyWebhookReceiver | None, Depends(_receiver)]


@router.post("/webhooks/shopify", include_in_schema=False)
async def shopify_webhook(
    request: Request, om: OmDep, receiver: ReceiverDep, background: BackgroundTasks
) -> Response:
    if receiver is None:
        return problems.problem(
            503, "Shopify webhooks are not set up on this server", code="channel-unavailable"
        )
    body = await request.body()
    headers = request.headers
    shop = headers.get("X-Shopify-Shop-Domain")

    def receive() -> Receipt:
        return receiver.receive(
            shop_domain=shop,
            topic=headers.get("X-Shopify-Topic"),
            webhook_id=headers.get("X-Shopify-Webhook-Id"),
            hmac_header=headers.get("X-Shopify-Hmac-Sha256"),
            body=body,
        )

    # Through the write executor: on SQLite every write takes its turn on one thread.
    receipt = await asyncio.wrap_future(om.writes.submit(receive))
    if receipt.outcome == "rejected":
        client = request.client.host if request.client else "?"
        log.warning("shopify webhook refused (from %s, shop %r): %s", client, shop, receipt.reason)
        return problems.problem(401, receipt.reason, code="webhook-signature")
    delivery = receipt.delivery
    if receipt.outcome == "accepted" and delivery is not None:
        # A plain function: Starlette runs it in its thread pool after the answer is sent, so
        # a refund that needs a call to Shopify holds up neither this request nor the writes.
        background.add_task(_apply, receiver, delivery)
    return JsonResponse({"status": receipt.outcome})


def _apply(receiver: ShopifyWebhookReceiver, delivery: Delivery) -> None:
    try:
        receiver.process(delivery)
    except Exception:
        # Stored and unprocessed, the delivery is picked up again by the worker.
        log.exception("shopify webhook %s (%s) failed", delivery.webhook_id, delivery.topic)
