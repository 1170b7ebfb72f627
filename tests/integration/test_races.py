"""Concurrent orders for the last units: never an oversell, on SQLite or PostgreSQL.

Each racer has its own engine and connections, as separate API or worker processes would, so
the database — not a Python lock — is what keeps them honest."""

from __future__ import annotations

import multiprocessing
import random
import threading
from collections import Counter

import pytest
from sqlalchemy import create_engine, text

from ordermesh.bootstrap import bootstrap
from ordermesh.config import Settings
from ordermesh.domain import commands as c
from ordermesh.domain.inventory import Movement, MovementKind
from ordermesh.ports.storage import ConcurrencyConflict
from tests.builders.catalogue import BERLIN, a_location, a_product, stock
from tests.conftest import _empty_postgres, fresh_postgres

RACERS = 16


def _settings(url: str) -> Settings:
    return Settings(database_url=url, env="test", worker=False, db_pool_size=2)


def _order_one(url: str, sku: str, barrier: threading.Barrier | None) -> str:
    racer = bootstrap(_settings(url), migrate=False)
    try:
        if barrier is not None:
            barrier.wait(timeout=30)
        return racer.handle(c.CreateOrder((c.NewLine(sku, 1),), BERLIN, actor="racer")).status
    finally:
        racer.close()


def _assert_ledger_matches_levels(om, sku: str, location: str, on_hand: int, reserved: int) -> None:
    [level] = om.queries.stock_levels(sku=sku, location=location).items
    assert (level["on_hand"], level["reserved"], level["available"]) == (
        on_hand,
        reserved,
        on_hand - reserved,
    )
    assert om.queries.ledger_totals(sku, location) == (on_hand, reserved)


def test_sixteen_buyers_racing_for_the_last_ten_mugs_leave_ten_allocated_and_six_backordered(
    om, database_url
):
    a_location(om, "WH1")
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 10)
    barrier = threading.Barrier(RACERS)
    results: list[str] = []
    errors: list[BaseException] = []

    def race() -> None:
        try:
            results.append(_order_one(database_url, "MUG-1", barrier))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert Counter(results) == {"allocated": 10, "backordered": 6}
    _assert_ledger_matches_levels(om, "MUG-1", "WH1", on_hand=10, reserved=10)
    assert om.queries.count_orders_by_status() == {"allocated": 10, "backordered": 6}


def _process_racer(
    url: str, sku: str, start, results
) -> None:  # pragma: no cover - runs in a child
    start.wait(timeout=60)
    racer = bootstrap(_settings(url), migrate=False)
    try:
        for _ in range(3):
            results.put(
                racer.handle(
                    c.CreateOrder((c.NewLine(sku, 1), c.NewLine("BAG-1", 1)), BERLIN)
                ).status
            )
    finally:
        racer.close()


@pytest.mark.slow
def test_separate_processes_selling_two_products_never_oversell_either(om, database_url):
    a_location(om, "WH1")
    a_location(om, "3PL", kind="3pl")
    a_product(om, "MUG-1")
    a_product(om, "BAG-1")
    stock(om, "MUG-1", 5, "WH1")
    stock(om, "MUG-1", 4, "3PL")
    stock(om, "BAG-1", 7, "3PL")
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(target=_process_racer, args=(database_url, "MUG-1", start, results))
        for _ in range(6)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=180)
        assert worker.exitcode == 0
    statuses = Counter(results.get(timeout=5) for _ in range(18))

    # 18 orders, each wanting 1 mug and 1 bag: 7 bags are the limit.
    assert statuses == {"allocated": 7, "backordered": 11}
    with om.db.reader.connect() as conn:
        reserved = dict(
            conn.execute(text("SELECT sku, SUM(reserved) FROM stock_levels GROUP BY sku")).all()
        )
    assert reserved["BAG-1"] == 7
    assert reserved["MUG-1"] == 9  # backordered orders still hold the mugs they got
    for sku, location, on_hand in [("MUG-1", "WH1", 5), ("MUG-1", "3PL", 4), ("BAG-1", "3PL", 7)]:
        [level] = om.queries.stock_levels(sku=sku, location=location).items
        assert level["on_hand"] == on_hand
        assert om.queries.ledger_totals(sku, location) == (level["on_hand"], level["reserved"])


def _one_mug_left(om) -> tuple[str, str]:
    a_location(om, "WH1")
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 1)
    return ("MUG-1", "WH1")


@pytest.fixture
def postgres_om(postgres_url):
    _empty_postgres(postgres_url)
    app = bootstrap(Settings(database_url=postgres_url, env="test", worker=False), migrate=False)
    try:
        yield app
    finally:
        app.close()


