"""Source kind "brightline": one bank of another brightline instance, read through its admin export.

It fetches ``GET {url}/v1/banks/{bank}/export?format=jsonl`` with an admin API key of the other
instance (the read is audited there as ``bank.exported``). Each export is a full snapshot: an
entry the other side deleted or disabled is withdrawn here at the snapshot's end. The export
carries no entry ids, so each entry's remote id is derived from its signal type and value.

An HMA (Hasher-Matcher-Actioner) instance is read the same way through ``http_feed``, pointed at
a CSV export with ``signal_type`` and ``signal``/``hash`` columns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import ClassVar, Self
from urllib.parse import quote

import httpx

from brightline.errors import FeedbackUnsupportedError, SourceError, ValidationError
from brightline.sources.http import RetryPolicy
from brightline.sources.http_feed import MAX_FEED_BYTES, check_url, feed_entries, fetch_with_retries
from brightline.sources.snapshot import Problems, SnapshotCheckpoint, batch_size_option, snapshot_batches
from brightline.sources.types import Feedback, SourceBatch, SourceConfig, SourceDescription


class PeerSource:
    """A bank of another brightline, synced from its JSON Lines export."""

    kind: ClassVar[str] = "brightline"

    def __init__(
        self, name: str, url: str, bank: str, *, token: str, batch_size: int, transport: httpx.BaseTransport | None
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.bank = bank
        self._token = token
        self.batch_size = batch_size
        self._transport = transport
        self.policy = RetryPolicy()
        self.sleep: Callable[[float], None] = time.sleep

    def __repr__(self) -> str:
        return f"PeerSource({self.name!r}, {self.url!r}, bank={self.bank!r})"  # never the token

    @classmethod
    def from_config(cls, config: SourceConfig, *, transport: httpx.BaseTransport | None = None) -> Self:
        """Options: url (the other instance's base URL), remote_bank (default: this source's bank), batch_size."""
        options = config.options
        url = check_url(str(options.get("url") or ""), allow_http=str(options.get("allow_http", "")).lower() == "true")
        bank = str(options.get("remote_bank") or config.bank).strip()
        if not bank:
            raise ValidationError("a brightline source needs remote_bank (or a bank of the same name)")
        return cls(
            config.name,
            url,
            bank,
            token=config.credentials.get("token", ""),
            batch_size=batch_size_option(options),
            transport=transport,
        )

    def describe(self) -> SourceDescription:
        """What this source supplies and needs."""
        return SourceDescription(
            kind=self.kind,
            summary="One bank of another brightline instance, from its admin export (a full snapshot).",
            signal_types=("pdq", "md5", "sha256", "vpdq", "pdq_regions", "vpdq_regions"),
            credentials=("token",),
            options={
                "url": "base URL of the other instance, e.g. https://brightline.partner.example (required)",
                "remote_bank": "bank to read there (default: the target bank's name)",
                "batch_size": "records per committed batch (default 1000)",
            },
        )

    def fetch(self, checkpoint: str | None) -> Iterator[SourceBatch]:
        """The export as a snapshot: nothing if it lists the same entries as last time."""
        previous = SnapshotCheckpoint.loads(checkpoint)
        url = f"{self.url}/v1/banks/{quote(self.bank, safe='')}/export?format=jsonl"
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/x-ndjson"}
        with httpx.Client(transport=self._transport, timeout=300.0, follow_redirects=False) as client:
            response = fetch_with_retries(client, url, headers, name=self.name, policy=self.policy, sleep=self.sleep)
        if response.status_code != 200:
            raise SourceError(f"{self.name}: the export answered HTTP {response.status_code}")
        if len(response.content) > MAX_FEED_BYTES:
            raise SourceError(f"{self.name}: the export is larger than {MAX_FEED_BYTES} bytes")
        problems = Problems()
        # The export's "source" is the other side's provenance; here the peer itself is the source.
        entries = feed_entries(response.content, "jsonl", signal_type="pdq", category="", problems=problems)
        yield from snapshot_batches(
            entries, previous=previous, validators={}, batch_size=self.batch_size, problems=problems
        )

    def send_feedback(self, feedback: Feedback) -> None:
        """Another brightline takes no feedback through this source (use GET /v1/feedback there)."""
        raise FeedbackUnsupportedError(f"{self.name}: a brightline peer takes no feedback")
