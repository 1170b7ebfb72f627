"""Stored report and feed documents, served from the sandbox host the way Amazon serves them
from presigned S3 URLs."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(slots=True)
class Document:
    document_id: str
    content_type: str
    content: bytes | None = None
    compression: str | None = None
    """GZIP when the stored bytes are gzipped, as getReportDocument then says."""


class DocumentStore:
    def __init__(self) -> None:
        self._documents: dict[str, Document] = {}
        self._lock = threading.Lock()
        self._counter = 0

    def create(self, prefix: str, content_type: str, content: bytes | None = None) -> Document:
        with self._lock:
            self._counter += 1
            document_id = f"amzn1.tortuga.4.na.{prefix}.{self._counter:010d}"
            document = Document(document_id, content_type, content)
            self._documents[document_id] = document
            return document

    def get(self, document_id: str) -> Document | None:
        with self._lock:
            return self._documents.get(document_id)
