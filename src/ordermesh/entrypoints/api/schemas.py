"""What the API accepts, and how it becomes commands. Separate from the tables and from the
domain: the domain still decides what is valid (and names the field); these models only give
the JSON its shape and its documentation."""

from __future__ import annotations

import zoneinfo
from datetime import time
from decimal import Decimal
from typing import Literal

from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field

from ordermesh.domain import commands as c
from ordermesh.domain.access import Role
from ordermesh.domain.catalogue import Dimensions, Product
from ordermesh.domain.errors import DomainError, ValidationFailed
from ordermesh.domain.inventory import Location, LocationKind
from ordermesh.domain.money import Money
from ordermesh.domain.orders import Address
from ordermesh.domain.shipments import ShipLine
from ordermesh.entrypoints.api.problems import ItemsRefused


class Body(BaseModel):
    # A misspelt field is refused by name rather than silently ignored.
    model_config = ConfigDict(extra="forbid")


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# -- locations -------------------------------------------------------------------------------
class NewLocation(Body):
    code: str = Field(examples=["WH1"])
    name: str
    kind: LocationKind
    address: dict[str, str] = Field(default_factory=dict)
    working_days: list[str] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    cutoff: str = Field("14:00", pattern=r"^\d{2}:\d{2}$", description="local time, HH:MM")
    timezone: str = "UTC"

    def to_command(self, actor: str) -> c.CreateLocation:
        try:
            cutoff = time.fromisoformat(self.cutoff)
        except ValueError as exc:
            raise ValidationFailed(f"cutoff {self.cutoff!r} is not HH:MM", field="cutoff") from exc
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationFailed(
                f"{self.timezone!r} is not an IANA time zone such as Europe/Berlin",
                field="timezone",
            ) from exc
        location = Location(
            self.code,
            self.name,
            self.kind,
            dict(self.address),
            tuple(self.working_days),
            cutoff,
            self.timezone,
        )
        return c.CreateLocation(location, actor=actor)


# -- products --------------------------------------------------------------------------------
class DimensionsMm(Body):
    length: int = Field(ge=0)
    width: int = Field(ge=0)
    height: int = Field(ge=0)


class ProductFields(Body):
    title: str
    gtin: str | None = None
    asin: str | None = None
    brand: str | None = None
    product_type: str | None = None
    tags: list[str] = Field(default_factory=list)
    weight_g: int | None = None
    dimensions_mm: DimensionsMm | None = None
    unit_cost: Decimal | None = Field(None, description='decimal amount as text, e.g. "4.20"')
    cost_currency: str | None = Field(None, examples=["EUR"])
    hs_code: str | None = None
    country_of_origin: str | None = None
    low_stock_threshold: int = 5
    components: dict[str, int] = Field(
        default_factory=dict, description="for a bundle: component SKU → units per bundle"
    )

    def to_product(self, sku: str) -> Product:
        cost = None
        if self.unit_cost is not None:
            if not self.cost_currency:
                raise ValidationFailed("a unit cost needs its cost_currency", field="cost_currency")
            try:
                cost = Money.of(self.unit_cost, self.cost_currency)
            except ValueError as exc:
                raise ValidationFailed(str(exc), field="cost_currency") from exc
        dims = self.dimensions_mm
        return Product(
            sku=sku,
            title=self.title,
            gtin=self.gtin,
            asin=self.asin,
            brand=self.brand,
            product_type=self.product_type,
            tags=tuple(self.tags),
            weight_g=self.weight_g,
            dimensions=Dimensions(dims.length, dims.width, dims.height) if dims else None,
            unit_cost=cost,
            hs_code=self.hs_code,
            country_of_origin=self.country_of_origin,
            low_stock_threshold=self.low_stock_threshold,
            components=dict(self.components),
        )


class NewProduct(ProductFields):
    sku: str = Field(examples=["MUG-1"])


class BulkProducts(Body):
    items: list[NewProduct] = Field(min_length=1, max_length=5000)

    def to_command(self, actor: str) -> c.UpsertProducts:
        """Every bad item is reported, each with its index; none is applied if any is bad."""
        products, problems = [], []
        for i, item in enumerate(self.items):
            try:
                products.append(item.to_product(item.sku))
            except DomainError as exc:
                problems.append((f"items[{i}].{exc.field or 'sku'}", exc.message))
        if problems:
            raise ItemsRefused(problems)
        return c.UpsertProducts(tuple(products), actor=actor)


