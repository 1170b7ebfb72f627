"""The Admin GraphQL endpoint over HTTP, paced by Shopify's calculated query cost.

Shopify meters each shop with a leaky bucket of cost points (shopify.dev, "API rate limits"):
every answer carries `extensions.cost.throttleStatus` (maximumAvailable, currentlyAvailable,
restoreRate). The client keeps a model of that bucket per shop, refreshed by every answer and
shared by every client of the shop in this process, and waits before a query until the bucket
holds what the query is expected to cost, so requests are not refused in the first place. A
THROTTLED answer is retried after the time the bucket needs to refill; 5xx answers, 429s and
network failures are retried with exponential backoff and jitter. What still fails is raised as
a `ChannelError`, which the sync records on the account, so a failing shop shows as failing
and the other channels carry on.

No business meaning here: orders, fulfilments and stock are in connector.py."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import stamina
from pydantic import ValidationError

from ordermesh.adapters.channels.shopify.settings import ShopifySettings
from ordermesh.adapters.channels.shopify.wire import QueryCost, ThrottleStatus
from ordermesh.ports.channels import ChannelError, NeedsReauthorisation

log = logging.getLogger(__name__)

DEFAULT_EXPECTED_COST = 50.0
"""What a query not seen before is assumed to cost, until Shopify says what it did cost."""
SAFETY_SECONDS = 0.1
"""Pacing aims for this much refill beyond a query's cost: our clock and Shopify's are not the
same clock, and a bucket estimated a hair too full costs a THROTTLED round trip."""
BACKGROUND_RESERVE = 0.5
"""Share of the shop's bucket a background query (reconciliation reading what the shop
shows) leaves for the rest: a full reconciliation of a few thousand SKUs costs minutes of
restore, and stock pushes and shipment confirmations must not wait behind it."""
THROTTLED_ATTEMPTS = 6
TRANSIENT_ATTEMPTS = 5


class ShopifyError(ChannelError):
    """Shopify could not do what was asked; the message says why, for the account's status."""


class ShopifyThrottled(ShopifyError):
    pass


class ShopifyUnavailable(ShopifyError):
    """Shopify kept failing (5xx, timeouts) through every retry."""


class ShopifyQueryError(ShopifyError):
    """Shopify refused the query itself (a GraphQL error other than THROTTLED)."""


class ShopifyUnanswered(ShopifyUnavailable):
    """A mutation that is not safe to repeat went out and no answer came back (a timeout, a
    dropped connection, a 5xx): Shopify may or may not have applied it. The caller must find
    out what Shopify has before sending it again."""


class _Transient(Exception):
    """An answer worth trying again: a 5xx or a 429."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def _backoff(exc: Exception) -> bool | float:
    """stamina's hook: retry transient failures, after Retry-After when Shopify gives one."""
    if isinstance(exc, _Transient):
        return exc.retry_after if exc.retry_after else True
    return isinstance(exc, httpx.TimeoutException | httpx.TransportError)


def _backoff_unsent(exc: Exception) -> bool | float:
    """The same for a mutation that must not run twice: retry only what Shopify cannot have
    acted on (a connection never made, a 429 refusal)."""
    if isinstance(exc, _Transient):
        if exc.status != 429:
            return False
        return exc.retry_after if exc.retry_after else True
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)


@dataclass
class _Bucket:
    maximum: float
    available: float
    restore_rate: float
    seen_at: float


