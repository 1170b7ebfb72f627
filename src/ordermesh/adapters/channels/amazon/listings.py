"""The seller's own (MFN) quantities on Amazon: set through Listings Items `patchListingsItem`
for the few that cannot wait, through one `JSON_LISTINGS_FEED` for the many, and read back
for reconciliation.

Only `fulfillment_channel_code` DEFAULT (the merchant's stock) is ever written: an Amazon-
fulfilled listing's quantity is Amazon's, and the core never queues pushes for one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from pydantic import ValidationError

from ordermesh.adapters.channels.amazon import mapping, wire
from ordermesh.adapters.channels.amazon.client import SEARCH_BY_SKU_MAX, AmazonRefused, SpApiClient
from ordermesh.adapters.channels.amazon.reports import Reports
from ordermesh.ports.channels import ChannelError, NeedsReauthorisation
from ordermesh.ports.stock_sync import ListedQuantity, Push, PushOutcome, PushResult

JSON_LISTINGS_FEED = "JSON_LISTINGS_FEED"
FEED_CONTENT_TYPE = "application/json; charset=UTF-8"
MERCHANT_LISTINGS_REPORT = "GET_MERCHANT_LISTINGS_ALL_DATA"
_FINISHED = frozenset({"DONE", "FATAL", "CANCELLED"})


@dataclass(frozen=True, slots=True)
class StockPushLimits:
    patches_per_call: int = 5
    """patchListingsItem's burst (rate 5/s): this many urgent pushes go out at once; the rest
    of a call's pushes wait for a feed."""
    feed_max_messages: int = 25_000
    """Amazon's cap on messages in one JSON_LISTINGS_FEED."""
    feed_first_poll: float = 1.0
    feed_max_poll: float = 1.0
    """getFeed allows 2/s (burst 15): once a second uses half of that while a feed is in
    flight, and finds a finished feed within a second of Amazon finishing it. That matters: a
    listing an urgent patch set while the feed was in flight may show the feed's older figure
    from the moment it lands until its settling sends the latest figure again."""
    feed_give_up_after: float = 1800.0
    """Seconds of polling getFeed before the feed's pushes are handed back for a retry."""
    read_by_search_up_to: int = 400
    """Up to this many SKUs are read with searchListingsItems, 20 a call (rate 5/s, burst 5:
    400 take about 4 s); more through the merchant listings report, which takes a report's
    minutes however few SKUs it covers."""


