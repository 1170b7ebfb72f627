"""Simulated shoppers: orders at a configured rate, some cancelled, refunded or left unpaid.

Every random choice comes from one ``random.Random`` seeded from the config, and every
timestamp from the shop's clock, so the same seed and clock give the same orders.
"""

from __future__ import annotations

import random
from decimal import Decimal

from ordermesh.sandbox.shopify.config import SandboxConfig
from ordermesh.sandbox.shopify.state import (
    OrderLineRequest,
    Shop,
    Variant,
)

_FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jon")
_LAST_NAMES = ("Meyer", "Okafor", "Nguyen", "Rossi", "Silva", "Kowalski", "Dubois", "Smith")
_ADDRESSES = (
    ("350 Fifth Avenue", "New York", "New York", "NY", "10118", "United States", "US"),
    ("1600 Amphitheatre Pkwy", "Mountain View", "California", "CA", "94043", "United States", "US"),
    ("233 S Wacker Dr", "Chicago", "Illinois", "IL", "60606", "United States", "US"),
    ("400 Broad St", "Seattle", "Washington", "WA", "98109", "United States", "US"),
    (
        "1 Dr Carlton B Goodlett Pl",
        "San Francisco",
        "California",
        "CA",
        "94102",
        "United States",
        "US",
    ),
)

_DEMO_PRODUCTS = (
    ("Trail Running Shoe", ("40", "41", "42", "43"), "89.00"),
    ("Merino Wool Socks", ("S", "M", "L"), "14.50"),
    ("Insulated Water Bottle", ("Default Title",), "24.00"),
    ("Canvas Tote Bag", ("Natural", "Black"), "19.90"),
    ("Cotton T-Shirt", ("S", "M", "L", "XL"), "22.00"),
    ("Rain Jacket", ("M", "L"), "129.00"),
    ("Headlamp", ("Default Title",), "34.95"),
    ("Yoga Mat", ("Blue", "Grey"), "45.00"),
)


def seed_demo_catalogue(shop: Shop, rng: random.Random) -> None:
    """Two locations and a small catalogue with stock, so a fresh sandbox has orders to take."""
    warehouse = shop.add_location("Main Warehouse")
    store = shop.add_location("Brooklyn Store")
    for index, (title, options, price) in enumerate(_DEMO_PRODUCTS, start=1):
        variants = [
            (
                f"OM-{index:03d}" + ("" if option == "Default Title" else f"-{option.upper()}"),
                option,
                Decimal(price),
            )
            for option in options
        ]
        product = shop.add_product(title, variants)
        for variant_id in product.variant_ids:
            sku = shop.variants[variant_id].sku
            shop.stock(sku, warehouse.id, rng.randint(20, 80))
            if rng.random() < 0.5:
                shop.stock(sku, store.id, rng.randint(0, 10))


class OrderGenerator:
    def __init__(self, shop: Shop, config: SandboxConfig) -> None:
        self.shop = shop
        self.config = config
        self.rng = random.Random(config.seed)
        self._due = 0.0
        self._last_tick = shop.clock.now()

    def generate(self, count: int) -> list[int]:
        """Places up to ``count`` orders now (fewer when stock runs out); returns their ids."""
        placed: list[int] = []
        for _ in range(count):
            order_id = self._place_one()
            if order_id is None:
                break
            placed.append(order_id)
            self._maybe_cancel_or_refund()
        return placed

    def tick(self) -> list[int]:
        """Places the orders due at the configured rate since the last tick."""
        now = self.shop.clock.now()
        elapsed = (now - self._last_tick).total_seconds()
        self._last_tick = now
        self._due += elapsed * self.config.orders_per_minute / 60.0
        count = int(self._due)
        self._due -= count
        return self.generate(count) if count else []

    def _place_one(self) -> int | None:
        with self.shop.lock:
            in_stock = [
                v
                for v in sorted(self.shop.variants.values(), key=lambda v: v.id)
                if self.shop.available_anywhere(v) > 0
            ]
            if not in_stock:
                return None
            weights = self.config.line_counts.weights
            line_count = self.rng.choices(range(1, len(weights) + 1), weights=weights)[0]
            chosen = self.rng.sample(in_stock, min(line_count, len(in_stock)))
            lines = [self._line(variant) for variant in chosen]
            first = self.rng.choice(_FIRST_NAMES)
            last = self.rng.choice(_LAST_NAMES)
            street, city, province, code, zip_code, country, country_code = self.rng.choice(
                _ADDRESSES
            )
            pending = self.rng.random() < self.config.pending_share
            order = self.shop.place_order(
                [line for line in lines if line is not None],
                email=f"{first.lower()}.{last.lower()}@example.com",
                shipping_address={
                    "first_name": first,
                    "last_name": last,
                    "name": f"{first} {last}",
                    "company": None,
                    "address1": street,
                    "address2": None,
                    "city": city,
                    "province": province,
                    "province_code": code,
                    "zip": zip_code,
                    "country": country,
                    "country_code": country_code,
                    "phone": None,
                },
                financial_status="PENDING" if pending else "PAID",
            )
            return order.id

    def _line(self, variant: Variant) -> OrderLineRequest | None:
        # One location must be able to ship the whole line, as place_order requires.
        best = max(
            (
                level.quantities["available"]
                for (item_id, _), level in self.shop.levels.items()
                if item_id == variant.inventory_item_id
            ),
            default=0,
        )
        if best <= 0:
            return None
        quantity = self.rng.randint(1, min(best, self.config.max_quantity_per_line))
        return OrderLineRequest(variant.sku, quantity)

    def _maybe_cancel_or_refund(self) -> None:
        with self.shop.lock:
            orders = sorted(self.shop.orders.values(), key=lambda o: o.id)
            roll = self.rng.random()
            if roll < self.config.cancel_share:
                candidates = [o for o in orders if o.cancelled_at is None and not o.fulfillments]
                if candidates:
                    order = self.rng.choice(candidates)
                    reason = self.rng.choice(("CUSTOMER", "INVENTORY", "FRAUD", "DECLINED"))
                    self.shop.cancel(order.id, reason=reason)
            elif roll < self.config.cancel_share + self.config.refund_share:
                candidates = [
                    o
                    for o in orders
                    if o.cancelled_at is None
                    and o.financial_status in ("PAID", "PARTIALLY_REFUNDED")
                ]
                if candidates:
                    order = self.rng.choice(candidates)
                    line = self.rng.choice(
                        [li for li in order.line_items if li.quantity > li.refunded_quantity]
                    )
                    self.shop.refund(order.id, [(line.id, 1)], note="Customer return")
