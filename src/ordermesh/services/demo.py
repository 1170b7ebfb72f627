"""Demo data: a believable small seller, so a newcomer sees ordermesh at work in a minute.

Everything goes through commands, exactly as a real seller's data would, and the same seed
gives the same catalogue, stock and orders."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from ordermesh.domain import commands as c
from ordermesh.domain.catalogue import Dimensions, Product
from ordermesh.domain.inventory import Location, LocationKind
from ordermesh.domain.money import Money
from ordermesh.domain.orders import Address, FulfilledBy
from ordermesh.ports.clock import Clock

AMAZON_NA = "amazon-na"
"""The demo seller's Amazon account for North America (marketplace US)."""
AMAZON_EU = "amazon-eu"
"""The demo seller's Amazon account for Europe (marketplace DE)."""
SHOPIFY = "shopify-store"
BRAND = "Hearth & Trail"
FBA_SUFFIX = "-FBA"
"""Amazon seller SKUs of FBA offers carry this suffix, as many sellers do it."""

LOCATIONS = (
    Location(
        "WH1",
        "Own warehouse Berlin",
        LocationKind.WAREHOUSE,
        address={
            "line1": "Lagerstraße 12",
            "city": "Berlin",
            "postal_code": "13407",
            "country": "DE",
        },
        working_days=("mon", "tue", "wed", "thu", "fri"),
        cutoff=time(14, 0),
        timezone="Europe/Berlin",
    ),
    Location(
        "FBA-EU",
        "Amazon FBA Europe",
        LocationKind.MARKETPLACE,
        working_days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
        cutoff=time(23, 59),
        timezone="Europe/Berlin",
    ),
    Location(
        "3PL-NL",
        "Fulfilment partner Venlo",
        LocationKind.THREE_PL,
        address={
            "line1": "Logistiekweg 5",
            "city": "Venlo",
            "postal_code": "5928",
            "country": "NL",
        },
        cutoff=time(16, 0),
        timezone="Europe/Amsterdam",
    ),
)


@dataclass(frozen=True, slots=True)
class _Family:
    code: str
    noun: str
    product_type: str
    variants: tuple[tuple[str, str], ...]
    """(code, words) of the first axis: size, format, scent, …"""
    colours: tuple[tuple[str, str], ...]
    cost: Decimal
    weight_g: int
    dims: tuple[int, int, int]
    hs_code: str
    origin: str
    tags: tuple[str, ...]


