"""Stock sync use cases: recompute listings when stock moves, configure how accounts list
stock, and drain each channel's push queue.

Every stock movement recomputes the listings it feeds and writes their latest figures into the
push queue in the same transaction as the movement (`queue_pushes_for`), so a crash can never
separate a change from its push. Channel senders then drain the queue, urgent first, in
batches sized to the channel's limits."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import cast

from ordermesh.domain import commands as c
from ordermesh.domain.availability import (
    DEFAULT_LOW_STOCK,
    BufferOverride,
    HybridPolicy,
    StockPolicy,
    available_to_sell,
)
from ordermesh.domain.errors import NotFound, ValidationFailed
from ordermesh.domain.orders import FulfilledBy, Order, OrderStatus
from ordermesh.ports.stock_sync import (
    ChannelSale,
    Drift,
    DriftReport,
    Expected,
    Figure,
    ListedQuantity,
    ListingFigure,
    ListingPushSender,
    ListingReader,
    Push,
    PushOutcome,
    PushQueue,
    PushResult,
    QueueStatus,
    StockSyncRepository,
    StockSyncUnitOfWork,
)
from ordermesh.ports.storage import UnitOfWork
from ordermesh.services.messagebus import Deps

log = logging.getLogger(__name__)


@dataclass
class Recomputed:
    listings: int
    """Pushed listings whose figure was recomputed."""
    due: int
    """Pushes newly made due (a figure the channel does not show yet)."""


def _repository(uow: UnitOfWork) -> StockSyncRepository:
    # The bus hands every handler the general unit of work; ours also carries the stock-sync
    # tables (see StockSyncUnitOfWork), which the rest of the core need not know about.
    return cast(StockSyncUnitOfWork, uow).stock_sync


def _recompute(uow: UnitOfWork, skus: tuple[str, ...]) -> Recomputed:
    repository = _repository(uow)
    picture = repository.picture(skus)
    figures = available_to_sell(
        picture.listings,
        policies=picture.policies,
        overrides=picture.overrides,
        kinds=picture.kinds,
        levels=picture.levels,
        bundles=picture.bundles,
        demand=picture.demand,
        pending=picture.pending,
    )
    pushed = [
        Figure(
            account,
            channel_sku,
            e.sku,
            e.quantity,
            picture.low_stock.get(e.sku, DEFAULT_LOW_STOCK),
        )
        for (account, channel_sku), e in sorted(figures.items())
        if e.pushed
    ]
    return Recomputed(len(pushed), repository.queue(pushed))


def recompute_listings(cmd: c.RecomputeListings, uow: UnitOfWork, deps: Deps) -> Recomputed:
    result = _recompute(uow, cmd.skus)
    uow.commit()
    return result


def queue_pushes_for(uow: UnitOfWork, keys: Iterable[tuple[str, str]]) -> None:
    """Recompute the listings these stock keys feed and queue their pushes in the caller's
    transaction, so the figure to push commits together with the movement that changed it."""
    skus = tuple(sorted({sku for sku, _ in keys}))
    if skus:
        _recompute(uow, skus)


def note_channel_sales(uow: UnitOfWork, orders: Iterable[Order]) -> None:
    """Call before the listings of newly imported orders are recomputed, in that transaction.

    A channel lowers a listing's quantity itself when it takes an order (Amazon and Shopify
    both do). Once we import the order and count it, our recomputed figure usually equals what
    the channel already shows; taking the sale off the figure it last confirmed lets the queue
    see that, instead of spending the channel's push budget (Amazon's is tight) on a repeat.
    Only merchant-fulfilled orders we reserve or hold as pending demand: those are the ones
    that lower our figure too (marketplace-fulfilled listings are never pushed). Whether the
    confirmed figure predates the sale is the repository's call (see note_channel_sales)."""
    sales = [
        ChannelSale(o.channel_account, line.channel_sku, line.quantity, o.purchase_date)
        for o in orders
        if o.fulfilled_by is FulfilledBy.MERCHANT
        and (o.status is OrderStatus.PENDING or o.can_allocate)
        for line in o.lines
        if line.channel_sku
    ]
    if sales:
        _repository(uow).note_channel_sales(sales)


def _percent(text: str, field: str) -> Decimal:
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        raise ValidationFailed(f"{text!r} is not a percentage", field=field) from None
    if not value.is_finite():
        raise ValidationFailed(f"{text!r} is not a percentage", field=field)
    return value


