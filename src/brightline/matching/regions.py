"""Matching with brightline's own robustness hashes: border-trimmed PDQ and pdq_regions.

The trimmed PDQ of a query is one more variant of its plain PDQ (so it also meets other
parties' plain PDQ lists). pdq_regions entries are searched region by region by
RegionIndex; this module turns its hits into Match records, bank by bank.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from brightline.index.regions import RegionIndex
from brightline.matching.results import Match
from brightline.signals.hashing import MediaHashes
from brightline.signals.pdq_core import DIHEDRAL_NAMES

TRIMMED = "trimmed"
# Signal types computed from an image's PDQ pixels: both follow the PDQ quality floor.
PDQ_SIGNALS = frozenset({"pdq", "pdq_regions"})


def query_variants(hashes: MediaHashes, *, dihedral: bool) -> tuple[list[str], list[str]]:
    """The PDQ values to look up for an image and their variant names (dihedral ones, then trimmed)."""
    if dihedral and hashes.pdq_dihedral:
        values, names = list(hashes.pdq_dihedral), list(DIHEDRAL_NAMES)
    else:
        values, names = [hashes.pdq], ["original"]
    if hashes.pdq_trimmed and hashes.pdq_trimmed not in values:
        values.append(hashes.pdq_trimmed)
        names.append(TRIMMED)
    return values, names


MEDIA_SIGNALS = ("pdq", "pdq_regions", "md5", "sha256")


_VIDEO_NAMES = {"pdq": "vpdq", "pdq_regions": "vpdq_regions"}


def default_media_signals(region_hashes: bool) -> list[str]:
    """Signal types stored for media added to a bank when none are named (pdq_regions if configured)."""
    return [s for s in MEDIA_SIGNALS if region_hashes or s != "pdq_regions"]


def signals_for(wanted: Sequence[str], hashes: MediaHashes) -> list[str]:
    """The signal types to store for this media: for a video, pdq means vpdq and pdq_regions vpdq_regions."""
    if not hashes.is_video:
        return list(wanted)
    return list(dict.fromkeys(_VIDEO_NAMES.get(s, s) for s in wanted))


def region_matches(
    index: RegionIndex,
    values: Sequence[str],
    radius: int,
    resolve: Callable[[Sequence[int]], dict[int, tuple[str, int]]],
    signal_type: str,
) -> list[Match]:
    """Matches for query pdq_regions values: the closest hit per entry within its bank's threshold."""
    best: dict[int, Match] = {}
    for value in values:
        hits = index.search_regions(value, radius)
        where = resolve([h.entry_id for h in hits])
        for hit in hits:
            if hit.entry_id not in where:
                continue
            bank, threshold = where[hit.entry_id]
            if hit.distance > threshold:
                continue
            previous = best.get(hit.entry_id)
            if previous is None or hit.distance < previous.distance:
                best[hit.entry_id] = Match(bank, hit.entry_id, signal_type, hit.distance, hit.variant)
    return sorted(best.values(), key=lambda m: (m.distance, m.bank, m.entry_id))
