"""Stock sync use cases: recompute listings when stock moves, configure how accounts list
stock, and drain each channel's push queue.

Every stock movement recomputes the listings it feeds and writes their latest figures into the
push queue in the same transaction as the movement (`queue_pushes_for`), so a crash can never
separate a change from its push. Channel senders then drain the queue, urgent first, in
batches sized to the channel's limits."""

from __future__ import annotations

import logging
from collections.abc import Iterable
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
from ordermesh.ports.stock_sync import (
    Figure,
    ListingFigure,
    ListingPushSender,
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


class StockSync:
    """The push queue as the rest of ordermesh uses it: drain it with a channel's sender,
    watch how far behind each channel is, and explain any listing's figure."""

    def __init__(self, queue: PushQueue) -> None:
        self.queue = queue

    def drain_pushes(
        self, channel_account: str, sender: ListingPushSender, max_batch: int
    ) -> Drained:
        """Send one batch of the account's due pushes, urgent first, then oldest, and record
        what the channel said. The caller paces calls to the channel's rate limits; a failed
        batch waits with backoff and then sends whatever figure is latest by then."""
        if max_batch < 1:
            raise ValidationFailed("a batch holds at least one push", field="max_batch")
        batch = self.queue.claim(channel_account, max_batch)
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
        )

    def status(self, channel_account: str | None = None) -> list[QueueStatus]:
        return self.queue.status(channel_account)

    def explain(self, channel_account: str, channel_sku: str) -> ListingFigure:
        found = self.queue.explain(channel_account, channel_sku)
        if found is None:
            raise NotFound(f"no listing {channel_sku} on {channel_account}", field="channel_sku")
        return found