def configure_stock_sync(cmd: c.ConfigureStockSync, uow: UnitOfWork, deps: Deps) -> Recomputed:
    """Store an account's stock policy and bring its listings' figures in line at once."""
    if not cmd.channel_account.strip():
        raise ValidationFailed("a channel account is needed", field="channel_account")
    try:
        hybrid = HybridPolicy(cmd.hybrid)
    except ValueError:
        raise ValidationFailed(
            f"hybrid policy {cmd.hybrid!r} is neither 'withdraw' nor 'keep'", field="hybrid"
        ) from None
    policy = StockPolicy(
        channel_account=cmd.channel_account,
        locations=cmd.locations,
        buffer_units=cmd.buffer_units,
        buffer_percent=_percent(cmd.buffer_percent, "buffer_percent"),
        max_quantity=cmd.max_quantity,
        last_units_threshold=cmd.last_units_threshold,
        rank=cmd.rank,
        hybrid=hybrid,
        fba_locations=cmd.fba_locations,
    )
    known = uow.locations.kinds()
    for name, codes in (("locations", cmd.locations), ("fba_locations", cmd.fba_locations)):
        missing = sorted(set(codes or ()) - set(known))
        if missing:
            raise NotFound(f"no location {', '.join(missing)}", field=name)
    _repository(uow).configure(policy)
    # Every listing may share last units with this account's, so all are brought in line.
    result = _recompute(uow, ())
    uow.commit()
    return result


def set_sku_buffer(cmd: c.SetSkuBuffer, uow: UnitOfWork, deps: Deps) -> Recomputed:
    if cmd.sku not in uow.catalogue.known([cmd.sku]):
        raise NotFound(f"no product with SKU {cmd.sku}", field="sku")
    override = None
    if cmd.buffer_units is not None or cmd.buffer_percent is not None:
        override = BufferOverride(
            cmd.buffer_units or 0, _percent(cmd.buffer_percent or "0", "buffer_percent")
        )
    _repository(uow).set_buffer(cmd.channel_account, cmd.sku, override)
    result = _recompute(uow, (cmd.sku,))
    uow.commit()
    return result


@dataclass
class Drained:
    claimed: int
    sent: int
    retried: int
    rejected: int
    error: str | None = None
    """Why the whole batch failed, when the sender raised."""
    urgent: int = 0
    """Pushes in the batch that were urgent."""


@dataclass
class Reconciled:
    checked: int
    drifted: int
    healed: int
    """Listings whose push was made due again to set the channel right."""
    error: str | None = None


