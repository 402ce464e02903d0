"""Source kind "http_feed": a hash list published over HTTPS as CSV or JSON Lines, fetched conditionally.

Every sync sends ``If-None-Match`` / ``If-Modified-Since`` from the last complete snapshot; a 304
means nothing changed and makes no batch. A new list is a full snapshot: entries no longer listed
are withdrawn at its end (see ``snapshot.py``). Records may carry ``id`` (else one is derived from
the value), ``signal_type`` (or ``type``), ``value`` (or ``hash``), ``category``, ``classification``,
``tags`` (a list, or ``;``-separated in CSV), ``bank`` and ``updated_at``; other fields are ignored.
429 and 5xx answers are retried (honouring ``Retry-After``), then the sync fails and comes back later.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import httpx

from brightline.errors import FeedbackUnsupportedError, SourceAuthError, SourceError, ValidationError
from brightline.signals.registry import get_signal_type
from brightline.sources.http import RetryPolicy, retry_after_seconds
from brightline.sources.snapshot import (
    Problems,
    SnapshotCheckpoint,
    batch_size_option,
    entry_from_record,
    is_listed,
    snapshot_batches,
)
from brightline.sources.types import Feedback, SourceBatch, SourceConfig, SourceDescription, SourceEntry

FEED_FORMATS = ("csv", "jsonl")
MAX_FEED_BYTES = 1 << 30
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def check_url(url: str, *, allow_http: bool = False) -> str:
    """An https URL (http only for this machine, or when ``allow_http``); ValidationError otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValidationError(f"not an http(s) URL: {url!r}")
    if parts.scheme == "http" and not allow_http and (parts.hostname or "") not in _LOCAL_HOSTS:
        raise ValidationError("feeds are fetched over https (http only from this machine)")
    return url.strip()