_COLOURS = (
    ("WHT", "White"),
    ("BLK", "Black"),
    ("SGE", "Sage"),
    ("TRC", "Terracotta"),
    ("NVY", "Navy"),
    ("MST", "Mustard"),
)
_FAMILIES = (
    _Family("MUG", "Stoneware Mug", "DRINKING_CUP", (("350", "350 ml"), ("450", "450 ml")),
            _COLOURS, Decimal("3.10"), 380, (120, 90, 100), "691200", "PT", ("kitchen", "coffee")),
    _Family("TMUG", "Travel Mug", "DRINKING_CUP", (("400", "400 ml"),), _COLOURS,
            Decimal("6.40"), 320, (90, 90, 190), "732393", "CN", ("travel", "coffee")),
    _Family("BTL", "Insulated Steel Bottle", "BOTTLE",
            (("500", "500 ml"), ("750", "750 ml"), ("1000", "1 l")), _COLOURS,
            Decimal("7.20"), 410, (75, 75, 270), "732393", "CN", ("outdoor", "travel")),
    _Family("GBTL", "Glass Bottle with Sleeve", "BOTTLE", (("600", "600 ml"),), _COLOURS[:4],
            Decimal("4.80"), 450, (70, 70, 250), "701349", "PL", ("kitchen",)),
    _Family("TOTE", "Organic Cotton Tote", "HANDBAG", (("STD", "standard"),),
            (*_COLOURS, ("OLV", "Olive"), ("RST", "Rust")),
            Decimal("2.30"), 160, (380, 420, 10), "420292", "IN", ("bags", "organic")),
    _Family("PACK", "Roll-top Backpack", "BACKPACK",
            (("18", "18 l"), ("24", "24 l"), ("30", "30 l")), _COLOURS[:5],
            Decimal("18.50"), 820, (300, 150, 480), "420292", "VN", ("bags", "outdoor")),
    _Family("LBOX", "Stainless Lunch Box", "FOOD_STORAGE_CONTAINER",
            (("S", "small"), ("L", "large")), _COLOURS[:5], Decimal("5.90"), 300,
            (180, 130, 70), "732393", "CN", ("kitchen", "travel")),
    _Family("NB", "Linen Notebook", "NOTEBOOK",
            (("A5D", "A5 dotted"), ("A5L", "A5 lined"), ("A6D", "A6 dotted"), ("A6P", "A6 plain")),
            _COLOURS[:4], Decimal("2.70"), 260, (210, 148, 15), "482010", "DE", ("stationery",)),
    _Family("CNDL", "Soy Candle", "CANDLE", (("S", "small 120 g"), ("L", "large 300 g")),
            (("CDR", "Cedar"), ("FIG", "Fig"), ("LAV", "Lavender"), ("SEA", "Sea Salt"),
             ("TBC", "Tobacco"), ("ORG", "Orange Blossom"), ("PIN", "Pine"), ("AMB", "Amber")),
            Decimal("3.60"), 420, (85, 85, 95), "340600", "DE", ("home", "gift")),
    _Family("TOWL", "Waffle Tea Towel", "KITCHEN_TOWEL", (("STD", "50 × 70 cm"),),
            (*_COLOURS, ("STR", "Stripe"), ("CHK", "Check")), Decimal("2.10"), 90,
            (250, 160, 15), "630291", "PT", ("kitchen", "textile")),
    _Family("CSTR", "Cork Coaster Set of 4", "COASTER", (("RND", "round"), ("SQR", "square")),
            _COLOURS[:3], Decimal("1.80"), 120, (105, 105, 30), "450390", "PT",
            ("kitchen", "gift")),
    _Family("BRD", "Cutting Board", "CUTTING_BOARD",
            (("S", "small"), ("M", "medium"), ("L", "large")),
            (("OAK", "Oak"), ("WAL", "Walnut"), ("ACA", "Acacia")), Decimal("8.90"), 900,
            (350, 250, 20), "441900", "DE", ("kitchen",)),
    _Family("STRW", "Steel Straw Set", "DRINKING_STRAW", (("4", "4 pieces"), ("8", "8 pieces")),
            _COLOURS[:4], Decimal("1.20"), 70, (230, 40, 20), "732393", "CN",
            ("kitchen", "travel")),
    _Family("TMBL", "Double-wall Tumbler", "DRINKING_CUP", (("300", "300 ml"), ("500", "500 ml")),
            _COLOURS, Decimal("5.10"), 290, (85, 85, 160), "732393", "CN", ("coffee", "travel")),
    _Family("CAMP", "Enamel Camp Mug", "DRINKING_CUP", (("300", "300 ml"),), _COLOURS,
            Decimal("2.90"), 210, (110, 85, 80), "732394", "PL", ("outdoor", "coffee")),
    _Family("BLKT", "Recycled Wool Picnic Blanket", "BLANKET", (("STD", "130 × 170 cm"),),
            _COLOURS[:5], Decimal("14.80"), 1100, (350, 250, 90), "630120", "PT", ("outdoor",)),
    _Family("WRAP", "Beeswax Food Wrap", "FOOD_WRAP", (("S", "small"), ("M", "medium"),
            ("L", "large")), (("HNY", "Honeycomb"), ("LEM", "Lemon"), ("FRN", "Fern")),
            Decimal("1.90"), 40, (200, 150, 5), "560392", "DE", ("kitchen", "organic")),
    _Family("CAP", "Spare Bottle Cap", "BOTTLE_CAP", (("SPT", "sport"), ("LOP", "loop")),
            _COLOURS, Decimal("1.10"), 60, (75, 75, 40), "392350", "CN", ("outdoor", "spares")),
    _Family("POUCH", "Waxed Canvas Pouch", "HANDBAG", (("S", "small"), ("L", "large")),
            _COLOURS[:5], Decimal("4.40"), 110, (200, 130, 40), "420292", "IN", ("bags",)),
)  # fmt: skip

