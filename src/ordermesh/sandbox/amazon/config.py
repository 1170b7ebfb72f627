"""Settings of one simulated Amazon seller account."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

US = "ATVPDKIKX0DER"
DE = "A1PA6795UKMFR9"
FEED_ORDERS = ("feed_last", "as_received")


def _seller_id() -> str:
    # Merchant tokens look like A + 13 upper-case alphanumerics.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "A" + "".join(secrets.choice(alphabet) for _ in range(13))


@dataclass(slots=True)
class SandboxConfig:
    """What the sandbox accepts and how busy the simulated seller is.

    Shares are probabilities in [0, 1] applied per generated order. Durations are in seconds of
    the sandbox clock, so a test with a manual clock can move through them instantly.
    """

    client_id: str = field(default_factory=lambda: "amzn1.application-oa2-client.sandbox")
    client_secret: str = field(default_factory=lambda: "sandbox-secret-" + secrets.token_hex(8))
    refresh_token: str = field(default_factory=lambda: "Atzr|sandbox-" + secrets.token_hex(12))
    seller_id: str = field(default_factory=_seller_id)
    marketplaces: tuple[str, ...] = (US, DE)
    orders_per_minute: float = 2.0
    prime_share: float = 0.3
    afn_share: float = 0.3
    business_share: float = 0.1
    buyer_cancellation_share: float = 0.05
    pending_cancellation_share: float = 0.03
    rate_limits: bool = True
    seed: int = 0
    listings: int = 12
    pending_seconds: float = 120.0
    buyer_cancel_after_seconds: float = 600.0
    afn_ship_after_seconds: float = 3600.0
    # Amazon refuses *Before filters closer than two minutes to now and uses now - 2 min by
    # default, so an order is invisible to searches for that long after it changes.
    visibility_lag_seconds: float = 120.0
    report_processing_seconds: float = 20.0
    # Amazon gzips large report documents and says so in getReportDocument's
    # compressionAlgorithm; reports this big or bigger are gzipped here too.
    gzip_reports_over_bytes: int = 1_000_000
    # How a second createFulfillmentOrder with a known sellerFulfillmentOrderId is answered:
    # "same_order" (200 if the body is the same, 400 if not) or "already_exists" (always 400).
    # Amazon's behaviour is unverified, so a client must cope with both.
    mcf_duplicate_create: str = "same_order"
    feed_processing_seconds: float = 30.0
    # Which figure wins when a patchListingsItem sets a listing's quantity while a listings
    # feed holding an older figure for it is processed. Amazon documents no order.
    # "feed_last": the feed's message applies when the feed completes, over the patch (the
    # worst case for a seller, and the default). "as_received": submissions apply in the
    # order Amazon received them, so the later patch stands.
    feed_order: str = "feed_last"
    fulfillment_step_seconds: float = 600.0
    access_token_lifetime_seconds: int = 3600
    order_items_page_size: int = 100
    notification_url: str | None = None
    # Sent in the `x-notification-secret` header of every notification POST, as an EventBridge
    # API destination does with a connection of the API-key kind: the receiver's only proof
    # that the notification comes from Amazon's pipeline.
    notification_secret: str | None = None
    # How often the background task catches the world up with the clock and pushes
    # notifications.
    tick_seconds: float = 1.0
    # A folder of Amazon's model files whose static sandbox cases should be answered.
    static_models_dir: str | None = None

    def __post_init__(self) -> None:
        if self.feed_order not in FEED_ORDERS:
            raise ValueError(f"feed_order must be one of {', '.join(FEED_ORDERS)}")
