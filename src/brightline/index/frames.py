"""A bag-of-frames index for vPDQ entries, built on HammingIndex.

Each entry (one video's vpdq value) contributes its distinct frame hashes of quality at
least ``min_quality``; every such frame is one row of an inner HammingIndex, and rows map
back to entry ids. Searches answer per query frame hash which entries have a frame within
the radius, which is what the video matching convention (percent of query frames and of
candidate frames matched) needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt

from brightline.errors import IndexFormatError, ValidationError
from brightline.index import storage
from brightline.index.base import IdArray, IndexHit, SignalIndex, as_id_array, check_radius
from brightline.index.hamming import HammingIndex
from brightline.signals.vpdq_signal import decode_features

FORMAT_VERSION = 1
DEFAULT_MIN_QUALITY = 50
_FRAMES_DIR = "frames"


@dataclass(frozen=True, slots=True)
class FrameHit:
    """One indexed frame within the radius of a query frame hash."""

    entry_id: int
    row: int  # the frame's row: distinct per (entry, frame hash)
    distance: int


class FrameIndex(SignalIndex):
    """vpdq entries searchable frame by frame; ``len`` counts entries, not frames."""

    kind: ClassVar[str] = "frames"

    def __init__(self, min_quality: int = DEFAULT_MIN_QUALITY) -> None:
        if isinstance(min_quality, bool) or not isinstance(min_quality, int) or not 0 <= min_quality <= 100:
            raise ValidationError(f"min_quality must be an integer 0..100, got {min_quality!r}")
        self._min_quality = min_quality
        self._frames = HammingIndex(bits=256)
        self._rows_of: dict[int, IdArray] = {}
        self._entry_of: dict[int, int] = {}
        self._next_row = 0

    @property
    def min_quality(self) -> int:
        """Frames below this PDQ quality are not indexed."""
        return self._min_quality

    def __len__(self) -> int:
        return len(self._rows_of)

    def __contains__(self, entry_id: object) -> bool:
        return isinstance(entry_id, int | np.integer) and int(entry_id) in self._rows_of

    def ids(self) -> IdArray:
        """The live entry ids, sorted ascending."""
        return np.asarray(sorted(self._rows_of), dtype=np.int64)

    def frame_count(self, entry_id: int) -> int:
        """How many distinct frames of quality >= min_quality the entry has indexed."""
        return int(self._rows_of[entry_id].size)

    def add(self, ids: Sequence[int] | npt.NDArray[np.integer], values: Sequence[str]) -> None:
        """Insert vpdq entries (replacing any with the same id); values are validated first."""
        arr = as_id_array(ids)
        if arr.size != len(values):
            raise ValidationError(f"{arr.size} ids but {len(values)} values")
        frames: list[list[str]] = []
        for value in values:
            distinct = {f.pdq for f in decode_features(value) if f.quality >= self._min_quality}
            frames.append(sorted(distinct))  # sorted: rows do not depend on set order
        self.remove(arr)
        new_rows: list[int] = []
        new_hashes: list[str] = []
        for entry_id, hashes in zip(arr.tolist(), frames, strict=True):
            rows = np.arange(self._next_row, self._next_row + len(hashes), dtype=np.int64)
            self._next_row += len(hashes)
            self._rows_of[entry_id] = rows
            for row in rows.tolist():
                self._entry_of[row] = entry_id
            new_rows.extend(rows.tolist())
            new_hashes.extend(hashes)
        if new_rows:
            self._frames.add(np.asarray(new_rows, dtype=np.int64), new_hashes)

    def remove(self, ids: Sequence[int] | npt.NDArray[np.integer]) -> int:
        """Delete entries (and their frames) by id, ignoring unknown ids."""
        removed = 0
        dead: list[IdArray] = []
        for entry_id in as_id_array(ids).tolist():
            rows = self._rows_of.pop(entry_id, None)
            if rows is None:
                continue
            removed += 1
            dead.append(rows)
            for row in rows.tolist():
                self._entry_of.pop(row, None)
        if dead:
            self._frames.remove(np.concatenate(dead))
        return removed

    def search_frames(self, hashes: Sequence[str], radius: int) -> list[list[FrameHit]]:
        """For each query frame hash, every indexed frame within ``radius`` (by distance, then row)."""
        radius = check_radius(radius)
        if not hashes or len(self._frames) == 0:
            return [[] for _ in hashes]
        found = self._frames.search_many(list(hashes), radius)
        return [[FrameHit(self._entry_of[h.entry_id], h.entry_id, h.distance) for h in hits] for hits in found]

    def search(self, value: str, radius: int) -> list[IndexHit]:
        """Entries with any frame within ``radius`` of any frame of the vpdq ``value`` (closest distance)."""
        hashes = sorted({f.pdq for f in decode_features(value) if f.quality >= self._min_quality})
        best: dict[int, int] = {}
        for hits in self.search_frames(hashes, radius):
            for hit in hits:
                best[hit.entry_id] = min(hit.distance, best.get(hit.entry_id, hit.distance))
        return [IndexHit(e, d) for e, d in sorted(best.items(), key=lambda item: (item[1], item[0]))]

    def prepare(self) -> None:
        """Build the inner frame index's search structures now."""
        self._frames.prepare()

    def save(self, path: Path) -> None:
        """Write the frame index to ``path/frames`` and the entry-to-rows map beside it (meta.json last)."""
        path = Path(path)
        self._frames.save(path / _FRAMES_DIR)
        entries = self.ids()
        row_lists = [self._rows_of[e] for e in entries.tolist()]
        sizes = np.asarray([r.size for r in row_lists], dtype=np.int64)
        offsets = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(sizes, dtype=np.int64)])
        rows = np.concatenate(row_lists) if row_lists else np.zeros(0, dtype=np.int64)
        fields = {"count": int(entries.size), "frames": int(rows.size), "min_quality": self._min_quality}
        arrays = {"entries": entries, "offsets": offsets, "rows": rows.astype(np.int64, copy=False)}
        storage.write_index(path, self.kind, FORMAT_VERSION, fields, arrays)

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read an index written by save(), or raise IndexFormatError."""
        path = Path(path)
        meta = storage.read_meta(path, cls.kind, frozenset({FORMAT_VERSION}))
        count = storage.meta_int(meta, "count", path)
        frames = storage.meta_int(meta, "frames", path)
        min_quality = storage.meta_int(meta, "min_quality", path)
        entries = storage.read_array(path, meta, "entries", np.dtype(np.int64), (count,), True)
        offsets = storage.read_array(path, meta, "offsets", np.dtype(np.int64), (count + 1,), True)
        rows = storage.read_array(path, meta, "rows", np.dtype(np.int64), (frames,), True)
        if offsets[0] != 0 or offsets[-1] != frames or np.any(np.diff(offsets) < 0):
            raise IndexFormatError(f"{path}: bad frame offsets (damaged index)")
        index = cls(min(min_quality, 100))
        index._frames = HammingIndex.load(path / _FRAMES_DIR)
        if len(index._frames) != frames:
            raise IndexFormatError(f"{path}: frame index holds {len(index._frames)} frames, expected {frames}")
        for number, entry_id in enumerate(entries.tolist()):
            entry_rows = np.array(rows[offsets[number] : offsets[number + 1]], dtype=np.int64)
            index._rows_of[entry_id] = entry_rows
            for row in entry_rows.tolist():
                index._entry_of[row] = entry_id
        if len(index._entry_of) != frames:
            raise IndexFormatError(f"{path}: a frame row belongs to two entries (damaged index)")
        index._next_row = int(rows.max()) + 1 if frames else 0
        return index