_GIFT_SETS = (
    ("GIFT-COFFEE", "Coffee Lover Gift Set", {"MUG-350-WHT": 2, "CSTR-RND-WHT": 1}),
    ("GIFT-HIKER", "Day Hike Gift Set", {"BTL-750-SGE": 1, "PACK-18-SGE": 1}),
    ("GIFT-CANDLE", "Candle Trio", {"CNDL-S-CDR": 1, "CNDL-S-FIG": 1, "CNDL-S-LAV": 1}),
    ("GIFT-KITCHEN", "Kitchen Starter Set", {"BRD-M-OAK": 1, "TOWL-STD-STR": 2}),
    ("GIFT-DESK", "Desk Set", {"NB-A5D-BLK": 1, "TMUG-400-BLK": 1}),
    ("GIFT-PICNIC", "Picnic Set", {"LBOX-L-NVY": 2, "TOTE-STD-NVY": 1, "STRW-4-SGE": 1}),
)

_BUYERS_DE = (
    Address("Lena Fischer", "Hauptstraße 5", "Hamburg", "20095", "DE"),
    Address("Jonas Weber", "Goethestraße 17", "München", "80336", "DE"),
    Address("Mia Schneider", "Bahnhofstraße 2", "Köln", "50667", "DE"),
    Address("Paul Wagner", "Lindenallee 40", "Leipzig", "04109", "DE"),
    Address("Emma Becker", "Am Markt 8", "Freiburg", "79098", "DE"),
    Address("Lukas Hoffmann", "Schillerplatz 3", "Stuttgart", "70173", "DE"),
)
_BUYERS_US = (
    Address("Olivia Carter", "120 Pine St", "Seattle", "98101", "US", state="WA"),
    Address("Liam Brooks", "45 Elm Ave", "Austin", "78701", "US", state="TX"),
    Address("Ava Martinez", "9 Harbor Rd", "Portland", "04101", "US", state="ME"),
    Address("Noah Kim", "300 Market St", "San Francisco", "94105", "US", state="CA"),
    Address("Sophia Reed", "77 Lake Shore Dr", "Chicago", "60611", "US", state="IL"),
)
_BUSINESSES = ("Café Morgenrot GmbH", "Studio Nord UG", "Brightside Offices LLC")


