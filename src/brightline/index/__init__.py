"""Search indexes: find the bank entries within a distance of a signal value.

``index_for(signal_type)`` gives an empty index of the right kind; ``load_index(path)``
opens any saved one. Nothing here depends on the store, banks or the web API.
"""

from __future__ import annotations

import json
from pathlib import Path

from brightline.errors import IndexFormatError, SearchIndexError
from brightline.index.base import IndexHit, SignalIndex, index_for
from brightline.index.exact import ExactIndex
from brightline.index.frames import FrameIndex
from brightline.index.hamming import HammingIndex
from brightline.index.regions import RegionHit, RegionIndex
from brightline.index.storage import META_NAME
from brightline.index.video_regions import VideoRegionIndex

_KINDS: dict[str, type[SignalIndex]] = {
    HammingIndex.kind: HammingIndex,
    ExactIndex.kind: ExactIndex,
    FrameIndex.kind: FrameIndex,
    RegionIndex.kind: RegionIndex,
    VideoRegionIndex.kind: VideoRegionIndex,
}


def load_index(path: Path) -> SignalIndex:
    """Open a saved index of whichever kind its meta.json names."""
    path = Path(path)
    if not path.is_dir():
        raise SearchIndexError(f"no index at {path}")
    try:
        kind = json.loads((path / META_NAME).read_text(encoding="utf-8")).get("kind")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise IndexFormatError(f"{path}: unreadable {META_NAME}: {exc}") from exc
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise IndexFormatError(f"{path}: unknown index kind {kind!r}")
    return cls.load(path)


__all__ = [
    "ExactIndex",
    "FrameIndex",
    "HammingIndex",
    "IndexHit",
    "RegionHit",
    "RegionIndex",
    "SignalIndex",
    "VideoRegionIndex",
    "index_for",
    "load_index",
]
