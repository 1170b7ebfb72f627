"""What the core asks of a marketplace beyond its order feed: a back-fill of old orders, the
stock it holds in its own fulfilment network (FBA), its multi-channel fulfilment service (MCF),
the seller's account health, and how many orders its usage plan lets us read.

Connectors that can do these implement the Protocols; the services check with isinstance."""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ordermesh.ports.channels import ChangesPage

# -- back-fill -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackfillProgress:
    """How far a back-fill is: `done` of `total` date-range chunks, and what the current one
    is waiting for (the marketplace prepares a report asynchronously)."""

    done: int
    total: int
    stage: str


@runtime_checkable
class OrderBackfill(Protocol):
    backfill_note: str
    """What a back-filled order lacks compared with one from the incremental sync."""

    def orders_placed_between(
        self,
        since: datetime,
        until: datetime,
        progress: Callable[[BackfillProgress], None] | None = None,
    ) -> Iterator[ChangesPage]:
        """Every order placed within [since, until), as its latest version, page by page.

        The snapshots may carry less than `changed_orders` gives (a report has no street
        address); `BACKFILL_NOTE` on the connector says what is missing."""
        ...


# -- usage-plan capacity ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderCapacity:
    """How many order versions per hour the channel's usage plan lets one account read."""

    operation: str
    requests_per_second: float
    burst: float
    page_size: int

    @property
    def orders_per_hour(self) -> float:
        return self.requests_per_second * 3600 * self.page_size

    @property
    def burst_orders(self) -> int:
        """Orders readable at once after a quiet spell (the burst, full pages)."""
        return int(self.burst) * self.page_size


@runtime_checkable
class CapacityReporter(Protocol):
    def order_capacity(self) -> OrderCapacity: ...


# -- FBA stock -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetworkStock:
    """One SKU's stock in the marketplace's fulfilment network, as the marketplace reports it.

    `fulfillable` is what it can ship now; `reserved` is held for its customer orders,
    transshipment or processing; the inbound figures are on their way to it."""

    channel_sku: str
    marketplace_id: str
    fulfillable: int
    reserved: int = 0
    reserved_for_orders: int = 0
    inbound_working: int = 0
    inbound_shipped: int = 0
    inbound_receiving: int = 0
    unfulfillable: int = 0
    researching: int = 0
    asin: str | None = None
    fnsku: str | None = None
    updated_at: datetime | None = None

    @property
    def inbound(self) -> int:
        return self.inbound_working + self.inbound_shipped + self.inbound_receiving


@runtime_checkable
class NetworkStockReader(Protocol):
    @property
    def marketplace_ids(self) -> tuple[str, ...]: ...

    def network_stock(self, marketplace_id: str) -> Iterator[Sequence[NetworkStock]]:
        """Every SKU the marketplace holds for the seller in that marketplace, page by page."""
        ...


class NetworkStockRecords(Protocol):
    def record(
        self, account_id: str, location: str, rows: Sequence[NetworkStock], at: datetime
    ) -> None:
        """Keep the latest figures per (account, SKU), replacing older ones."""
        ...

    def figures(self, account_id: str) -> list[dict[str, Any]]:
        """The latest figures per channel SKU: fulfillable, reserved, inbound, … apart."""
        ...


# -- account health --------------------------------------------------------------------------


class MetricStatus(enum.StrEnum):
    GOOD = "GOOD"
    BAD = "BAD"
    NONE = "NONE"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class HealthMetric:
    """One performance metric in one marketplace, with the target the marketplace set."""

    key: str
    """The metric's name in the report, e.g. `lateShipmentRate` or `orderDefectRate.mfn`."""
    name: str
    """What a seller calls it: Order Defect Rate (MFN), Late Shipment Rate, …"""
    marketplace_id: str
    status: MetricStatus
    rate: float | None = None
    target: float | None = None
    condition: str | None = None
    """LESS_THAN, GREATER_THAN or EQUALS, as the report says."""
    count: int | None = None
    """The defects (late shipments, cancellations, …) behind the rate, when given."""
    orders: int | None = None
    """The orders or shipments the rate is computed over, when given."""
    window_from: str | None = None
    window_to: str | None = None

    @property
    def meets_target(self) -> bool | None:
        if self.rate is None or self.target is None or self.condition is None:
            return None
        if self.condition == "LESS_THAN":
            return self.rate < self.target
        if self.condition == "GREATER_THAN":
            return self.rate > self.target
        if self.condition == "EQUALS":
            return self.rate == self.target
        return None


@dataclass(frozen=True, slots=True)
class AccountHealth:
    fetched_at: datetime
    account_statuses: Mapping[str, str]
    """marketplace id → NORMAL, AT_RISK, DEACTIVATED (or whatever the report says)."""
    metrics: tuple[HealthMetric, ...]
    rating: Mapping[str, str] = field(default_factory=dict)
    """marketplace id → account health rating status (GREAT, WARNED, …)."""
    warnings: tuple[str, ...] = ()
    """What the parser could not read and skipped; the rest is still shown."""