def parse_records(body: bytes, fmt: str, problems: Problems) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, record) per CSV row or JSON object; unreadable ones are counted in ``problems``."""
    text = body.decode("utf-8-sig", errors="replace")
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None:
            return
        reader.fieldnames = [f.strip().lower() for f in reader.fieldnames]
        for number, row in enumerate(reader, start=2):
            if None in row or any(v is None for v in row.values()):
                problems.add(f"line {number}: wrong number of fields")
                continue
            yield number, {k: v.strip() for k, v in row.items() if isinstance(k, str) and isinstance(v, str)}
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.add(f"line {number}: invalid JSON ({exc.msg})")
            continue
        if not isinstance(record, dict):
            problems.add(f"line {number}: not a JSON object")
            continue
        yield number, {str(k).lower(): v for k, v in record.items()}


def feed_entries(body: bytes, fmt: str, *, signal_type: str, category: str, problems: Problems) -> list[SourceEntry]:
    """Every listed record of a feed body as a SourceEntry; the rest counted as malformed."""
    entries = []
    for number, record in parse_records(body, fmt, problems):
        if not is_listed(record):
            continue
        try:
            entries.append(entry_from_record(record, default_signal_type=signal_type, default_category=category))
        except ValueError as exc:
            problems.add(f"line {number}: {exc}")
    return entries


def fetch_with_retries(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    *,
    name: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
) -> httpx.Response:
    """GET with retries on no answer, 429 and 5xx; a 2xx or 304 answer, else SourceError/SourceAuthError."""
    attempt = 0
    while True:
        response: httpx.Response | None = None
        try:
            response = client.get(url, headers=headers)
        except httpx.TransportError as exc:
            problem = f"no answer ({type(exc).__name__})"
        else:
            status = response.status_code
            if status < 300 or status == 304:
                return response
            if status in (401, 403):
                raise SourceAuthError(f"{name}: the feed refused the credentials (HTTP {status})")
            if status != 429 and status < 500:
                raise SourceError(f"{name}: the feed answered HTTP {status}")
            problem = f"HTTP {status}"
        attempt += 1
        if attempt >= policy.attempts:
            raise SourceError(f"{name}: the feed failed after {attempt} attempts: {problem}")
        delay = min(policy.backoff_s * 2.0 ** (attempt - 1), policy.max_backoff_s)
        wait = retry_after_seconds(response.headers.get("Retry-After"), time.time()) if response else None
        if wait is not None:
            if wait > policy.max_retry_after_s:
                raise SourceError(f"{name}: rate limited for {wait:.0f} s; will try again at the next sync")
            delay = wait
        sleep(delay)


class HttpFeedSource:
    """A CSV or JSON Lines hash list at an HTTPS URL, with conditional GET and full-snapshot semantics."""

    kind: ClassVar[str] = "http_feed"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        fmt: str,
        signal_type: str,
        category: str,
        batch_size: int,
        token: str,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.name = name
        self.url = url
        self.fmt = fmt
        self.signal_type = signal_type
        self.category = category
        self.batch_size = batch_size
        self._token = token
        self._transport = transport
        self.policy = RetryPolicy()
        self.sleep: Callable[[float], None] = time.sleep

    def __repr__(self) -> str:
        return f"HttpFeedSource({self.name!r}, {self.url!r})"  # never the token

    @classmethod
    def from_config(cls, config: SourceConfig, *, transport: httpx.BaseTransport | None = None) -> Self:
        """Options: url (required), format (csv or jsonl; default from the URL), signal_type, category, batch_size."""
        options = config.options
        url = check_url(str(options.get("url") or ""), allow_http=str(options.get("allow_http", "")).lower() == "true")
        fmt = str(options.get("format") or ("jsonl" if url.split("?")[0].endswith((".jsonl", ".ndjson")) else "csv"))
        if fmt.lower() not in FEED_FORMATS:
            raise ValidationError(f"format must be one of {', '.join(FEED_FORMATS)}")
        return cls(
            config.name,
            url,
            fmt=fmt.lower(),
            signal_type=get_signal_type(str(options.get("signal_type", "pdq"))).name,
            category=str(options.get("category", "")),
            batch_size=batch_size_option(options),
            token=config.credentials.get("token", ""),
            transport=transport,
        )

    def describe(self) -> SourceDescription:
        """What this source supplies and needs."""
        return SourceDescription(
            kind=self.kind,
            summary="A CSV or JSON Lines hash list over HTTPS (conditional GET; the list is a full snapshot).",
            signal_types=("pdq", "md5", "sha256", "vpdq"),
            options={
                "url": "https URL of the list (required)",
                "format": "csv or jsonl; default from the URL's extension, else csv",
                "signal_type": "signal type of records that name none (default pdq)",
                "category": "category of records that name none",
                "batch_size": "records per committed batch (default 1000)",
                "credential token": "optional bearer token (set with --credential token)",
            },
        )

    def _headers(self, previous: SnapshotCheckpoint | None) -> dict[str, str]:
        headers = {"Accept": "text/csv" if self.fmt == "csv" else "application/x-ndjson"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if previous is not None and previous.complete:
            # Only a complete snapshot may be skipped: a half-applied one must be read again.
            if previous.validators.get("etag"):
                headers["If-None-Match"] = str(previous.validators["etag"])
            if previous.validators.get("last_modified"):
                headers["If-Modified-Since"] = str(previous.validators["last_modified"])
        return headers

    def fetch(self, checkpoint: str | None) -> Iterator[SourceBatch]:
        """Nothing on 304 (or the same list); else the snapshot's batches from where the last run stopped."""
        previous = SnapshotCheckpoint.loads(checkpoint)
        with httpx.Client(transport=self._transport, timeout=120.0, follow_redirects=False) as client:
            response = fetch_with_retries(
                client, self.url, self._headers(previous), name=self.name, policy=self.policy, sleep=self.sleep
            )
        if response.status_code == 304:
            return
        if len(response.content) > MAX_FEED_BYTES:
            raise SourceError(f"{self.name}: the feed is larger than {MAX_FEED_BYTES} bytes")
        problems = Problems()
        entries = feed_entries(
            response.content, self.fmt, signal_type=self.signal_type, category=self.category, problems=problems
        )
        validators = {
            "etag": response.headers.get("ETag", ""),
            "last_modified": response.headers.get("Last-Modified", ""),
        }
        yield from snapshot_batches(
            entries, previous=previous, validators=validators, batch_size=self.batch_size, problems=problems
        )

    def send_feedback(self, feedback: Feedback) -> None:
        """A plain feed takes no feedback."""
        raise FeedbackUnsupportedError(f"{self.name}: an HTTPS feed takes no feedback")
