"""In-process fakes of a published hash list (``http_feed``) and of another brightline's export (``brightline``).

Use as ``httpx.MockTransport(fake.handle)``. ``FakeFeed`` serves one body with an ETag and a
Last-Modified date, answers 304 to a matching conditional GET, checks an optional bearer token
(401 once `expire_token` was called, until `renew_token`), and plays scripted failures first
(`fail_next`: 429 with Retry-After, 503...). ``FakePeer`` answers
``GET /v1/banks/{bank}/export?format=jsonl`` with the lines brightline's own jsonl export writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote

import httpx


@dataclass
class _Failure:
    status: int
    retry_after: str | None


@dataclass
class FakeFeed:
    """A hash list at one URL: set ``body`` (or use `set_records`), script failures, read ``requests``."""

    path: str = "/list.csv"
    token: str = ""
    body: bytes = b""
    content_type: str = "text/csv"
    requests: list[httpx.Request] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _expired: bool = False
    _modified: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    @property
    def etag(self) -> str:
        """A strong validator of the current body."""
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'

    def set_body(self, body: bytes) -> None:
        """Publish a new list (a new ETag and a later Last-Modified)."""
        self.body = body
        self._modified += timedelta(minutes=1)

    def set_csv(self, rows: Iterable[Mapping[str, Any]], columns: Iterable[str]) -> None:
        """Publish CSV rows with the given header."""
        names = list(columns)
        lines = [",".join(names)] + [",".join(str(row.get(c, "")) for c in names) for row in rows]
        self.set_body(("\n".join(lines) + "\n").encode())

    def set_jsonl(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Publish JSON Lines records."""
        self.set_body("".join(json.dumps(r) + "\n" for r in records).encode())

    def fail_next(self, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (and Retry-After, if given)."""
        self._failures.extend(_Failure(status, retry_after) for _ in range(times))

    def expire_token(self) -> None:
        """Refuse the token (401) until `renew_token`."""
        self._expired = True

    def renew_token(self) -> None:
        """Accept the token again."""
        self._expired = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The server: scripted failures, then auth, then 404 / 304 / 200."""
        self.requests.append(request)
        if self._failures:
            failure = self._failures.pop(0)
            headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
            return httpx.Response(failure.status, headers=headers, text="try later")
        if self.token and (self._expired or request.headers.get("Authorization") != f"Bearer {self.token}"):
            return httpx.Response(401, text="unauthorized")
        if request.url.path != self.path:
            return httpx.Response(404, text="not found")
        last_modified = format_datetime(self._modified, usegmt=True)
        if request.headers.get("If-None-Match") == self.etag:
            return httpx.Response(304, headers={"ETag": self.etag, "Last-Modified": last_modified})
        headers = {"ETag": self.etag, "Last-Modified": last_modified, "Content-Type": self.content_type}
        return httpx.Response(200, headers=headers, content=self.body)


def export_line(
    signal_type: str, value: str, *, category: str = "", enabled: bool = True, source: str = "", domain: str = "other"
) -> dict[str, Any]:
    """One record as brightline's jsonl export writes it."""
    return {
        "signal_type": signal_type,
        "value": value,
        "source": source,
        "category": category,
        "domain": domain,
        "note": None,
        "enabled": enabled,
    }


@dataclass
class FakePeer:
    """Another brightline's admin export of its banks; ``banks`` maps a bank name to its export records."""

    token: str = "peer-admin-key"  # noqa: S105 - the fake's own test key
    banks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)

    def fail_next(self, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next ``times`` requests with ``status``."""
        self._failures.extend(_Failure(status, retry_after) for _ in range(times))

    def handle(self, request: httpx.Request) -> httpx.Response:
        """GET /v1/banks/{name}/export?format=jsonl, admin bearer key only, as brightline answers it."""
        self.requests.append(request)
        if self._failures:
            failure = self._failures.pop(0)
            headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
            return httpx.Response(failure.status, headers=headers, json={"error": {"code": "x", "message": "later"}})
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            error = {"error": {"code": "unauthenticated", "message": "invalid API key"}}
            return httpx.Response(401, json=error)
        parts = request.url.path.split("/")
        if len(parts) != 5 or parts[1:3] != ["v1", "banks"] or parts[4] != "export":
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no route"}})
        name = unquote(parts[3])
        if name not in self.banks:
            return httpx.Response(404, json={"error": {"code": "bank_not_found", "message": f"no bank {name!r}"}})
        if request.url.params.get("format") != "jsonl":
            return httpx.Response(422, json={"error": {"code": "validation_error", "message": "format"}})
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.banks[name])
        return httpx.Response(200, headers={"Content-Type": "application/x-ndjson"}, content=body.encode())
