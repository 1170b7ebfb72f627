"""CSV files of products and stock levels: reading, validating row by row, and writing back.

Pure functions over streams and rows, so that the CLI, the dashboard and the API share one
definition of the file format. A file that cannot be read at all is refused whole
(`FileRefused`); a bad row becomes a `RowError` naming its line and field, and the good rows
beside it are kept. The export format is the import format, so an export re-imports as
"unchanged"."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from ordermesh.domain.catalogue import Dimensions, Product, check_sku
from ordermesh.domain.commands import StockRow
from ordermesh.domain.errors import DomainError, RowError, ValidationFailed
from ordermesh.domain.money import Money, is_currency_code

PRODUCT_COLUMNS: tuple[str, ...] = (
    "sku",
    "title",
    "gtin",
    "asin",
    "brand",
    "product_type",
    "tags",
    "weight_g",
    "length_mm",
    "width_mm",
    "height_mm",
    "unit_cost",
    "cost_currency",
    "hs_code",
    "country_of_origin",
    "low_stock_threshold",
    "components",
)
PRODUCT_REQUIRED: tuple[str, ...] = ("sku", "title")
STOCK_COLUMNS: tuple[str, ...] = ("sku", "location", "quantity")
STOCK_REQUIRED: tuple[str, ...] = ("sku", "quantity")
"""`location` may come from the command line instead of the file."""
ERROR_COLUMNS: tuple[str, ...] = ("line", "field", "reason")
DEFAULT_LOW_STOCK = 5

_SAMPLE = 64 * 1024
# Files people mistake for CSV: what they are, by their first bytes.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "a gzip archive"),
)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# Marks a row the CSV reader could not take as it is, with the reason; a NUL cannot be a
# column name (NUL bytes are refused), so it never clashes with the file's own columns.
UNREADABLE = "\x00unreadable"
_SAVE_AS = "save it from your spreadsheet as 'CSV UTF-8 (comma delimited)'"


class FileRefused(Exception):
    """The file as a whole cannot be imported; the message says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- reading the file ----------------------------------------------------------------------
