"""`ordermesh import` and `ordermesh export`, as a seller runs them on their spreadsheets."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.builders.catalogue import a_location, a_product, an_order, stock


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def rejected(file: Path) -> list[dict[str, str]]:
    with file.with_name(f"{file.stem}.errors.csv").open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


PRODUCTS = (
    "sku,title,gtin,tags,weight_g,unit_cost,cost_currency,country_of_origin,components\n"
    "MUG-1,Stoneware Mug,4006381333931,kitchen;coffee,380,3.10,EUR,PT,\n"
    "MUG-2,Travel Mug,,,320,,,CN,\n"
    ",Nameless Mug,,,,,,,\n"
    "MUG-3,Bad Code Mug,4006381333932,,,,,,\n"
    "GIFT-1,Gift Set,,gift,,,,,MUG-1:2;MUG-2:1\n"
    "GIFT-2,Broken Set,,,,,,,NOPE-9:1\n"
)


# -- products --------------------------------------------------------------------------------
def test_good_product_rows_are_imported_and_bad_ones_reported_by_line(om, cli, tmp_path):
    file = write(tmp_path / "products.csv", PRODUCTS)

    result = cli("import", "products", str(file))

    assert result.exit_code == 1, result.output
    assert "3 of 6 rows were rejected" in result.output
    assert {p["sku"] for p in om.queries.products().items} == {"MUG-1", "MUG-2", "GIFT-1"}
    assert om.queries.product("GIFT-1")["components"] == {"MUG-1": 2, "MUG-2": 1}
    assert [(r["line"], r["field"]) for r in rejected(file)] == [
        ("4", "sku"),
        ("5", "gtin"),
        ("7", "components"),
    ]
    first = rejected(file)[0]
    assert first["title"] == "Nameless Mug"
    assert first["reason"] == "missing SKU"


def test_importing_the_same_products_again_changes_nothing(om, cli, tmp_path):
    file = write(tmp_path / "products.csv", PRODUCTS)
    cli("import", "products", str(file))
    before = {p["sku"]: p["updated_at"] for p in om.queries.products().items}

    result = cli("import", "products", str(file))

    assert result.exit_code == 1
    assert "6 rows read — 0 created, 0 updated, 3 unchanged, 3 rejected" in result.output
    assert {p["sku"]: p["updated_at"] for p in om.queries.products().items} == before


def test_a_changed_title_updates_only_that_product(om, cli, tmp_path):
    cli("import", "products", str(write(tmp_path / "a.csv", "sku,title\nMUG-1,Mug\nMUG-2,Cup\n")))

    result = cli(
        "import",
        "products",
        str(write(tmp_path / "b.csv", "sku,title\nMUG-1,Mug\nMUG-2,Big Cup\n")),
    )

    assert result.exit_code == 0, result.output
    assert "2 rows read — 0 created, 1 updated, 1 unchanged, 0 rejected" in result.output
    assert om.queries.product("MUG-2")["title"] == "Big Cup"


def test_a_clean_run_removes_the_error_file_of_an_earlier_run(cli, tmp_path):
    file = write(tmp_path / "products.csv", "sku,title\n,Mug\n")
    cli("import", "products", str(file))
    assert (tmp_path / "products.errors.csv").exists()

    write(file, "sku,title\nMUG-1,Mug\n")
    result = cli("import", "products", str(file))

    assert result.exit_code == 0
    assert not (tmp_path / "products.errors.csv").exists()


def test_a_spreadsheet_saved_as_xlsx_is_refused(cli, tmp_path):
    file = tmp_path / "products.csv"
    file.write_bytes(b"PK\x03\x04" + bytes(100))

    result = cli("import", "products", str(file))

    assert result.exit_code == 2
    assert "not a CSV file" in result.output


def test_a_file_missing_the_title_column_is_refused_naming_it(om, cli, tmp_path):
    file = write(tmp_path / "products.csv", "sku,name\nMUG-1,Mug\n")

    result = cli("import", "products", str(file))

    assert result.exit_code == 2
    assert "missing required column title" in result.output
    assert "'sku', 'name'" in result.output
    assert om.queries.products().items == []


def test_a_file_in_the_wrong_encoding_is_refused_naming_the_line(om, cli, tmp_path):
    file = write(tmp_path / "products.csv", "sku,title\nMUG-1,Mug\nMUG-2,Becher groß\n", "cp1252")

    result = cli("import", "products", str(file))

    assert result.exit_code == 2
    assert "not UTF-8" in result.output
    assert "line 3" in result.output
    assert om.queries.products().items == []


# -- stock -----------------------------------------------------------------------------------
@pytest.fixture
def shop(om):
    a_location(om, "WH1")
    for sku in ("MUG-1", "MUG-2", "MUG-3"):
        a_product(om, sku)
    stock(om, "MUG-1", 10)
    return om


STOCK = (
    "sku,location,quantity\n"
    "MUG-1,WH1,12\n"  # 2: 10 → 12
    ",WH1,4\n"  # 3: missing SKU
    "MUG-2,WH1,-5\n"  # 4: negative
    "MUG-2,MOON,3\n"  # 5: unknown location
    "NOPE-1,WH1,3\n"  # 6: unknown SKU
    "MUG-3,WH1,7\n"  # 7: 0 → 7
)


def test_good_stock_rows_are_counted_and_bad_ones_reported_by_line(shop, cli, tmp_path):
    file = write(tmp_path / "stock.csv", STOCK)

    result = cli("import", "stock", str(file))

    assert result.exit_code == 1, result.output
    levels = {
        (lv["sku"], lv["location"]): lv["on_hand"] for lv in shop.queries.stock_levels().items
    }
    assert levels == {("MUG-1", "WH1"): 12, ("MUG-3", "WH1"): 7}
    assert [(r["line"], r["field"]) for r in rejected(file)] == [
        ("3", "sku"),
        ("4", "quantity"),
        ("5", "location"),
        ("6", "sku"),
    ]
    assert "no location MOON" in rejected(file)[2]["reason"]


def test_importing_the_same_counts_again_books_nothing(shop, cli, tmp_path):
    file = write(tmp_path / "stock.csv", STOCK)
    cli("import", "stock", str(file))
    ledger = shop.queries.movements(limit=1000).items

    result = cli("import", "stock", str(file))

    assert result.exit_code == 1
    assert shop.queries.movements(limit=1000).items == ledger
    assert "6 rows read — 0 created, 0 updated, 2 unchanged, 4 rejected" in result.output


def test_a_stock_file_without_locations_takes_the_one_given(shop, cli, tmp_path):
    file = write(tmp_path / "count.csv", "sku,quantity\nMUG-2,5\n")

    result = cli("import", "stock", str(file), "--location", "WH1")

    assert result.exit_code == 0, result.output
    [level] = shop.queries.stock_levels(sku="MUG-2").items
    assert level["on_hand"] == 5


def test_a_stock_file_without_a_quantity_column_is_refused(shop, cli, tmp_path):
    result = cli(
        "import", "stock", str(write(tmp_path / "s.csv", "sku,location,qty\nMUG-1,WH1,3\n"))
    )

    assert result.exit_code == 2
    assert "missing required column quantity" in result.output


# -- export ----------------------------------------------------------------------------------
def test_an_export_imports_back_as_unchanged(shop, cli, tmp_path):
    cli("import", "products", str(write(tmp_path / "p.csv", PRODUCTS)))
    exported_products, exported_stock = tmp_path / "out-products.csv", tmp_path / "out-stock.csv"

    assert cli("export", "products", "--out", str(exported_products)).exit_code == 0
    assert cli("export", "stock", "--out", str(exported_stock)).exit_code == 0
    again_products = cli("import", "products", str(exported_products))
    again_stock = cli("import", "stock", str(exported_stock))

    assert again_products.exit_code == 0, again_products.output
    assert "4 rows read — 0 created, 0 updated, 4 unchanged, 0 rejected" in again_products.output
    assert again_stock.exit_code == 0, again_stock.output
    assert "1 row read — 0 created, 0 updated, 1 unchanged, 0 rejected" in again_stock.output


def test_orders_export_to_stdout_has_a_header_and_one_row_per_order(shop, cli):
    an_order(shop, ("MUG-1", 2))

    result = cli("export", "orders")

    assert result.exit_code == 0
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert len(rows) == 1
    assert (rows[0]["channel"], rows[0]["status"]) == ("manual", "allocated")


def test_a_file_with_only_some_columns_keeps_the_others_as_they_are(om, cli, tmp_path):
    cli("import", "products", str(write(tmp_path / "full.csv", PRODUCTS)))

    result = cli(
        "import",
        "products",
        str(
            write(
                tmp_path / "titles.csv", "sku,title\nMUG-1,Stoneware Mug 350 ml\nGIFT-1,Gift Set\n"
            )
        ),
    )

    assert result.exit_code == 0, result.output
    assert "0 created, 1 updated, 1 unchanged" in result.output
    mug = om.queries.product("MUG-1")
    assert (mug["title"], mug["gtin"], mug["unit_cost"]) == (
        "Stoneware Mug 350 ml",
        "4006381333931",
        "3.10",
    )
    assert om.queries.product("GIFT-1")["components"] == {"MUG-1": 2, "MUG-2": 1}
