"""Feeds API 2021-06-30 processing. A `JSON_LISTINGS_FEED` is applied to the seller's listings
once its processing time has passed, and yields a processing report in the shape of
listings-feed-processing-report-schema-v2.json."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from ordermesh.sandbox.amazon.clock import iso

if TYPE_CHECKING:
    from ordermesh.sandbox.amazon.sandbox import Sandbox

JSON_LISTINGS_FEED = "JSON_LISTINGS_FEED"
OPERATION_TYPES = frozenset({"UPDATE", "PARTIAL_UPDATE", "PATCH", "DELETE"})
_QUANTITY_PATH = "/attributes/fulfillment_availability"


@dataclass(slots=True)
class Feed:
    feed_id: str
    feed_type: str
    marketplace_ids: list[str]
    input_document_id: str
    created: datetime
    status: str = "IN_QUEUE"
    started: datetime | None = None
    finished: datetime | None = None
    result_document_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "feedId": self.feed_id,
            "feedType": self.feed_type,
            "marketplaceIds": self.marketplace_ids,
            "createdTime": iso(self.created),
            "processingStatus": self.status,
        }
        if self.started is not None:
            body["processingStartTime"] = iso(self.started)
        if self.finished is not None:
            body["processingEndTime"] = iso(self.finished)
        if self.result_document_id is not None:
            body["resultFeedDocumentId"] = self.result_document_id
        return body


class _Report:
    def __init__(self, seller_id: str, feed_id: str) -> None:
        self.seller_id = seller_id
        self.feed_id = feed_id
        self.issues: list[dict[str, Any]] = []
        self.processed = 0
        self.accepted = 0
        self.invalid = 0

    def error(
        self,
        message: str,
        *,
        message_id: int | None = None,
        sku: str | None = None,
        code: str = "4000001",
    ) -> None:
        issue: dict[str, Any] = {"code": code, "severity": "ERROR", "message": message}
        if isinstance(message_id, int) and not isinstance(message_id, bool) and message_id >= 1:
            issue["messageId"] = message_id
        if isinstance(sku, str) and sku:
            issue["sku"] = sku
        self.issues.append(issue)

    def as_json(self) -> dict[str, Any]:
        errors = sum(1 for issue in self.issues if issue["severity"] == "ERROR")
        warnings = sum(1 for issue in self.issues if issue["severity"] == "WARNING")
        return {
            "header": {"sellerId": self.seller_id, "version": "2.0", "feedId": self.feed_id},
            "issues": self.issues,
            "summary": {
                "errors": errors,
                "warnings": warnings,
                "messagesProcessed": self.processed,
                "messagesAccepted": self.accepted,
                "messagesInvalid": self.invalid,
            },
        }


def default_quantity(entries: Any) -> int | None:
    """The MFN quantity in a fulfillment_availability value, if it sets one."""
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if (
            isinstance(entry, dict)
            and entry.get("fulfillment_channel_code") == "DEFAULT"
            and isinstance(entry.get("quantity"), int)
            and not isinstance(entry.get("quantity"), bool)
        ):
            return int(entry["quantity"])
    return None


class FeedDesk:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._lock = threading.Lock()
        self.feeds: dict[str, Feed] = {}
        self._counter = 70000

    def create(self, feed_type: str, marketplace_ids: list[str], document_id: str) -> Feed:
        with self._lock:
            self._counter += 1
            feed = Feed(
                feed_id=str(self._counter),
                feed_type=feed_type,
                marketplace_ids=marketplace_ids,
                input_document_id=document_id,
                created=self._sandbox.clock.now(),
            )
            self.feeds[feed.feed_id] = feed
            return feed

    def advance(self) -> None:
        now = self._sandbox.clock.now()
        step = timedelta(seconds=self._sandbox.config.feed_processing_seconds / 2)
        with self._lock:
            for feed in self.feeds.values():
                if feed.status == "IN_QUEUE" and now >= feed.created + step:
                    feed.status = "IN_PROGRESS"
                    feed.started = now
                if feed.status == "IN_PROGRESS" and now >= feed.created + 2 * step:
                    self._process(feed, now)

    def _process(self, feed: Feed, now: datetime) -> None:
        report = _Report(self._sandbox.config.seller_id, feed.feed_id)
        status = "DONE"
        document = self._sandbox.documents.get(feed.input_document_id)
        if feed.feed_type != JSON_LISTINGS_FEED:
            report.error(f"Feed type {feed.feed_type} is not supported by the sandbox.")
            status = "FATAL"
        elif document is None or document.content is None:
            report.error("The input feed document was never uploaded.")
            status = "FATAL"
        else:
            try:
                content = orjson.loads(document.content)
            except orjson.JSONDecodeError:
                content = None
            if not isinstance(content, dict) or not isinstance(content.get("messages"), list):
                report.error("The feed document is not a valid JSON_LISTINGS_FEED document.")
                status = "FATAL"
            else:
                header = content.get("header")
                if not isinstance(header, dict) or header.get("version") != "2.0":
                    report.error("The feed header must have version 2.0.")
                    status = "FATAL"
                elif header.get("sellerId") != self._sandbox.config.seller_id:
                    report.error("The feed header sellerId does not match the selling partner.")
                    status = "FATAL"
                else:
                    for message in content["messages"]:
                        self._apply(message, report, now, feed.created)
        result = self._sandbox.documents.create(
            "feedresult", "application/json", orjson.dumps(report.as_json())
        )
        feed.status = status
        feed.finished = now
        feed.started = feed.started or now
        feed.result_document_id = result.document_id

    def _apply(self, message: Any, report: _Report, now: datetime, submitted: datetime) -> None:
        report.processed += 1
        state = self._sandbox.state
        if not isinstance(message, dict):
            report.invalid += 1
            report.error("Each message must be a JSON object.")
            return
        message_id = message.get("messageId")
        sku = message.get("sku")
        operation = message.get("operationType")
        if not isinstance(message_id, int) or isinstance(message_id, bool) or message_id < 1:
            report.invalid += 1
            report.error("messageId must be a positive integer.", sku=sku)
            return
        if not isinstance(sku, str) or not sku:
            report.invalid += 1
            report.error("sku is required.", message_id=message_id)
            return
        if operation not in OPERATION_TYPES:
            report.invalid += 1
            report.error(
                f"operationType must be one of {', '.join(sorted(OPERATION_TYPES))}.",
                message_id=message_id,
                sku=sku,
            )
            return
        with state.lock:
            listing = state.listings.get(sku)
            if operation == "DELETE":
                state.listings.pop(sku, None)
                report.accepted += 1
                return
            quantity: int | None = None
            if operation == "PATCH":
                patches = message.get("patches")
                if not isinstance(patches, list) or not patches:
                    report.invalid += 1
                    report.error("patches is required for PATCH.", message_id=message_id, sku=sku)
                    return
                product_type = message.get("productType")
                if not isinstance(product_type, str) or not product_type:
                    report.invalid += 1
                    report.error(
                        "productType is required for PATCH.", message_id=message_id, sku=sku
                    )
                    return
                if listing is None:
                    report.invalid += 1
                    report.error(
                        f"SKU {sku} does not exist; PATCH needs an existing listing.",
                        message_id=message_id,
                        sku=sku,
                        code="100",
                    )
                    return
                for patch in patches:
                    if isinstance(patch, dict) and patch.get("path") == _QUANTITY_PATH:
                        if patch.get("op") == "delete":
                            quantity = 0
                        else:
                            quantity = default_quantity(patch.get("value"))
            else:
                attributes = message.get("attributes")
                if not isinstance(attributes, dict) or not attributes:
                    report.invalid += 1
                    report.error(
                        f"attributes is required for {operation}.", message_id=message_id, sku=sku
                    )
                    return
                quantity = default_quantity(attributes.get("fulfillment_availability"))
                if listing is None:
                    listing = state.add_listing(
                        sku=sku, product_type=str(message.get("productType", "PRODUCT"))
                    )
            if quantity is not None:
                if quantity < 0:
                    report.invalid += 1
                    report.error(
                        "quantity must not be negative.",
                        message_id=message_id,
                        sku=sku,
                    )
                    return
                patched = listing.quantity_patched_at
                later_patch = patched is not None and patched > submitted
                if not (later_patch and self._sandbox.config.feed_order == "as_received"):
                    listing.mfn_quantity = quantity
                    listing.last_updated = now
            report.accepted += 1
