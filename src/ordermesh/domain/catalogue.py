"""What a seller sells: products, bundles made of products, and the channels' names for them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ordermesh.domain.errors import ValidationFailed
from ordermesh.domain.money import Money

_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/+ ]{0,63}$")


def check_sku(sku: str, *, field_name: str = "sku") -> str:
    """A SKU as sellers write them: 1–64 characters, letters, digits and . _ - / + space."""
    cleaned = sku.strip() if isinstance(sku, str) else ""
    if not _SKU.match(cleaned):
        raise ValidationFailed(
            f"{sku!r} is not a valid SKU (1–64 letters, digits or . _ - / + and spaces)",
            field=field_name,
        )
    return cleaned


def check_gtin(gtin: str | None) -> str | None:
    """GTIN-8/12/13/14 with a correct check digit, or None."""
    if gtin in (None, ""):
        return None
    assert gtin is not None
    digits = gtin.strip()
    if not digits.isdigit() or len(digits) not in (8, 12, 13, 14):
        raise ValidationFailed(f"GTIN {gtin!r} must be 8, 12, 13 or 14 digits", field="gtin")
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    if (10 - total % 10) % 10 != check:
        raise ValidationFailed(f"GTIN {gtin!r} has a wrong check digit", field="gtin")
    return digits


@dataclass(frozen=True, slots=True)
class Dimensions:
    length_mm: int
    width_mm: int
    height_mm: int


@dataclass(slots=True)
class Product:
    sku: str
    title: str
    gtin: str | None = None
    asin: str | None = None
    brand: str | None = None
    product_type: str | None = None
    tags: tuple[str, ...] = ()
    weight_g: int | None = None
    dimensions: Dimensions | None = None
    unit_cost: Money | None = None
    hs_code: str | None = None
    country_of_origin: str | None = None
    low_stock_threshold: int = 5
    components: dict[str, int] = field(default_factory=dict)
    """For a bundle (kit): component SKU → units per kit. Empty for an ordinary product."""

    def __post_init__(self) -> None:
        self.sku = check_sku(self.sku)
        if not self.title or not self.title.strip():
            raise ValidationFailed("a product needs a title", field="title")
        self.gtin = check_gtin(self.gtin)
        if self.weight_g is not None and self.weight_g < 0:
            raise ValidationFailed("weight cannot be negative", field="weight_g")
        if self.country_of_origin is not None and not _is_country(self.country_of_origin):
            raise ValidationFailed(
                f"country of origin {self.country_of_origin!r} is not an ISO 3166 alpha-2 code",
                field="country_of_origin",
            )
        if self.unit_cost is not None and self.unit_cost.amount < Decimal(0):
            raise ValidationFailed("unit cost cannot be negative", field="unit_cost")
        if self.low_stock_threshold < 0:
            raise ValidationFailed(
                "low-stock threshold cannot be negative", field="low_stock_threshold"
            )
        for component, quantity in self.components.items():
            check_sku(component, field_name="components")
            if component == self.sku:
                raise ValidationFailed("a bundle cannot contain itself", field="components")
            if quantity < 1:
                raise ValidationFailed(
                    f"component {component} needs a quantity of at least 1", field="components"
                )

    @property
    def is_bundle(self) -> bool:
        return bool(self.components)


def _is_country(code: str) -> bool:
    return len(code) == 2 and code.isalpha() and code.isupper()


def explode(sku: str, quantity: int, bundles: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """Units of each stocked SKU needed for `quantity` of `sku` (a bundle becomes its components)."""
    components = bundles.get(sku)
    if not components:
        return {sku: quantity}
    return {component: per_kit * quantity for component, per_kit in components.items()}


def bundle_available(
    components: Mapping[str, int], available_by_component: Mapping[str, int]
) -> int:
    """Kits that can be built from the available components: the scarcest component decides."""
    if not components:
        return 0
    return min(available_by_component.get(c, 0) // per_kit for c, per_kit in components.items())


@dataclass(frozen=True, slots=True)
class ChannelListing:
    """A channel's identifier for one of our SKUs (seller SKU, ASIN, variant id)."""

    channel_account: str
    channel_sku: str
    sku: str
    asin: str | None = None
    variant_id: str | None = None
    fulfilled_by: str = "merchant"

    def __post_init__(self) -> None:
        if not self.channel_sku:
            raise ValidationFailed("a listing needs the channel's SKU", field="channel_sku")
        check_sku(self.sku)


def map_channel_skus(
    channel_skus: Iterable[str], listings: Mapping[str, str], known_skus: Iterable[str]
) -> tuple[dict[str, str], list[str]]:
    """Translate a channel's SKUs to ours: explicit listings first, else the same SKU if we know it.

    Returns the mapping and the channel SKUs that map to nothing (those need a human)."""
    known = set(known_skus)
    mapped: dict[str, str] = {}
    unknown: list[str] = []
    for channel_sku in channel_skus:
        ours = listings.get(channel_sku) or (channel_sku if channel_sku in known else None)
        if ours is None:
            unknown.append(channel_sku)
        else:
            mapped[channel_sku] = ours
    return mapped, unknown
