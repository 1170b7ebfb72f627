"""`ordermesh import …` and `ordermesh export …`: the spreadsheets sellers live in.

The file format and its validation live in `services.imports`; this module reads the file,
shows progress, sends the good rows in chunks and writes the rejected ones next to the input."""

from __future__ import annotations

import csv
import enum
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain import commands as c
from ordermesh.domain.errors import DomainError, RowError
from ordermesh.entrypoints.cli.context import EXIT_REFUSED, EXIT_REJECTED, err, fail, ordermesh, out
from ordermesh.services import imports as fmt

CHUNK = 500
"""Rows per transaction: big enough to be fast, small enough that a crash loses little."""
SHOWN_ERRORS = 10

import_app = typer.Typer(help="Import products or stock counts from CSV.", no_args_is_help=True)


@dataclass(slots=True)
class Tally:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


# -- reading ---------------------------------------------------------------------------------
@contextmanager
def _table(
    path: Path, required: tuple[str, ...], known: tuple[str, ...]
) -> Iterator[tuple[IO[bytes], fmt.CsvTable]]:
    if not path.is_file():
        fail(f"{path}: no such file", EXIT_REFUSED)
    with path.open("rb") as binary:
        # Held here: the text wrapper closes the binary file when it is collected.
        text = fmt.open_text(binary)
        try:
            fmt.check_bytes(binary)
            table = fmt.read_table(text, required, known)
        except fmt.FileRefused as exc:
            fail(f"{path.name} refused: {exc.message}", EXIT_REFUSED)
        yield binary, table
        text.detach()


def _chunks(rows: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err(),
        transient=True,
    )


# -- products --------------------------------------------------------------------------------
@import_app.command("products")
def import_products(
    file: Path = typer.Argument(..., metavar="FILE.csv", help="sku, title, gtin, … components"),
) -> None:
    """Create or update products; rows that match the catalogue already are left alone."""
    tally = Tally()
    bundles: list[fmt.ProductRow] = []
    accepted: dict[str, bool] = {}
    with ordermesh() as om, _table(file, fmt.PRODUCT_REQUIRED, fmt.PRODUCT_COLUMNS) as opened:
        binary, table = opened
        seen: dict[str, int] = {}
        with _progress() as progress:
            task = progress.add_task(f"Importing {file.name}", total=file.stat().st_size)
            for chunk in _chunks(table.rows):
                tally.read += len(chunk)
                parsed = fmt.parse_products(chunk, seen)
                tally.errors += parsed.errors
                # Bundles wait for the end, so they may name components from anywhere in the file.
                bundles += [p for p in parsed.products if p.product.is_bundle]
                plain = [p for p in parsed.products if not p.product.is_bundle]
                _apply_products(om, plain, table.columns, tally)
                accepted.update((p.product.sku, False) for p in plain)
                progress.update(task, completed=binary.tell())
            if bundles:
                catalogue = _catalogue(om, bundles, accepted)
                good, errors = fmt.check_components(bundles, catalogue)
                tally.errors += errors
                for chunk in _chunks(good):
                    _apply_products(om, chunk, table.columns, tally)
        _finish(file, table, tally, "products")


def _catalogue(
    om: Ordermesh, bundles: list[fmt.ProductRow], accepted: dict[str, bool]
) -> dict[str, bool]:
    """SKU → is a bundle, for every component the bundles name (if it exists at all)."""
    catalogue = dict(accepted)
    catalogue.update((b.product.sku, True) for b in bundles)
    for component in {comp for b in bundles for comp in b.product.components}:
        if component not in catalogue:
            found = om.queries.product(component)
            if found is not None:
                catalogue[component] = bool(found["is_bundle"])
    return catalogue


def _apply_products(
    om: Ordermesh, items: list[fmt.ProductRow], columns: list[str], tally: Tally
) -> None:
    changed = []
    for item in items:
        current = om.queries.product(item.product.sku)
        if current is not None:
            try:
                product = fmt.complete_from(current, item, columns)
            except DomainError as exc:
                tally.errors.append(RowError(item.line, exc.field, exc.message, raw=item.raw))
                continue
            if fmt.product_row_from_view(current) == fmt.product_row(product):
                tally.unchanged += 1
                continue
            item = fmt.ProductRow(item.line, product, item.raw)
        changed.append(item)
    if not changed:
        return
    try:
        done = om.handle(c.UpsertProducts(tuple(i.product for i in changed), actor="cli import"))
    except DomainError:
        # One bad row must not cost the chunk: find it by sending the rows one by one.
        for item in changed:
            try:
                done = om.handle(c.UpsertProducts((item.product,), actor="cli import"))
            except DomainError as exc:
                tally.errors.append(RowError(item.line, exc.field, exc.message, raw=item.raw))
            else:
                tally.created += done.created
                tally.updated += done.updated
        return
    tally.created += done.created
    tally.updated += done.updated


