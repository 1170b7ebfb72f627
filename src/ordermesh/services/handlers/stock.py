"""Stock use cases: receive, adjust, transfer, count; and retrying backorders when stock comes."""

from __future__ import annotations

from dataclasses import dataclass

from ordermesh.domain import commands as c
from ordermesh.domain import events
from ordermesh.domain.catalogue import check_sku
from ordermesh.domain.errors import DomainError, NotFound, RowError, ValidationFailed
from ordermesh.domain.inventory import Movement, MovementKind, StockLevel
from ordermesh.ports.storage import UnitOfWork
from ordermesh.services.handlers.stock_sync import queue_pushes_for
from ordermesh.services.messagebus import Deps

# Movements that can make stock available again, so waiting orders deserve another try.
_ADDS_STOCK = {
    str(MovementKind.RECEIPT),
    str(MovementKind.TRANSFER_IN),
    str(MovementKind.RETURN),
    str(MovementKind.ADJUSTMENT),
    str(MovementKind.COUNT),
    str(MovementKind.RELEASE),
}


@dataclass
class LevelView:
    sku: str
    location: str
    on_hand: int
    reserved: int
    available: int


def _view(level: StockLevel) -> LevelView:
    return LevelView(level.sku, level.location, level.on_hand, level.reserved, level.available)


def _check_target(uow: UnitOfWork, sku: str, location: str) -> None:
    known = uow.catalogue.known([sku])
    if sku not in known:
        raise NotFound(f"no product with SKU {sku}", field="sku")
    if known[sku]:
        raise ValidationFailed(
            f"{sku} is a bundle; its stock comes from its components", field="sku"
        )
    if uow.locations.get(location) is None:
        raise NotFound(f"no location {location}", field="location")


def _book(uow: UnitOfWork, levels: list[StockLevel], moves: list[Movement], actor: str) -> None:
    uow.stock.save(levels, moves, actor)
    if moves:
        kinds = {str(m.kind) for m in moves}
        uow.publish(
            events.StockChanged(
                tuple(sorted({(m.sku, m.location) for m in moves})),
                kinds.pop() if len(kinds) == 1 else "mixed",
            )
        )
        queue_pushes_for(uow, [(m.sku, m.location) for m in moves])
    uow.commit()


def receive_stock(cmd: c.ReceiveStock, uow: UnitOfWork, deps: Deps) -> LevelView:
    _check_target(uow, cmd.sku, cmd.location)
    level = uow.stock.lock([(cmd.sku, cmd.location)])[(cmd.sku, cmd.location)]
    move = level.receive(cmd.quantity, reference=cmd.reference)
    _book(uow, [level], [move], cmd.actor)
    return _view(level)


def adjust_stock(cmd: c.AdjustStock, uow: UnitOfWork, deps: Deps) -> LevelView:
    _check_target(uow, cmd.sku, cmd.location)
    level = uow.stock.lock([(cmd.sku, cmd.location)])[(cmd.sku, cmd.location)]
    move = level.adjust(cmd.delta, reason=cmd.reason, reference=cmd.reference)
    _book(uow, [level], [move], cmd.actor)
    return _view(level)


def transfer_stock(cmd: c.TransferStock, uow: UnitOfWork, deps: Deps) -> list[LevelView]:
    if cmd.source == cmd.destination:
        raise ValidationFailed("a transfer needs two different locations", field="destination")
    _check_target(uow, cmd.sku, cmd.source)
    _check_target(uow, cmd.sku, cmd.destination)
    levels = uow.stock.lock([(cmd.sku, cmd.source), (cmd.sku, cmd.destination)])
    source, destination = levels[(cmd.sku, cmd.source)], levels[(cmd.sku, cmd.destination)]
    if source.available < cmd.quantity:
        raise ValidationFailed(
            f"only {source.available} of {cmd.sku} are free to move at {cmd.source} "
            f"({source.on_hand} on hand, {source.reserved} reserved for orders)",
            field="quantity",
        )
    reference = cmd.reference or f"transfer {cmd.source}→{cmd.destination}"
    moves = [
        source.transfer_out(cmd.quantity, to=cmd.destination, reference=reference),
        destination.transfer_in(cmd.quantity, source=cmd.source, reference=reference),
    ]
    _book(uow, [source, destination], moves, cmd.actor)
    return [_view(source), _view(destination)]


def record_count(cmd: c.RecordCount, uow: UnitOfWork, deps: Deps) -> LevelView:
    _check_target(uow, cmd.sku, cmd.location)
    level = uow.stock.lock([(cmd.sku, cmd.location)])[(cmd.sku, cmd.location)]
    move = level.count(cmd.counted, reference=cmd.reference)
    _book(uow, [level], [move] if move else [], cmd.actor)
    return _view(level)


@dataclass
class StockImportResult:
    applied: int
    unchanged: int
    errors: list[RowError]


def import_stock_counts(cmd: c.ImportStockCounts, uow: UnitOfWork, deps: Deps) -> StockImportResult:
    """Set counted levels from a file's rows. A bad row is reported with its line and field;
    the good rows beside it are applied. Re-running the same file books nothing new."""
    errors: list[RowError] = []
    skus = {r.sku for r in cmd.rows}
    known = uow.catalogue.known(skus)
    codes = set(uow.locations.kinds())
    good: list[c.StockRow] = []
    for row in cmd.rows:
        try:
            check_sku(row.sku)
        except DomainError as exc:
            errors.append(RowError(row.line, "sku", exc.message))
            continue
        if row.sku not in known:
            errors.append(RowError(row.line, "sku", f"no product with SKU {row.sku}"))
        elif known[row.sku]:
            errors.append(RowError(row.line, "sku", f"{row.sku} is a bundle; count its components"))
        elif row.location not in codes:
            errors.append(RowError(row.line, "location", f"no location {row.location}"))
        elif row.quantity < 0:
            errors.append(RowError(row.line, "quantity", f"quantity {row.quantity} is negative"))
        else:
            good.append(row)
    levels = uow.stock.lock([(r.sku, r.location) for r in good])
    moves: list[Movement] = []
    unchanged = 0
    for row in good:
        level = levels[(row.sku, row.location)]
        if row.quantity < level.reserved:
            errors.append(
                RowError(
                    row.line,
                    "quantity",
                    f"{row.quantity} counted but {level.reserved} are reserved for orders; "
                    "cancel or re-allocate those orders first",
                )
            )
            continue
        move = level.count(
            row.quantity, reference=cmd.reference, reason=f"stock import line {row.line}"
        )
        if move:
            moves.append(move)
        else:
            unchanged += 1
    touched = {(m.sku, m.location) for m in moves}
    _book(uow, [lv for k, lv in levels.items() if k in touched], moves, cmd.actor)
    errors.sort(key=lambda e: e.line)
    return StockImportResult(len(moves), unchanged, errors)


def retry_backorders_when_stock_arrives(event: events.StockChanged, deps: Deps) -> list[c.Command]:
    if event.kind not in _ADDS_STOCK and event.kind != "mixed":
        return []
    return [c.AllocateBackorders(tuple(sorted({sku for sku, _ in event.keys})), actor="ordermesh")]
