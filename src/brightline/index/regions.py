"""An index of pdq_regions entries: each known image's crop and part hashes, on HammingIndex.

Every region hash of quality >= ``min_quality`` is one row of an inner HammingIndex whose
row id is ``entry_id * SLOTS + region number`` (REGION_NAMES order), so rows map back to
entries and regions with arithmetic, not per-row tables. A query's plain PDQ is compared
with crop rows; each query part with the same part's rows. An entry is found when a crop is
within the radius (distance: the closest crop) or when PARTS_NEEDED parts are (distance:
the PARTS_NEEDED-th smallest part distance, so a per-bank threshold means "that many parts
within the threshold").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final, Self

import numpy as np
import numpy.typing as npt

from brightline.errors import IndexFormatError, ValidationError
from brightline.index import storage
from brightline.index.base import IdArray, IndexHit, SignalIndex, as_id_array, check_radius
from brightline.index.hamming import HammingIndex
from brightline.signals.regions import CROPS, FULL, PART_CODES, PARTS, PARTS_NEEDED, REGION_NAMES, RegionHash
from brightline.signals.regions_signal import decode_regions

FORMAT_VERSION: Final = 1
SLOTS: Final = 32  # > len(REGION_NAMES); row id = entry id * SLOTS + region number
_NUMBER: Final = {name: number for number, name in enumerate(REGION_NAMES)}
_ROWS_DIR: Final = "rows"
DEFAULT_MIN_QUALITY: Final = 50

assert len(REGION_NAMES) < SLOTS


@dataclass(frozen=True, slots=True)
class RegionHit:
    """An entry found through its regions: the deciding distance and which regions decided it."""

    entry_id: int
    distance: int
    variant: str  # a crop name, or "parts:" + the matched part names


class RegionIndex(SignalIndex):
    """pdq_regions entries searchable region by region; ``len`` counts entries with indexed rows."""

    kind: ClassVar[str] = "regions"
    # Known regions a query's plain PDQ is compared with: crops for images; a subclass for
    # video frames compares whole frames with whole frames.
    full_targets: ClassVar[tuple[str, ...]] = CROPS

    def __init__(self, min_quality: int = DEFAULT_MIN_QUALITY) -> None:
        if isinstance(min_quality, bool) or not isinstance(min_quality, int) or not 0 <= min_quality <= 100:
            raise ValidationError(f"min_quality must be an integer 0..100, got {min_quality!r}")
        self._min_quality = min_quality
        self._full_numbers = frozenset(_NUMBER[name] for name in self.full_targets)
        self._indexed = frozenset(self.full_targets) | frozenset(PARTS)
        self._rows = HammingIndex(bits=256)
        # Every added entry, sorted, including those none of whose regions reached the quality floor.
        self._members: IdArray = np.zeros(0, dtype=np.int64)

    @property
    def min_quality(self) -> int:
        """Regions below this PDQ quality are not indexed (nor searched)."""
        return self._min_quality

    def __len__(self) -> int:
        return int(self._members.size)

    def __contains__(self, entry_id: object) -> bool:
        if not isinstance(entry_id, int | np.integer):
            return False
        at = int(np.searchsorted(self._members, int(entry_id)))
        return at < self._members.size and int(self._members[at]) == int(entry_id)

    def ids(self) -> IdArray:
        """The entry ids, sorted ascending."""
        return self._members.copy()

    def add(self, ids: Sequence[int] | npt.NDArray[np.integer], values: Sequence[str]) -> None:
        """Insert pdq_regions entries (replacing any with the same id); values are validated first."""
        arr = as_id_array(ids)
        if arr.size != len(values):
            raise ValidationError(f"{arr.size} ids but {len(values)} values")
        if arr.size and int(arr.max()) >= np.iinfo(np.int64).max // SLOTS:
            raise ValidationError("entry id too large for the region index")
        row_ids: list[int] = []
        hashes: list[str] = []
        for entry_id, value in zip(arr.tolist(), values, strict=True):
            for region in decode_regions(value):
                if region.name in self._indexed and region.quality >= self._min_quality:
                    row_ids.append(entry_id * SLOTS + _NUMBER[region.name])
                    hashes.append(region.pdq)
        self.remove(arr)
        if row_ids:
            self._rows.add(np.asarray(row_ids, dtype=np.int64), hashes)
        self._members = np.union1d(self._members, arr)

    def remove(self, ids: Sequence[int] | npt.NDArray[np.integer]) -> int:
        """Delete entries (all their rows) by id, ignoring unknown ids; returns how many were present."""
        arr = np.unique(as_id_array(ids))
        present = arr[np.isin(arr, self._members)]
        if present.size:
            rows = (present[:, None] * SLOTS + np.arange(SLOTS, dtype=np.int64)[None, :]).ravel()
            self._rows.remove(rows)
            self._members = np.setdiff1d(self._members, present, assume_unique=True)
        return int(present.size)

    def search_regions(self, value: str, radius: int) -> list[RegionHit]:
        """Entries that the query regions in ``value`` hit within ``radius``, closest first."""
        return self.search_many_regions([value], radius)[0]

    def search_many_regions(self, values: Sequence[str], radius: int) -> list[list[RegionHit]]:
        """search_regions for several query values at once (one batched search of all their regions)."""
        radius = check_radius(radius)
        wanted = {FULL, *PARTS}
        queries = [
            [r for r in decode_regions(value) if r.quality >= self._min_quality and r.name in wanted]
            for value in values
        ]
        flat = [region for regions in queries for region in regions]
        if not flat or len(self._rows) == 0:
            return [[] for _ in values]
        found = iter(self._rows.search_many([r.pdq for r in flat], radius))
        return [self._decide([(region, next(found)) for region in regions]) for regions in queries]

    def _decide(self, region_hits: Sequence[tuple[RegionHash, list[IndexHit]]]) -> list[RegionHit]:
        """Apply the rules (a full-frame target, or PARTS_NEEDED parts) to one query's region hits."""
        crop_best: dict[int, tuple[int, str]] = {}
        part_best: dict[int, dict[str, int]] = {}
        for query, hits in region_hits:
            for hit in hits:
                entry_id, number = divmod(hit.entry_id, SLOTS)
                name = REGION_NAMES[number]
                if query.name == FULL and number in self._full_numbers:
                    if entry_id not in crop_best or hit.distance < crop_best[entry_id][0]:
                        crop_best[entry_id] = (hit.distance, name)
                elif query.name == name:
                    parts = part_best.setdefault(entry_id, {})
                    parts[name] = min(hit.distance, parts.get(name, hit.distance))
        found: dict[int, RegionHit] = {e: RegionHit(e, d, name) for e, (d, name) in crop_best.items()}
        for entry_id, parts in part_best.items():
            if len(parts) < PARTS_NEEDED:
                continue
            deciding = sorted(parts.values())[PARTS_NEEDED - 1]
            if entry_id in found and found[entry_id].distance <= deciding:
                continue
            names = "+".join(PART_CODES[n] for n in PARTS if n in parts and parts[n] <= deciding)
            found[entry_id] = RegionHit(entry_id, deciding, f"parts:{names}")
        # A full-frame target hit is reported under the target's name ("crop90", or "full").
        return sorted(found.values(), key=lambda h: (h.distance, h.entry_id))

    def search(self, value: str, radius: int) -> list[IndexHit]:
        """Entries hit by the query regions in ``value`` (see search_regions), as IndexHits."""
        return [IndexHit(h.entry_id, h.distance) for h in self.search_regions(value, radius)]

    def prepare(self) -> None:
        """Build the inner index's search structures now."""
        self._rows.prepare()

    def save(self, path: Path) -> None:
        """Write the inner row index to ``path/rows`` and the meta beside it."""
        path = Path(path)
        self._rows.save(path / _ROWS_DIR)
        entries = self._members
        fields = {"rows": len(self._rows), "count": int(entries.size), "min_quality": self._min_quality, "slots": SLOTS}
        storage.write_index(path, self.kind, FORMAT_VERSION, fields, {"entries": entries})

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read an index written by save(), or raise IndexFormatError."""
        path = Path(path)
        meta = storage.read_meta(path, cls.kind, frozenset({FORMAT_VERSION}))
        rows = storage.meta_int(meta, "rows", path)
        slots = storage.meta_int(meta, "slots", path)
        min_quality = storage.meta_int(meta, "min_quality", path)
        count = storage.meta_int(meta, "count", path)
        entries = storage.read_array(path, meta, "entries", np.dtype(np.int64), (count,), True)
        if slots != SLOTS:
            raise IndexFormatError(f"{path}: region index with {slots} slots, expected {SLOTS}")
        index = cls(min(min_quality, 100))
        index._rows = HammingIndex.load(path / _ROWS_DIR)
        if len(index._rows) != rows:
            raise IndexFormatError(f"{path}: region index holds {len(index._rows)} rows, expected {rows}")
        index._members = np.array(entries, dtype=np.int64)
        if np.any(np.diff(index._members) <= 0) or not np.isin(index._rows.ids() // SLOTS, index._members).all():
            raise IndexFormatError(f"{path}: region rows and entry list disagree (damaged index)")
        return index
