"""Builders that read like the seller's story: `a_warehouse(om, "WH1")`, `stock(om, "MUG-1", 10)`."""

from __future__ import annotations

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain import commands as c
from ordermesh.domain.catalogue import Product
from ordermesh.domain.inventory import Location, LocationKind
from ordermesh.domain.orders import Address

BERLIN = Address("Ada Buyer", "Unter den Linden 1", "Berlin", "10117", "DE")


def a_location(
    om: Ordermesh, code: str = "WH1", kind: LocationKind = LocationKind.WAREHOUSE
) -> str:
    om.handle(c.CreateLocation(Location(code, f"Location {code}", kind)))
    return code


def a_product(
    om: Ordermesh, sku: str = "MUG-1", title: str | None = None, **components: int
) -> str:
    om.handle(
        c.UpsertProducts((Product(sku, title or f"Product {sku}", components=dict(components)),))
    )
    return sku


def a_bundle(om: Ordermesh, sku: str, components: dict[str, int]) -> str:
    om.handle(c.UpsertProducts((Product(sku, f"Bundle {sku}", components=components),)))
    return sku


def stock(om: Ordermesh, sku: str, units: int, location: str = "WH1") -> None:
    om.handle(c.ReceiveStock(sku, location, units, reference="test receipt"))


def an_order(om: Ordermesh, *lines: tuple[str, int], **kwargs: object):
    """A manual order; returns the allocation result (order id, status, short lines)."""
    return om.handle(
        c.CreateOrder(
            tuple(c.NewLine(sku, qty) for sku, qty in lines),
            kwargs.pop("address", BERLIN),
            **kwargs,
        )  # type: ignore[arg-type]
    )
