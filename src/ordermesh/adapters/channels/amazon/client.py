"""SP-API over HTTP: LWA access tokens, usage-plan rate limits, retries and paging.

No business meaning lives here: the client fetches JSON and says precisely what went wrong
when it cannot. The sync use case never sees this module; it talks to the connector."""

from __future__ import annotations

import gzip
import hashlib
import platform
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
import orjson
import stamina
from pydantic import ValidationError

from ordermesh.adapters.channels.amazon import wire
from ordermesh.adapters.channels.amazon.settings import AmazonAccountSettings, AmazonCredentials
from ordermesh.adapters.channels.rate_limits import UsagePlan
from ordermesh.ports.channels import ChannelError, NeedsReauthorisation
from ordermesh.ports.clock import Clock

# Default usage plans (requests per second, burst) from each operation's "Usage Plan" table in
# Amazon's models; `x-amzn-RateLimit-Limit` replaces the rate when Amazon grants more.
USAGE_PLANS: dict[str, UsagePlan] = {
    # orders_2026-01-01.json
    "searchOrders": UsagePlan(0.0056, 20),
    "getOrder": UsagePlan(0.5, 30),
    # ordersV0.json
    "confirmShipment": UsagePlan(2.0, 10),
    "updateShipmentStatus": UsagePlan(5.0, 15),
    # listingsItems_2021-08-01.json
    "getListingsItem": UsagePlan(5.0, 10),
    "patchListingsItem": UsagePlan(5.0, 5),
    "searchListingsItems": UsagePlan(5.0, 5),
    # feeds_2021-06-30.json
    "createFeedDocument": UsagePlan(0.5, 15),
    "createFeed": UsagePlan(0.0083, 15),
    "getFeed": UsagePlan(2.0, 15),
    "getFeedDocument": UsagePlan(0.0222, 10),
    # reports_2021-06-30.json
    "createReport": UsagePlan(0.0167, 15),
    "getReport": UsagePlan(2.0, 15),
    "getReportDocument": UsagePlan(0.0167, 15),
    # fbaInventory.json
    "getInventorySummaries": UsagePlan(2.0, 2),
    # fulfillmentOutbound_2020-07-01.json
    "getFulfillmentPreview": UsagePlan(2.0, 30),
    "createFulfillmentOrder": UsagePlan(2.0, 30),
    "getFulfillmentOrder": UsagePlan(2.0, 30),
    "getPackageTrackingDetails": UsagePlan(2.0, 30),
    "cancelFulfillmentOrder": UsagePlan(2.0, 30),
}


def bucket_prefix(selling_partner_id: str) -> str:
    """Keys of a seller's token buckets: this, then the operation name. Per seller, not per
    account: two accounts of one seller share Amazon's limits."""
    return f"amazon:{selling_partner_id}:"


# An operation missing above is paced as the slowest common plan rather than not at all.
UNKNOWN_OPERATION = UsagePlan(0.0167, 1)

TOKEN_MARGIN = timedelta(seconds=60)
"""An access token is renewed this long before Amazon says it expires."""

_W = TypeVar("_W", bound=wire.Wire)
_T = TypeVar("_T")

USER_AGENT = f"ordermesh/0.1 (Language=Python/{platform.python_version()})"
_SNIPPET = 200
_MAX_PAGES = 10_000
SEARCH_BY_SKU_MAX = 20
"""searchListingsItems' `identifiers` (maxItems) and `pageSize` (maximum): 20 SKUs a call."""
_REAUTHORISE = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})


class AmazonRefused(ChannelError):
    """Amazon answered 4xx: retrying the same request will not help."""

    def __init__(self, operation: str, status: int, errors: str) -> None:
        super().__init__(f"Amazon refused {operation} ({status}): {errors}")
        self.status = status
        self.errors = errors
        """Amazon's own words (its `errors[]`), for a seller to read."""


class TransientFailure(ChannelError):
    """Worth another try shortly (429, 5xx, timeouts, a cut-off body)."""


class RateLimited(ChannelError):
    """The next token is further away than we are willing to wait in one sync."""


