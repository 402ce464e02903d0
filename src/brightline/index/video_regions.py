"""An index of vpdq_regions entries: every sampled frame's whole-frame and part hashes.

Frames are rows of a RegionIndex whose "entry" ids are ``entry_id * FRAME_SLOTS + slot``
(slot: the frame's position in the entry's value), so hits map back to (entry, frame) with
arithmetic. A query frame matches a known frame when their whole-frame hashes are within the
radius, or PARTS_NEEDED of their parts are (each against the same part).
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
from brightline.index.regions import DEFAULT_MIN_QUALITY, SLOTS, RegionIndex
from brightline.signals.regions import FULL
from brightline.signals.vpdq_regions_signal import decode_frame_regions

FORMAT_VERSION: Final = 1
FRAME_SLOTS: Final = 1 << 20  # frames per entry (about 12 days of video at one frame a second)
_MAX_ENTRY: Final = np.iinfo(np.int64).max // (FRAME_SLOTS * SLOTS)
_ROWS_DIR: Final = "rows"


class _FrameRows(RegionIndex):
    """Frame rows: a query frame's whole-frame hash is compared with whole frames, not crops."""

    kind: ClassVar[str] = "frame-region-rows"
    full_targets: ClassVar[tuple[str, ...]] = (FULL,)


@dataclass(frozen=True, slots=True)
class FrameRegionHit:
    """A known frame that a query frame matched: entry, frame slot, deciding distance and how."""

    entry_id: int
    slot: int
    distance: int
    variant: str  # "full" or "parts:..."


class VideoRegionIndex(SignalIndex):
    """vpdq_regions entries searchable frame by frame; ``len`` counts entries."""

    kind: ClassVar[str] = "video-regions"

    def __init__(self, min_quality: int = DEFAULT_MIN_QUALITY) -> None:
        self._rows = _FrameRows(min_quality)
        self._frames: dict[int, int] = {}  # entry id -> frames in its value

    @property
    def min_quality(self) -> int:
        """Regions below this PDQ quality are not indexed (nor searched)."""
        return self._rows.min_quality

    def __len__(self) -> int:
        return len(self._frames)

    def __contains__(self, entry_id: object) -> bool:
        return isinstance(entry_id, int | np.integer) and int(entry_id) in self._frames

    def ids(self) -> IdArray:
        """The entry ids, sorted ascending."""
        return np.asarray(sorted(self._frames), dtype=np.int64)

    def frame_count(self, entry_id: int) -> int:
        """How many distinct frames the entry's value holds."""
        return self._frames[entry_id]

    def add(self, ids: Sequence[int] | npt.NDArray[np.integer], values: Sequence[str]) -> None:
        """Insert entries (replacing any with the same id); values are validated first."""
        arr = as_id_array(ids)
        if arr.size != len(values):
            raise ValidationError(f"{arr.size} ids but {len(values)} values")
        if arr.size and (int(arr.max()) > _MAX_ENTRY or int(arr.min()) < 0):
            raise ValidationError("entry id out of range for the video region index")
        decoded = [decode_frame_regions(value) for value in values]
        if any(len(frames) > FRAME_SLOTS for frames in decoded):
            raise ValidationError(f"a vpdq_regions value holds more than {FRAME_SLOTS} frames")
        self.remove(arr)
        keys: list[int] = []
        frame_values: list[str] = []
        for entry_id, frames in zip(arr.tolist(), decoded, strict=True):
            self._frames[entry_id] = len(frames)
            for slot, (_, regions) in enumerate(frames):
                keys.append(entry_id * FRAME_SLOTS + slot)
                frame_values.append(regions)
        if keys:
            self._rows.add(np.asarray(keys, dtype=np.int64), frame_values)

    def remove(self, ids: Sequence[int] | npt.NDArray[np.integer]) -> int:
        """Delete entries by id, ignoring unknown ids; returns how many were present."""
        keys: list[IdArray] = []
        removed = 0
        for entry_id in np.unique(as_id_array(ids)).tolist():
            count = self._frames.pop(entry_id, None)
            if count is None:
                continue
            removed += 1
            keys.append(entry_id * FRAME_SLOTS + np.arange(count, dtype=np.int64))
        if keys:
            self._rows.remove(np.concatenate(keys))
        return removed

    def search_frames(self, frames: Sequence[str], radius: int) -> list[list[FrameRegionHit]]:
        """For each query frame (a pdq_regions value), the known frames it matches within ``radius``."""
        radius = check_radius(radius)
        out: list[list[FrameRegionHit]] = []
        for hits in self._rows.search_many_regions(list(frames), radius):
            found = []
            for hit in hits:
                entry_id, slot = divmod(hit.entry_id, FRAME_SLOTS)
                found.append(FrameRegionHit(entry_id, slot, hit.distance, hit.variant))
            out.append(found)
        return out

    def search(self, value: str, radius: int) -> list[IndexHit]:
        """Entries with a frame matched by any frame of the vpdq_regions ``value`` (closest distance)."""
        best: dict[int, int] = {}
        for hits in self.search_frames([regions for _, regions in decode_frame_regions(value)], radius):
            for hit in hits:
                best[hit.entry_id] = min(hit.distance, best.get(hit.entry_id, hit.distance))
        return [IndexHit(e, d) for e, d in sorted(best.items(), key=lambda item: (item[1], item[0]))]

    def prepare(self) -> None:
        """Build the frame rows' search structures now."""
        self._rows.prepare()

    def save(self, path: Path) -> None:
        """Write the frame rows to ``path/rows`` and the entry frame counts beside them."""
        path = Path(path)
        self._rows.save(path / _ROWS_DIR)
        entries = self.ids()
        counts = np.asarray([self._frames[e] for e in entries.tolist()], dtype=np.int64)
        fields = {"count": int(entries.size), "min_quality": self._rows.min_quality}
        storage.write_index(path, self.kind, FORMAT_VERSION, fields, {"entries": entries, "frames": counts})

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read an index written by save(), or raise IndexFormatError."""
        path = Path(path)
        meta = storage.read_meta(path, cls.kind, frozenset({FORMAT_VERSION}))
        count = storage.meta_int(meta, "count", path)
        min_quality = storage.meta_int(meta, "min_quality", path)
        entries = storage.read_array(path, meta, "entries", np.dtype(np.int64), (count,), True)
        counts = storage.read_array(path, meta, "frames", np.dtype(np.int64), (count,), True)
        index = cls(min(min_quality, 100))
        index._rows = _FrameRows.load(path / _ROWS_DIR)
        if np.any(counts < 0) or np.any(counts > FRAME_SLOTS):
            raise IndexFormatError(f"{path}: bad frame counts (damaged index)")
        index._frames = dict(zip(entries.tolist(), counts.tolist(), strict=True))
        return index
