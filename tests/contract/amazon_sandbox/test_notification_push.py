"""ORDER_CHANGE notifications POSTed to a configured URL by the background task."""

from __future__ import annotations

import time
from typing import Any

from amazon_sandbox_harness import StartSandbox, serve, validate_document
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def test_changes_are_pushed_to_the_notification_url(start_sandbox: StartSandbox) -> None:
    received: list[dict[str, Any]] = []

    async def collect(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=204)

    server, thread, url = serve(Starlette(routes=[Route("/hook", collect, methods=["POST"])]))
    try:
        amazon = start_sandbox(dedicated=True, notification_url=url + "/hook", tick_seconds=0.05)
        [order] = amazon.sandbox.generate(2)[:1]

        deadline = time.monotonic() + 5
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.should_exit = True
        thread.join(timeout=10)

    assert len(received) == 2
    for payload in received:
        validate_document("OrderChangeNotification.json", payload)
    assert received[0]["Payload"]["OrderChangeNotification"]["AmazonOrderId"] == order.order_id
