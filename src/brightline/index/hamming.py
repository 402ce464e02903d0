"""Exact Hamming-radius search over fixed-width binary hashes (PDQ and kin).

An index is two segments of (bits/64) uint64 code rows with int64 ids:

- the base: what save() wrote and load() memory-maps read-only (codes sorted by id, and
  the multi-index-hashing tables), so N processes serving one index share one copy in
  the page cache and none of them builds anything at load. Removing a base entry only
  sets a bit in a private tombstone bitmap; the base is never copied or modified.
- the delta: private, growable arrays holding every entry added since (capacity grows
  by half, removals mark rows dead, compaction past a quarter dead).

save() merges both into new files (the only compaction of the base) and then serves
from them. Searches either scan rows with a compiled popcount kernel or, for large
segments and small radii, use multi-index hashing over substrings of about log2(rows)
bits (mih.py); both are exact, and delta rows appended after its MIH tables were built
are scanned linearly until the tables are rebuilt.

Concurrent searches are safe; writes (add, remove, compact, save) must not run
concurrently with anything else on the same index.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt

from brightline.errors import IndexFormatError, InvalidSignalValueError, ValidationError
from brightline.index import mih_kernels, storage
from brightline.index.base import IdArray, IndexHit, SignalIndex, as_id_array, check_radius
from brightline.index.idmap import IdRowMap
from brightline.index.mih import (
    MihTables,
    build_tables,
    choose_layout,
    expected_cost,
    probe_count,
    read_only,
    table_fills,
    table_shapes,
)
from brightline.index.segment import BaseSegment, View, group, resolve, search_batch, search_one, strictly_increasing
from brightline.signals.hexcodes import hex_to_words, validate_hex

Strategy = Literal["auto", "linear", "mih"]
Words = npt.NDArray[np.uint64]

# 2: codes sorted by id (the id array is its own id map) and MIH tables persisted.
# 3: MIH substring width chosen from the row count (int32 offsets, 2**width + 1 per table).
# Older files are refused (IndexFormatError); a Matcher then rebuilds from the store.
FORMAT_VERSION = 3
# Below this many rows a linear scan takes microseconds and MIH tables are not worth their memory.
MIH_MIN_ROWS = 16_384
# Delta rows appended since its last MIH build are scanned linearly until there are this
# many (or 1/8 of the indexed rows), then the tables are rebuilt.
MIH_TAIL_MIN = 1024
# Use MIH for a query only if its probes plus candidates number fewer than rows/N. Each
# costs a random access (~10-30 ns) against ~0.9-1.1 ns per row for a single-query scan
# and ~0.35 ns per row-query pair for the blocked batch scan.
MIH_RATIO_SINGLE = 24
MIH_RATIO_BATCH = 96
_UNLIMITED = np.iinfo(np.int64).max
# Rows copied per step when save() gathers codes, bounding its temporary memory.
_SAVE_CHUNK = 1 << 20


def _default_threads() -> int:
    """CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class HammingIndex(SignalIndex):
    """Entry id -> ``bits``-bit hash; search() returns every entry within a Hamming radius."""

    kind: ClassVar[str] = "hamming"

    def __init__(self, bits: int = 256, *, strategy: Strategy = "auto", threads: int | None = None) -> None:
        if isinstance(bits, bool) or not isinstance(bits, int) or bits <= 0 or bits % 64:
            raise ValidationError(f"bits must be a positive multiple of 64, got {bits!r}")
        if strategy not in ("auto", "linear", "mih"):
            raise ValidationError(f"strategy must be 'auto', 'linear' or 'mih', got {strategy!r}")
        if threads is not None and threads < 1:
            raise ValidationError(f"threads must be >= 1, got {threads}")
        self._bits = bits
        self._words = bits // 64
        self._strategy: Strategy = strategy
        self._threads = threads or _default_threads()
        self._base = BaseSegment.empty(self._words)
        self._mih_lock = threading.Lock()
        self._reset_delta()

    def _reset_delta(self) -> None:
        """An empty delta segment (the _rows/_dead/_codes/... fields all describe the delta)."""
        self._codes: Words = np.zeros((0, self._words), dtype=np.uint64)
        self._ids: IdArray = np.zeros(0, dtype=np.int64)
        self._alive: npt.NDArray[np.bool_] = np.zeros(0, dtype=np.bool_)
        self._rows = 0  # rows in use, dead ones included
        self._dead = 0
        self._map = IdRowMap()
        self._mih: MihTables | None = None

    @property
    def bits(self) -> int:
        """Width of every code, in bits."""
        return self._bits

    @property
    def strategy(self) -> Strategy:
        """How searches run: 'auto' (MIH when it pays), 'linear' or 'mih'."""
        return self._strategy

    def __len__(self) -> int:
        return len(self._base) + self._rows - self._dead

    def __contains__(self, entry_id: object) -> bool:
        if isinstance(entry_id, bool) or not isinstance(entry_id, int | np.integer):
            return False
        if not np.iinfo(np.int64).min <= entry_id <= np.iinfo(np.int64).max:
            return False
        key = np.array([entry_id], dtype=np.int64)
        return bool(self._map.lookup(key)[0] >= 0 or self._base.rows_of(key)[0] >= 0)

    def ids(self) -> IdArray:
        """The live entry ids, sorted ascending."""
        delta = self._ids[: self._rows][self._alive[: self._rows]]
        return np.sort(np.concatenate([self._base.ids[self._base.live_rows()], delta]))

    def codes(self) -> tuple[IdArray, Words]:
        """(ids, codes) of the live entries, base then delta (copies)."""
        base, live = self._base.live_rows(), self._alive[: self._rows]
        ids = np.concatenate([self._base.ids[base], self._ids[: self._rows][live]])
        return ids, np.concatenate([self._base.codes[base], self._codes[: self._rows][live]])

    # --- updates ---------------------------------------------------------------------

    def add(self, ids: Sequence[int] | npt.NDArray[np.integer], values: Sequence[str]) -> None:
        """Insert entries; an id already present (or repeated in ``ids``) keeps its last value."""
        self.add_codes(ids, self._pack(values))

    def add_codes(self, ids: Sequence[int] | npt.NDArray[np.integer], words: Words) -> None:
        """add() for values already packed as (n, bits/64) uint64 words (see hex_to_words)."""
        id_arr = as_id_array(ids)
        if words.ndim != 2 or words.shape[1] != self._words or words.dtype != np.uint64:
            raise ValidationError(f"expected packed codes of shape (n, {self._words}) uint64, got {words.shape}")
        if id_arr.shape[0] != words.shape[0]:
            raise ValidationError(f"got {id_arr.shape[0]} ids but {words.shape[0]} values")
        if id_arr.size == 0:
            return
        order = np.argsort(id_arr, kind="stable")
        sorted_ids = id_arr[order]
        repeated = sorted_ids[1:] == sorted_ids[:-1]
        if repeated.any():
            # Keep the last occurrence of each id, as if added one at a time (the sort is
            # stable, so the last of a run of equal ids is the latest one).
            keep = np.sort(order[np.append(~repeated, True)])
            id_arr, words = id_arr[keep], words[keep]
        base_rows = self._base.rows_of(id_arr)
        self._base.kill(base_rows[base_rows >= 0])  # a new value for a base entry lives in the delta
        old = self._map.lookup(id_arr)
        self._kill(old[old >= 0])
        count = id_arr.size
        self._reserve(count)
        start = self._rows
        self._codes[start : start + count] = words
        self._ids[start : start + count] = id_arr
        self._alive[start : start + count] = True
        self._map.assign(id_arr, np.arange(start, start + count, dtype=np.int64))
        self._rows += count
        self._maybe_compact()

    def remove(self, ids: Sequence[int] | npt.NDArray[np.integer]) -> int:
        """Delete entries by id; unknown ids are ignored. Returns how many were removed."""
        id_arr = np.unique(as_id_array(ids))
        base_rows = self._base.rows_of(id_arr)
        in_base = base_rows >= 0
        self._base.kill(base_rows[in_base])
        rows = self._map.lookup(id_arr)
        found = rows >= 0
        self._map.discard(id_arr[found])
        self._kill(rows[found])
        self._maybe_compact()
        return int(in_base.sum() + found.sum())

    def compact(self) -> None:
        """Drop dead delta rows now (also done past 25% dead); the base is only compacted by save()."""
        live = np.flatnonzero(self._alive[: self._rows])
        self._codes = np.ascontiguousarray(self._codes[live])
        self._ids = np.ascontiguousarray(self._ids[live])
        self._alive = np.ones(live.size, dtype=np.bool_)
        self._rows = live.size
        self._dead = 0
        self._map = IdRowMap.from_rows(self._ids)
        self._mih = None  # row numbers changed

    def _kill(self, rows: IdArray) -> None:
        """Mark delta rows dead."""
        self._alive[rows] = False
        self._dead += int(rows.size)

    def _maybe_compact(self) -> None:
        """Compact the delta once more than a quarter of its rows are dead."""
        if self._dead and self._dead * 4 > self._rows:
            self.compact()

    def _reserve(self, extra: int) -> None:
        """Make room for ``extra`` more delta rows."""
        need = self._rows + extra
        capacity = self._codes.shape[0]
        if need <= capacity:
            return
        new_capacity = max(need, capacity + capacity // 2, 1024)
        codes = np.zeros((new_capacity, self._words), dtype=np.uint64)
        ids = np.zeros(new_capacity, dtype=np.int64)
        alive = np.zeros(new_capacity, dtype=np.bool_)
        codes[: self._rows] = self._codes[: self._rows]
        ids[: self._rows] = self._ids[: self._rows]
        alive[: self._rows] = self._alive[: self._rows]
        self._codes, self._ids, self._alive = codes, ids, alive

    def _pack(self, values: Sequence[str]) -> Words:
        """Hex values as packed words, or InvalidSignalValueError naming the first bad one."""
        if isinstance(values, str):
            raise InvalidSignalValueError("expected a sequence of hex values, got a single string")
        width = self._bits // 4
        values = list(values)
        try:
            # Fast path for canonical input: C-speed length check, then one bytes.fromhex()
            # (non-strings raise TypeError, non-hex ValueError, stray spaces shrink the result).
            if set(map(len, values)) == {width}:
                packed = hex_to_words(values, self._bits)
                if packed.shape[0] == len(values):
                    return packed
        except (TypeError, ValueError):
            pass
        # Slow path: validate_hex says what is wrong, or normalises case and spaces.
        name = f"{self._bits}-bit hash"
        return hex_to_words([validate_hex(v, self._bits, name) for v in values], self._bits)

    # --- search ----------------------------------------------------------------------

    def search(self, value: str, radius: int) -> list[IndexHit]:
        """Every entry within ``radius`` of ``value``, sorted by distance then id (one thread)."""
        radius = check_radius(radius)
        query = read_only(self._pack([value]))
        found = []
        for view in self._views(radius, MIH_RATIO_SINGLE):
            parts = search_one(view.codes, view.rows, view.mih, query, radius, self._limit(view, MIH_RATIO_SINGLE))
            found.append(resolve(parts, view))
        return group(found, 1)[0]

    def search_many(self, values: Sequence[str], radius: int) -> list[list[IndexHit]]:
        """search() for each value, batched and spread over ``threads`` threads."""
        radius = check_radius(radius)
        queries = read_only(self._pack(values))
        nq = queries.shape[0]
        found = []
        for view in self._views(radius, MIH_RATIO_BATCH) if nq else []:
            limit = self._limit(view, MIH_RATIO_BATCH)
            parts = search_batch(view.codes, view.rows, view.mih, queries, radius, limit, self._run, self._threads)
            found.append(resolve(parts, view))
        return group(found, nq)

    def _views(self, radius: int, ratio: int) -> list[View]:
        """The segments holding live entries, with the MIH tables this radius should use."""
        views = []
        base = self._base
        if len(base):
            mih = base.tables(self._bits, self._run) if self._wants_mih(base.rows, radius, ratio) else None
            views.append(View(base.codes, base.rows, mih, base.live, base.ids))
        if self._rows > self._dead:
            alive = self._alive
            mih = self._tables(radius, ratio)
            views.append(View(read_only(self._codes), self._rows, mih, lambda rows: alive[rows], self._ids))
        return views

    def _limit(self, view: View, ratio: int) -> int:
        """Most candidates a query may verify through MIH before it falls back to a scan."""
        return _UNLIMITED if self._strategy == "mih" or view.mih is None else view.mih.rows // ratio

    def _run(self, tasks: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run tasks on a thread pool (the kernels release the GIL); inline when only one."""
        if len(tasks) <= 1 or self._threads == 1:
            return [task() for task in tasks]
        with ThreadPoolExecutor(max_workers=min(self._threads, len(tasks))) as pool:
            return list(pool.map(lambda task: task(), tasks))

    def prepare(self) -> None:
        """Build any MIH tables not read from disk now (if the strategy uses them) rather than on the first search."""
        if self._wants_mih(self._base.rows, None, 1):
            self._base.tables(self._bits, self._run)
        self._tables()

    def _wants_mih(self, rows: int, radius: int | None, ratio: int) -> bool:
        """Whether searches of ``rows`` rows at ``radius`` should use MIH tables.

        With a radius, 'auto' also says no when even uniformly spread codes would cost
        more than ``2 * rows / ratio`` probes and candidates, so the caller scans linearly
        without trying; any strategy says no when the probes alone outnumber the rows.
        """
        if self._strategy == "linear" or rows == 0 or (self._strategy == "auto" and rows < MIH_MIN_ROWS):
            return False
        if radius is not None:
            layout = choose_layout(rows, self._bits)
            if self._strategy == "auto" and expected_cost(rows, radius, *layout) > 2 * rows / ratio:
                return False
            return probe_count(radius, *layout) <= 4 * rows + MIH_MIN_ROWS
        return True

    def _tables(self, radius: int | None = None, ratio: int = 1) -> MihTables | None:
        """Current delta MIH tables, (re)built if the strategy wants them and they are stale."""
        if not self._wants_mih(self._rows, radius, ratio):
            return None
        mih = self._mih
        if mih is not None and self._rows - mih.rows <= max(MIH_TAIL_MIN, mih.rows // 8):
            return mih
        with self._mih_lock:
            if self._mih is None or self._mih.rows != self._rows:
                self._mih = build_tables(read_only(self._codes), self._rows, self._bits, self._run)
            return self._mih

    # --- persistence -----------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the live entries, sorted by id, and MIH tables to directory ``path``; then serve from them.

        This is the one place the memory-mapped base and the private delta are merged: the
        files are filled in place through writable mappings (so even a 10M-entry save holds
        only its id permutation in private memory), and the index then maps them read-only
        and empties its delta, like a fresh load() but without re-reading anything.
        """
        base_rows = self._base.live_rows()
        delta_rows = np.flatnonzero(self._alive[: self._rows])
        ids = np.concatenate([self._base.ids[base_rows], self._ids[delta_rows]])
        order = np.argsort(ids, kind="stable")
        count, split = int(ids.size), int(base_rows.size)
        base_codes, delta_codes = self._base.codes, self._codes

        def fill_codes(out: npt.NDArray[Any], _: Mapping[str, npt.NDArray[Any]]) -> None:
            for lo in range(0, count, _SAVE_CHUNK):
                src = order[lo : lo + _SAVE_CHUNK]
                in_base = src < split
                block = np.empty((src.size, self._words), dtype=np.uint64)
                block[in_base] = base_codes[base_rows[src[in_base]]]
                block[~in_base] = delta_codes[delta_rows[src[~in_base] - split]]
                out[lo : lo + src.size] = block

        arrays: dict[str, npt.NDArray[Any] | storage.Fill] = {
            "codes": storage.Fill(np.dtype(np.uint64), (count, self._words), fill_codes),
            "ids": ids[order],
        }
        fields: dict[str, Any] = {"bits": self._bits, "count": count, "mih": MIH_MIN_ROWS <= count < 2**31 - 1}
        if fields["mih"]:
            arrays.update(table_fills(count, self._bits, self._run))
            fields["mih_tables"], fields["mih_width"] = choose_layout(count, self._bits)
        written = storage.write_index(path, self.kind, FORMAT_VERSION, fields, arrays)
        mih = MihTables(count, written["mihoffsets"], written["mihorder"]) if fields["mih"] else None
        self._base = BaseSegment(written["codes"], written["ids"], mih)
        self._reset_delta()

    @classmethod
    def load(cls, path: Path, *, strategy: Strategy = "auto", threads: int | None = None, verify: bool = True) -> Self:
        """Open an index saved by save(): every array memory-mapped read-only, nothing built.

        Dtypes, shapes, file lengths, id order and MIH bucket offsets are always checked;
        ``verify`` also checks every CRC-32 (on ``threads`` threads). Without it, damaged
        files are trusted, and a damaged MIH table can crash the process.
        """
        path = Path(path)
        meta = storage.read_meta(path, cls.kind, frozenset({FORMAT_VERSION}))
        bits = storage.meta_int(meta, "bits", path)
        count = storage.meta_int(meta, "count", path)
        if bits == 0 or bits % 64:
            raise IndexFormatError(f"{path}: bad bit width {bits}")
        index = cls(bits, strategy=strategy, threads=threads)
        arrays = {
            "codes": storage.read_array(path, meta, "codes", np.dtype(np.uint64), (count, bits // 64), False),
            "ids": storage.read_array(path, meta, "ids", np.dtype(np.int64), (count,), False),
        }
        if meta.get("mih") is True:
            layout = (storage.meta_int(meta, "mih_tables", path), storage.meta_int(meta, "mih_width", path))
            if not (layout[0] >= 1 and 1 <= layout[1] <= 30 and layout[0] * layout[1] <= bits):
                raise IndexFormatError(f"{path}: bad MIH layout {layout}")
            offsets_shape, order_shape = table_shapes(count, bits, layout)
            arrays["mihoffsets"] = storage.read_array(
                path, meta, "mihoffsets", np.dtype(np.int32), offsets_shape, False
            )
            arrays["mihorder"] = storage.read_array(path, meta, "mihorder", np.dtype(np.int32), order_shape, False)
        if verify:
            storage.verify_arrays(path, meta, arrays, index._threads)
        if not strictly_increasing(arrays["ids"]):
            raise IndexFormatError(f"{path}: entry ids not sorted or duplicate entry ids (damaged index)")
        mih = None
        if "mihorder" in arrays:
            if not mih_kernels.check_offsets(arrays["mihoffsets"], count):
                raise IndexFormatError(f"{path}: bad MIH bucket offsets (damaged index)")
            mih = MihTables(count, arrays["mihoffsets"], arrays["mihorder"])
        index._base = BaseSegment(arrays["codes"], arrays["ids"], mih)
        return index
