"""The outbox: events written with the change that caused them, delivered after commit.

Delivery is at least once with a stable idempotency key per message, so a receiver that
honours the key sees each message exactly once, whatever crashes in between. Messages are
claimed under a lease in a short transaction, delivered outside it (a slow receiver never
holds the database's write lock), then marked delivered. Events, whose destination is
ordermesh's own subscribers, are fanned out to them in one transaction each batch."""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
import orjson
from sqlalchemy import Connection, and_, insert, select, update

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import Database
from ordermesh.adapters.db.repositories import Driver
from ordermesh.domain.events import Event, name_of
from ordermesh.domain.ids import new_id
from ordermesh.ports.clock import Clock
from ordermesh.ports.storage import OutboxMessage

log = logging.getLogger(__name__)

EVENTS = "events"
"""Destination of every domain event; the dispatcher fans them out to subscribers."""
WEBHOOK = "webhook:"

_o = t.outbox.c
_INSERT = insert(t.outbox)


_INSERT_EVENTS = (
    "INSERT INTO outbox (topic, destination, idempotency_key, payload, status, attempts, "
    "created_at, available_at) VALUES (?, ?, ?, ?j, 'pending', 0, ?, ?)"
)


def write_events(
    conn: Connection, events: Sequence[Event], now: datetime, driver: Driver | None = None
) -> None:
    """A transaction's events as one outbox row, in that transaction.

    An order allocated at once writes three (placed, allocated, status changed). One row for
    all of them, instead of one each, spares the database two rows and their index entries
    per order, on the path every order takes. The events keep their order, and `_fan_out`
    gives each its own stable id (see `_each_event`).

    The row runs on the driver's cursor; orjson turns the event dataclasses straight into
    JSON. Its topic names the events, for a person reading the table."""
    if not events:
        return
    driver = driver or Driver(conn)
    at = driver.time(now)
    names = [name_of(e) for e in events]
    payload = {
        "occurred_at": now.isoformat(),
        "events": [{"type": n, "data": e} for n, e in zip(names, events, strict=True)],
    }
    driver.executemany(
        _INSERT_EVENTS,
        [
            (
                ",".join(dict.fromkeys(names))[:100],
                EVENTS,
                new_id("evt"),
                orjson.dumps(payload).decode(),
                at,
                at,
            )
        ],
    )


def _each_event(key: str, payload: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The events of one outbox row, each with the id its subscribers see: the row's key for
    a lone event, the key and the event's place in the transaction otherwise. Both are fixed
    when the row is written, so a fan-out that runs again after a crash sends the same ids.

    A row written before events were grouped per transaction holds its one event itself."""
    if "events" not in payload:
        return [(key, payload)]
    events = payload["events"]
    at = payload["occurred_at"]
    return [
        (
            key if len(events) == 1 else f"{key}.{i}",
            {"type": e["type"], "occurred_at": at, "data": e["data"]},
        )
        for i, e in enumerate(events, 1)
    ]


def write_messages(driver: Driver, messages: Sequence[OutboxMessage], now: datetime) -> None:
    """One outbox row per message for its own destination, in the caller's transaction. A
    message whose idempotency key is already there was written before: it is not sent twice."""
    if not messages:
        return
    at = driver.time(now)
    driver.executemany(
        _INSERT_MESSAGE,
        [
            (m.topic, m.destination, m.idempotency_key, orjson.dumps(m.payload).decode(), at, at)
            for m in messages
        ],
    )


_INSERT_MESSAGE = _INSERT_EVENTS + " ON CONFLICT (idempotency_key) DO NOTHING"


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    topic: str
    destination: str
    idempotency_key: str
    payload: dict[str, Any]
    attempts: int


class Deliverer(Protocol):
    def deliver(self, message: Message) -> None:
        """Deliver or raise; the dispatcher retries with backoff."""
        ...


class WebhookDeliverer:
    """POSTs a message to a subscriber's URL, signed with its secret (HMAC-SHA256 of the body)."""

    def __init__(
        self, endpoints: Callable[[str], tuple[str, str] | None], timeout: float = 10.0
    ) -> None:
        self.endpoints = endpoints
        self.client = httpx.Client(timeout=timeout)

    def deliver(self, message: Message) -> None:
        endpoint = self.endpoints(message.destination.removeprefix(WEBHOOK))
        if endpoint is None:
            raise PermanentFailure("the webhook endpoint no longer exists or is inactive")
        url, secret = endpoint
        body = orjson.dumps(message.payload)
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        response = self.client.post(
            url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": message.idempotency_key,
                "X-Ordermesh-Event": message.topic,
                "X-Ordermesh-Signature": f"sha256={signature}",
            },
        )
        if response.status_code >= 300:
            raise DeliveryFailed(f"{url} answered {response.status_code}")


