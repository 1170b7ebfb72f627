"""A channel for stock-sync tests: `FakeChannel()` implements the push sender and listing
reader ports over a dict of what the channel shows, so the engine's tests need no sandbox."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ordermesh.ports.stock_sync import ListedQuantity, Push, PushOutcome, PushResult


class FakeChannel:
    """What a channel shows per listing, set by pushes and read back by reconciliation. It
    can go down (`down = True`), a person on the channel side can change a figure behind our
    back (`shows[...] = n`), `during_send` runs once in the middle of the next push (an
    order that comes in while the figure is on its way) and `during_read` once as the next
    read-back begins (a push confirmed while Amazon was making the report it reads)."""

    def __init__(self) -> None:
        self.shows: dict[str, int] = {}
        self.batches: list[list[tuple[str, int]]] = []
        self.down = False
        self.during_send: list[Callable[[], object]] = []
        self.during_read: list[Callable[[], object]] = []
        self.reads: list[int] = []
        """How many listings each `listed_quantities` call asked for."""

    def send(self, batch: Sequence[Push]) -> list[PushResult]:
        if self.down:
            raise ConnectionError("503 Service Unavailable")
        self.batches.append([(p.channel_sku, p.quantity) for p in batch])
        for react in self.during_send:
            react()
        self.during_send = []
        for p in batch:
            self.shows[p.channel_sku] = p.quantity
        return [PushResult(p.channel_sku, PushOutcome.SENT) for p in batch]

    def listed_quantities(self, channel_skus: Sequence[str]) -> list[ListedQuantity]:
        if self.down:
            raise ConnectionError("503 Service Unavailable")
        self.reads.append(len(channel_skus))
        for react in self.during_read:
            react()
        self.during_read = []
        return [ListedQuantity(s, self.shows.get(s)) for s in channel_skus]

    @property
    def sent(self) -> list[tuple[str, int]]:
        """Every (channel SKU, quantity) pushed, in order."""
        return [push for batch in self.batches for push in batch]
