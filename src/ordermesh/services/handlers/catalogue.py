"""Catalogue use cases: products and bundles, locations, channel listings."""

from __future__ import annotations

from dataclasses import dataclass

from ordermesh.domain import commands as c
from ordermesh.domain.catalogue import ChannelListing
from ordermesh.domain.errors import AlreadyExists, NotFound, ValidationFailed
from ordermesh.ports.storage import UnitOfWork
from ordermesh.services.messagebus import Deps


@dataclass
class Upserted:
    created: int
    updated: int


def upsert_products(cmd: c.UpsertProducts, uow: UnitOfWork, deps: Deps) -> Upserted:
    skus = [p.sku for p in cmd.products]
    if len(set(skus)) != len(skus):
        dupes = sorted({s for s in skus if skus.count(s) > 1})
        raise ValidationFailed(f"SKU(s) given twice: {', '.join(dupes)}", field="sku")
    components = {comp for p in cmd.products for comp in p.components}
    if components:
        existing = uow.catalogue.known(components)
        incoming = {p.sku: p for p in cmd.products}
        missing = sorted(
            comp for comp in components if comp not in existing and comp not in incoming
        )
        if missing:
            raise NotFound(
                f"bundle component(s) not in the catalogue: {', '.join(missing)}",
                field="components",
            )
        nested = sorted(
            comp
            for comp in components
            if existing.get(comp) or (comp in incoming and incoming[comp].is_bundle)
        )
        if nested:
            raise ValidationFailed(
                f"a bundle cannot contain another bundle: {', '.join(nested)}", field="components"
            )
    # Components first, so that bundles in the same batch can refer to them.
    ordered = sorted(cmd.products, key=lambda p: p.is_bundle)
    created, updated = uow.catalogue.upsert(ordered)
    uow.commit()
    return Upserted(created, updated)


def create_location(cmd: c.CreateLocation, uow: UnitOfWork, deps: Deps) -> str:
    if uow.locations.get(cmd.location.code) is not None:
        raise AlreadyExists(f"location {cmd.location.code} already exists", field="code")
    uow.locations.add(cmd.location)
    uow.commit()
    return cmd.location.code


def upsert_listing(cmd: c.UpsertListing, uow: UnitOfWork, deps: Deps) -> None:
    if not uow.catalogue.known([cmd.sku]):
        raise NotFound(f"no product with SKU {cmd.sku}", field="sku")
    uow.catalogue.upsert_listing(
        ChannelListing(
            cmd.channel_account,
            cmd.channel_sku,
            cmd.sku,
            cmd.asin,
            cmd.variant_id,
            cmd.fulfilled_by,
        )
    )
    uow.commit()
