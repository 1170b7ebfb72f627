from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordermesh.domain.catalogue import Product, bundle_available, check_gtin, explode
from ordermesh.domain.errors import ValidationFailed
from ordermesh.domain.money import Money


def test_money_round_trips_through_minor_units_per_currency():
    assert Money.of("19.99", "EUR").to_minor() == 1999
    assert Money.of("1999", "JPY").to_minor() == 1999
    assert Money.of("1.234", "KWD").to_minor() == 1234
    assert Money.from_minor(1999, "EUR") == Money(Decimal("19.99"), "EUR")


def test_money_refuses_floats_and_mixed_currencies():
    with pytest.raises(TypeError):
        Money(19.99, "EUR")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="EUR with USD"):
        Money.of("1", "EUR") + Money.of("1", "USD")


@given(st.integers(-(10**12), 10**12), st.sampled_from(["EUR", "JPY", "KWD", "USD"]))
def test_minor_units_survive_a_round_trip(minor, currency):
    assert Money.from_minor(minor, currency).to_minor() == minor


def test_gtins_are_checked():
    assert check_gtin("4006381333931") == "4006381333931"
    with pytest.raises(ValidationFailed, match="check digit"):
        check_gtin("4006381333932")


def test_a_bundles_stock_is_what_its_scarcest_component_allows():
    assert bundle_available({"MUG": 1, "COASTER": 4}, {"MUG": 10, "COASTER": 9}) == 2
    assert explode("SET", 3, {"SET": {"MUG": 1, "COASTER": 4}}) == {"MUG": 3, "COASTER": 12}
    assert explode("MUG", 3, {}) == {"MUG": 3}


def test_a_bundle_cannot_contain_itself():
    with pytest.raises(ValidationFailed, match="itself"):
        Product("SET", "Gift set", components={"SET": 1})
