"""Reports API 2021-06-30: ask for a report, wait while Amazon prepares it, download it.

createReport → getReport until DONE (or CANCELLED / FATAL) → getReportDocument → the
document from its presigned URL (no access token: it is S3, not the SP-API), gunzipped when
`compressionAlgorithm` says GZIP, decoded by the charset Amazon declares."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from ordermesh.adapters.channels.amazon.client import SpApiClient, TransientFailure
from ordermesh.adapters.channels.amazon.wire import timestamp
from ordermesh.ports.channels import ChannelError

BASE = "/reports/2021-06-30"


@dataclass(frozen=True, slots=True)
class ReportPolling:
    first_wait: float = 5.0
    max_wait: float = 60.0
    give_up_after: float = 4 * 3600.0
    """Seconds of waiting for one report before the back-fill stops and says so."""


class ReportFailed(ChannelError):
    """Amazon could not produce the report (FATAL or CANCELLED)."""


def _charset(response: httpx.Response) -> str | None:
    content_type = str(response.headers.get("content-type", ""))
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return None


class Reports:
    def __init__(
        self,
        client: SpApiClient,
        polling: ReportPolling | None = None,
    ) -> None:
        self.client = client
        self.polling = polling or ReportPolling()

    def request(
        self,
        report_type: str,
        marketplace_ids: Sequence[str],
        start: datetime | None = None,
        end: datetime | None = None,
        options: Mapping[str, str] | None = None,
    ) -> str:
        body: dict[str, Any] = {"reportType": report_type, "marketplaceIds": list(marketplace_ids)}
        if start is not None:
            body["dataStartTime"] = timestamp(start)
        if end is not None:
            body["dataEndTime"] = timestamp(end)
        if options:
            body["reportOptions"] = dict(options)
        answer = self.client.call("createReport", "POST", BASE + "/reports", body=body)
        report_id = answer.get("reportId") if isinstance(answer, dict) else None
        if not isinstance(report_id, str) or not report_id:
            raise ChannelError(f"createReport answered without a reportId: {answer!r:.200}")
        return report_id

    def wait(self, report_id: str, on_wait: Callable[[str], None] | None = None) -> str | None:
        """The report's document id once Amazon has finished it; None when Amazon cancelled
        it, which it does by itself when the range holds no data."""
        waited, wait = 0.0, self.polling.first_wait
        while True:
            report = self.client.call("getReport", "GET", f"{BASE}/reports/{report_id}")
            status = str(report.get("processingStatus", "")) if isinstance(report, dict) else ""
            if status == "DONE":
                document = report.get("reportDocumentId")
                if not isinstance(document, str) or not document:
                    raise ChannelError(f"report {report_id} is DONE without a reportDocumentId")
                return document
            if status == "CANCELLED":
                return None
            if status == "FATAL":
                raise ReportFailed(f"Amazon could not produce report {report_id} (FATAL)")
            if waited >= self.polling.give_up_after:
                raise ChannelError(
                    f"report {report_id} still {status or 'unknown'} after {waited:.0f} s; "
                    "the back-fill can be run again"
                )
            if on_wait is not None:
                on_wait(status or "waiting")
            self.client.sleep(wait)
            waited += wait
            wait = min(wait * 2, self.polling.max_wait)

    def download(self, document_id: str) -> str:
        answer = self.client.call("getReportDocument", "GET", f"{BASE}/documents/{document_id}")
        url = answer.get("url") if isinstance(answer, dict) else None
        if not isinstance(url, str) or not url:
            raise ChannelError(f"getReportDocument answered without a url: {answer!r:.200}")
        compression = answer.get("compressionAlgorithm")
        response = self._fetch(url)
        content = response.content
        if compression == "GZIP":
            try:
                content = gzip.decompress(content)
            except (OSError, EOFError, zlib.error) as broken:
                raise TransientFailure(
                    f"report document {document_id}: bad gzip: {broken}"
                ) from broken
        elif compression is not None:
            raise ChannelError(
                f"report document {document_id}: unknown compression {compression!r}"
            )
        charset = _charset(response) or "utf-8"
        try:
            return content.decode(charset)
        except (LookupError, UnicodeDecodeError):
            # Some marketplaces' flat files are Windows-1252 whatever the header says.
            return content.decode("cp1252", errors="replace")

    def _fetch(self, url: str) -> httpx.Response:
        return self.client.retry.run(lambda: self._fetch_once(url))

    def _fetch_once(self, url: str) -> httpx.Response:
        try:
            response = self.client.http.get(url, timeout=self.client.retry.request_timeout * 4)
        except httpx.TransportError as failed:
            raise TransientFailure(f"report download: {failed}") from failed
        if response.status_code >= 500:
            raise TransientFailure(f"report download answered {response.status_code}")
        if response.status_code != 200:
            raise ChannelError(
                f"report download answered {response.status_code} (the presigned URL "
                "lives five minutes; run the back-fill again)"
            )
        return response

    def run(
        self,
        report_type: str,
        marketplace_ids: Sequence[str],
        start: datetime | None = None,
        end: datetime | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> str | None:
        """The report's content, or None when there was nothing to report."""
        report_id = self.request(report_type, marketplace_ids, start, end)
        document = self.wait(report_id, on_wait)
        return None if document is None else self.download(document)
