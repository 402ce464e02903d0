"""The search-index interface shared by every signal type, and the factory that picks one.

An index maps integer entry ids to signal values and answers "which entries lie within
``radius`` of this value". Hamming signal types get a HammingIndex, exact ones an
ExactIndex; callers only see SignalIndex.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import numpy.typing as npt

from brightline.errors import SearchIndexError, ValidationError
from brightline.signals.base import MatchKind, SignalType

IdArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class IndexHit:
    """One entry found by a search, at ``distance`` from the query."""

    entry_id: int
    distance: int


class SignalIndex(ABC):
    """Entry id -> signal value, searchable by distance; ids are unique within an index."""

    @abstractmethod
    def add(self, ids: Sequence[int] | npt.NDArray[np.integer], values: Sequence[str]) -> None:
        """Insert entries; an id already present gets its value replaced."""

    @abstractmethod
    def remove(self, ids: Sequence[int] | npt.NDArray[np.integer]) -> int:
        """Delete entries by id, ignoring unknown ids; return how many were removed."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of live entries."""

    @abstractmethod
    def __contains__(self, entry_id: object) -> bool:
        """Whether an entry with this id is present."""

    @abstractmethod
    def ids(self) -> IdArray:
        """The live entry ids, sorted ascending."""

    @abstractmethod
    def search(self, value: str, radius: int) -> list[IndexHit]:
        """Every entry within ``radius`` of ``value``, sorted by distance then id."""

    def search_many(self, values: Sequence[str], radius: int) -> list[list[IndexHit]]:
        """search() for each value, in order; subclasses may batch or parallelise."""
        return [self.search(value, radius) for value in values]

    def prepare(self) -> None:
        """Build any lazily built search structures now rather than on the first search."""
        return  # nothing is built lazily unless a subclass says so

    @abstractmethod
    def save(self, path: Path) -> None:
        """Persist the index as a directory at ``path`` (replaced atomically)."""

    @classmethod
    @abstractmethod
    def load(cls, path: Path) -> Self:
        """Read an index written by save(), or raise IndexFormatError."""


def check_radius(radius: int) -> int:
    """``radius`` as a non-negative int, or ValidationError."""
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer):
        raise ValidationError(f"radius must be an integer, got {type(radius).__name__}")
    if radius < 0:
        raise ValidationError(f"radius must be >= 0, got {radius}")
    return int(radius)


def as_id_array(ids: Sequence[int] | npt.NDArray[np.integer]) -> IdArray:
    """Entry ids as a 1-D int64 array, or ValidationError (floats and bools are refused)."""
    arr = np.asarray(ids)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise ValidationError(f"ids must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValidationError(f"ids must be integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.max() > np.iinfo(np.int64).max:
        raise ValidationError("ids must fit in a signed 64-bit integer")
    return arr.astype(np.int64, copy=False)


def index_for(signal_type: type[SignalType]) -> SignalIndex:
    """An empty index suited to ``signal_type`` (Hamming, exact, frames or regions)."""
    # Imported here because both implementations import this module.
    from brightline.index.exact import ExactIndex
    from brightline.index.frames import FrameIndex
    from brightline.index.hamming import HammingIndex
    from brightline.index.regions import RegionIndex
    from brightline.index.video_regions import VideoRegionIndex

    if signal_type.match_kind is MatchKind.HAMMING:
        bits = getattr(signal_type, "bits", None)
        if not isinstance(bits, int):
            raise SearchIndexError(f"signal type {signal_type.name!r} declares no bit width")
        return HammingIndex(bits=bits)
    if signal_type.match_kind is MatchKind.EXACT:
        return ExactIndex()
    if signal_type.match_kind is MatchKind.FRAMES:
        return FrameIndex()
    if signal_type.match_kind is MatchKind.REGIONS:
        return RegionIndex()
    if signal_type.match_kind is MatchKind.FRAME_REGIONS:
        return VideoRegionIndex()
    raise SearchIndexError(f"no index for match kind {signal_type.match_kind!r}")