class TokenBuckets(Protocol):
    def take(self, key: str, plan: UsagePlan) -> float: ...
    def drain(self, key: str) -> None: ...
    def adjust_rate(self, key: str, rate: float) -> None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6
    wait_initial: float = 1.0
    wait_max: float = 30.0
    wait_jitter: float = 1.0
    give_up_after: float = 300.0
    """Seconds of retrying one request (waits for rate-limit tokens not included)."""
    request_timeout: float = 30.0
    max_token_wait: float = 900.0
    """Seconds one request may wait for a rate-limit token before the sync stops for now."""

    def run(self, once: Callable[[], _T]) -> _T:
        """`once()`, tried again with backoff while it raises TransientFailure, within this
        policy's attempts and time; the last TransientFailure is raised when they are spent."""
        for attempt in stamina.retry_context(
            on=TransientFailure,
            attempts=self.attempts,
            timeout=self.give_up_after,
            wait_initial=self.wait_initial,
            wait_max=self.wait_max,
            wait_jitter=self.wait_jitter,
        ):
            with attempt:
                return once()
        raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def _answering(what: str, timeout: float) -> Iterator[None]:
    """A request that times out or cannot reach Amazon is a transient failure, worth a retry."""
    try:
        yield
    except httpx.TimeoutException as slow:
        raise TransientFailure(f"{what} did not answer within {timeout:g} s") from slow
    except httpx.TransportError as failed:
        raise TransientFailure(f"{what} unreachable: {type(failed).__name__}: {failed}") from failed


def _errors_text(response: httpx.Response) -> str:
    try:
        errors = wire.ErrorList.model_validate_json(response.content).errors
    except ValidationError:
        return _snippet(response.content)
    described = "; ".join(
        f"{e.code}: {e.message}" + (f" ({e.details})" if e.details else "") for e in errors
    )
    return described or _snippet(response.content)


def _snippet(content: bytes) -> str:
    text = content[:_SNIPPET].decode("utf-8", "replace")
    return repr(text + ("…" if len(content) > _SNIPPET else ""))


