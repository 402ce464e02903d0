"""Video matching: the bag-of-frames convention of python-threatexchange's vPDQ matcher.

Query and candidate frames below the quality floor are dropped and identical frame hashes
counted once. For each candidate video entry, the query percent is the share of the query's
distinct frames with a candidate frame within the PDQ threshold, the candidate percent the
share of the candidate's distinct frames hit by some query frame. A candidate matches when
both reach their thresholds. Image hits on single frames (either way round) need no percent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from brightline.index.base import SignalIndex
from brightline.index.frames import FrameIndex
from brightline.matching.results import Match
from brightline.signals.vpdq import VpdqFeature

# entry ids -> (bank name, PDQ threshold) for the entries the query may hit (others left out).
Resolve = Callable[[Sequence[int]], dict[int, tuple[str, int]]]


class FrameHitLike(Protocol):
    """What a frame search returns per hit: the banked entry and the distance."""

    @property
    def entry_id(self) -> int: ...

    @property
    def distance(self) -> int: ...


Hit = TypeVar("Hit", bound=FrameHitLike)


@dataclass
class FrameCandidate:
    """One banked video hit by a query: which query frames, which of its frames, how close, and how."""

    query_frames: set[int] = field(default_factory=set)  # positions in the query's usable frames
    rows: set[int] = field(default_factory=set)  # the candidate's frames hit
    distance: int = 1 << 30
    tags: set[str] = field(default_factory=set)


def collect_candidates(
    found: Sequence[Sequence[Hit]],
    resolve: Resolve,
    row_of: Callable[[Hit], int],
    tag_of: Callable[[Hit], str] | None = None,
) -> tuple[dict[int, FrameCandidate], dict[int, tuple[str, int]]]:
    """Per banked entry, the query frames (positions in ``found``) that hit it within its bank's threshold."""
    allowed = resolve(sorted({hit.entry_id for hits in found for hit in hits}))
    candidates: dict[int, FrameCandidate] = {}
    for position, hits in enumerate(found):
        for hit in hits:
            bank = allowed.get(hit.entry_id)
            if bank is None or hit.distance > bank[1]:
                continue
            candidate = candidates.setdefault(hit.entry_id, FrameCandidate())
            candidate.query_frames.add(position)
            candidate.rows.add(row_of(hit))
            candidate.distance = min(candidate.distance, hit.distance)
            if tag_of is not None:
                candidate.tags.add(tag_of(hit))
    return candidates, allowed


def distinct_hashes(features: Sequence[VpdqFeature], min_quality: int) -> list[str]:
    """The query's distinct frame hashes of quality >= min_quality, in first-seen order."""
    return list(dict.fromkeys(f.pdq for f in features if f.quality >= min_quality))


def merge_runs(frames: Iterable[tuple[float, bool]]) -> tuple[tuple[float, float], ...]:
    """(timestamp, matched) of consecutive sampled frames merged into (first, last) ranges of matched runs."""
    ranges: list[tuple[float, float]] = []
    run: tuple[float, float] | None = None
    for timestamp, matched in frames:
        if matched:
            run = (timestamp, timestamp) if run is None else (run[0], timestamp)
        elif run is not None:
            ranges.append(run)
            run = None
    if run is not None:
        ranges.append(run)
    return tuple(ranges)


def time_ranges(
    features: Sequence[VpdqFeature], matched: set[str], min_quality: int
) -> tuple[tuple[float, float], ...]:
    """Matched query frames' timestamps merged into ranges: runs of consecutive sampled frames that matched."""
    # Dropped (low-quality) frames neither extend nor break a run.
    kept = (f for f in sorted(features, key=lambda f: f.frame_number) if f.quality >= min_quality)
    return merge_runs((f.timestamp, f.pdq in matched) for f in kept)


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def match_video(
    features: Sequence[VpdqFeature],
    *,
    frame_index: FrameIndex | None,
    pdq_index: SignalIndex | None,
    radius: int,
    resolve: Resolve,
    min_quality: int,
    query_percent: float,
    candidate_percent: float,
) -> list[Match]:
    """Video entries passing both percent thresholds, and image (pdq) entries some query frame hit."""
    hashes = distinct_hashes(features, min_quality)
    if not hashes:
        return []
    matches: list[Match] = []
    if frame_index is not None and len(frame_index):
        found = frame_index.search_frames(hashes, radius)
        candidates, allowed = collect_candidates(found, resolve, lambda hit: hit.row)
        for entry_id, candidate in candidates.items():
            q = percent(len(candidate.query_frames), len(hashes))
            c = percent(len(candidate.rows), frame_index.frame_count(entry_id))
            if q < query_percent or c < candidate_percent:
                continue
            matched = {hashes[n] for n in candidate.query_frames}
            ranges = time_ranges(features, matched, min_quality)
            matches.append(Match(allowed[entry_id][0], entry_id, "vpdq", candidate.distance, "original", q, c, ranges))
    if pdq_index is not None and len(pdq_index):
        found_images = pdq_index.search_many(hashes, radius)
        allowed = resolve(sorted({hit.entry_id for hits in found_images for hit in hits}))
        per_entry: dict[int, tuple[int, set[str]]] = {}
        for number, image_hits in enumerate(found_images):
            for image_hit in image_hits:
                bank = allowed.get(image_hit.entry_id)
                if bank is None or image_hit.distance > bank[1]:
                    continue
                best, matched_hashes = per_entry.setdefault(image_hit.entry_id, (image_hit.distance, set()))
                matched_hashes.add(hashes[number])
                per_entry[image_hit.entry_id] = (min(best, image_hit.distance), matched_hashes)
        for entry_id, (distance, matched_hashes) in per_entry.items():
            q = percent(len(matched_hashes), len(hashes))
            ranges = time_ranges(features, matched_hashes, min_quality)
            matches.append(Match(allowed[entry_id][0], entry_id, "pdq", distance, "original", q, None, ranges))
    return matches


def match_image_in_frames(
    values: Sequence[str], *, frame_index: FrameIndex | None, radius: int, resolve: Resolve, variants: Sequence[str]
) -> list[Match]:
    """Video entries with a frame within the PDQ threshold of an image's hash (or a dihedral variant)."""
    if frame_index is None or not len(frame_index) or not values:
        return []
    found = frame_index.search_frames(list(values), radius)
    allowed = resolve(sorted({hit.entry_id for hits in found for hit in hits}))
    best: dict[int, Match] = {}
    for variant, hits in zip(variants, found, strict=True):
        for hit in hits:
            bank = allowed.get(hit.entry_id)
            if bank is None or hit.distance > bank[1]:
                continue
            previous = best.get(hit.entry_id)
            if previous is None or hit.distance < previous.distance:
                best[hit.entry_id] = Match(bank[0], hit.entry_id, "vpdq", hit.distance, variant)
    return list(best.values())