@pytest.mark.postgres
def test_an_order_whose_last_unit_is_taken_before_its_commit_is_refused_and_nothing_oversold(
    postgres_om,
):
    """On PostgreSQL an order's reservation goes with its commit, guarded by the table's
    check; the order that loses the race fails as a whole, to be planned again."""
    om = postgres_om
    key = _one_mug_left(om)
    with om.bus.uow_factory() as slow:
        assert slow.stock.available({"MUG-1"}) == {key: 1}
        assert slow.stock.reserve({key: 1}) == []  # sent with the commit
        assert om.handle(c.CreateOrder((c.NewLine("MUG-1", 1),), BERLIN)).status == "allocated"
        with pytest.raises(ConcurrencyConflict):
            slow.commit()
    _assert_ledger_matches_levels(om, "MUG-1", "WH1", on_hand=1, reserved=1)

    # Having lost, this thread's next reservation waits for the row and says at once that
    # the unit is gone, instead of failing its transaction again.
    with om.bus.uow_factory() as retry:
        assert retry.stock.reserve({key: 1}) == [key]
    # The retry through the bus plans again from fresh figures: backordered, not an error.
    assert om.handle(c.CreateOrder((c.NewLine("MUG-1", 1),), BERLIN)).status == "backordered"
    _assert_ledger_matches_levels(om, "MUG-1", "WH1", on_hand=1, reserved=1)


@pytest.mark.postgres
def test_a_commit_sent_as_one_statement_that_loses_the_last_unit_writes_none_of_it(postgres_om):
    """With nothing read inside the transaction, its reservation and rows go as one
    statement, a transaction of its own: losing the unit must undo the rows with it."""
    om = postgres_om
    key = _one_mug_left(om)
    with om.bus.uow_factory() as slow:
        assert slow.stock.reserve({key: 1}) == []  # nothing sent yet
        slow.stock.record([Movement("MUG-1", "WH1", MovementKind.RESERVATION, 0, 1)], "slow")
        assert om.handle(c.CreateOrder((c.NewLine("MUG-1", 1),), BERLIN)).status == "allocated"
        with pytest.raises(ConcurrencyConflict):
            slow.commit()
    # Neither the reservation nor the ledger row of the loser is there: the ledger still sums.
    _assert_ledger_matches_levels(om, "MUG-1", "WH1", on_hand=1, reserved=1)


# Mixed case: a linguistic collation sorts these a, B, c, D, e, F; code points put every
# upper-case letter first. Orders and stock counts must lock them in one order all the same.
MIXED_CASE_SKUS = ["sku-a", "SKU-B", "sku-c", "SKU-D", "Sku-e", "sKU-F"]


@pytest.fixture
def linguistic_postgres_url():
    """A database that sorts text the way people read it (ICU, English), as most production
    databases do, rather than by code point as the test server's default does."""
    with fresh_postgres(
        "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C.UTF-8'"
    ) as url:
        yield url


def _deadlocks(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_orders_and_stock_counts_racing_over_mixed_case_skus_never_deadlock(
    linguistic_postgres_url,
):
    url = linguistic_postgres_url
    settings = Settings(database_url=url, env="test", worker=False, db_pool_size=8)
    om = bootstrap(settings, migrate=False)
    try:
        a_location(om, "WH1")
        for sku in MIXED_CASE_SKUS:
            a_product(om, sku)
            stock(om, sku, 1_000)
        with om.db.reader.connect() as conn:
            by_collation = list(
                conn.execute(text("SELECT sku FROM products ORDER BY sku")).scalars()
            )
        assert by_collation != sorted(MIXED_CASE_SKUS), "the database must sort unlike Python"
        before = _deadlocks(url)
        errors: list[BaseException] = []
        allocated: Counter[str] = Counter()
        start = threading.Barrier(8)

        def buyer(seed: int) -> None:
            rng = random.Random(seed)
            start.wait(timeout=30)
            try:
                for _ in range(25):
                    skus = rng.sample(MIXED_CASE_SKUS, 4)
                    result = om.handle(
                        c.CreateOrder(tuple(c.NewLine(sku, 1) for sku in skus), BERLIN)
                    )
                    assert result.status == "allocated"
                    allocated.update(skus)
            except BaseException as exc:
                errors.append(exc)

        def counter(seed: int) -> None:
            start.wait(timeout=30)
            try:
                for n in range(25):
                    rows = tuple(
                        c.StockRow(line, sku, "WH1", 1_000)
                        for line, sku in enumerate(MIXED_CASE_SKUS, 2)
                    )
                    om.handle(c.ImportStockCounts(rows, reference=f"count {seed}-{n}"))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=buyer, args=(n,)) for n in range(6)]
        threads += [threading.Thread(target=counter, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

        assert errors == []
        for sku in MIXED_CASE_SKUS:
            _assert_ledger_matches_levels(om, sku, "WH1", on_hand=1_000, reserved=allocated[sku])
    finally:
        om.close()
    # A deadlock would have been retried and so left no other trace: PostgreSQL counts them.
    assert _deadlocks(url) == before