def _json(operation: str, response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as garbage:
        raise TransientFailure(
            f"{operation} answered {response.status_code} with {len(response.content)} bytes "
            f"that are not JSON ({garbage}); it began {_snippet(response.content)}"
        ) from garbage


class LwaTokens:
    """Access tokens per (token URL, client, refresh token), shared by every connector in the
    process. Renewed a minute before expiry; concurrent renewals of one grant collapse into
    one request (a lock per grant)."""

    def __init__(self, http: httpx.Client, clock: Clock, retry: RetryPolicy) -> None:
        self.http, self.clock, self.retry = http, clock, retry
        self._tokens: dict[str, tuple[str, datetime]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.requests = 0

    @staticmethod
    def _key(url: str, settings: AmazonAccountSettings, credentials: AmazonCredentials) -> str:
        raw = "\n".join((url, settings.lwa_client_id, credentials.refresh_token.get_secret_value()))
        return hashlib.sha256(raw.encode()).hexdigest()

    def get(self, settings: AmazonAccountSettings, credentials: AmazonCredentials) -> str:
        url = settings.token_url
        key = self._key(url, settings, credentials)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._tokens.get(key)
            if cached is not None and self.clock.now() < cached[1]:
                return cached[0]
            token, expires_at = self._request(url, settings, credentials)
            self._tokens[key] = (token, expires_at)
            return token

    def forget(self, settings: AmazonAccountSettings, credentials: AmazonCredentials) -> None:
        with self._guard:
            self._tokens.pop(self._key(settings.token_url, settings, credentials), None)

    def _request(
        self, url: str, settings: AmazonAccountSettings, credentials: AmazonCredentials
    ) -> tuple[str, datetime]:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": credentials.refresh_token.get_secret_value(),
            "client_id": settings.lwa_client_id,
            "client_secret": credentials.lwa_client_secret.get_secret_value(),
        }
        return self.retry.run(lambda: self._exchange(url, form))

    def _exchange(self, url: str, form: Mapping[str, str]) -> tuple[str, datetime]:
        self.requests += 1
        with _answering("LWA", self.retry.request_timeout):
            response = self.http.post(
                url,
                data=dict(form),
                headers={"user-agent": USER_AGENT},
                timeout=self.retry.request_timeout,
            )
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientFailure(f"LWA answered {response.status_code}")
        body = _json("LWA token", response)
        if response.status_code != 200:
            try:
                refused = wire.LwaError.model_validate(body)
            except ValidationError:
                refused = wire.LwaError(error="", error_description=_snippet(response.content))
            why = f"{refused.error}: {refused.error_description}".strip(": ")
            if refused.error in _REAUTHORISE:
                raise NeedsReauthorisation(
                    f"Amazon no longer accepts this account's authorisation ({why}); the seller "
                    "must authorise ordermesh again in Seller Central"
                )
            raise AmazonRefused("the LWA token request", response.status_code, why)
        try:
            token = wire.LwaToken.model_validate(body)
        except ValidationError as invalid:
            raise TransientFailure(f"LWA answered without an access token: {invalid}") from invalid
        expires_at = self.clock.now() + timedelta(seconds=token.expires_in) - TOKEN_MARGIN
        return token.access_token, expires_at


class SpApiClient:
    """One seller account's view of the SP-API."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        settings: AmazonAccountSettings,
        credentials: AmazonCredentials,
        tokens: LwaTokens,
        buckets: TokenBuckets,
        sleep: Callable[[float], None],
        retry: RetryPolicy,
    ) -> None:
        self.http, self.settings, self.credentials = http, settings, credentials
        self.tokens, self.buckets, self.sleep, self.retry = tokens, buckets, sleep, retry
        self._rates: dict[str, float] = {}

    def _bucket(self, operation: str) -> str:
        return bucket_prefix(self.settings.selling_partner_id) + operation

    def _wait_for_token(self, operation: str) -> None:
        plan = USAGE_PLANS.get(operation, UNKNOWN_OPERATION)
        waited = 0.0
        while (wait := self.buckets.take(self._bucket(operation), plan)) > 0:
            if waited + wait > self.retry.max_token_wait:
                raise RateLimited(
                    f"{operation}: the next request is allowed in {waited + wait:.0f} s "
                    f"(usage plan {plan.rate:g}/s, burst {plan.burst:g}); resuming next sync"
                )
            self.sleep(wait)
            waited += wait

    def _note_rate(self, operation: str, response: httpx.Response) -> None:
        header = response.headers.get("x-amzn-RateLimit-Limit")
        if not header:
            return
        try:
            rate = float(header)
        except ValueError:
            return
        if rate > 0 and self._rates.get(operation) != rate:
            self._rates[operation] = rate
            self.buckets.adjust_rate(self._bucket(operation), rate)

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        body: Any = None,
    ) -> Any:
        """The parsed JSON answer (None for 204). Raises NeedsReauthorisation, AmazonRefused
        (4xx), or a ChannelError that says what came back once retries are spent."""
        return self.retry.run(lambda: self._once(operation, method, path, params or {}, body))

    def _send(
        self, operation: str, method: str, path: str, params: Mapping[str, Any], body: Any = None
    ) -> httpx.Response:
        self._wait_for_token(operation)
        token = self.tokens.get(self.settings, self.credentials)
        with _answering(operation, self.retry.request_timeout):
            response = self.http.request(
                method,
                self.settings.base_url + path,
                params=params,
                content=None if body is None else orjson.dumps(body),
                headers={
                    **({} if body is None else {"content-type": "application/json"}),
                    "x-amz-access-token": token,
                    "x-amz-date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
                    "user-agent": USER_AGENT,
                    "accept": "application/json",
                },
                timeout=self.retry.request_timeout,
            )
        self._note_rate(operation, response)
        return response

    def _once(
        self,
        operation: str,
        method: str,
        path: str,
        params: Mapping[str, Any],
        body: Any = None,
    ) -> Any:
        response = self._send(operation, method, path, params, body)
        if response.status_code == 403:
            # A token revoked or expired early: renew it once. If the seller revoked the app,
            # renewing says invalid_grant and NeedsReauthorisation is raised from here.
            self.tokens.forget(self.settings, self.credentials)
            self.tokens.get(self.settings, self.credentials)
            response = self._send(operation, method, path, params, body)
        status = response.status_code
        if status == 429:
            self.buckets.drain(self._bucket(operation))
            raise TransientFailure(f"{operation} throttled (429): {_errors_text(response)}")
        if status >= 500:
            raise TransientFailure(
                f"{operation} failed on Amazon's side ({status}): {_errors_text(response)}"
            )
        if status >= 400:
            raise AmazonRefused(operation, status, _errors_text(response))
        if status == 204 or not response.content:
            return None
        return _json(operation, response)

    # -- Orders API v2026-01-01 ------------------------------------------------------------
    def search_orders(
        self,
        *,
        last_updated_after: datetime,
        last_updated_before: datetime,
        included_data: Sequence[str],
        fulfilled_by: str | None = None,
    ) -> Iterator[wire.SearchOrdersPage]:
        """Every page of orders updated within the window (only those `fulfilled_by` MERCHANT
        or AMAZON when given), following `nextToken`."""
        params: dict[str, Any] = {
            "lastUpdatedAfter": wire.timestamp(last_updated_after),
            "lastUpdatedBefore": wire.timestamp(last_updated_before),
            "marketplaceIds": ",".join(self.settings.marketplace_ids),
            "includedData": ",".join(included_data),
            "maxResultsPerPage": self.settings.page_size,
        }
        if fulfilled_by is not None:
            params["fulfilledBy"] = fulfilled_by
        for _ in range(_MAX_PAGES):
            body = self.call("searchOrders", "GET", "/orders/2026-01-01/orders", params)
            try:
                page = wire.SearchOrdersPage.model_validate(body)
            except ValidationError as invalid:
                raise ChannelError(
                    f"searchOrders answered JSON that is not a page of orders: {invalid}"
                ) from invalid
            yield page
            next_token = page.pagination.next_token if page.pagination else None
            if not next_token:
                return
            params = {**params, "paginationToken": next_token}
        raise ChannelError(f"searchOrders kept paging past {_MAX_PAGES} pages")

    # -- Orders API v0 (shipment confirmation) and v2026 (its packages) -------------------
    def confirm_shipment(self, order_id: str, body: Mapping[str, Any]) -> None:
        """204 or an exception: AmazonRefused carries Amazon's 400 message."""
        self.call(
            "confirmShipment",
            "POST",
            f"/orders/v0/orders/{_segment(order_id)}/shipmentConfirmation",
            body=dict(body),
        )

    def order_packages(self, order_id: str) -> list[wire.OrderPackage]:
        """The packages Amazon has recorded for an order (getOrder, includedData=PACKAGES)."""
        body = self.call(
            "getOrder",
            "GET",
            f"/orders/2026-01-01/orders/{_segment(order_id)}",
            {"includedData": "PACKAGES"},
        )
        return _parse("getOrder", wire.GetOrderPackages, body).order.packages

    # -- Listings Items API 2021-08-01 -----------------------------------------------------
    def _listing_path(self, sku: str) -> str:
        seller = _segment(self.settings.selling_partner_id)
        return f"/listings/2021-08-01/items/{seller}/{_segment(sku)}"

    def patch_listings_item(
        self, sku: str, marketplace_id: str, body: Mapping[str, Any]
    ) -> wire.ListingSubmission:
        answer = self.call(
            "patchListingsItem",
            "PATCH",
            self._listing_path(sku),
            {"marketplaceIds": marketplace_id, "includedData": "issues"},
            body=dict(body),
        )
        return _parse("patchListingsItem", wire.ListingSubmission, answer)

    def get_listings_item(
        self, sku: str, marketplace_id: str, included_data: Sequence[str]
    ) -> wire.ListingsItem | None:
        """None when Amazon has no such listing (404)."""
        try:
            answer = self.call(
                "getListingsItem",
                "GET",
                self._listing_path(sku),
                {"marketplaceIds": marketplace_id, "includedData": ",".join(included_data)},
            )
        except AmazonRefused as refused:
            if refused.status == 404:
                return None
            raise
        return _parse("getListingsItem", wire.ListingsItem, answer)

    def search_listings_items(
        self, skus: Sequence[str], marketplace_id: str, included_data: Sequence[str]
    ) -> list[wire.ListingsItem]:
        """The listings of up to `SEARCH_BY_SKU_MAX` SKUs in one call; a SKU Amazon has no
        listing for is missing from the answer."""
        if not 1 <= len(skus) <= SEARCH_BY_SKU_MAX:
            raise ValueError(f"searchListingsItems takes 1 to {SEARCH_BY_SKU_MAX} SKUs")
        answer = self.call(
            "searchListingsItems",
            "GET",
            f"/listings/2021-08-01/items/{_segment(self.settings.selling_partner_id)}",
            {
                "marketplaceIds": marketplace_id,
                "identifiers": ",".join(skus),
                "identifiersType": "SKU",
                "includedData": ",".join(included_data),
                "pageSize": SEARCH_BY_SKU_MAX,
            },
        )
        return _parse("searchListingsItems", wire.ListingsSearch, answer).items

    # -- Feeds API 2021-06-30 -----------------------------------------------------------------
    def create_feed_document(self, content_type: str) -> wire.DocumentUpload:
        answer = self.call(
            "createFeedDocument",
            "POST",
            "/feeds/2021-06-30/documents",
            body={"contentType": content_type},
        )
        return _parse("createFeedDocument", wire.DocumentUpload, answer)

    def create_feed(self, feed_type: str, marketplace_ids: Sequence[str], document_id: str) -> str:
        answer = self.call(
            "createFeed",
            "POST",
            "/feeds/2021-06-30/feeds",
            body={
                "feedType": feed_type,
                "marketplaceIds": list(marketplace_ids),
                "inputFeedDocumentId": document_id,
            },
        )
        return _parse("createFeed", wire.CreatedFeed, answer).feed_id

    def get_feed(self, feed_id: str) -> wire.Feed:
        answer = self.call("getFeed", "GET", f"/feeds/2021-06-30/feeds/{_segment(feed_id)}")
        return _parse("getFeed", wire.Feed, answer)

    def get_feed_document(self, document_id: str) -> wire.DocumentLocation:
        answer = self.call(
            "getFeedDocument", "GET", f"/feeds/2021-06-30/documents/{_segment(document_id)}"
        )
        return _parse("getFeedDocument", wire.DocumentLocation, answer)

    # -- documents at presigned URLs (no SP-API token, no usage plan) -------------------------
    def upload_document(self, url: str, content: bytes, content_type: str) -> None:
        self._transfer("PUT", url, content=content, content_type=content_type)

    def download_document(self, location: wire.DocumentLocation) -> bytes:
        content = self._transfer("GET", location.url)
        if (location.compression or "").upper() == "GZIP":
            try:
                return gzip.decompress(content)
            except (OSError, EOFError) as broken:
                raise TransientFailure(f"the document is not a readable gzip: {broken}") from broken
        return content

    def _transfer(
        self, method: str, url: str, *, content: bytes | None = None, content_type: str = ""
    ) -> bytes:
        return self.retry.run(lambda: self._transfer_once(method, url, content, content_type))

    def _transfer_once(
        self, method: str, url: str, content: bytes | None, content_type: str
    ) -> bytes:
        where = url.split("?", 1)[0]
        with _answering(f"{method} {where}", self.retry.request_timeout):
            response = self.http.request(
                method,
                url,
                content=content,
                headers={"content-type": content_type} if content_type else {},
                timeout=self.retry.request_timeout,
            )
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientFailure(f"{method} {where} answered {response.status_code}")
        if response.status_code >= 400:
            # An expired presigned URL (they live five minutes) is worth a fresh one, not a
            # retry of this one: the caller starts over.
            raise ChannelError(
                f"{method} {where} answered {response.status_code}: {_snippet(response.content)}"
            )
        return response.content


def _segment(value: str) -> str:
    """A path segment, URL-encoded (SKUs may hold slashes, spaces and the like)."""
    return quote(value, safe="")


def _parse(operation: str, model: type[_W], body: Any) -> _W:
    try:
        return model.model_validate(body)
    except ValidationError as invalid:
        raise ChannelError(
            f"{operation} answered JSON of an unexpected shape: {invalid}"
        ) from invalid