@runtime_checkable
class AccountHealthReader(Protocol):
    def account_health(self) -> AccountHealth: ...


class AccountHealthRecords(Protocol):
    def record_health(self, account_id: str, health: AccountHealth) -> None: ...
    def latest_health(self, account_id: str) -> AccountHealth | None: ...


# -- multi-channel fulfilment ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FulfilmentAddress:
    name: str
    line1: str
    postal_code: str
    country: str
    city: str | None = None
    state: str | None = None
    line2: str | None = None
    line3: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class FulfilmentItem:
    channel_sku: str
    item_id: str
    """Our id for the line, unique within the fulfilment order."""
    quantity: int


@dataclass(frozen=True, slots=True)
class FulfilmentRequest:
    """An order for the marketplace to ship from its network to any buyer.

    `fulfilment_order_id` is the idempotency key: sending the same request twice creates
    one fulfilment order."""

    fulfilment_order_id: str
    displayable_order_id: str
    order_date: datetime
    comment: str
    speed: str
    """Standard, Expedited, Priority or ScheduledDelivery."""
    address: FulfilmentAddress
    items: tuple[FulfilmentItem, ...]
    marketplace_id: str | None = None
    hold: bool = False
    policy: str = "FillOrKill"
    notification_emails: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PreviewOption:
    speed: str
    fulfillable: bool
    earliest_arrival: datetime | None = None
    latest_arrival: datetime | None = None
    fees: Mapping[str, str] = field(default_factory=dict)
    """fee name → amount with currency, e.g. "3.50 USD"."""
    unfulfillable_reasons: tuple[str, ...] = ()
    unfulfillable_skus: tuple[str, ...] = ()


class CreateOutcome(enum.StrEnum):
    CREATED = "created"
    ALREADY_CREATED = "already_created"
    """The marketplace already had this fulfilment order: a retry, nothing new was made."""


@dataclass(frozen=True, slots=True)
class FulfilmentShipment:
    shipment_id: str
    status: str
    shipped_at: datetime | None
    packages: tuple[int, ...]
    tracking_numbers: tuple[str, ...]
    carrier: str | None = None


@dataclass(frozen=True, slots=True)
class FulfilmentOrderView:
    fulfilment_order_id: str
    status: str
    """New, Received, Planning, Processing, Cancelled, Complete, CompletePartialled,
    Unfulfillable, Invalid."""
    status_updated_at: datetime | None
    speed: str
    items: Mapping[str, tuple[int, int, int]]
    """item id → (quantity, cancelled, unfulfillable)."""
    shipments: tuple[FulfilmentShipment, ...] = ()

    @property
    def finished(self) -> bool:
        return self.status in {"Cancelled", "Complete", "CompletePartialled", "Unfulfillable"}


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    at: datetime | None
    code: str
    description: str
    where: str


@dataclass(frozen=True, slots=True)
class PackageTracking:
    package_number: int
    tracking_number: str | None
    carrier: str | None
    status: str
    shipped_at: datetime | None
    estimated_arrival: datetime | None
    tracking_link: str | None
    events: tuple[TrackingEvent, ...] = ()
    signed_for_by: str | None = None


class FulfilmentRefused(Exception):
    """The marketplace refused the request; `errors` holds its words."""

    def __init__(self, message: str, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.errors = tuple(errors)


@runtime_checkable
class MarketplaceFulfilment(Protocol):
    def fulfilment_preview(
        self,
        address: FulfilmentAddress,
        items: Sequence[FulfilmentItem],
        speeds: Sequence[str] = (),
        marketplace_id: str | None = None,
    ) -> list[PreviewOption]: ...
    def create_fulfilment_order(self, request: FulfilmentRequest) -> CreateOutcome: ...
    def fulfilment_order(self, fulfilment_order_id: str) -> FulfilmentOrderView: ...
    def package_tracking(self, package_number: int) -> PackageTracking: ...
    def cancel_fulfilment_order(self, fulfilment_order_id: str) -> None: ...


# -- what the inbound services read back ----------------------------------------------------


class OrderVersions(Protocol):
    def order_versions(self, account_id: str, order_ids: Collection[str]) -> dict[str, datetime]:
        """channel order id → the channel's update time of the version ordermesh holds."""
        ...

    def orders_changed_since(self, account_id: str, since: datetime) -> int: ...


class MarketplaceLocations(Protocol):
    def marketplace_locations(self) -> list[str]:
        """Codes of every location of kind `marketplace` (FBA and the like)."""
        ...

    def fba_locations_of(self, account_id: str) -> list[str]: ...
