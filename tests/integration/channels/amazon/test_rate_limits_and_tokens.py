"""Rate-limit buckets shared by every worker, and one LWA token for many callers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from ordermesh.adapters.channels.amazon.settings import read_account
from ordermesh.adapters.channels.rate_limits import SqlTokenBuckets, UsagePlan
from ordermesh.adapters.db.engine import connect
from tests.integration.channels.amazon.conftest import AmazonSandbox, Seller

SEARCH_ORDERS = UsagePlan(rate=0.0056, burst=20)
KEY = "amazon:A1SELLER:searchOrders"


class StoppedClock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


def test_workers_on_two_connections_never_spend_the_same_token(database_url: str) -> None:
    clock = StoppedClock()
    databases = [connect(database_url, pool_size=2) for _ in range(2)]
    try:
        buckets = [SqlTokenBuckets(db, clock) for db in databases]
        granted: list[int] = []

        def worker(bucket: SqlTokenBuckets) -> None:
            for _ in range(12):
                if bucket.take(KEY, SEARCH_ORDERS) == 0.0:
                    granted.append(1)

        threads = [threading.Thread(target=worker, args=(b,)) for b in buckets * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        # Amazon's burst less the token kept back for jitter, however the workers interleave.
        assert len(granted) == 19
        wait = buckets[0].take(KEY, SEARCH_ORDERS)
        assert 178 < wait < 180, "told to wait for the next token (1 / 0.0056 s)"

        clock.moment += timedelta(seconds=wait)
        assert buckets[1].take(KEY, SEARCH_ORDERS) == 0.0
        assert buckets[0].take(KEY, SEARCH_ORDERS) > 0
    finally:
        for db in databases:
            db.dispose()


def test_a_higher_rate_announced_by_amazon_is_used_from_then_on(database_url: str) -> None:
    clock = StoppedClock()
    db = connect(database_url, pool_size=2)
    try:
        bucket = SqlTokenBuckets(db, clock)
        for _ in range(19):
            assert bucket.take(KEY, SEARCH_ORDERS) == 0.0

        bucket.adjust_rate(KEY, 0.5)

        assert bucket.take(KEY, SEARCH_ORDERS) == 2.0
    finally:
        db.dispose()


def test_concurrent_callers_share_one_access_token_request(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    settings, credentials = read_account(seller.account.settings, seller.account.secrets)
    tokens = seller.channels.amazon.tokens
    got: list[str] = []
    start = threading.Barrier(8)

    def caller() -> None:
        start.wait()
        got.append(tokens.get(settings, credentials))

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(got)) == 1
    assert amazon.stats()["accessTokensIssued"] == 1
