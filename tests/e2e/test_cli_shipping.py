"""`ordermesh orders ship` from a terminal: every line by default, some lines with --line,
and a refusal that says which input was wrong."""

from __future__ import annotations

import pytest

from ordermesh.bootstrap import bootstrap
from ordermesh.config import Settings
from tests.builders.catalogue import a_location, a_product, an_order, stock


@pytest.fixture
def order(database_url):
    om = bootstrap(Settings(database_url=database_url, env="test", worker=False), migrate=False)
    try:
        a_location(om, "WH1")
        a_product(om, "MUG-1")
        a_product(om, "TEE-1")
        stock(om, "MUG-1", 5)
        stock(om, "TEE-1", 5)
        result = an_order(om, ("MUG-1", 3), ("TEE-1", 1), channel_order_id="PHONE-7")
        return result.order_id
    finally:
        om.close()


def test_shipping_some_lines_then_the_rest_from_the_command_line(cli, order):
    first = cli(
        "orders", "ship", order, "--carrier", "UPS", "--tracking", "1Z1", "--line", "MUG-1=2"
    )
    assert first.exit_code == 0, first.output
    assert "MUG-1 × 2 with UPS 1Z1 from WH1" in first.output
    assert "partially_shipped" in first.output

    rest = cli("orders", "ship", "PHONE-7", "--carrier", "DHL", "--tracking", "JD2")
    assert rest.exit_code == 0, rest.output
    assert "MUG-1 × 1, TEE-1 × 1" in rest.output
    assert "order shipped" in rest.output
    assert "no channel to tell" in rest.output

    shown = cli("orders", "show", order)
    assert "Shipments" in shown.output
    assert "JD2" in shown.output


def test_a_refusal_names_what_was_wrong(cli, order):
    too_many = cli(
        "orders", "ship", order, "--carrier", "UPS", "--tracking", "1Z", "--line", "MUG-1=9"
    )
    assert too_many.exit_code == 1
    assert "lines[0].quantity" in too_many.output
    malformed = cli(
        "orders", "ship", order, "--carrier", "UPS", "--tracking", "1Z", "--line", "MUG-1"
    )
    assert malformed.exit_code == 2
    assert "SKU=QUANTITY" in malformed.output
    unknown = cli("orders", "ship", "NOPE-1", "--carrier", "UPS", "--tracking", "1Z")
    assert unknown.exit_code == 1
    assert "no order NOPE-1" in unknown.output