def gtin13(body12: str) -> str:
    """A GTIN-13 from its first twelve digits, with the check digit appended."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


@dataclass(frozen=True, slots=True)
class DemoSummary:
    locations: int
    products: int
    bundles: int
    listings: int
    orders: int


def demo_products() -> list[Product]:
    """The demo catalogue: about 200 SKUs in families, then the gift sets made of them."""
    products: list[Product] = []
    for family in _FAMILIES:
        for v_code, v_words in family.variants:
            for colour_code, colour in family.colours:
                n = len(products)
                scale = Decimal(1) + Decimal(family.variants.index((v_code, v_words))) / 4
                products.append(
                    Product(
                        sku=f"{family.code}-{v_code}-{colour_code}",
                        title=f"{BRAND} {family.noun}, {v_words}, {colour}",
                        gtin=gtin13(f"426{n + 1000:09d}"),
                        asin=f"B0DEMO{n:04d}",
                        brand=BRAND,
                        product_type=family.product_type,
                        tags=family.tags,
                        weight_g=int(family.weight_g * scale),
                        dimensions=Dimensions(*family.dims),
                        unit_cost=Money((family.cost * scale).quantize(Decimal("0.01")), "EUR"),
                        hs_code=family.hs_code,
                        country_of_origin=family.origin,
                        low_stock_threshold=5 if family.cost < 5 else 3,
                    )
                )
    for sku, title, components in _GIFT_SETS:
        products.append(
            Product(
                sku=sku,
                title=f"{BRAND} {title}",
                gtin=gtin13(f"426{len(products) + 1000:09d}"),
                brand=BRAND,
                product_type="GIFT_SET",
                tags=("gift", "bundle"),
                components=dict(components),
            )
        )
    return products


def retail_price(product: Product, by_sku: dict[str, Product]) -> Decimal:
    """What the demo seller asks for a product on every channel."""
    if product.is_bundle:
        # A gift set sells at about 10 % below its parts bought one by one.
        parts = sum(retail_price(by_sku[sku], by_sku) * n for sku, n in product.components.items())
        return (parts * Decimal("0.9")).quantize(Decimal(1)) - Decimal("0.01")
    cost = product.unit_cost.amount if product.unit_cost else Decimal(6)
    # Retail at about 2.8× landed cost, ending in .99 as shops do.
    return (cost * Decimal("2.8")).quantize(Decimal(1)) + Decimal("0.99")


def load_demo(handle: Callable[[c.Command], Any], clock: Clock, seed: int = 7) -> DemoSummary:
    """Load the demo seller into an empty ordermesh through its commands."""
    rng = random.Random(seed)
    now = clock.now()
    for location in LOCATIONS:
        handle(c.CreateLocation(location, actor="demo"))

    products = demo_products()
    handle(c.UpsertProducts(tuple(products), actor="demo"))
    singles = [p for p in products if not p.is_bundle]
    bundles = [p for p in products if p.is_bundle]
    by_sku = {p.sku: p for p in products}

    # Stock: most SKUs in Berlin, a share at FBA and at the 3PL; some low, some sold out.
    fba_skus = [p.sku for p in singles if rng.random() < 0.4]
    receipts: list[tuple[str, str, int]] = []
    for p in singles:
        roll = rng.random()
        if roll < 0.07:
            continue  # sold out everywhere
        units = rng.randint(1, p.low_stock_threshold) if roll < 0.2 else rng.randint(8, 140)
        receipts.append((p.sku, "WH1", units))
        if rng.random() < 0.3:
            receipts.append((p.sku, "3PL-NL", rng.randint(20, 300)))
    receipts += [(sku, "FBA-EU", rng.randint(1, 60)) for sku in fba_skus if rng.random() < 0.9]
    for sku, code, units in receipts:
        handle(c.ReceiveStock(sku, code, units, reference="demo opening stock", actor="demo"))

    listings = 0
    fba = set(fba_skus)
    for n, p in enumerate(products):
        for account in (AMAZON_EU, AMAZON_NA):
            handle(c.UpsertListing(account, p.sku, p.sku, asin=p.asin))
            listings += 1
        if p.sku in fba:
            handle(
                c.UpsertListing(
                    AMAZON_EU, p.sku + FBA_SUFFIX, p.sku, asin=p.asin, fulfilled_by="marketplace"
                )
            )
            listings += 1
        handle(c.UpsertListing(SHOPIFY, p.sku, p.sku, variant_id=str(44_000_000_000 + n)))
        listings += 1

    orders = _orders(rng, now, singles, bundles, by_sku, fba)
    for start in range(0, len(orders), 50):
        handle(c.ImportOrders(tuple(orders[start : start + 50])))
    return DemoSummary(len(LOCATIONS), len(singles), len(bundles), listings, len(orders))


def _state(rng: random.Random, age: timedelta) -> str:
    s = c.ChannelState
    choices: list[tuple[str, float]]
    if age > timedelta(days=6):
        choices = [(s.DELIVERED, 70), (s.SHIPPED, 22), (s.CANCELLED, 8)]
    elif age > timedelta(days=2):
        choices = [(s.SHIPPED, 55), (s.DELIVERED, 20), (s.RELEASED, 20), (s.CANCELLED, 5)]
    else:
        choices = [(s.RELEASED, 60), (s.PENDING, 22), (s.SHIPPED, 12), (s.CANCELLED, 6)]
    return rng.choices([state for state, _ in choices], [w for _, w in choices])[0]


def _orders(
    rng: random.Random,
    now: datetime,
    singles: list[Product],
    bundles: list[Product],
    by_sku: dict[str, Product],
    fba: set[str],
) -> list[c.ImportOrder]:
    # A few bestsellers take most of the orders, as in any real catalogue.
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(singles))]
    shuffled = singles[:]
    rng.shuffle(shuffled)
    result = []
    for n in range(320):
        # A share of recent orders, so the dashboard has work waiting for today.
        horizon = 2 if rng.random() < 0.15 else 90
        age = timedelta(minutes=rng.randint(5, horizon * 24 * 60))
        purchased = (now - age).replace(microsecond=0)
        state = _state(rng, age)
        channel_roll = rng.random()
        if channel_roll < 0.45:
            channel, account, marketplace, currency = "amazon", AMAZON_EU, "DE", "EUR"
        elif channel_roll < 0.7:
            channel, account, marketplace, currency = "amazon", AMAZON_NA, "US", "USD"
        else:
            channel, account, marketplace, currency = "shopify", SHOPIFY, None, "EUR"
        picks = rng.choices(shuffled, weights, k=rng.choice((1, 1, 1, 2, 2, 3)))
        skus = list(dict.fromkeys(p.sku for p in picks))
        if channel == "shopify" and rng.random() < 0.15:
            skus = [rng.choice(bundles).sku]
        afn = (
            account == AMAZON_EU
            and all(s in fba for s in skus)
            and state != c.ChannelState.PENDING
            and rng.random() < 0.7
        )
        lines = tuple(
            c.ChannelLine(
                channel_line_id=f"{n:04d}{i}",
                channel_sku=sku + FBA_SUFFIX if afn else sku,
                quantity=rng.choice((1, 1, 1, 1, 2, 3)),
                unit_price=str(retail_price(by_sku[sku], by_sku)),
            )
            for i, sku in enumerate(skus)
        )
        total = sum(Decimal(str(line.unit_price)) * line.quantity for line in lines)
        business = channel == "amazon" and rng.random() < 0.1
        buyer = rng.choice(_BUYERS_US if marketplace == "US" else _BUYERS_DE)
        if business:
            buyer = Address(
                buyer.name, buyer.line1, buyer.city, buyer.postal_code, buyer.country,
                state=buyer.state, company=rng.choice(_BUSINESSES),
            )  # fmt: skip
        prime = channel == "amazon" and (afn or rng.random() < 0.3)
        if channel == "amazon":
            prefix = "028" if marketplace == "DE" else "113"
            order_id = (
                f"{prefix}-{rng.randint(1_000_000, 9_999_999)}-{rng.randint(1_000_000, 9_999_999)}"
            )
        else:
            order_id = f"#{1001 + n}"
        pending = state == c.ChannelState.PENDING
        updated = min(now, purchased + timedelta(hours=rng.randint(1, 72)))
        snapshot = c.ChannelOrder(
            channel=channel,
            channel_account=account,
            channel_order_id=order_id,
            state=state,
            updated_at=updated,
            purchase_date=purchased,
            lines=lines,
            currency=currency,
            marketplace=marketplace,
            ship_by=purchased + timedelta(days=1 if prime else 2),
            deliver_by=purchased + timedelta(days=2 if prime else 5),
            is_prime=prime,
            is_business=business,
            fulfilled_by=FulfilledBy.MARKETPLACE if afn else FulfilledBy.MERCHANT,
            service_level="NextDay" if prime else "Standard",
            # Amazon shows no buyer details until payment clears.
            buyer_name=None if pending else buyer.name,
            buyer_email=None if pending else f"buyer{n}@example.com",
            shipping_address=None if pending else buyer,
            total=str(total),
        )
        key = f"{account}:{order_id}:{updated.isoformat()}"
        result.append(c.ImportOrder(snapshot, source=f"demo:{account}", key=key))
    result.sort(key=lambda item: item.order.purchase_date)
    return result