class StockSync:
    """The push queue as the rest of ordermesh uses it: drain it with a channel's sender,
    watch how far behind each channel is, and explain any listing's figure."""

    read_back_at_most = 200
    """Overtaken listings read back after a bulk push lands, at most. More would hold the
    settling (and every correction due with it) for long: Amazon's connector reads over 400
    from a report that takes minutes. Past this, all of them are set again unread."""

    def __init__(self, queue: PushQueue) -> None:
        self.queue = queue

    def drain_pushes(
        self,
        channel_account: str,
        sender: ListingPushSender,
        max_batch: int,
        *,
        urgent_only: bool = False,
        bulk_only: bool = False,
    ) -> Drained:
        """Send one batch of the account's due pushes, urgent first, then oldest, and record
        what the channel said. The caller paces calls to the channel's rate limits; a failed
        batch waits with backoff and then sends whatever figure is latest by then."""
        if max_batch < 1:
            raise ValidationFailed("a batch holds at least one push", field="max_batch")
        batch = self.queue.claim(
            channel_account, max_batch, urgent_only=urgent_only, bulk_only=bulk_only
        )
        if not batch:
            return Drained(0, 0, 0, 0)
        error: str | None = None
        try:
            answered = list(sender.send(batch))
        except Exception as exc:
            log.warning("stock push to %s failed: %s", channel_account, exc)
            error = str(exc) or type(exc).__name__
            answered = [PushResult(p.channel_sku, PushOutcome.RETRY, error) for p in batch]
        results = {r.channel_sku: r for r in answered}
        if bulk_only and error is None:
            results = self._read_back_overtaken(channel_account, sender, batch, results)
        self.queue.settle(batch, results)
        outcomes = [
            results[p.channel_sku].outcome if p.channel_sku in results else PushOutcome.RETRY
            for p in batch
        ]
        return Drained(
            claimed=len(batch),
            sent=outcomes.count(PushOutcome.SENT),
            retried=outcomes.count(PushOutcome.RETRY),
            rejected=outcomes.count(PushOutcome.REJECTED),
            error=error,
            urgent=sum(1 for p in batch if p.urgent),
        )

    def _read_back_overtaken(
        self,
        channel_account: str,
        sender: ListingPushSender,
        batch: Sequence[Push],
        results: dict[str, PushResult],
    ) -> dict[str, PushResult]:
        """What the channel shows for the listings of a landed bulk push that urgent figures
        overtook. Whether Amazon lets a patch sent during a feed stand over the feed's older
        figure is not documented; assumed to land last, every such listing needed its figure
        set again at the landing, all of them at once, and each urgent change arriving then
        queued behind those corrections for the patch budget. Read back with the channel's
        reader (Amazon: searchListingsItems, 20 a call, on its own budget), only those still
        showing the older figure are set again. Unreadable, or too many to read quickly, they
        are all set again, as before."""
        read_back = getattr(sender, "listed_quantities", None)
        if not callable(read_back):
            return results
        sent = [
            p.channel_sku
            for p in batch
            if p.channel_sku in results
            and PushOutcome(results[p.channel_sku].outcome) is PushOutcome.SENT
        ]
        overtaken = self.queue.overtaken(channel_account, sent) if sent else []
        if not overtaken or len(overtaken) > self.read_back_at_most:
            return results
        try:
            shown: Sequence[ListedQuantity] = read_back(overtaken)
        except Exception as exc:
            log.warning(
                "%s: reading back %d overtaken listing(s) failed, setting them all again: %s",
                channel_account,
                len(overtaken),
                exc,
            )
            return results
        read = {q.channel_sku: q.quantity for q in shown if q.quantity is not None}
        return results | {
            sku: dataclasses.replace(results[sku], shown_after=read[sku])
            for sku in overtaken
            if sku in read
        }

    def reconcile(self, channel_account: str, reader: ListingReader) -> Reconciled:
        """Read back what the channel shows for every listing whose figure it confirmed, log
        each one that differs, and push ours again where that is safe.

        The listings are asked for in one call, so that the connector reads the channel the
        cheapest way for that many (Amazon's merchant listings report, every level of a
        Shopify location) once, not once per slice. A listing whose figure was confirmed
        anew while the channel was read is left for the next time: the read may predate it.

        A channel showing more than it confirmed is set right at once: it can oversell. One
        showing less may only have taken orders ordermesh has not imported yet (pushing ours
        would sell those units twice), so it is set right when the same difference is found
        again on a later reconciliation, by which time those orders would have come in."""
        expected = self.queue.expected(channel_account)
        drifts: list[Drift] = []
        checked, error = 0, None
        try:
            drifts = _compare(expected, reader, channel_account) if expected else []
            checked = len(expected)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("reconciling %s failed: %s", channel_account, error)
        if drifts:
            still = {e.channel_sku: e.quantity for e in self.queue.expected(channel_account)}
            drifts = [d for d in drifts if still.get(d.channel_sku) == d.ours]
        seen = self.queue.seen_drift(channel_account, drifts)
        heal = {
            d.channel_sku
            for d in drifts
            if d.theirs is None or d.theirs > d.ours or d.channel_sku in seen
        }
        healed = self.queue.record_drift(
            channel_account, drifts, checked=checked, error=error, heal=heal
        )
        if drifts:
            log.warning(
                "%s shows %d listing(s) other than ordermesh's figure; %d pushed again",
                channel_account,
                len(drifts),
                healed,
            )
        return Reconciled(checked, len(drifts), healed, error)

    def drift_report(self, channel_account: str | None = None, limit: int = 100) -> DriftReport:
        return self.queue.drift_report(channel_account, limit)

    def status(self, channel_account: str | None = None) -> list[QueueStatus]:
        return self.queue.status(channel_account)

    def listings_of(self, sku: str) -> list[ListingFigure]:
        """What each channel listing of a SKU (or of a bundle made of it) shows, and why."""
        return self.queue.listings_of(sku)

    def explain(self, channel_account: str, channel_sku: str) -> ListingFigure:
        found = self.queue.explain(channel_account, channel_sku)
        if found is None:
            raise NotFound(f"no listing {channel_sku} on {channel_account}", field="channel_sku")
        return found


def _compare(part: Sequence[Expected], reader: ListingReader, account: str) -> list[Drift]:
    shown = {
        q.channel_sku: q.quantity for q in reader.listed_quantities([e.channel_sku for e in part])
    }
    return [
        Drift(e.channel_sku, e.sku, e.quantity, shown[e.channel_sku], channel_account=account)
        for e in part
        # A listing the reader said nothing about is unknown, not drifted.
        if e.channel_sku in shown and shown[e.channel_sku] != e.quantity
    ]