class DeliveryFailed(Exception):
    pass


class PermanentFailure(Exception):
    """Retrying cannot help (the destination is gone): fail the message at once, visibly."""


class NotYet(Exception):
    """The destination cannot take the message until a person acts (a channel account
    waiting to be authorised again): try later, without using up the message's attempts."""

    def __init__(self, reason: str, *, retry_after: timedelta = timedelta(minutes=10)) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def backoff(attempts: int, *, base: float = 2.0, cap: float = 3600.0) -> timedelta:
    """Exponential backoff with full jitter: retries spread out instead of arriving together."""
    ceiling = min(cap, base * (2 ** max(attempts - 1, 0)))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def _due(now: datetime, destination: Any, limit: int) -> Any:
    """The ids of the oldest pending rows due by `now` for these destinations."""
    return (
        select(_o.id)
        .where(_o.status == "pending", _o.available_at <= now, destination)
        .order_by(_o.id)
        .limit(limit)
    )


class OutboxDispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        deliverers: Mapping[str, Deliverer] | None = None,
        *,
        batch_size: int = 200,
        events_batch: int = 2000,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 15,
    ) -> None:
        self.db, self.clock = db, clock
        self.deliverers = dict(deliverers or {})
        self.batch_size, self.lease, self.max_attempts = batch_size, lease, max_attempts
        self.events_batch = events_batch
        """Events fanned out per transaction: marking one done is a row update, not a delivery,
        so a batch can be large, and fewer batches hold the write lock fewer times."""
        self.behind = False
        """The last run had a full batch: more is waiting, run again at once."""
        if WEBHOOK not in self.deliverers:
            self.deliverers[WEBHOOK] = WebhookDeliverer(self._endpoint)

    def _endpoint(self, endpoint_id: str) -> tuple[str, str] | None:
        w = t.webhook_endpoints.c
        with self.db.reader.connect() as conn:
            row = conn.execute(
                select(w.url, w.secret).where(w.id == endpoint_id, w.active.is_(True))
            ).first()
        return (row.url, row.secret) if row else None

    def claim(self) -> list[Message]:
        """Messages for destinations outside ordermesh that are due, under a lease. Events are
        not claimed: `_fan_out` turns them into such messages."""
        now = self.clock.now()
        due = _due(now, _o.destination != EVENTS, self.batch_size)
        # Most runs find nothing to claim: asking the reader first spares a write transaction,
        # which on SQLite would queue with the API's orders for the one write lock.
        with self.db.reader.connect() as conn:
            if conn.execute(due.limit(1)).first() is None:
                return []
        if not self.db.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        with self.db.write() as conn:
            rows = conn.execute(
                update(t.outbox)
                .where(_o.id.in_(due.scalar_subquery()))
                .values(available_at=now + self.lease, attempts=_o.attempts + 1)
                .returning(
                    _o.id, _o.topic, _o.destination, _o.idempotency_key, _o.payload, _o.attempts
                )
            ).all()
        return sorted((Message(*row) for row in rows), key=lambda m: m.id)

    def run_once(self) -> int:
        """Deliver what is due now, then fan out the events that are due (their copies go
        on the next run); returns how many messages and events were done."""
        delivered = 0
        messages = self.claim()
        for message in messages:
            deliverer = self._deliverer_for(message.destination)
            try:
                if deliverer is None:
                    raise PermanentFailure(f"no deliverer for {message.destination}")
                deliverer.deliver(message)
            except PermanentFailure as exc:
                self._fail(message, str(exc), permanent=True)
            except NotYet as wait:
                self._postpone(message, str(wait), wait.retry_after)
            except Exception as exc:
                log.warning("outbox delivery %s failed: %s", message.idempotency_key, exc)
                self._fail(message, str(exc) or type(exc).__name__)
            else:
                self._mark_delivered([message.id])
                delivered += 1
        events = self._fan_out()
        self.behind = len(messages) >= self.batch_size or events >= self.events_batch
        return delivered + events

    def _deliverer_for(self, destination: str) -> Deliverer | None:
        for prefix, deliverer in self.deliverers.items():
            if destination == prefix or (prefix.endswith(":") and destination.startswith(prefix)):
                return deliverer
        return None

    def _fan_out(self) -> int:
        """Turn each due event into one message per subscribed webhook, in the transaction
        that marks the event done: a subscriber gets each event once even if we crash here,
        and events need no lease.

        With no subscriber the events are only marked done, in one statement that does not
        read their payloads. That is every seller without webhooks, and under load it was
        most of the dispatcher's work: an order's events read and parsed, in write transactions
        that the API's orders queue behind on SQLite."""
        w = t.webhook_endpoints.c
        now = self.clock.now()
        due = _due(now, _o.destination == EVENTS, self.events_batch)
        if not self.db.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        with self.db.write() as conn:
            endpoints = conn.execute(select(w.id, w.event_types).where(w.active.is_(True))).all()
            if not endpoints:
                done = conn.execute(
                    update(t.outbox)
                    .where(_o.id.in_(due.scalar_subquery()))
                    .values(status="delivered", delivered_at=now)
                )
                return int(done.rowcount)
            events = conn.execute(
                select(_o.id, _o.idempotency_key, _o.payload)
                .where(_o.id.in_(due.scalar_subquery()))
                .order_by(_o.id)
            ).all()
            copies = [
                {
                    "topic": event["type"],
                    "destination": f"{WEBHOOK}{endpoint_id}",
                    "idempotency_key": f"{event_id}:{endpoint_id}",
                    "payload": dict(event, id=event_id),
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "available_at": now,
                }
                for _, key, payload in events
                for event_id, event in _each_event(key, payload)
                for endpoint_id, types in endpoints
                if not types or event["type"] in types
            ]
            if copies:
                conn.execute(_INSERT, copies)
            if events:
                conn.execute(
                    update(t.outbox)
                    .where(_o.id.in_([event_id for event_id, *_ in events]))
                    .values(status="delivered", delivered_at=now)
                )
        return len(events)

    def _mark_delivered(self, ids: list[int]) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(t.outbox)
                .where(and_(_o.id.in_(ids), _o.status == "pending"))
                .values(status="delivered", delivered_at=self.clock.now(), last_error=None)
            )

    def _fail(self, message: Message, error: str, *, permanent: bool = False) -> None:
        give_up = permanent or message.attempts >= self.max_attempts
        values: dict[str, Any] = {"last_error": error[:2000]}
        if give_up:
            values["status"] = "failed"
        else:
            values["available_at"] = self.clock.now() + backoff(message.attempts)
        with self.db.write() as conn:
            conn.execute(update(t.outbox).where(_o.id == message.id).values(**values))

    def _postpone(self, message: Message, reason: str, delay: timedelta) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(t.outbox)
                .where(_o.id == message.id)
                .values(
                    last_error=reason[:2000],
                    available_at=self.clock.now() + delay,
                    attempts=_o.attempts - 1,
                )
            )

    def retry_failed(self) -> int:
        """Put failed messages back in the queue (after the receiver was fixed)."""
        with self.db.write() as conn:
            done = conn.execute(
                update(t.outbox)
                .where(_o.status == "failed")
                .values(status="pending", attempts=0, available_at=self.clock.now())
            )
        return done.rowcount

    def purge_delivered(self, older_than: timedelta = timedelta(days=7)) -> int:
        with self.db.write() as conn:
            done = conn.execute(
                t.outbox.delete().where(
                    _o.status == "delivered", _o.delivered_at < self.clock.now() - older_than
                )
            )
        return done.rowcount