class AmazonListings:
    def __init__(self, client: SpApiClient, limits: StockPushLimits | None = None) -> None:
        self.client = client
        self.limits = limits or StockPushLimits()

    @property
    def marketplace_id(self) -> str:
        """Where quantities are set and read: the account's first marketplace."""
        return self.client.settings.marketplace_ids[0]

    # -- push ---------------------------------------------------------------------------------
    def send(self, batch: Sequence[Push]) -> list[PushResult]:
        """Urgent pushes by patch, up to the patch budget; the rest in one feed (or in patches
        when everything fits the budget, which spares createFeed's scarce quota)."""
        budget = self.limits.patches_per_call
        # One figure per listing: the latest wins, as in the push queue.
        latest = list({p.channel_sku: p for p in batch}.values())
        urgent = [p for p in latest if p.urgent]
        patched, rest = urgent[:budget], urgent[budget:] + [p for p in latest if not p.urgent]
        if len(patched) + len(rest) <= budget:
            patched, rest = patched + rest, []
        results = self._patch_all(patched)
        size = self.limits.feed_max_messages
        for start in range(0, len(rest), size):
            results.extend(self._feed(rest[start : start + size]))
        return results

    def _patch_all(self, pushes: Sequence[Push]) -> list[PushResult]:
        results: list[PushResult] = []
        for index, push in enumerate(pushes):
            try:
                submission = self.client.patch_listings_item(
                    push.channel_sku,
                    self.marketplace_id,
                    mapping.quantity_patch_body(push.quantity),
                )
            except NeedsReauthorisation:
                raise
            except AmazonRefused as refused:
                outcome = (
                    PushOutcome.REJECTED if refused.status in (400, 404) else PushOutcome.RETRY
                )
                results.append(PushResult(push.channel_sku, outcome, refused.errors))
                continue
            except ChannelError as failed:
                # Retries are spent: the next SKUs would fare no better right now.
                results.extend(
                    PushResult(p.channel_sku, PushOutcome.RETRY, str(failed))
                    for p in pushes[index:]
                )
                return results
            results.append(mapping.push_result_of_submission(push.channel_sku, submission))
        return results

    def _feed(self, pushes: Sequence[Push]) -> list[PushResult]:
        skus = [p.channel_sku for p in pushes]

        def retry_all(why: str) -> list[PushResult]:
            return [PushResult(sku, PushOutcome.RETRY, why) for sku in skus]

        document = mapping.listings_feed(
            self.client.settings.selling_partner_id, [(p.channel_sku, p.quantity) for p in pushes]
        )
        try:
            upload = self.client.create_feed_document(FEED_CONTENT_TYPE)
            self.client.upload_document(upload.url, document, FEED_CONTENT_TYPE)
            feed_id = self.client.create_feed(
                JSON_LISTINGS_FEED, [self.marketplace_id], upload.document_id
            )
            feed = self._finished(feed_id)
        except NeedsReauthorisation:
            raise
        except ChannelError as failed:
            return retry_all(f"the listings feed could not be sent: {failed}")
        if feed is None:
            return retry_all(
                f"listings feed {feed_id} was still processing after "
                f"{self.limits.feed_give_up_after:.0f} s"
            )
        try:
            report = self._processing_report(feed)
        except NeedsReauthorisation:
            raise
        except ChannelError as failed:
            # Amazon may well have applied it; a quantity is absolute, so sending it again is
            # harmless, while calling it sent unseen could hide a rejection.
            return retry_all(
                f"listings feed {feed_id}: its processing report is unreadable: {failed}"
            )
        if feed.processing_status != "DONE":
            return retry_all(mapping.feed_failure(report, feed.processing_status))
        if report is None:
            return retry_all(f"listings feed {feed_id} is DONE without a processing report")
        return mapping.push_results_of_report(skus, report)

    def _finished(self, feed_id: str) -> wire.Feed | None:
        waited, wait = 0.0, self.limits.feed_first_poll
        while True:
            feed = self.client.get_feed(feed_id)
            if feed.processing_status in _FINISHED:
                return feed
            if waited >= self.limits.feed_give_up_after:
                return None
            self.client.sleep(wait)
            waited += wait
            wait = min(wait * 1.25, self.limits.feed_max_poll)

    def _processing_report(self, feed: wire.Feed) -> wire.ProcessingReport | None:
        if not feed.result_document_id:
            return None
        location = self.client.get_feed_document(feed.result_document_id)
        content = self.client.download_document(location)
        try:
            return wire.ProcessingReport.model_validate(orjson.loads(content))
        except (orjson.JSONDecodeError, ValidationError) as garbage:
            raise ChannelError(
                f"the processing report is not the JSON expected: {garbage}"
            ) from garbage

    # -- read back ------------------------------------------------------------------------------
    def listed_quantities(self, channel_skus: Sequence[str]) -> list[ListedQuantity]:
        if len(channel_skus) <= self.limits.read_by_search_up_to:
            return self._searched(channel_skus)
        text = Reports(self.client).run(MERCHANT_LISTINGS_REPORT, [self.marketplace_id])
        try:
            found = mapping.merchant_quantities(text)
        except mapping.Unmappable as why:
            raise ChannelError(str(why)) from why
        return [ListedQuantity(sku, found.get(sku)) for sku in channel_skus]

    def _searched(self, channel_skus: Sequence[str]) -> list[ListedQuantity]:
        found: dict[str, int | None] = {}
        unique = list(dict.fromkeys(channel_skus))
        for start in range(0, len(unique), SEARCH_BY_SKU_MAX):
            items = self.client.search_listings_items(
                unique[start : start + SEARCH_BY_SKU_MAX],
                self.marketplace_id,
                ("fulfillmentAvailability",),
            )
            found |= {item.sku: mapping.merchant_quantity(item) for item in items}
        return [ListedQuantity(sku, found.get(sku)) for sku in channel_skus]
