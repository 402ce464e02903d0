"""Plain values the bank service takes and returns (no ORM objects leave the service)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt


def _json_ready(obj: object) -> dict[str, object]:
    """Dataclass fields as a JSON-ready dict (datetimes as ISO 8601)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(obj).items()}  # type: ignore[call-overload]


@dataclass(frozen=True, slots=True)
class EntryInput:
    """One hash to add to a bank; ``domain`` None means the bank's domain."""

    signal_type: str
    value: str
    source: str = ""
    category: str = ""
    domain: str | None = None
    note: str | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class BankInfo:
    """A bank and how many entries it holds."""

    id: int
    name: str
    domain: str
    threshold: int | None
    description: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    entry_count: int
    enabled_count: int

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return _json_ready(self)


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """One stored entry with everything known about it."""

    id: int
    bank_id: int
    bank_name: str
    signal_type: str
    value: str
    source: str
    category: str
    domain: str
    note: str | None
    enabled: bool
    added_at: datetime
    updated_at: datetime
    revision: int

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return _json_ready(self)


@dataclass(frozen=True, slots=True)
class AddResult:
    """How many entries an add created and how many were already there."""

    added: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class EntryRow:
    """What an index needs to know about one entry.

    ``enabled`` is true only when the entry and its bank are both enabled; ``threshold``
    is the bank's distance override, or None for the signal type's default.
    """

    id: int
    bank_id: int
    bank_name: str
    signal_type: str
    value: str
    enabled: bool
    threshold: int | None


@dataclass(frozen=True, slots=True)
class HashColumns:
    """Entries of one fixed-width hex signal type as arrays sorted by id (EntryRow's fields, columnar).

    ``codes`` holds each value packed as big-endian uint64 words (as ``hex_to_words`` does);
    ``enabled`` is true only when the entry and its bank are both enabled.
    """

    ids: npt.NDArray[np.int64]
    bank_ids: npt.NDArray[np.int64]
    enabled: npt.NDArray[np.bool_]
    codes: npt.NDArray[np.uint64]


@dataclass(frozen=True, slots=True)
class Changes:
    """Entries changed after a revision, up to and including ``revision``.

    Apply ``removed_ids`` first, then ``upserts`` (an id never appears in both). ``full`` means
    ``upserts`` is every entry and the caller must drop whatever it held before: asked for
    revision 0, or the caller's revision is too old (tombstones pruned) or from another database.
    ``removed_ids`` may name entries the caller never saw (added and removed since its revision).
    Apply ``columns`` like ``upserts``.
    """

    upserts: list[EntryRow]
    removed_ids: list[int]
    revision: int
    full: bool = False
    # Upserts of the signal types asked for in columnar form, by type name (not in ``upserts``).
    columns: dict[str, HashColumns] = field(default_factory=dict)