def check_bytes(binary: IO[bytes]) -> None:
    """Refuse anything that is not UTF-8 text (a UTF-8 BOM is fine), naming the lines at fault.

    Reads the stream line by line, so a large file is checked without being held in memory,
    and rewinds it for the reader."""
    head = binary.read(_SAMPLE)
    binary.seek(0)
    if not head.strip():
        raise FileRefused("the file is empty: expected a header line with column names")
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise FileRefused(f"this is not a CSV file: it looks like {what}; {_SAVE_AS}")
    if head.startswith(_UTF16_BOMS):
        raise FileRefused(f"the file is UTF-16 encoded, not UTF-8; {_SAVE_AS}")
    if b"\x00" in head:
        raise FileRefused("this is not a CSV file: it contains binary data (NUL bytes)")
    bad: list[str] = []
    # A newline byte never occurs inside a UTF-8 sequence, so lines decode on their own.
    for number, raw in enumerate(binary, start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad.append(f"line {number} (byte 0x{raw[exc.start]:02X})")
            if len(bad) == 5:
                break
    binary.seek(0)
    if bad:
        raise FileRefused(
            f"the file is not UTF-8 encoded: cannot read {', '.join(bad)}; Excel's plain 'CSV' "
            f"is often Windows-1252 — {_SAVE_AS}"
        )


@dataclass(slots=True)
class CsvTable:
    """A readable CSV file: its columns (lower-cased) and its data rows with line numbers."""

    columns: list[str]
    original_columns: list[str]
    rows: Iterator[tuple[int, dict[str, str]]]
    delimiter: str = ","


def read_table(text: IO[str], required: Sequence[str], known: Sequence[str]) -> CsvTable:
    """Read the header and check the required columns; rows are read lazily as you iterate.

    Line numbers are those a spreadsheet shows: the header is line 1. The delimiter may be a
    comma, a semicolon (European Excel) or a tab."""
    header_line = text.readline()
    if not header_line.strip():
        raise FileRefused("the file is empty: expected a header line with column names")
    header_line = header_line.removeprefix("\ufeff")
    delimiter = _delimiter(header_line, known)
    original = next(csv.reader([header_line], delimiter=delimiter), [])
    columns = [c.strip().lower() for c in original]
    missing = [c for c in required if c not in columns]
    if missing:
        found = ", ".join(repr(c) for c in original) or "none"
        needed = "column" if len(missing) == 1 else "columns"
        raise FileRefused(
            f"missing required {needed} {', '.join(missing)}; the header has: {found} "
            f"(expected columns: {', '.join(known)})"
        )
    twice = sorted({c for c in columns if c and columns.count(c) > 1})
    if twice:
        raise FileRefused(f"column(s) named twice in the header: {', '.join(twice)}")
    return CsvTable(columns, original, _rows(text, columns, delimiter), delimiter)


def _delimiter(header_line: str, known: Sequence[str]) -> str:
    def score(d: str) -> int:
        cells = next(csv.reader([header_line], delimiter=d), [])
        return sum(1 for c in cells if c.strip().lower() in known)

    return max((",", ";", "\t"), key=score)


def _rows(
    text: IO[str], columns: list[str], delimiter: str
) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.reader(text, delimiter=delimiter)
    start = 2
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The reader carries on with the next line; this one is reported, not fatal.
            line, start = start, reader.line_num + 2
            yield line, {UNREADABLE: f"the row cannot be read as CSV: {exc}"}
            continue
        line, start = start, reader.line_num + 2
        if not any(c.strip() for c in cells):
            continue
        row = {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(columns)}
        if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
            row[UNREADABLE] = (
                f"the row has {len(cells)} cells but the header names {len(columns)} columns"
            )
        yield line, row


def open_text(binary: IO[bytes]) -> IO[str]:
    """UTF-8 text over a binary stream, a BOM removed; csv needs newline=''."""
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


# -- products ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProductRow:
    line: int
    product: Product
    raw: dict[str, str]


@dataclass(slots=True)
class ParsedProducts:
    products: list[ProductRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def parse_products(
    rows: Iterable[tuple[int, dict[str, str]]], seen: dict[str, int] | None = None
) -> ParsedProducts:
    """Rows of a products file → products with their line, and the rows refused.

    `seen` (SKU → line) carries across the chunks of one file to catch a SKU given twice."""
    seen = {} if seen is None else seen
    parsed = ParsedProducts()
    for line, row in rows:
        try:
            product = product_from_row(row)
        except DomainError as exc:
            parsed.errors.append(RowError(line, exc.field, exc.message, raw=row))
            continue
        if product.sku in seen:
            parsed.errors.append(
                RowError(
                    line,
                    "sku",
                    f"SKU {product.sku} is already on line {seen[product.sku]}",
                    raw=row,
                )
            )
            continue
        seen[product.sku] = line
        parsed.products.append(ProductRow(line, product, row))
    return parsed


class _RowProblem(ValidationFailed):
    def __init__(self, field_name: str | None, reason: str) -> None:
        super().__init__(reason, field=field_name)


def product_from_row(row: Mapping[str, str]) -> Product:
    """One products-file row → a Product; raises a DomainError naming the field at fault."""
    if UNREADABLE in row:
        raise _RowProblem(None, row[UNREADABLE])
    value = {k: (v or "").strip() for k, v in row.items()}
    if not value.get("sku"):
        raise _RowProblem("sku", "missing SKU")
    sku = check_sku(value["sku"])
    if not value.get("title"):
        raise _RowProblem("title", "missing title")
    dims = [_whole(value, name) for name in ("length_mm", "width_mm", "height_mm")]
    if any(d is not None for d in dims) and any(d is None for d in dims):
        raise _RowProblem(
            "length_mm", "give all three of length_mm, width_mm and height_mm, or none"
        )
    threshold = _whole(value, "low_stock_threshold")
    country = value.get("country_of_origin") or None
    return Product(
        sku=sku,
        title=value["title"],
        gtin=value.get("gtin") or None,
        asin=value.get("asin") or None,
        brand=value.get("brand") or None,
        product_type=value.get("product_type") or None,
        tags=tuple(t.strip() for t in value.get("tags", "").split(";") if t.strip()),
        weight_g=_whole(value, "weight_g"),
        dimensions=Dimensions(*dims) if dims[0] is not None else None,  # type: ignore[arg-type]
        unit_cost=_cost(value),
        hs_code=value.get("hs_code") or None,
        country_of_origin=country.upper() if country else None,
        low_stock_threshold=DEFAULT_LOW_STOCK if threshold is None else threshold,
        components=_components(value.get("components", "")),
    )


def _whole(value: Mapping[str, str], name: str) -> int | None:
    text = value.get(name, "")
    if not text:
        return None
    try:
        number = int(text)
    except ValueError:
        raise _RowProblem(name, f"{name} must be a whole number, got {text!r}") from None
    if number < 0:
        raise _RowProblem(name, f"{name} cannot be negative, got {number}")
    return number


def _cost(value: Mapping[str, str]) -> Money | None:
    amount, currency = value.get("unit_cost", ""), value.get("cost_currency", "").upper()
    if not amount:
        return None
    if not currency:
        raise _RowProblem("cost_currency", "a unit cost needs its currency (e.g. EUR)")
    if not is_currency_code(currency):
        raise _RowProblem("cost_currency", f"{currency!r} is not an ISO 4217 currency code")
    try:
        cost = Decimal(amount)
    except InvalidOperation:
        raise _RowProblem("unit_cost", f"unit cost {amount!r} is not a number") from None
    if not cost.is_finite():
        raise _RowProblem("unit_cost", f"unit cost {amount!r} is not a number")
    return Money(cost, currency)


def _components(text: str) -> dict[str, int]:
    components: dict[str, int] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        sku, sep, quantity = part.rpartition(":")
        if not sep or not sku.strip():
            raise _RowProblem("components", f"component {part!r} must be written SKU:quantity")
        try:
            units = int(quantity)
        except ValueError:
            raise _RowProblem(
                "components", f"component {part!r}: quantity must be a whole number"
            ) from None
        sku = check_sku(sku, field_name="components")
        if sku in components:
            raise _RowProblem("components", f"component {sku} is listed twice")
        components[sku] = units
    return components


def check_components(
    products: Iterable[ProductRow], catalogue: Mapping[str, bool]
) -> tuple[list[ProductRow], list[RowError]]:
    """Bundles whose components exist and are not bundles themselves; the others refused.

    `catalogue` maps every SKU known so far (in the database or earlier in the file) to
    whether it is a bundle."""
    good, errors = [], []
    for item in products:
        components = item.product.components
        unknown = sorted(c for c in components if c not in catalogue)
        nested = sorted(c for c in components if catalogue.get(c))
        if unknown:
            reason = f"unknown SKU(s) in components: {', '.join(unknown)}"
            errors.append(RowError(item.line, "components", reason, raw=item.raw))
        elif nested:
            reason = f"a bundle cannot contain another bundle: {', '.join(nested)}"
            errors.append(RowError(item.line, "components", reason, raw=item.raw))
        else:
            good.append(item)
    return good, errors


def product_row(product: Product) -> dict[str, str]:
    """A product as a products-file row, in the form the database will give it back."""
    cost = product.unit_cost
    if cost is not None:
        # What the database keeps: integer minor units. Compare in that form.
        cost = Money.from_minor(cost.to_minor(), cost.currency)
    dims = product.dimensions
    return {
        "sku": product.sku,
        "title": product.title.strip(),
        "gtin": product.gtin or "",
        "asin": product.asin or "",
        "brand": product.brand or "",
        "product_type": product.product_type or "",
        "tags": ";".join(product.tags),
        "weight_g": _text(product.weight_g),
        "length_mm": _text(dims.length_mm if dims else None),
        "width_mm": _text(dims.width_mm if dims else None),
        "height_mm": _text(dims.height_mm if dims else None),
        "unit_cost": str(cost.amount) if cost else "",
        "cost_currency": cost.currency if cost else "",
        "hs_code": product.hs_code or "",
        "country_of_origin": product.country_of_origin or "",
        "low_stock_threshold": str(product.low_stock_threshold),
        "components": _components_text(product.components),
    }


def product_row_from_view(view: Mapping[str, Any]) -> dict[str, str]:
    """A product as the read side shows it (`queries.product`) → a products-file row."""
    dims = view.get("dimensions_mm") or {}
    cost = view.get("unit_cost")
    currency = view.get("cost_currency") or ""
    if cost not in (None, ""):
        cost = str(Money.from_minor(Money.of(cost, currency).to_minor(), currency).amount)
    return {
        "sku": view["sku"],
        "title": view["title"],
        "gtin": view.get("gtin") or "",
        "asin": view.get("asin") or "",
        "brand": view.get("brand") or "",
        "product_type": view.get("product_type") or "",
        "tags": ";".join(view.get("tags") or ()),
        "weight_g": _text(view.get("weight_g")),
        "length_mm": _text(dims.get("length")),
        "width_mm": _text(dims.get("width")),
        "height_mm": _text(dims.get("height")),
        "unit_cost": cost or "",
        "cost_currency": currency if cost else "",
        "hs_code": view.get("hs_code") or "",
        "country_of_origin": view.get("country_of_origin") or "",
        "low_stock_threshold": _text(view.get("low_stock_threshold")),
        "components": _components_text(view.get("components") or {}),
    }


def complete_from(current: Mapping[str, Any], item: ProductRow, columns: Sequence[str]) -> Product:
    """The product a row describes, with the columns the file does not have kept as they are.

    A file of just `sku,title` renames products; it must not wipe their GTINs and costs."""
    missing = [c for c in PRODUCT_COLUMNS if c not in columns]
    if not missing:
        return item.product
    row = product_row_from_view(current)
    row.update((c, item.raw.get(c, "")) for c in PRODUCT_COLUMNS if c in columns)
    return product_from_row(row)


def _text(number: int | None) -> str:
    return "" if number is None else str(number)


def _components_text(components: Mapping[str, int]) -> str:
    return ";".join(f"{sku}:{units}" for sku, units in sorted(components.items()))


# -- stock ---------------------------------------------------------------------------------
@dataclass(slots=True)
class ParsedStock:
    rows: list[StockRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def parse_stock(
    rows: Iterable[tuple[int, dict[str, str]]],
    *,
    default_location: str | None = None,
    seen: dict[tuple[str, str], int] | None = None,
) -> ParsedStock:
    """Rows of a stock file (counted units per SKU and location) → StockRows and refusals.

    Whether the SKU and the location exist is the ImportStockCounts command's to say."""
    seen = {} if seen is None else seen
    parsed = ParsedStock()
    for line, row in rows:
        value = {k: (v or "").strip() for k, v in row.items()}
        problem = _stock_problem(value, default_location)
        if problem:
            parsed.errors.append(RowError(line, problem[0], problem[1], raw=dict(row)))
            continue
        sku = value["sku"]
        location = (value.get("location") or default_location or "").upper()
        if (sku, location) in seen:
            parsed.errors.append(
                RowError(
                    line,
                    "sku",
                    f"SKU {sku} at {location} is already on line {seen[(sku, location)]}",
                    raw=dict(row),
                )
            )
            continue
        seen[(sku, location)] = line
        parsed.rows.append(StockRow(line, sku, location, int(value["quantity"])))
    return parsed


def _stock_problem(
    value: Mapping[str, str], default_location: str | None
) -> tuple[str | None, str] | None:
    if UNREADABLE in value:
        return (None, value[UNREADABLE])
    if not value.get("sku"):
        return ("sku", "missing SKU")
    try:
        check_sku(value["sku"])
    except DomainError as exc:
        return ("sku", exc.message)
    if not (value.get("location") or default_location):
        return ("location", "missing location (add a location column or pass --location)")
    quantity = value.get("quantity", "")
    if not quantity:
        return ("quantity", "missing quantity")
    try:
        units = int(quantity)
    except ValueError:
        return ("quantity", f"quantity must be a whole number, got {quantity!r}")
    if units < 0:
        return ("quantity", f"quantity cannot be negative, got {units}")
    return None


def stock_row_from_view(view: Mapping[str, Any]) -> dict[str, str]:
    """A stock level as the read side shows it → a stock-file row (counted = on hand)."""
    return {"sku": view["sku"], "location": view["location"], "quantity": str(view["on_hand"])}


# -- errors file ---------------------------------------------------------------------------
def error_row(error: RowError, columns: Sequence[str]) -> dict[str, str]:
    """A refused row for the errors file: the original cells, then line, field and reason."""
    row = {c: error.raw.get(c, "") for c in columns}
    row.update(line=str(error.line), field=error.field or "", reason=error.reason)
    return row
