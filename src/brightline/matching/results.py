"""What matching returns: Match records, the matching policy and per-file scan results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from brightline.signals.hashing import MediaHashes


@dataclass(frozen=True)
class Match:
    """One bank entry that a query signal hit.

    Video matches also carry the percent of the query's frames matched, the percent of the
    candidate's frames matched and the matched query time ranges (seconds); they are left
    out of ``as_dict()`` when unset, so image matches keep their shape.
    """

    bank: str
    entry_id: int
    signal_type: str
    distance: int
    variant: str = "original"  # which dihedral variant of the query hit
    query_percent: float | None = None
    candidate_percent: float | None = None
    time_ranges: tuple[tuple[float, float], ...] | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (the CLI's and API's match object)."""
        out: dict[str, object] = {
            "bank": self.bank,
            "entry_id": self.entry_id,
            "signal_type": self.signal_type,
            "distance": self.distance,
            "variant": self.variant,
        }
        if self.query_percent is not None:
            out["query_percent"] = self.query_percent
        if self.candidate_percent is not None:
            out["candidate_percent"] = self.candidate_percent
        if self.time_ranges is not None:
            out["time_ranges"] = [list(r) for r in self.time_ranges]
        return out


@dataclass(frozen=True)
class MatchOptions:
    """Matching policy: quality floor, default thresholds, dihedral matching and the video percentages."""

    min_quality: int = 50
    dihedral: bool = False
    thresholds: Mapping[str, int] = field(default_factory=dict)  # per signal type defaults
    # A video matches a video entry when at least this percent of the query's distinct frames
    # and of the candidate's distinct frames have a counterpart within the PDQ threshold.
    video_query_percent: float = 80.0
    video_candidate_percent: float = 0.0


@dataclass(frozen=True)
class ScanResult:
    """The outcome for one file: its hashes and matches, or the error that stopped it."""

    file: str
    hashes: MediaHashes | None = None
    matches: tuple[Match, ...] = ()
    low_quality: bool = False
    error: str | None = None

    @property
    def matched(self) -> bool:
        """Whether anything matched."""
        return bool(self.matches)