class NewListing(Body):
    channel_account: str
    channel_sku: str
    sku: str
    asin: str | None = None
    variant_id: str | None = None
    fulfilled_by: Literal["merchant", "marketplace"] = "merchant"

    def to_command(self) -> c.UpsertListing:
        return c.UpsertListing(
            self.channel_account,
            self.channel_sku,
            self.sku,
            self.asin,
            self.variant_id,
            self.fulfilled_by,
        )


# -- stock -----------------------------------------------------------------------------------
class Receipt(Body):
    sku: str
    location: str
    quantity: int
    reference: str = ""


class Adjustment(Body):
    sku: str
    location: str
    delta: int
    reason: str
    reference: str = ""


class Transfer(Body):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    sku: str
    source: str = Field(alias="from")
    destination: str = Field(alias="to")
    quantity: int
    reference: str = ""


class Count(Body):
    sku: str
    location: str
    counted: int
    reference: str = ""


# -- orders ----------------------------------------------------------------------------------
class AddressIn(Body):
    name: str
    line1: str
    city: str
    postal_code: str
    country: str = Field(description="ISO 3166 alpha-2, e.g. DE", examples=["DE"])
    line2: str | None = None
    line3: str | None = None
    state: str | None = None
    phone: str | None = None
    company: str | None = None

    def to_address(self) -> Address:
        return Address(**self.model_dump())


class LineIn(Body):
    sku: str
    quantity: int
    unit_price: Decimal | None = None
    tax: Decimal | None = None
    discount: Decimal | None = None


class NewOrder(Body):
    channel: Literal["manual"] = "manual"
    lines: list[LineIn]
    shipping_address: AddressIn
    currency: str = "EUR"
    buyer_name: str | None = None
    buyer_email: str | None = None
    channel_order_id: str | None = None
    marketplace: str | None = None
    ship_by: AwareDatetime | None = None
    is_prime: bool = False
    is_business: bool = False
    tags: list[str] = Field(default_factory=list)
    allow_backorder: bool = True
    """When false, an order that stock cannot fill is refused (409) instead of backordered."""

    def to_command(self, actor: str) -> c.CreateOrder:
        return c.CreateOrder(
            lines=tuple(
                c.NewLine(
                    line.sku,
                    line.quantity,
                    _text(line.unit_price),
                    _text(line.tax),
                    _text(line.discount),
                )
                for line in self.lines
            ),
            shipping_address=self.shipping_address.to_address(),
            currency=self.currency,
            buyer_name=self.buyer_name,
            buyer_email=self.buyer_email,
            channel_order_id=self.channel_order_id,
            marketplace=self.marketplace,
            ship_by=self.ship_by,
            is_prime=self.is_prime,
            is_business=self.is_business,
            tags=tuple(self.tags),
            allow_backorder=self.allow_backorder,
            actor=actor,
        )


class Cancel(Body):
    reason: str = ""


class HoldIn(Body):
    reason: str
    kind: str = "manual"


class ReleaseIn(Body):
    kind: str | None = None
    reason: str = ""


class ShipLineIn(Body):
    quantity: int
    line_no: int | None = Field(default=None, description="the order line's number")
    sku: str | None = Field(default=None, description="or the line's SKU (ours or the channel's)")


class ShipmentIn(Body):
    carrier: str = Field(examples=["UPS"])
    tracking_number: str = Field(examples=["1Z999AA10123456784"])
    service: str | None = Field(default=None, examples=["Ground"])
    tracking_url: str | None = None
    shipped_at: AwareDatetime | None = Field(default=None, description="now if left out")
    location: str | None = Field(
        default=None, description="where it left from; needed when lines are reserved at several"
    )
    lines: list[ShipLineIn] | None = Field(
        default=None, description="left out: every unit not shipped yet"
    )
    notify_customer: bool = True

    def to_command(self, order_id: str, actor: str) -> c.ShipOrder:
        return c.ShipOrder(
            order_id,
            carrier=self.carrier,
            tracking_number=self.tracking_number,
            lines=(
                None
                if self.lines is None
                else tuple(ShipLine(ln.quantity, ln.line_no, ln.sku) for ln in self.lines)
            ),
            service=self.service,
            tracking_url=self.tracking_url,
            shipped_at=self.shipped_at,
            location=self.location,
            notify_customer=self.notify_customer,
            actor=actor,
        )


# -- integrations and access -------------------------------------------------------------------
class NewWebhook(Body):
    url: AnyHttpUrl
    event_types: list[str] = Field(
        default_factory=list, description="event names to receive; empty means every event"
    )


class NewKey(Body):
    name: str
    role: Role
