"""Reading a seller's CSV files: what is refused whole, what is refused per row, and why."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordermesh.domain.catalogue import Dimensions, Product
from ordermesh.domain.money import Money
from ordermesh.services import imports as fmt


def table(text: str, required=fmt.PRODUCT_REQUIRED, known=fmt.PRODUCT_COLUMNS) -> fmt.CsvTable:
    data = text.encode()
    fmt.check_bytes(io.BytesIO(data))
    return fmt.read_table(fmt.open_text(io.BytesIO(data)), required, known)


def products(text: str) -> fmt.ParsedProducts:
    return fmt.parse_products(table(text).rows)


def stock(text: str, location: str | None = None) -> fmt.ParsedStock:
    rows = table(text, fmt.STOCK_REQUIRED, fmt.STOCK_COLUMNS).rows
    return fmt.parse_stock(rows, default_location=location)


def refusal(data: bytes, required=fmt.PRODUCT_REQUIRED) -> str:
    def read() -> None:
        binary = io.BytesIO(data)
        fmt.check_bytes(binary)
        fmt.read_table(fmt.open_text(binary), required, fmt.PRODUCT_COLUMNS)

    with pytest.raises(fmt.FileRefused) as caught:
        read()
    return caught.value.message


# -- files refused whole ---------------------------------------------------------------------
def test_an_excel_workbook_is_refused_as_not_a_csv():
    message = refusal(b"PK\x03\x04\x14\x00\x06\x00" + bytes(200))
    assert "not a CSV" in message
    assert "xlsx" in message


def test_binary_data_is_refused():
    assert "binary" in refusal(b"sku,title\n\x00\x01\x02\x03")


def test_an_empty_file_is_refused():
    assert "empty" in refusal(b"")


def test_a_windows_1252_file_is_refused_naming_the_line_that_cannot_be_read():
    data = "sku,title\nMUG-1,Mug\nMUG-2,Becher groß\nMUG-3,Mug\n".encode("cp1252")
    message = refusal(data)
    assert "not UTF-8" in message
    assert "line 3" in message
    assert "CSV UTF-8" in message


def test_a_utf16_file_is_refused():
    assert "UTF-16" in refusal("sku,title\nMUG-1,Mug\n".encode("utf-16"))


def test_a_missing_column_is_named_with_the_columns_found():
    message = refusal(b"sku,name,price\nMUG-1,Mug,3\n")
    assert "missing required column title" in message
    assert "'sku', 'name', 'price'" in message


def test_a_file_without_a_header_is_refused_for_its_missing_columns():
    message = refusal(b"MUG-1,Mug\nMUG-2,Mug\n")
    assert "missing required columns sku, title" in message


def test_a_utf8_bom_from_excel_is_accepted():
    parsed = products("\ufeffsku,title\nMUG-1,Becher groß\n")
    assert [p.product.title for p in parsed.products] == ["Becher groß"]


def test_semicolons_as_european_excel_writes_them_are_understood():
    parsed = products("SKU;Title;Tags\nMUG-1;Mug;kitchen\n")
    assert parsed.products[0].product.sku == "MUG-1"


# -- rows refused one by one -----------------------------------------------------------------
def test_each_bad_product_row_names_its_line_and_field_and_good_rows_are_kept():
    parsed = products(
        "sku,title,gtin,country_of_origin,weight_g\n"
        "MUG-1,Mug,,DE,350\n"  # line 2: good
        ",No SKU,,,\n"  # line 3
        "MUG 2 !,Bad SKU,,,\n"  # line 4
        "MUG-3,Mug,4006381333932,,\n"  # line 5: wrong check digit
        "MUG-4,Mug,,Germany,\n"  # line 6
        "MUG-5,Mug,,,-3\n"  # line 7
        "MUG-1,Mug again,,,\n"  # line 8: duplicate
        "MUG-6,Mug,4006381333931,,\n"  # line 9: good
    )
    assert [p.product.sku for p in parsed.products] == ["MUG-1", "MUG-6"]
    assert [(e.line, e.field) for e in parsed.errors] == [
        (3, "sku"),
        (4, "sku"),
        (5, "gtin"),
        (6, "country_of_origin"),
        (7, "weight_g"),
        (8, "sku"),
    ]
    assert "missing SKU" in parsed.errors[0].reason
    assert "check digit" in parsed.errors[2].reason
    assert "already on line 2" in parsed.errors[5].reason
    assert parsed.errors[0].raw["title"] == "No SKU"


def test_bundle_components_are_read_as_sku_and_quantity():
    parsed = products("sku,title,components\nGIFT-1,Gift set,MUG-1:2;COASTER-1:1\n")
    assert parsed.products[0].product.components == {"MUG-1": 2, "COASTER-1": 1}


def test_a_component_without_quantity_is_refused():
    parsed = products("sku,title,components\nGIFT-1,Gift set,MUG-1\n")
    assert (parsed.errors[0].line, parsed.errors[0].field) == (2, "components")


def test_a_unit_cost_needs_its_currency():
    parsed = products("sku,title,unit_cost\nMUG-1,Mug,3.10\n")
    assert parsed.errors[0].field == "cost_currency"


def test_bundles_naming_unknown_or_bundle_components_are_refused():
    parsed = products(
        "sku,title,components\nGIFT-1,Gift,MUG-1:1\nGIFT-2,Gift,NOPE-1:1\nGIFT-3,Gift,GIFT-1:1\n"
    )
    good, errors = fmt.check_components(parsed.products, {"MUG-1": False, "GIFT-1": True})
    assert [g.product.sku for g in good] == ["GIFT-1"]
    assert [(e.line, e.field) for e in errors] == [(3, "components"), (4, "components")]
    assert "unknown SKU(s) in components: NOPE-1" in errors[0].reason


def test_each_bad_stock_row_names_its_line_and_field():
    parsed = stock(
        "sku,location,quantity\n"
        "MUG-1,WH1,10\n"  # 2 good
        ",WH1,4\n"  # 3 missing SKU
        "MUG-2,WH1,-5\n"  # 4 negative
        "MUG-3,WH1,2.5\n"  # 5 not whole
        "MUG-4,,3\n"  # 6 no location, no default
        "MUG-1,wh1,11\n"  # 7 same SKU and location again
        "MUG-5,FBA-EU,0\n"  # 8 good: zero is a count
    )
    assert [(r.line, r.sku, r.location, r.quantity) for r in parsed.rows] == [
        (2, "MUG-1", "WH1", 10),
        (8, "MUG-5", "FBA-EU", 0),
    ]
    assert [(e.line, e.field) for e in parsed.errors] == [
        (3, "sku"),
        (4, "quantity"),
        (5, "quantity"),
        (6, "location"),
        (7, "sku"),
    ]


def test_stock_rows_without_a_location_take_the_one_given_on_the_command_line():
    parsed = stock("sku,quantity\nMUG-1,4\n", location="WH1")
    assert parsed.rows[0].location == "WH1"


def test_line_numbers_follow_the_file_even_with_blank_lines_and_quoted_newlines():
    parsed = products('sku,title\nMUG-1,"A mug,\nwith a long title"\n\n,missing\n')
    assert parsed.errors[0].line == 5


def test_an_error_row_keeps_the_original_cells_and_adds_line_field_reason():
    [error] = products("sku,title\n,Mug\n").errors
    assert fmt.error_row(error, ["sku", "title"]) == {
        "sku": "",
        "title": "Mug",
        "line": "2",
        "field": "sku",
        "reason": "missing SKU",
    }


# -- round trip ------------------------------------------------------------------------------
_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=30
).filter(lambda s: s.strip() == s and s.strip())
_skus = st.from_regex(r"[A-Z0-9][A-Z0-9.\-_]{0,15}", fullmatch=True)


@st.composite
def a_product(draw: st.DrawFn) -> Product:
    sku = draw(_skus)
    cost = draw(st.none() | st.decimals(min_value=0, max_value=10_000, places=2))
    dims = draw(st.none() | st.tuples(*[st.integers(0, 5000)] * 3))
    components = draw(st.dictionaries(_skus, st.integers(1, 9), max_size=3))
    components.pop(sku, None)
    return Product(
        sku=sku,
        title=draw(_text),
        gtin=draw(st.sampled_from([None, "4006381333931", "96385074"])),
        brand=draw(st.none() | _text),
        tags=tuple(draw(st.lists(_text.filter(lambda s: ";" not in s), max_size=3))),
        weight_g=draw(st.none() | st.integers(0, 100_000)),
        dimensions=Dimensions(*dims) if dims else None,
        unit_cost=Money(Decimal(cost), "EUR") if cost is not None else None,
        country_of_origin=draw(st.none() | st.sampled_from(["DE", "CN", "US"])),
        low_stock_threshold=draw(st.integers(0, 1000)),
        components=components,
    )


@settings(max_examples=60, deadline=None)
@given(a_product())
def test_a_product_written_as_csv_reads_back_the_same(product: Product):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fmt.PRODUCT_COLUMNS)
    writer.writeheader()
    writer.writerow(fmt.product_row(product))

    parsed = products(buffer.getvalue())

    assert parsed.errors == []
    assert fmt.product_row(parsed.products[0].product) == fmt.product_row(product)


def test_a_row_with_more_cells_than_columns_is_refused_and_the_next_rows_read():
    parsed = products("sku,title\nMUG-1,Mug,3.10,EUR\nMUG-2,Mug\n")
    assert [(e.line, e.field) for e in parsed.errors] == [(2, None)]
    assert "4 cells but the header names 2 columns" in parsed.errors[0].reason
    assert [p.product.sku for p in parsed.products] == ["MUG-2"]


def test_a_row_the_csv_reader_cannot_take_is_reported_and_reading_goes_on():
    parsed = stock("sku,location,quantity\nMUG-1,WH1," + "9" * 140_000 + "\nMUG-2,WH1,4\n")
    assert [(e.line, e.field) for e in parsed.errors] == [(2, None)]
    assert "cannot be read as CSV" in parsed.errors[0].reason
    assert [(r.line, r.sku) for r in parsed.rows] == [(3, "MUG-2")]
