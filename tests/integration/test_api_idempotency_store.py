"""The idempotency store behind the API's Idempotency-Key, on both databases."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from ordermesh.adapters.db import tables as t


def test_the_first_claim_wins_and_the_answer_is_replayed(om):
    store = om.idempotency

    assert store.claim("key_a", "k1", "hash-1").outcome == "new"
    assert store.claim("key_a", "k1", "hash-1").outcome == "in_progress"
    store.complete("key_a", "k1", 201, '{"body": "{}", "headers": {}}')

    replay = store.claim("key_a", "k1", "hash-1")
    assert (replay.outcome, replay.status_code) == ("replay", 201)
    assert replay.response_body == '{"body": "{}", "headers": {}}'
    assert store.claim("key_a", "k1", "hash-2").outcome == "mismatch"


def test_keys_are_scoped_to_their_principal(om):
    store = om.idempotency
    store.claim("key_a", "k1", "hash-1")

    assert store.claim("key_b", "k1", "hash-other").outcome == "new"


def test_a_released_key_can_be_claimed_again(om):
    store = om.idempotency
    store.claim("key_a", "k1", "hash-1")
    store.release("key_a", "k1")

    assert store.claim("key_a", "k1", "hash-1").outcome == "new"


def test_a_claim_abandoned_by_a_crash_is_taken_over(om):
    store = om.idempotency
    store.claim("key_a", "k1", "hash-1")
    long_ago = om.clock.now() - timedelta(hours=1)
    with om.db.writer.begin() as conn:
        conn.execute(update(t.idempotency_keys).values(created_at=long_ago))

    assert store.claim("key_a", "k1", "hash-1").outcome == "new"
    assert store.claim("key_a", "k1", "hash-1").outcome == "in_progress"


def test_old_keys_are_purged(om):
    store = om.idempotency
    store.claim("key_a", "old", "h")
    store.complete("key_a", "old", 200, "{}")
    with om.db.writer.begin() as conn:
        conn.execute(
            update(t.idempotency_keys).values(created_at=om.clock.now() - timedelta(days=2))
        )
    store.claim("key_a", "new", "h")

    assert store.purge(timedelta(hours=24)) == 1
    assert store.claim("key_a", "new", "h").outcome == "in_progress"