# -- stock -----------------------------------------------------------------------------------
@import_app.command("stock")
def import_stock(
    file: Path = typer.Argument(..., metavar="FILE.csv", help="sku, location, quantity"),
    location: str | None = typer.Option(
        None, "--location", "-l", help="Location for rows that name none (or a file without it)."
    ),
) -> None:
    """Set counted stock levels: only the difference to the system is booked, as a count."""
    tally = Tally()
    with ordermesh() as om, _table(file, fmt.STOCK_REQUIRED, fmt.STOCK_COLUMNS) as opened:
        binary, table = opened
        if "location" not in table.columns and not location:
            fail(
                f"{file.name} refused: it has no location column; add one or pass --location",
                EXIT_REFUSED,
            )
        seen: dict[tuple[str, str], int] = {}
        with _progress() as progress:
            task = progress.add_task(f"Importing {file.name}", total=file.stat().st_size)
            for chunk in _chunks(table.rows):
                tally.read += len(chunk)
                parsed = fmt.parse_stock(chunk, default_location=location, seen=seen)
                tally.errors += parsed.errors
                if parsed.rows:
                    raw = dict(chunk)
                    done = om.handle(
                        c.ImportStockCounts(
                            tuple(parsed.rows), reference=f"import {file.name}", actor="cli import"
                        )
                    )
                    tally.updated += done.applied
                    tally.unchanged += done.unchanged
                    tally.errors += [
                        RowError(e.line, e.field, e.reason, raw=raw.get(e.line, {}))
                        for e in done.errors
                    ]
                progress.update(task, completed=binary.tell())
        _finish(file, table, tally, "stock levels")


# -- the outcome -----------------------------------------------------------------------------
def errors_path(file: Path) -> Path:
    """Where the rejected rows of FILE.csv go: FILE.errors.csv beside it."""
    return file.with_name(f"{file.stem}.errors.csv")


def _finish(file: Path, table: fmt.CsvTable, tally: Tally, what: str) -> None:
    console = out()
    errors = sorted(tally.errors, key=lambda e: e.line)
    target = errors_path(file)
    console.print(
        f"{file.name}: {tally.read} row{'' if tally.read == 1 else 's'} read — {tally.created} created, {tally.updated} "
        f"updated, {tally.unchanged} unchanged, {len(errors)} rejected."
    )
    if not errors:
        # A stale error file from an earlier run would mislead.
        target.unlink(missing_ok=True)
        console.print(f"[green]All {tally.read} rows of {file.name} imported ({what}).[/]")
        return
    _write_errors(target, table, errors)
    shown = Table("line", "field", "reason", title="Rejected rows")
    for e in errors[:SHOWN_ERRORS]:
        shown.add_row(str(e.line), e.field or "", e.reason)
    console.print(shown)
    more = f" (first {SHOWN_ERRORS} shown)" if len(errors) > SHOWN_ERRORS else ""
    err().print(
        f"[yellow]{len(errors)} of {tally.read} rows were rejected{more}; the other rows were "
        f"imported. Rejected rows with their line, field and reason: {target}[/]"
    )
    raise typer.Exit(EXIT_REJECTED)


def _write_errors(target: Path, table: fmt.CsvTable, errors: list[RowError]) -> None:
    extra = [c for c in fmt.ERROR_COLUMNS if c not in table.columns]
    # utf-8-sig: Excel then opens the file with the right characters.
    with target.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle, delimiter=table.delimiter)
        writer.writerow([*table.original_columns, *extra])
        for e in errors:
            row = fmt.error_row(e, table.columns)
            writer.writerow(
                [row.get(col, "") for col in table.columns] + [row[col] for col in extra]
            )


# -- export ----------------------------------------------------------------------------------
class ExportWhat(enum.StrEnum):
    products = "products"
    stock = "stock"
    orders = "orders"


ORDER_COLUMNS = (
    "id",
    "channel",
    "channel_account",
    "channel_order_id",
    "marketplace",
    "status",
    "purchase_date",
    "ship_by",
    "deliver_by",
    "is_prime",
    "is_business",
    "fulfilled_by",
    "buyer_name",
    "currency",
    "total",
    "tags",
    "holds",
    "created_at",
)


def export(
    what: ExportWhat = typer.Argument(..., help="products, stock or orders"),
    out_file: Path | None = typer.Option(None, "--out", "-o", help="Write here, not to stdout."),
) -> None:
    """Write a CSV, streamed page by page; products and stock in the import format."""
    with ordermesh() as om:
        if out_file is None:
            _export(om, what, sys.stdout)
            return
        with out_file.open("w", newline="", encoding="utf-8") as handle:
            rows = _export(om, what, handle)
    err().print(f"Exported {rows} {what.value} rows to {out_file}.")


def _export(om: Ordermesh, what: ExportWhat, handle: IO[str]) -> int:
    if what is ExportWhat.products:
        columns, rows = (
            fmt.PRODUCT_COLUMNS,
            map(fmt.product_row_from_view, _pages(om.queries.products)),
        )
    elif what is ExportWhat.stock:
        columns, rows = (
            fmt.STOCK_COLUMNS,
            map(fmt.stock_row_from_view, _pages(om.queries.stock_levels)),
        )
    else:
        columns, rows = ORDER_COLUMNS, map(_order_row, om.queries.iter_orders(batch=CHUNK))
    writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def _pages(query: Any) -> Iterator[dict[str, Any]]:
    cursor = None
    while True:
        page = query(limit=CHUNK, cursor=cursor)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _order_row(order: dict[str, Any]) -> dict[str, str]:
    row = {key: _cell(order.get(key)) for key in ORDER_COLUMNS}
    row["tags"] = ";".join(order.get("tags") or ())
    row["holds"] = ";".join(
        h.get("kind", "") if isinstance(h, dict) else str(h) for h in order.get("holds") or ()
    )
    return row


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)
