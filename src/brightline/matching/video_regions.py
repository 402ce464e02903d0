"""Video matching with vpdq_regions: the vPDQ percent convention, with part-aware frame matches.

Same convention as brightline.matching.video (query frames below the quality floor dropped,
identical frames counted once, query percent and candidate percent against thresholds), but
a query frame matches a known frame when their whole frames are within the threshold *or*
PARTS_NEEDED of their halves/quarters are: a logo or caption over part of every frame no
longer hides the video.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from brightline.index.video_regions import VideoRegionIndex
from brightline.matching.results import Match
from brightline.matching.video import Resolve, collect_candidates, merge_runs, percent
from brightline.signals.regions import FULL
from brightline.signals.regions_signal import decode_regions


def _full_quality(regions: str) -> int:
    return next((r.quality for r in decode_regions(regions) if r.name == FULL), 0)


def match_video_regions(
    frames: Sequence[tuple[int, str]],
    timestamps: Mapping[int, float] | None,
    *,
    index: VideoRegionIndex | None,
    radius: int,
    resolve: Resolve,
    min_quality: int,
    query_percent: float,
    candidate_percent: float,
) -> list[Match]:
    """vpdq_regions entries passing both percent thresholds for the query's (frame number, regions) list."""
    usable = [(number, regions) for number, regions in frames if _full_quality(regions) >= min_quality]
    if index is None or not len(index) or not usable:
        return []
    found = index.search_frames([regions for _, regions in usable], radius)
    candidates, allowed = collect_candidates(found, resolve, lambda hit: hit.slot, lambda hit: hit.variant)
    matches = []
    for entry_id, candidate in candidates.items():
        q = percent(len(candidate.query_frames), len(usable))
        c = percent(len(candidate.rows), index.frame_count(entry_id))
        if q < query_percent or c < candidate_percent:
            continue
        ranges = None
        if timestamps is not None:
            times = [timestamps.get(number, 0.0) for number, _ in usable]
            ranges = merge_runs((time, n in candidate.query_frames) for n, time in enumerate(times))
        variant = "frames+parts" if any(t.startswith("parts") for t in candidate.tags) else "frames"
        bank_name = allowed[entry_id][0]
        matches.append(Match(bank_name, entry_id, "vpdq_regions", candidate.distance, variant, q, c, ranges))
    return matches
