"""The one place that turns media and hashes into match records, for the CLI and the service alike.

Indexes hold only enabled entries of enabled banks, one index per signal type across
all banks. They are kept in step with the store by revision: a persisted snapshot is
loaded and only the changes made since it are applied, so adding, removing or
disabling entries never needs a full rebuild.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from brightline.banks import BankService, EntryRow
from brightline.banks.types import HashColumns
from brightline.banks.validation import plain_hex_bits
from brightline.errors import BrightlineError
from brightline.index.base import SignalIndex, index_for
from brightline.index.frames import FrameIndex
from brightline.index.hamming import HammingIndex
from brightline.index.idmap import IdRowMap
from brightline.index.regions import RegionIndex
from brightline.index.video_regions import VideoRegionIndex
from brightline.matching.parallel import scan_in_order
from brightline.matching.regions import query_variants, region_matches
from brightline.matching.results import Match, MatchOptions, ScanResult
from brightline.matching.snapshot import SNAPSHOT_META, read_snapshot, write_snapshot
from brightline.matching.video import match_image_in_frames, match_video
from brightline.matching.video_regions import match_video_regions
from brightline.signals.base import MatchKind, SignalType
from brightline.signals.hashing import HashOptions, MediaHashes, hash_file
from brightline.signals.hexcodes import words_to_hex
from brightline.signals.pdq_core import DIHEDRAL_NAMES
from brightline.signals.registry import SignalRegistry, default_registry
from brightline.signals.vpdq import VpdqFeature
from brightline.signals.vpdq_regions_signal import decode_frame_regions
from brightline.signals.vpdq_signal import decode_features

# Rewrite the snapshot when this many changes were applied on top of it, so that
# start-up stays fast without writing the snapshot on every small change.
SNAPSHOT_AFTER_CHANGES = 10_000
# Video frames are PDQ hashes: their distances use the PDQ thresholds (bank or default).
_FRAME_SIGNAL = "pdq"
_VIDEO_SIGNAL = "vpdq"

DEFAULT_OPTIONS = MatchOptions()

__all__ = ["Match", "MatchOptions", "Matcher", "ScanResult"]


@dataclass
class _BankMeta:
    name: str
    threshold: int | None


class Matcher:
    """Indexes over the store's banks, refreshed by revision, and the matching logic on top."""

    def __init__(
        self,
        banks: BankService,
        *,
        index_dir: Path | None = None,
        options: MatchOptions = DEFAULT_OPTIONS,
        registry: SignalRegistry | None = None,
    ) -> None:
        self._banks = banks
        self._index_dir = index_dir
        self.options = options
        self._registry = registry or default_registry()
        self._indexes: dict[str, SignalIndex] = {}
        # entry id -> bank id as sorted arrays: a dict would cost ~100 MB per million entries.
        self._entry_bank = IdRowMap()
        self._bank_meta: dict[int, _BankMeta] = {}
        self.revision = 0
        self._changes_since_snapshot = 0
        self._loaded = False
        # The snapshot our indexes are mapped from: its entry-map token and revision.
        self._based_on: tuple[str, int] | None = None

    # -- index maintenance ---------------------------------------------------------

    def refresh(self) -> int:
        """Bring the indexes up to the store's current revision; returns that revision."""
        if not self._loaded:
            self._load_snapshot()
            self._loaded = True
        elif self._newer_snapshot_on_disk():
            # Another process wrote a newer snapshot: map it (pages shared with every worker)
            # rather than keep our own overlay of the same changes; then catch up from there.
            self._load_snapshot()
        changes = self._banks.changes_since(self.revision, columnar=self._columnar_types())
        if changes.full:
            self._indexes, self._entry_bank = {}, IdRowMap()
        self._apply(changes.upserts, changes.removed_ids)
        for signal_type, columns in changes.columns.items():
            self._apply_columns(signal_type, columns)
        changed = len(changes.upserts) + len(changes.removed_ids)
        self._changes_since_snapshot += changed + sum(c.ids.size for c in changes.columns.values())
        self.revision = changes.revision
        self._bank_meta = {b.id: _BankMeta(b.name, b.threshold) for b in self._banks.list_banks(counts=False)}
        if self._index_dir is not None and self._changes_since_snapshot >= SNAPSHOT_AFTER_CHANGES:
            self.save_snapshot()
        return self.revision

    def _newer_snapshot_on_disk(self) -> bool:
        if self._index_dir is None:
            return False
        try:
            meta = json.loads((self._index_dir / SNAPSHOT_META).read_text())
            token, revision = str(meta["entry_map"]), int(meta["revision"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        based_revision = -1 if self._based_on is None else self._based_on[1]
        return (token, revision) != self._based_on and revision > based_revision

    def _index(self, signal_type: str) -> SignalIndex:
        if signal_type not in self._indexes:
            kind = self._registry.get(signal_type)
            index = index_for(kind)
            if kind.match_kind is MatchKind.FRAMES:
                index = FrameIndex(min_quality=self.options.min_quality)
            elif kind.match_kind is MatchKind.REGIONS:
                index = RegionIndex(min_quality=self.options.min_quality)
            elif kind.match_kind is MatchKind.FRAME_REGIONS:
                index = VideoRegionIndex(min_quality=self.options.min_quality)
            self._indexes[signal_type] = index
        return self._indexes[signal_type]

    def _apply(self, upserts: Sequence[EntryRow], removed_ids: Sequence[int]) -> None:
        # Removals first: an id is never in both lists, and a re-enabled id must end up present.
        if removed_ids:
            gone = np.asarray(removed_ids, dtype=np.int64)
            self._entry_bank.discard(gone)
            for index in self._indexes.values():
                index.remove(gone)
        adds: dict[str, tuple[list[int], list[str], list[int]]] = {}
        disabled: dict[str, list[int]] = {}
        for row in upserts:
            if row.enabled:
                ids, values, bank_ids = adds.setdefault(row.signal_type, ([], [], []))
                ids.append(row.id)
                values.append(row.value)
                bank_ids.append(row.bank_id)
            else:
                disabled.setdefault(row.signal_type, []).append(row.id)
        for signal_type, ids in disabled.items():
            arr = np.asarray(ids, dtype=np.int64)
            self._entry_bank.discard(arr)
            if signal_type in self._indexes:
                self._indexes[signal_type].remove(arr)
        for signal_type, (ids, values, bank_ids) in adds.items():
            arr = np.asarray(ids, dtype=np.int64)
            self._index(signal_type).add(arr, values)
            self._entry_bank.assign(arr, np.asarray(bank_ids, dtype=np.int64))

    def _columnar_types(self) -> list[str]:
        """Signal types read from the store as arrays: the Hamming ones with plain hex values (PDQ)."""
        return [
            kind.name
            for kind in self._registry.all()
            if kind.match_kind is MatchKind.HAMMING and plain_hex_bits(kind) is not None
        ]

    def _apply_columns(self, signal_type: str, columns: HashColumns) -> None:
        """_apply() for one signal type's changes in columnar form (no Python object per entry)."""
        off = columns.ids[~columns.enabled]
        if off.size:
            self._entry_bank.discard(off)
            if signal_type in self._indexes:
                self._indexes[signal_type].remove(off)
        on = columns.enabled
        if not on.any():
            return
        ids, codes = columns.ids[on], columns.codes[on]
        index = self._index(signal_type)
        if isinstance(index, HammingIndex):
            index.add_codes(ids, codes)
        else:
            index.add(ids, words_to_hex(codes))
        self._entry_bank.assign(ids, columns.bank_ids[on])

    def save_snapshot(self) -> None:
        """Persist every index and the entry-to-bank map at the current revision (see snapshot.py)."""
        if self._index_dir is None:
            return
        token = write_snapshot(self._index_dir, self._indexes, self._entry_bank, self.revision, self._banks.store_id())
        if token is not None:  # else another process holds the lock: try again after the next refresh
            self._based_on = (token, self.revision)
            self._changes_since_snapshot = 0

    def _load_snapshot(self) -> None:
        snapshot = None
        if self._index_dir is not None:
            snapshot = read_snapshot(
                self._index_dir,
                store_id=self._banks.store_id(),
                current_revision=self._banks.current_revision(),
                min_quality=self.options.min_quality,
            )
        if snapshot is None:
            self._changes_since_snapshot = SNAPSHOT_AFTER_CHANGES  # write one after the full build
            return
        self._indexes, self._entry_bank, self.revision = snapshot.indexes, snapshot.entry_bank, snapshot.revision
        self._based_on = (snapshot.token, snapshot.revision)
        self._changes_since_snapshot = 0

    def size(self) -> dict[str, int]:
        """Entries per signal type currently in the indexes."""
        return {name: len(index) for name, index in sorted(self._indexes.items())}

    # -- matching --------------------------------------------------------------------

    def _threshold(self, signal_type: type[SignalType], bank_id: int) -> int:
        meta = self._bank_meta.get(bank_id)
        if signal_type.match_kind is MatchKind.EXACT:
            return 0
        if meta is not None and meta.threshold is not None:
            return meta.threshold
        return self.options.thresholds.get(signal_type.name, signal_type.default_threshold)

    def _max_radius(self, signal_type: type[SignalType]) -> int:
        if signal_type.match_kind is MatchKind.EXACT:
            return 0
        default = self.options.thresholds.get(signal_type.name, signal_type.default_threshold)
        custom = [m.threshold for m in self._bank_meta.values() if m.threshold is not None]
        return max([default, *custom])

    def match_values(
        self,
        signal_type_name: str,
        values: Sequence[str],
        banks: Collection[str] | None = None,
        variant_names: Sequence[str] | None = None,
    ) -> list[Match]:
        """Matches for one query value; several values are its variants (default: DIHEDRAL_NAMES order)."""
        signal_type = self._registry.get(signal_type_name)
        if signal_type.match_kind is MatchKind.FRAMES:
            features = [f for value in values for f in decode_features(value)]
            return self._sorted(self.match_video_features(features, banks))
        index = self._indexes.get(signal_type.name)
        if index is None or len(index) == 0:
            return []
        canonical = [signal_type.validate(v) for v in values]
        radius = self._max_radius(signal_type)
        if isinstance(index, RegionIndex):
            resolve = self._resolver(banks, signal_type)
            return region_matches(index, canonical, radius, resolve, signal_type.name)
        if isinstance(index, VideoRegionIndex):
            frames = [frame for value in canonical for frame in decode_frame_regions(value)]
            return self._sorted(self.match_video_regions(frames, None, banks))
        names = variant_names or (DIHEDRAL_NAMES if len(canonical) > 1 else ["original"])
        best: dict[int, Match] = {}
        found = index.search_many(canonical, radius)
        hit_ids = np.asarray([h.entry_id for hits in found for h in hits], dtype=np.int64)
        bank_of = dict(zip(hit_ids.tolist(), self._entry_bank.lookup(hit_ids).tolist(), strict=True))
        for variant_no, hits in enumerate(found):
            variant = names[variant_no]
            for hit in hits:
                bank_id = bank_of.get(hit.entry_id, -1)
                if bank_id not in self._bank_meta:
                    continue
                bank_name = self._bank_meta[bank_id].name
                if banks is not None and bank_name not in banks:
                    continue
                if hit.distance > self._threshold(signal_type, bank_id):
                    continue
                previous = best.get(hit.entry_id)
                if previous is None or hit.distance < previous.distance:
                    best[hit.entry_id] = Match(bank_name, hit.entry_id, signal_type.name, hit.distance, variant)
        return sorted(best.values(), key=lambda m: (m.distance, m.bank, m.entry_id))

    def _sorted(self, matches: list[Match]) -> list[Match]:
        return sorted(matches, key=lambda m: (m.distance, m.bank, m.entry_id, m.signal_type))

    def _resolver(
        self, banks: Collection[str] | None, signal_type: type[SignalType] | None = None
    ) -> Callable[[Sequence[int]], dict[int, tuple[str, int]]]:
        """Entry ids -> (bank name, threshold) for entries of live banks the query may hit (PDQ's by default)."""
        pdq = signal_type or self._registry.get(_FRAME_SIGNAL)

        def resolve(entry_ids: Sequence[int]) -> dict[int, tuple[str, int]]:
            ids = np.asarray(entry_ids, dtype=np.int64)
            out: dict[int, tuple[str, int]] = {}
            for entry_id, bank_id in zip(ids.tolist(), self._entry_bank.lookup(ids).tolist(), strict=True):
                meta = self._bank_meta.get(bank_id)
                if meta is not None and (banks is None or meta.name in banks):
                    out[entry_id] = (meta.name, self._threshold(pdq, bank_id))
            return out

        return resolve

    def _frame_index(self) -> FrameIndex | None:
        index = self._indexes.get(_VIDEO_SIGNAL)
        return index if isinstance(index, FrameIndex) else None

    def match_video_features(
        self, features: Sequence[VpdqFeature], banks: Collection[str] | None = None
    ) -> list[Match]:
        """Video entries (by the percent convention) and image entries that a video's frames hit."""
        return match_video(
            features,
            frame_index=self._frame_index(),
            pdq_index=self._indexes.get(_FRAME_SIGNAL),
            radius=self._max_radius(self._registry.get(_FRAME_SIGNAL)),
            resolve=self._resolver(banks),
            min_quality=self.options.min_quality,
            query_percent=self.options.video_query_percent,
            candidate_percent=self.options.video_candidate_percent,
        )

    def match_video_regions(
        self, frames: Sequence[tuple[int, str]], timestamps: Mapping[int, float] | None, banks: Collection[str] | None
    ) -> list[Match]:
        """vpdq_regions entries that a video's (frame number, regions) hit by the percent convention."""
        index = self._indexes.get("vpdq_regions")
        signal_type = self._registry.get("vpdq_regions")
        return match_video_regions(
            frames,
            timestamps,
            index=index if isinstance(index, VideoRegionIndex) else None,
            radius=self._max_radius(signal_type),
            resolve=self._resolver(banks, signal_type),
            min_quality=self.options.min_quality,
            query_percent=self.options.video_query_percent,
            candidate_percent=self.options.video_candidate_percent,
        )

    def match_hashes(self, hashes: MediaHashes, banks: Collection[str] | None = None) -> tuple[list[Match], bool]:
        """Matches for every signal of a media file, and whether PDQ was skipped for low quality.

        A video's frames are matched against video and image entries; a still's PDQ also
        against video frames. For a video ``low_quality`` means no frame reached the floor.
        """
        matches: list[Match] = []
        if hashes.video is not None:
            features = hashes.video.features
            for name in ("md5", "sha256"):
                matches.extend(self.match_values(name, [hashes.signals()[name]], banks))
            matches.extend(self.match_video_features(features, banks))
            if hashes.video_regions:
                times = {f.frame_number: f.timestamp for f in features}
                matches.extend(self.match_video_regions(decode_frame_regions(hashes.video_regions), times, banks))
            low = not any(f.quality >= self.options.min_quality for f in features)
            return self._sorted(matches), low
        low_quality = hashes.quality < self.options.min_quality
        for name, value in hashes.signals().items():
            if name == "pdq":
                if low_quality:
                    continue
                variants, names = query_variants(hashes, dihedral=self.options.dihedral)
                matches.extend(self.match_values(name, variants, banks, names))
                matches.extend(
                    match_image_in_frames(
                        variants,
                        frame_index=self._frame_index(),
                        radius=self._max_radius(self._registry.get(_FRAME_SIGNAL)),
                        resolve=self._resolver(banks),
                        variants=names,
                    )
                )
                continue
            if name == "pdq_regions" and low_quality:
                continue
            matches.extend(self.match_values(name, [value], banks))
        return self._sorted(matches), low_quality

    @property
    def wants_regions(self) -> bool:
        """Whether any bank holds pdq_regions entries (so queries should compute their parts)."""
        kinds = (RegionIndex, VideoRegionIndex)
        return any(isinstance(index, kinds) and len(index) > 0 for index in self._indexes.values())

    def query_options(self, options: HashOptions) -> HashOptions:
        """``options`` with query region hashes turned on when some bank can use them."""
        return replace(options, regions="query") if self.wants_regions and options.regions == "none" else options

    def scan_file(self, path: Path, options: HashOptions, banks: Collection[str] | None = None) -> ScanResult:
        """Hash and match one file; per-file errors become the result's ``error``."""
        try:
            hashes = hash_file(path, self.query_options(options))
        except BrightlineError as exc:
            return ScanResult(file=str(path), error=str(exc))
        matches, low_quality = self.match_hashes(hashes, banks)
        return ScanResult(file=str(path), hashes=hashes, matches=tuple(matches), low_quality=low_quality)

    def scan_paths(
        self,
        paths: Sequence[Path],
        options: HashOptions,
        banks: Collection[str] | None = None,
        workers: int = 0,
        on_result: Callable[[ScanResult], None] | None = None,
        processes: bool = False,
    ) -> Iterator[ScanResult]:
        """Scan files in input order on threads, or with ``processes`` hashed in worker processes (big jobs).

        Worker processes start by importing the caller's main module (forkserver/spawn), so a
        script using ``processes=True`` needs the ``if __name__ == "__main__":`` guard.
        """
        count = workers or os.cpu_count() or 1
        hash_options = self.query_options(options)  # what scan_file hashes with
        scan_one = lambda p: self.scan_file(p, options, banks)  # noqa: E731
        match = lambda h: self.match_hashes(h, banks)  # noqa: E731
        for result in scan_in_order(paths, hash_options, count, scan_one, match, processes=processes):
            if on_result is not None:
                on_result(result)
            yield result
