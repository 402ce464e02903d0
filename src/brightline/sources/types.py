"""The source interface every hash-list feed implements, and the values it exchanges with the sync engine.

A source is a small adapter around a list owner's API (NCMEC, StopNCII, ThreatExchange, an
HTTPS feed, a folder, another brightline). It knows nothing of banks or the database: it
turns "give me everything after this checkpoint" into batches of updates and withdrawals,
each with the checkpoint to resume from. The sync engine commits a batch and its checkpoint
in one transaction, which is what makes a crash mid-sync lose nothing and duplicate nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol

# What a reviewer's decision tells a list owner about one of its entries.
Opinion = Literal["false_positive", "true_positive", "disputed"]


@dataclass(frozen=True)
class SourceEntry:
    """One hash a source supplies (added or changed since the last checkpoint)."""

    remote_id: str  # the source's own id for the entry: withdrawals and feedback name it
    signal_type: str  # a brightline signal type name: pdq, md5, sha256, vpdq...
    value: str
    category: str = ""  # the owner's classification mapped to brightline's (e.g. A1), or free text
    classification: str = ""  # the owner's own label, kept verbatim for provenance
    tags: tuple[str, ...] = ()
    bank: str | None = None  # a source feeding several banks names the target; None: the source's default bank
    added_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class SourceBatch:
    """One page of changes and the opaque checkpoint that resumes right after it."""

    upserts: tuple[SourceEntry, ...] = ()
    removals: tuple[str, ...] = ()  # remote ids the owner withdrew
    checkpoint: str = ""  # opaque to the engine (JSON text is a good choice); stored verbatim
    malformed: int = 0  # records skipped because they could not be understood
    problems: tuple[str, ...] = ()  # what was wrong with them (short, no hash values)
    # Full-snapshot feeds (a file, an HTTPS list): the first batch of a snapshot sets ``snapshot_begin``,
    # the last ``snapshot_end``; at the end the engine withdraws every entry of the source not
    # supplied since the beginning, so a feed need not know what it listed last time.
    snapshot_begin: bool = False
    snapshot_end: bool = False


@dataclass(frozen=True)
class SourceDescription:
    """What a source supplies and needs, for `brightline source list` and the API."""

    kind: str
    summary: str
    signal_types: tuple[str, ...]
    credentials: tuple[str, ...] = ()  # names of the secrets it needs (values are never shown)
    supports_feedback: bool = False
    options: Mapping[str, str] = field(default_factory=dict)  # option name -> what it means


@dataclass(frozen=True)
class Feedback:
    """A reviewer's opinion on one entry, addressed to the source that supplied it."""

    remote_id: str
    signal_type: str
    value: str
    opinion: Opinion
    note: str = ""
    decided_at: datetime | None = None


class Source(Protocol):
    """A hash-list feed: fetch changes after a checkpoint; optionally take feedback."""

    kind: ClassVar[str]

    def describe(self) -> SourceDescription:
        """What this source supplies and which credentials it needs."""

    def fetch(self, checkpoint: str | None) -> Iterator[SourceBatch]:
        """Batches of changes after ``checkpoint`` (None: from the beginning), oldest first.

        Raise a ``SourceError`` subclass for failures the engine should retry later (network,
        5xx, rate limits after the source's own retries) and ``SourceAuthError`` for bad
        credentials; never raise for a malformed record (count it in the batch instead).
        """

    def send_feedback(self, feedback: Feedback) -> None:
        """Tell the owner what a reviewer decided; ``FeedbackUnsupportedError`` if the source cannot."""


@dataclass(frozen=True)
class SourceConfig:
    """A configured source as stored: its kind, options, target banks and (decrypted) credentials."""

    name: str
    kind: str
    bank: str  # default target bank
    options: Mapping[str, Any] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=dict)
    # category/classification -> bank, for sources that feed several banks
    bank_map: Mapping[str, str] = field(default_factory=dict)
