"""Full-snapshot feeds (files, HTTPS lists, another brightline's export): records to batches and resumable checkpoints.

A snapshot is the whole list as the owner publishes it now. It is cut into batches; each batch's
checkpoint names the snapshot (a digest of its records) and how many records are applied, so a
killed sync resumes inside the same snapshot, or starts the new one over if the list changed
meanwhile. The first batch carries ``snapshot_begin`` and the last ``snapshot_end``, at which the
engine withdraws whatever the source vouched for and no longer lists.

Records without an id of their own get a derived remote id: the signal type and a digest of
the value (never the value itself, so ids can appear in logs and problem lists).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from brightline.banks.parsing import parse_bool
from brightline.errors import ValidationError
from brightline.sources.apply import redact
from brightline.sources.types import SourceBatch, SourceEntry

DEFAULT_BATCH_SIZE = 1000
MAX_PROBLEMS = 20
_VALUE_KEYS = ("value", "hash", "signal", "signal_value")
_TYPE_KEYS = ("signal_type", "type", "signal_type_name")
_ID_KEYS = ("id", "remote_id")


def derived_remote_id(signal_type: str, value: str) -> str:
    """An id for a record that has none: its type and a digest of its value."""
    return f"{signal_type}:{hashlib.sha256(value.strip().lower().encode()).hexdigest()[:40]}"


def batch_size_option(options: Mapping[str, Any]) -> int:
    """The ``batch_size`` option: 1 to 100,000 records per batch (default 1000)."""
    try:
        size = int(options.get("batch_size", DEFAULT_BATCH_SIZE))
    except (TypeError, ValueError):
        raise ValidationError("batch_size must be a whole number") from None
    if not 1 <= size <= 100_000:
        raise ValidationError("batch_size must be between 1 and 100000")
    return size


@dataclass
class Problems:
    """Malformed records: how many, and what was wrong with the first few."""

    count: int = 0
    kept: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        """Count one malformed record."""
        self.count += 1
        if len(self.kept) < MAX_PROBLEMS:
            self.kept.append(redact(text))


def _first(record: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if record.get(key) not in (None, ""):
            return record[key]
    return None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(t.strip() for t in value.replace(",", ";").split(";") if t.strip())
    if isinstance(value, list):
        return tuple(str(t).strip() for t in value if str(t).strip())
    return ()


def entry_from_record(
    record: Mapping[str, Any], *, default_signal_type: str, default_category: str = ""
) -> SourceEntry:
    """A SourceEntry from a CSV row or JSON object; ValueError saying what is missing or wrong."""
    value = _first(record, _VALUE_KEYS)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("no value (or hash) field")
    signal_type = _first(record, _TYPE_KEYS) or default_signal_type
    if not isinstance(signal_type, str):
        raise ValueError("signal_type must be text")
    signal_type = signal_type.strip().lower()
    remote = _first(record, _ID_KEYS)
    remote_id = str(remote).strip() if remote is not None else derived_remote_id(signal_type, value)
    category = record.get("category") or default_category
    classification = record.get("classification") or category
    if not isinstance(category, str) or not isinstance(classification, str):
        raise ValueError("category and classification must be text")
    bank = record.get("bank")
    return SourceEntry(
        remote_id=remote_id,
        signal_type=signal_type,
        value=value.strip(),
        category=category.strip(),
        classification=classification.strip(),
        tags=_tags(record.get("tags")),
        bank=bank.strip() if isinstance(bank, str) and bank.strip() else None,
        added_at=_time(record.get("added_at") or record.get("created_at")),
        updated_at=_time(record.get("updated_at")),
    )


def is_listed(record: Mapping[str, Any]) -> bool:
    """False for records marked disabled (``enabled: false``): they count as not listed."""
    value = record.get("enabled")
    if value is None or value == "":
        return True
    try:
        return parse_bool(value)
    except ValueError:
        return True


def snapshot_digest(entries: Iterable[SourceEntry]) -> str:
    """SHA-256 over the sorted records: the same list, in any order, gives the same digest."""
    lines = sorted(
        json.dumps([e.remote_id, e.signal_type, e.value, e.category, e.classification, list(e.tags), e.bank])
        for e in entries
    )
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class SnapshotCheckpoint:
    """Where a snapshot feed stands: which snapshot, how many records applied, and the feed's validators."""

    digest: str = ""
    done: int = 0
    complete: bool = False
    validators: Mapping[str, Any] = field(default_factory=dict)  # etag, last_modified, file stats...

    def dumps(self) -> str:
        """The checkpoint as stored."""
        body = {"digest": self.digest, "done": self.done, "complete": self.complete, "validators": self.validators}
        return json.dumps(body, sort_keys=True)

    @classmethod
    def loads(cls, text: str | None) -> SnapshotCheckpoint | None:
        """A stored checkpoint, or None for none (or one this feed did not write)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(str(data["digest"]), int(data["done"]), bool(data["complete"]), dict(data["validators"]))
        except (ValueError, KeyError, TypeError):
            return None


def snapshot_batches(
    entries: Sequence[SourceEntry],
    *,
    previous: SnapshotCheckpoint | None,
    validators: Mapping[str, Any],
    batch_size: int,
    problems: Problems,
) -> Iterator[SourceBatch]:
    """Batches of a snapshot after ``previous``: nothing new if it is the same list, else from where it stopped."""
    digest = snapshot_digest(entries)
    # One fixed order per snapshot, whatever order the owner sent it in: a resumed run skips the same records.
    entries = sorted(entries, key=lambda e: (e.remote_id, e.signal_type, e.value, e.bank or ""))
    if previous is not None and previous.digest == digest and previous.complete:
        if dict(previous.validators) != dict(validators):
            # Same records under new validators (a touched file, a new ETag): just remember them.
            yield SourceBatch(checkpoint=SnapshotCheckpoint(digest, len(entries), True, validators).dumps())
        return
    resuming = previous is not None and previous.digest == digest and not previous.complete
    start = min(previous.done, len(entries)) if resuming and previous is not None else 0
    malformed, kept = (0, ()) if resuming else (problems.count, tuple(problems.kept))
    position = start
    while True:
        chunk = entries[position : position + batch_size]
        end = position + len(chunk) >= len(entries)
        yield SourceBatch(
            upserts=tuple(chunk),
            checkpoint=SnapshotCheckpoint(digest, position + len(chunk), end, validators).dumps(),
            malformed=malformed if position == start else 0,
            problems=kept if position == start else (),
            snapshot_begin=position == start and not resuming,
            snapshot_end=end,
        )
        position += len(chunk)
        if end:
            return