class CostPacer:
    """A model of one shop's cost bucket: how long to wait before a query of a given cost.

    Shared by every thread that talks to the shop (the push loop, the sync, shipments,
    reconciliation), so checking the room and spending it is one step under the lock, or two
    threads would both see room for one query. The figure Shopify reports comes back with each
    answer and replaces the model, less the cost of queries still in flight: an answer that
    overtakes another query's would otherwise hand back points that query has already spent
    (that race alone drew tens of THROTTLED answers in a flash sale)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._bucket: _Bucket | None = None
        self._in_flight = 0.0
        self._lock = threading.Lock()

    def observe(self, status: ThrottleStatus, spent: float = 0.0) -> None:
        """Shopify's figures from the answer to a query that had spent `spent` points."""
        with self._lock:
            self._in_flight = max(0.0, self._in_flight - spent)
            self._bucket = _Bucket(
                status.maximum_available,
                status.currently_available - self._in_flight,
                status.restore_rate,
                self._monotonic(),
            )

    def settle(self, spent: float) -> None:
        """A query that spent `spent` points ended without bucket figures (failed, or an
        answer without them): it is no longer in flight."""
        with self._lock:
            self._in_flight = max(0.0, self._in_flight - spent)

    def available(self) -> float | None:
        with self._lock:
            b = self._bucket
            if b is None:
                return None
            refilled = b.available + (self._monotonic() - b.seen_at) * b.restore_rate
            return min(b.maximum, refilled)

    def take(self, cost: float, *, background: bool = False) -> float:
        """Spend `cost` points and answer 0.0 when the bucket should hold them now (and, for
        a `background` query, `BACKGROUND_RESERVE` of the bucket beside them); else the
        seconds until it should, with nothing spent."""
        with self._lock:
            b = self._bucket
            if b is not None and b.restore_rate > 0:
                reserve = BACKGROUND_RESERVE * b.maximum if background else 0.0
                need = min(cost + reserve + b.restore_rate * SAFETY_SECONDS, b.maximum)
                refilled = b.available + (self._monotonic() - b.seen_at) * b.restore_rate
                wait = (need - min(b.maximum, refilled)) / b.restore_rate
                # Under a millisecond is rounding in the refill arithmetic, not a wait.
                if wait > 0.001:
                    return wait
                b.available = min(b.maximum, refilled) - cost
                b.seen_at = self._monotonic()
            self._in_flight += cost
            return 0.0


_PACERS: dict[str, CostPacer] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(shop_domain: str, monotonic: Callable[[], float] = time.monotonic) -> CostPacer:
    """The one pacer of this shop in this process: the bucket is the shop's, not a client's."""
    with _PACERS_LOCK:
        pacer = _PACERS.get(shop_domain)
        if pacer is None:
            pacer = _PACERS[shop_domain] = CostPacer(monotonic)
        return pacer


@dataclass(frozen=True, slots=True)
class Answer:
    data: dict[str, Any]
    cost: QueryCost | None


