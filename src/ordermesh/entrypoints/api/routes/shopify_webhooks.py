"""POST /webhooks/shopify: where a Shopify shop delivers order webhooks.

Shopify's signature is the authentication here (no API key): a delivery whose
X-Shopify-Hmac-Sha256 does not match the raw body under the shop's app secret is refused with
401 and stores nothing. A genuine one is stored raw in the inbox under its X-Shopify-Webhook-Id
and answered 200 at once (Shopify waits five seconds at most, then retries); it is applied
after the answer. A resent delivery is answered 200 too, and changes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import Executor, Future
from typing import Any, Protocol

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import Response

from ordermesh.bootstrap import Ordermesh
from ordermesh.entrypoints.api import problems
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

    def check(self, headers: Mapping[str, str], body: bytes) -> Receipt: ...

    def hold(self, delivery: Any) -> tuple[Future[Receipt], bool]: ...
    def store_held(self) -> bool: ...
    def process(self, delivery: Delivery) -> str | None: ...
    def calls_shopify(self, delivery: Delivery) -> bool: ...
    def enqueue(self, delivery: Delivery) -> bool: ...
    def drain(self) -> bool: ...


@router.post("/webhooks/shopify", include_in_schema=False)
async def shopify_webhook(request: Request) -> Response:
    # No dependencies: at a thousand deliveries a second, FastAPI solving them (the wired
    # ordermesh, the receiver, background tasks) cost more than checking the signature.
    om: Ordermesh = request.app.state.om
    receiver: ShopifyWebhookReceiver | None = getattr(om, "shopify_webhooks", None)
    if receiver is None:
        return problems.problem(
            503, "Shopify webhooks are not set up on this server", code="channel-unavailable"
        )
    body = await request.body()
    # The signature is checked here, in the event loop: an HMAC over the body costs
    # microseconds, and a refused delivery never reaches the writes.
    receipt = receiver.check(request.headers, body)
    if receipt.delivery is not None:
        # Stored through the write executor (on SQLite every write takes its turn on one
        # thread), grouped: the deliveries that arrive while one commit runs share the next.
        stored, start = receiver.hold(receipt.delivery)
        if start:
            om.writes.submit(_store, om.writes, receiver)
        receipt = await asyncio.wrap_future(stored)
    if receipt.outcome == "rejected":
        client = request.client.host if request.client else "?"
        shop = request.headers.get("X-Shopify-Shop-Domain")
        log.warning("shopify webhook refused (from %s, shop %r): %s", client, shop, receipt.reason)
        return problems.problem(401, receipt.reason, code="webhook-signature")
    delivery = receipt.delivery
    if receipt.outcome == "accepted" and delivery is not None:
        if receiver.calls_shopify(delivery):
            # A plain function: Starlette runs it in its thread pool after the answer is sent,
            # so a refund that needs a call to Shopify holds up neither this request nor the
            # writes.
            return JsonResponse(
                {"status": receipt.outcome}, background=BackgroundTask(_apply, receiver, delivery)
            )
        if receiver.enqueue(delivery):
            # Order deliveries are all database work: applied in batches on the write queue,
            # behind the writes and not beside them, so they never contend for the database's
            # lock, and a burst shares transactions instead of taking one each.
            om.writes.submit(_drain, om.writes, receiver)
    return JsonResponse({"status": receipt.outcome})


def _store(writes: Executor, receiver: ShopifyWebhookReceiver) -> None:
    if receiver.store_held():
        writes.submit(_store, writes, receiver)


def _drain(writes: Executor, receiver: ShopifyWebhookReceiver) -> None:
    try:
        more = receiver.drain()
    except Exception:
        # Stored and unprocessed, the deliveries are picked up again by the worker.
        log.exception("applying shopify webhooks failed")
        more = True
    if more:
        # Back of the queue: the deliveries that arrived meanwhile are stored first.
        writes.submit(_drain, writes, receiver)


def _apply(receiver: ShopifyWebhookReceiver, delivery: Delivery) -> None:
    try:
        receiver.process(delivery)
    except Exception:
        # Stored and unprocessed, the delivery is picked up again by the worker.
        log.exception("shopify webhook %s (%s) failed", delivery.webhook_id, delivery.topic)
