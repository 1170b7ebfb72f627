"""POST /webhooks/amazon/notifications: where Amazon's ORDER_CHANGE notifications arrive (an
EventBridge API destination, or the ordermesh sandbox).

The shared secret in `x-notification-secret` is the authentication here (no API key): a
notification without the secret of the account it names is refused with 401 and stores
nothing. A genuine one is stored raw in the inbox under its NotificationId and answered at once;
the order is read from Amazon and imported after the answer. A redelivery is answered 200 too,
and changes nothing."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from typing import Annotated, Protocol

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from starlette.responses import Response

from ordermesh.entrypoints.api import problems
from ordermesh.entrypoints.api.deps import OmDep
from ordermesh.entrypoints.api.responses import JsonResponse

log = logging.getLogger(__name__)

router = APIRouter(tags=["channels"])

SECRET_HEADER = "x-notification-secret"


class Delivery(Protocol):
    notification_id: str
    order_id: str


class Receipt(Protocol):
    outcome: str
    reason: str

    @property
    def delivery(self) -> Delivery | None: ...


class AmazonNotificationReceiver(Protocol):
    """What bootstrap wires as `Ordermesh.amazon_notifications` (the Amazon adapter's)."""

    def check(self, *, secret_header: str | None, body: bytes) -> Receipt: ...
    def store(self, receipt: Receipt) -> Receipt: ...
    def enqueue(self, delivery: Delivery) -> bool: ...
    def take(self) -> list[Delivery]: ...
    def fetch(self, deliveries: list[Delivery]) -> object: ...
    def apply(self, fetched: object) -> None: ...


async def _receiver(om: OmDep) -> AmazonNotificationReceiver | None:
    return getattr(om, "amazon_notifications", None)


ReceiverDep = Annotated[AmazonNotificationReceiver | None, Depends(_receiver)]


@router.post("/webhooks/amazon/notifications", include_in_schema=False)
async def amazon_notification(
    request: Request, om: OmDep, receiver: ReceiverDep, background: BackgroundTasks
) -> Response:
    if receiver is None:
        return problems.problem(
            503, "Amazon notifications are not set up on this server", code="channel-unavailable"
        )
    body = await request.body()
    # Checked in the event loop: a comparison of two short strings, and a refused notification
    # never reaches the writes.
    receipt = receiver.check(secret_header=request.headers.get(SECRET_HEADER), body=body)
    if receipt.outcome == "rejected":
        client = request.client.host if request.client else "?"
        log.warning("amazon notification refused (from %s): %s", client, receipt.reason)
        return problems.problem(401, receipt.reason, code="notification-secret")
    # Stored through the write executor (on SQLite every write takes its turn on one thread).
    receipt = await asyncio.wrap_future(om.writes.submit(receiver.store, receipt))
    delivery = receipt.delivery
    if receipt.outcome == "accepted" and delivery is not None and receiver.enqueue(delivery):
        # Reading the order from Amazon waits on its rate limit: done in Starlette's thread
        # pool after the answer, and only the import goes on the write queue.
        background.add_task(_fetch_rounds, om.writes, receiver)
    answer: dict[str, str] = {"status": receipt.outcome}
    if receipt.reason:
        answer["reason"] = receipt.reason
    return JsonResponse(answer)


def _fetch_rounds(writes: Executor, receiver: AmazonNotificationReceiver) -> None:
    while batch := receiver.take():
        try:
            fetched = receiver.fetch(batch)
        except Exception:
            # Stored and unprocessed, the notifications are picked up again by the worker.
            log.exception("reading %d notified amazon order(s) failed", len(batch))
            continue
        writes.submit(_apply, receiver, fetched)


def _apply(receiver: AmazonNotificationReceiver, fetched: object) -> None:
    try:
        receiver.apply(fetched)
    except Exception:
        log.exception("importing notified amazon orders failed")
