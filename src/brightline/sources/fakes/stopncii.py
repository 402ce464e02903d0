"""An in-process StopNCII partner API for tests and demos: ``httpx.MockTransport(fake.handle)``.

It answers what `StopNciiSource` calls as the partner documentation describes: the API key
header on every request (401 with the gateway's JSON error when wrong or after
`expire_token`), ``FetchHashes`` by time window (both ends inclusive, the less convenient
reading) in pages of ``page_size`` with ``nextPageToken``/``hasMoreRecords``, withdrawals as
records with ``hashStatus`` ``Withdrawn``, and ``SubmitFeedback``. Paging is by key (last
modified time, then change order), so changes made while a client pages never shift what it
has yet to read. Failures are injected per endpoint (``FetchHashes``, ``SubmitFeedback``).
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from brightline.sources.stopncii import FUNCTION_KEY_HEADER, KEY_HEADER


@dataclass
class FakeHash:
    """One hash as the fake holds it; the latest change wins."""

    signal_type: str  # as StopNCII writes it: PDQ, MD5 (anything else for a malformed record)
    value: Any  # normally hex text; anything (None, a number) for a malformed record
    modified: datetime
    registered: datetime
    status: str = "Active"
    tags: tuple[str, ...] = ()
    order: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # fields merged into the record as sent


@dataclass
class _Failure:
    status: int
    retry_after: float | None


class FakeStopNcii:
    """A stateful StopNCII partner API; mutate it with add/withdraw and inspect the feedback it received."""

    def __init__(self, *, subscription_key: str = "partner-key", function_key: str = "", page_size: int = 3) -> None:
        self.subscription_key = subscription_key
        self.function_key = function_key
        self.page_size = page_size
        self.hashes: dict[tuple[str, str], FakeHash] = {}
        self.feedback: list[dict[str, Any]] = []  # each hashFeedbacks item received, in order
        self.requests: list[httpx.Request] = []
        self._order = itertools.count(1)
        self._failures: dict[str, list[_Failure]] = {}
        self._garbled: dict[str, int] = {}
        self._expired = False

    # --- state ------------------------------------------------------------------------

    def add(self, signal_type: str, value: Any, *, at: datetime, tags: tuple[str, ...] = (), **extra: Any) -> FakeHash:
        """A hash submitted (or re-submitted) at ``at``; ``extra`` fields are merged into the record."""
        key = (signal_type, str(value))
        known = self.hashes.get(key)
        record = FakeHash(signal_type, value, at, known.registered if known else at, "Active", tags, 0, dict(extra))
        record.order = next(self._order)
        self.hashes[key] = record
        return record

    def withdraw(self, signal_type: str, value: str, *, at: datetime) -> None:
        """The person withdrew their case; a hash the fake never held still yields a withdrawal record."""
        record = self.hashes.get((signal_type, value)) or FakeHash(signal_type, value, at, at)
        record.status, record.modified, record.order = "Withdrawn", at, next(self._order)
        self.hashes[(signal_type, value)] = record

    # --- failure injection ------------------------------------------------------------

    def fail_next(self, endpoint: str, status: int, *, retry_after: float | None = None, times: int = 1) -> None:
        """The next ``times`` calls to ``endpoint`` (FetchHashes, SubmitFeedback) answer ``status``."""
        self._failures.setdefault(endpoint, []).extend(_Failure(status, retry_after) for _ in range(times))

    def malformed_next(self, endpoint: str = "FetchHashes", times: int = 1) -> None:
        """The next ``times`` answers of ``endpoint`` are cut off mid-document (not JSON)."""
        self._garbled[endpoint] = self._garbled.get(endpoint, 0) + times

    def expire_token(self) -> None:
        """The gateway forgets the partner's authorisation once: the next request answers 401."""
        self._expired = True

    # --- HTTP -------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (pass to ``httpx.MockTransport``)."""
        self.requests.append(request)
        authorised = request.headers.get(KEY_HEADER) == self.subscription_key and (
            not self.function_key or request.headers.get(FUNCTION_KEY_HEADER) == self.function_key
        )
        if self._expired or not authorised:
            self._expired = False
            message = "Access denied due to invalid subscription key. Make sure to provide a valid key."
            return httpx.Response(401, json={"statusCode": 401, "message": message})
        endpoint = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        if (request.method, endpoint) not in {("GET", "FetchHashes"), ("POST", "SubmitFeedback")}:
            return httpx.Response(404, json={"statusCode": 404, "message": "Resource not found"})
        queued = self._failures.get(endpoint)
        if queued:
            failure = queued.pop(0)
            headers = {} if failure.retry_after is None else {"Retry-After": f"{failure.retry_after:g}"}
            return httpx.Response(
                failure.status, json={"statusCode": failure.status, "message": "injected"}, headers=headers
            )
        response = self._fetch(request) if endpoint == "FetchHashes" else self._feedback(request)
        if self._garbled.get(endpoint):
            self._garbled[endpoint] -= 1
            return httpx.Response(200, content=response.content[: len(response.content) // 2])
        return response

    def _fetch(self, request: httpx.Request) -> httpx.Response:
        query = request.url.params
        try:
            start, end = float(query["startTimestamp"]), float(query["endTimestamp"])
            token = query.get("nextPageToken")
            after = tuple(int(p) for p in base64.urlsafe_b64decode(token).split(b"-")) if token else ()
        except (KeyError, ValueError):
            return httpx.Response(400, json={"statusCode": 400, "message": "bad startTimestamp, endTimestamp or token"})
        chosen = sorted((h for h in self.hashes.values() if start <= h.modified.timestamp() <= end), key=_key)
        chosen = [h for h in chosen if _key(h) > after] if after else chosen
        page, more = chosen[: self.page_size], len(chosen) > self.page_size
        body: dict[str, Any] = {"count": len(page), "hashRecords": [_record(h) for h in page], "hasMoreRecords": more}
        if more:
            body["nextPageToken"] = base64.urlsafe_b64encode("-".join(map(str, _key(page[-1]))).encode()).decode()
        return httpx.Response(200, json=body)

    def _feedback(self, request: httpx.Request) -> httpx.Response:
        try:
            items = json.loads(request.content)["hashFeedbacks"]
        except (ValueError, KeyError, TypeError):
            return httpx.Response(400, json={"statusCode": 400, "message": "hashFeedbacks is required"})
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return httpx.Response(400, json={"statusCode": 400, "message": "hashFeedbacks must be a list of objects"})
        unknown = [i for i in items if (i.get("signalType"), i.get("hashValue")) not in self.hashes]
        if unknown:
            return httpx.Response(404, json={"statusCode": 404, "message": "hash not found"})
        self.feedback.extend(items)
        return httpx.Response(200, json={"accepted": len(items)})


def _key(record: FakeHash) -> tuple[int, int]:
    """Paging key: last modified time in milliseconds, then the change order."""
    return int(record.modified.timestamp() * 1000), record.order


def _record(record: FakeHash) -> Mapping[str, Any]:
    data: dict[str, Any] = {
        "signalType": record.signal_type,
        "hashValue": record.value,
        "hashStatus": record.status,
        "hashRegistrationTimestamp": int(record.registered.timestamp()),
        "lastModifiedTimestamp": record.modified.timestamp(),
        "tags": list(record.tags),
    }
    return data | record.extra