class ShopifyClient:
    def __init__(
        self,
        settings: ShopifySettings,
        *,
        http: httpx.Client | None = None,
        pacer: CostPacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
    ) -> None:
        self.settings = settings
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None
        self.pacer = pacer or pacer_for(settings.shop_domain)
        self._sleep = sleep
        self._expected: dict[Any, float] = {}
        self.requests = 0
        """HTTP requests sent, for tests and metrics."""
        self.throttled = 0
        """THROTTLED answers received; the pacing should keep this at zero."""

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        expected_cost: float | None = None,
        repeatable: bool = True,
        background: bool = False,
    ) -> Answer:
        """Run one GraphQL operation and return its data. Raises ShopifyError subclasses,
        NeedsReauthorisation when the token is refused. A `background` query waits until it
        leaves room for the others (`BACKGROUND_RESERVE`).

        `repeatable=False` is for a mutation Shopify offers no idempotency key for: a request
        that may have reached Shopify is then not sent again, and ShopifyUnanswered is raised
        instead (a THROTTLED answer is still retried: Shopify ran nothing)."""
        key = hashlib.sha1(query.encode()).hexdigest()
        shaped = (key, _shape(variables))
        for _ in range(THROTTLED_ATTEMPTS):
            # What this query cost with variables of this size; else the most it has cost
            # with any (a page of 250 costs more than the last page of 3 did).
            cost = self._expected.get(
                shaped, self._expected.get(key, expected_cost or DEFAULT_EXPECTED_COST)
            )
            while (wait := self.pacer.take(cost, background=background)) > 0:
                log.debug("shopify %s: waiting %.2fs for %s cost points", self._shop, wait, cost)
                self._sleep(wait)
            try:
                body = self._post(query, variables, repeatable=repeatable)
            except BaseException:
                self.pacer.settle(cost)
                raise
            answer_cost = self._observe(body, cost)
            if answer_cost is not None and answer_cost.requested_query_cost is not None:
                requested = answer_cost.requested_query_cost
                self._expected[shaped] = requested
                self._expected[key] = max(requested, self._expected.get(key, 0.0))
            errors = body.get("errors") or []
            if _throttled(errors):
                self.throttled += 1
                log.info("shopify %s: THROTTLED, waiting for the bucket to refill", self._shop)
                if answer_cost is None or answer_cost.throttle_status is None:
                    # No bucket figures to go by: give it a second before trying again.
                    self._sleep(1.0)
                continue
            if errors:
                raise ShopifyQueryError(f"Shopify refused the query: {_messages(errors)}")
            data = body.get("data")
            if not isinstance(data, dict):
                raise ShopifyQueryError("Shopify answered without data")
            return Answer(data, answer_cost)
        raise ShopifyThrottled(
            f"Shopify kept throttling {self._shop} after {THROTTLED_ATTEMPTS} attempts"
        )

    @property
    def _shop(self) -> str:
        return self.settings.shop_domain

    def _observe(self, body: Mapping[str, Any], spent: float) -> QueryCost | None:
        raw = (body.get("extensions") or {}).get("cost")
        cost: QueryCost | None = None
        if raw:
            try:
                cost = QueryCost.model_validate(raw)
            except ValidationError:
                cost = None
        if cost is not None and cost.throttle_status is not None:
            self.pacer.observe(cost.throttle_status, spent)
        else:
            self.pacer.settle(spent)
        return cost

    def _post(
        self, query: str, variables: Mapping[str, Any] | None, *, repeatable: bool = True
    ) -> dict[str, Any]:
        try:
            for attempt in stamina.retry_context(
                on=_backoff if repeatable else _backoff_unsent,
                attempts=TRANSIENT_ATTEMPTS,
                timeout=120.0,
                wait_initial=0.5,
                wait_max=20.0,
            ):
                with attempt:
                    if attempt.num > 1:
                        log.warning(
                            "shopify %s: attempt %d after a transient failure",
                            self._shop,
                            attempt.num,
                        )
                    return self._send(query, variables)
        except _Transient as exc:
            if not repeatable and exc.status != 429:
                raise ShopifyUnanswered(
                    f"Shopify answered HTTP {exc.status} for {self._shop}: whether it acted "
                    "on the request is unknown"
                ) from exc
            raise ShopifyUnavailable(
                f"Shopify answered HTTP {exc.status} for {self._shop} through "
                f"{TRANSIENT_ATTEMPTS} attempts"
            ) from exc
        except httpx.HTTPError as exc:
            if not repeatable and not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                raise ShopifyUnanswered(
                    f"no answer from Shopify for {self._shop} ({type(exc).__name__}): whether "
                    "it acted on the request is unknown"
                ) from exc
            raise ShopifyUnavailable(
                f"Shopify could not be reached for {self._shop}: {type(exc).__name__}: {exc}"
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, query: str, variables: Mapping[str, Any] | None) -> dict[str, Any]:
        self.requests += 1
        response = self._http.post(
            self.settings.graphql_url,
            json={"query": query, "variables": dict(variables or {})},
            headers={
                "X-Shopify-Access-Token": self.settings.access_token,
                "Accept": "application/json",
            },
        )
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Transient(status, _retry_after(response))
        if status == 401:
            raise NeedsReauthorisation(
                f"Shopify refused the access token for {self._shop}: the app was uninstalled "
                "or its token revoked; install the app again"
            )
        if status == 402:
            raise ShopifyError(f"{self._shop} is frozen (HTTP 402): its Shopify bill is unpaid")
        if status == 403:
            raise ShopifyError(
                f"Shopify refused access for {self._shop} (HTTP 403): the app lacks a scope"
            )
        if status == 404:
            raise ShopifyError(f"no Shopify shop answers at {self.settings.graphql_url}")
        if status >= 400:
            raise ShopifyError(f"Shopify answered HTTP {status} for {self._shop}")
        try:
            body = response.json()
        except ValueError as exc:
            raise _Transient(status, None) from exc
        if not isinstance(body, dict):
            raise ShopifyQueryError("Shopify answered with something other than an object")
        return body


def _shape(variables: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """What decides a query's cost among its variables: list lengths and numbers (`first`),
    nested as they come; strings and ids do not change it."""

    def of(value: Any) -> Any:
        if isinstance(value, Mapping):
            return tuple((k, of(v)) for k, v in sorted(value.items()))
        if isinstance(value, list | tuple):
            return ("list", len(value), of(value[0]) if value else None)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return value

    return of(dict(variables or {}))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _throttled(errors: list[Any]) -> bool:
    return any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED"
        for e in errors
    )


def _messages(errors: Any) -> str:
    if isinstance(errors, list):
        return "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
        )
    return str(errors)
