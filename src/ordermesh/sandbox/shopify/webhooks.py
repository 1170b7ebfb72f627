"""Webhook delivery as Shopify does it: signed, retried with backoff, at least once.

Faults can be injected for the next webhooks: drop them, deliver them twice under the same
webhook id, or hold one back so it arrives after the next one.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import httpx

from ordermesh.sandbox.shopify.config import API_VERSION, Clock
from ordermesh.sandbox.shopify.state import iso


def sign(body: bytes, secret: str) -> str:
    """X-Shopify-Hmac-Sha256: base64 of the HMAC-SHA256 of the raw body under the app secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass(slots=True)
class Webhook:
    webhook_id: str
    event_id: str
    topic: str
    triggered_at: datetime
    body: bytes


@dataclass(slots=True)
class Attempt:
    """One POST (or a decision not to POST) of one webhook: the tests' ground truth."""

    webhook_id: str
    topic: str
    attempt: int
    outcome: str  # delivered | failed | dropped | unconfigured
    status_code: int | None
    at: str | None
    payload: dict[str, Any]
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class WebhookFaults:
    drop: int = 0
    duplicate: int = 0
    reorder: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"drop": self.drop, "duplicate": self.duplicate, "reorder": self.reorder}


@dataclass(slots=True)
class WebhookDispatcher:
    shop_domain: str
    secret: str
    url: str | None
    clock: Clock
    retry_delays: tuple[float, ...]
    timeout_seconds: float
    faults: WebhookFaults = field(default_factory=WebhookFaults)
    attempts: list[Attempt] = field(default_factory=list)
    sent: dict[str, Webhook] = field(default_factory=dict)
    _queue: asyncio.Queue[Webhook] | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _worker: asyncio.Task[None] | None = None
    _retries: set[asyncio.Task[None]] = field(default_factory=set)
    _held: Webhook | None = None
    _client: httpx.AsyncClient | None = None
    _pending_before_start: list[Webhook] = field(default_factory=list)

    # --- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._client = httpx.AsyncClient(timeout=self.timeout_seconds)
        for webhook in self._pending_before_start:
            self._queue.put_nowait(webhook)
        self._pending_before_start.clear()
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        for task in list(self._retries):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()

    async def flush(self) -> None:
        """Returns once every webhook raised so far has been delivered, dropped or given up."""
        assert self._queue is not None
        while True:
            await self._queue.join()
            if not self._retries:
                break
            await asyncio.gather(*list(self._retries), return_exceptions=True)
        if self._held is not None:
            # A webhook held back for reordering with nothing after it goes out last.
            held, self._held = self._held, None
            await self._deliver(held, attempt=1)
            await self.flush()

    # --- raising webhooks --------------------------------------------------------------------

    def emit(self, topic: str, payload: dict[str, Any]) -> None:
        """Called by the shop for every event; safe from any thread."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        webhook = Webhook(str(uuid.uuid4()), str(uuid.uuid4()), topic, self.clock.now(), body)
        self.sent[webhook.webhook_id] = webhook
        self._enqueue(webhook)

    def resend(self, webhook_id: str) -> Webhook:
        """Sends a past webhook again under its original id, as Shopify's duplicates arrive."""
        webhook = self.sent[webhook_id]
        self._enqueue(webhook)
        return webhook

    def _enqueue(self, webhook: Webhook) -> None:
        if self._queue is None or self._loop is None:
            self._pending_before_start.append(webhook)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        queue = self._queue
        if running is self._loop:
            queue.put_nowait(webhook)
        else:
            self._loop.call_soon_threadsafe(queue.put_nowait, webhook)

    # --- delivery ----------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            webhook = await self._queue.get()
            try:
                await self._dispatch(webhook)
            finally:
                self._queue.task_done()

    async def _dispatch(self, webhook: Webhook) -> None:
        if self.faults.drop:
            self.faults.drop -= 1
            self._record(webhook, 1, "dropped", None)
            return
        if self.faults.reorder and self._held is None:
            self.faults.reorder -= 1
            self._held = webhook
            return
        duplicate = False
        if self.faults.duplicate:
            self.faults.duplicate -= 1
            duplicate = True
        held, self._held = self._held, None
        await self._deliver(webhook, attempt=1)
        if held is not None:
            await self._deliver(held, attempt=1)
        if duplicate:
            await self._deliver(webhook, attempt=1)

    def headers(self, webhook: Webhook) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": webhook.topic,
            "X-Shopify-Hmac-Sha256": sign(webhook.body, self.secret),
            "X-Shopify-Shop-Domain": self.shop_domain,
            "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Webhook-Id": webhook.webhook_id,
            "X-Shopify-Event-Id": webhook.event_id,
            "X-Shopify-Triggered-At": webhook.triggered_at.isoformat().replace("+00:00", "Z"),
        }

    async def _deliver(self, webhook: Webhook, attempt: int) -> None:
        if self.url is None:
            self._record(webhook, attempt, "unconfigured", None)
            return
        assert self._client is not None
        try:
            response = await self._client.post(
                self.url, content=webhook.body, headers=self.headers(webhook)
            )
        except httpx.HTTPError as exc:
            self._record(webhook, attempt, "failed", None, error=f"{type(exc).__name__}: {exc}")
        else:
            if 200 <= response.status_code < 300:
                self._record(webhook, attempt, "delivered", response.status_code)
                return
            # Shopify counts anything outside 2xx, redirects included, as a failure.
            self._record(webhook, attempt, "failed", response.status_code)
        if attempt <= len(self.retry_delays):
            task = asyncio.create_task(self._retry(webhook, attempt))
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)

    async def _retry(self, webhook: Webhook, attempt: int) -> None:
        await self.clock.sleep(self.retry_delays[attempt - 1])
        await self._deliver(webhook, attempt + 1)

    def _record(
        self,
        webhook: Webhook,
        attempt: int,
        outcome: str,
        status_code: int | None,
        error: str | None = None,
    ) -> None:
        self.attempts.append(
            Attempt(
                webhook_id=webhook.webhook_id,
                topic=webhook.topic,
                attempt=attempt,
                outcome=outcome,
                status_code=status_code,
                at=iso(self.clock.now()),
                payload=json.loads(webhook.body),
                error=error,
            )
        )
