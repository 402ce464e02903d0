"""Exact Hamming-radius search over fixed-width binary hashes (PDQ and kin).

Codes live in one contiguous (capacity, bits/64) uint64 array with a parallel int64 id
array. Adds append (capacity grows by half), removals only mark rows dead, and the
arrays are compacted once more than a quarter of the rows are dead. Searches either
scan every row with a compiled popcount kernel or, for large indexes and small radii,
use multi-index hashing over 16-bit substrings; both are exact, and rows appended
after the MIH tables were built are scanned linearly until the tables are rebuilt.

Concurrent searches are safe; writes (add, remove, compact) must not run concurrently
with anything else on the same index.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt

from brightline.errors import IndexFormatError, InvalidSignalValueError, ValidationError
from brightline.index import kernels, storage
from brightline.index.base import IdArray, IndexHit, SignalIndex, as_id_array, check_radius
from brightline.index.idmap import DuplicateIdError, IdRowMap
from brightline.index.mih import MihTables, build_tables, mih_task, probe_count, read_only
from brightline.signals.hexcodes import hex_to_words, validate_hex

Strategy = Literal["auto", "linear", "mih"]
Words = npt.NDArray[np.uint64]
Triple = tuple[IdArray, IdArray, IdArray]

FORMAT_VERSION = 1
# Below this many rows a linear scan takes microseconds and MIH tables are not worth their memory.
MIH_MIN_ROWS = 16_384
# Rows appended since the last MIH build are scanned linearly until there are this many
# (or 1/8 of the indexed rows), then the tables are rebuilt.
MIH_TAIL_MIN = 1024
# Use MIH for a query only if it verifies fewer than rows/N candidates. Measured on a
# 1M-row index: ~30 ns per MIH candidate (random access) against ~0.9-1.1 ns per row for
# a single-query scan and ~0.35 ns per row-query pair for the blocked batch scan.
MIH_RATIO_SINGLE = 24
MIH_RATIO_BATCH = 96
_UNLIMITED = np.iinfo(np.int64).max


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
        self._codes: Words = np.zeros((0, self._words), dtype=np.uint64)
        self._ids: IdArray = np.zeros(0, dtype=np.int64)
        self._alive: npt.NDArray[np.bool_] = np.zeros(0, dtype=np.bool_)
        self._rows = 0  # rows in use, dead ones included
        self._dead = 0
        self._map = IdRowMap()
        self._mih: MihTables | None = None
        self._mih_lock = threading.Lock()

    @property
    def bits(self) -> int:
        """Width of every code, in bits."""
        return self._bits

    @property
    def strategy(self) -> Strategy:
        """How searches run: 'auto' (MIH when it pays), 'linear' or 'mih'."""
        return self._strategy

    def __len__(self) -> int:
        return self._rows - self._dead

    def __contains__(self, entry_id: object) -> bool:
        if isinstance(entry_id, bool) or not isinstance(entry_id, int | np.integer):
            return False
        if not np.iinfo(np.int64).min <= entry_id <= np.iinfo(np.int64).max:
            return False
        return bool(self._map.lookup(np.array([entry_id], dtype=np.int64))[0] >= 0)

    def ids(self) -> IdArray:
        """The live entry ids, sorted ascending."""
        return np.sort(self._ids[: self._rows][self._alive[: self._rows]])

    def codes(self) -> tuple[IdArray, Words]:
        """(ids, codes) of the live entries, in storage order (copies)."""
        live = self._alive[: self._rows]
        return self._ids[: self._rows][live].copy(), self._codes[: self._rows][live].copy()

    # --- updates ---------------------------------------------------------------------

    def add(self, ids: Sequence[int] | npt.NDArray[np.integer], values: Sequence[str]) -> None:
        """Insert entries; an id already present (or repeated in ``ids``) keeps its last value."""
        id_arr = as_id_array(ids)
        words = self._pack(values)
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
        rows = self._map.lookup(id_arr)
        found = rows >= 0
        self._map.discard(id_arr[found])
        self._kill(rows[found])
        self._maybe_compact()
        return int(found.sum())

    def compact(self) -> None:
        """Drop dead rows now (also done automatically past 25% dead)."""
        live = np.flatnonzero(self._alive[: self._rows])
        self._codes = np.ascontiguousarray(self._codes[live])
        self._ids = np.ascontiguousarray(self._ids[live])
        self._alive = np.ones(live.size, dtype=np.bool_)
        self._rows = live.size
        self._dead = 0
        self._map = IdRowMap.from_rows(self._ids)
        self._mih = None  # row numbers changed

    def _kill(self, rows: IdArray) -> None:
        """Mark rows dead (the alive array is always private and writable)."""
        self._alive[rows] = False
        self._dead += int(rows.size)

    def _maybe_compact(self) -> None:
        """Compact once more than a quarter of the rows are dead."""
        if self._dead and self._dead * 4 > self._rows:
            self.compact()

    def _reserve(self, extra: int) -> None:
        """Make room for ``extra`` more rows; also copies a memory-mapped (read-only) index."""
        need = self._rows + extra
        capacity = self._codes.shape[0]
        if need <= capacity and self._codes.flags.writeable and self._ids.flags.writeable:
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
        if len(self) == 0:
            return []
        codes = read_only(self._codes)
        parts: list[Triple] = []
        start = 0
        mih = self._tables(radius, MIH_RATIO_SINGLE)
        if mih is not None:
            limit = _UNLIMITED if self._strategy == "mih" else mih.rows // MIH_RATIO_SINGLE
            qidx, rows, dists, declined = kernels.mih_search(
                codes, mih.offsets, mih.order, kernels.MASKS, kernels.MASK_ENDS, query, radius, limit
            )
            if not declined[0]:
                parts.append((qidx, rows, dists))
                start = mih.rows
        if start < self._rows:
            rows, dists = kernels.scan_one(codes, start, self._rows, query[0], radius)
            parts.append((np.zeros(rows.size, dtype=np.int64), rows, dists))
        return self._collect(parts, 1)[0]

    def search_many(self, values: Sequence[str], radius: int) -> list[list[IndexHit]]:
        """search() for each value, batched and spread over ``threads`` threads."""
        radius = check_radius(radius)
        queries = read_only(self._pack(values))
        nq = queries.shape[0]
        if nq == 0 or len(self) == 0:
            return [[] for _ in range(nq)]
        codes = read_only(self._codes)
        chunks = self._threads
        found: list[Triple] = []
        tasks: list[Callable[[], Triple]] = []
        linear = np.arange(nq)
        mih = self._tables(radius, MIH_RATIO_BATCH)
        if mih is not None:
            limit = _UNLIMITED if self._strategy == "mih" else mih.rows // MIH_RATIO_BATCH
            parts = [part for part in np.array_split(np.arange(nq), chunks) if part.size]
            results = self._run([mih_task(codes, mih, queries, part, radius, limit) for part in parts])
            found += [(qidx, rows, dists) for qidx, rows, dists, _ in results]
            declined = np.concatenate([r[3] for r in results])
            linear = np.flatnonzero(declined)
            accepted = np.flatnonzero(~declined)
            if accepted.size and mih.rows < self._rows:
                # Rows appended after the tables were built: scan them for MIH queries.
                tasks += _scan_tasks(codes, queries, accepted, mih.rows, self._rows, radius, chunks)
        if linear.size:
            tasks += _scan_tasks(codes, queries, linear, 0, self._rows, radius, chunks)
        found += self._run(tasks)
        return self._collect(found, nq)

    def _run(self, tasks: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run tasks on a thread pool (the kernels release the GIL); inline when only one."""
        if len(tasks) <= 1 or self._threads == 1:
            return [task() for task in tasks]
        with ThreadPoolExecutor(max_workers=min(self._threads, len(tasks))) as pool:
            return list(pool.map(lambda task: task(), tasks))

    def _collect(self, parts: Sequence[Triple], nq: int) -> list[list[IndexHit]]:
        """Kernel output -> per-query hit lists: drop dead rows, map to ids, sort."""
        if not parts:
            return [[] for _ in range(nq)]
        qidx = np.concatenate([p[0] for p in parts])
        rows = np.concatenate([p[1] for p in parts])
        dists = np.concatenate([p[2] for p in parts])
        live = self._alive[rows]
        qidx, rows, dists = qidx[live], rows[live], dists[live]
        ids = self._ids[rows]
        order = np.lexsort((ids, dists, qidx))
        qidx, ids, dists = qidx[order], ids[order].tolist(), dists[order].tolist()
        bounds = np.searchsorted(qidx, np.arange(nq + 1)).tolist()
        return [[IndexHit(ids[i], dists[i]) for i in range(bounds[q], bounds[q + 1])] for q in range(nq)]

    def prepare(self) -> None:
        """Build the MIH tables now (if the strategy uses them) rather than on the first search."""
        self._tables()

    def _tables(self, radius: int | None = None, ratio: int = 1) -> MihTables | None:
        """Current MIH tables, (re)built if the strategy wants them and they are stale.

        With a radius, 'auto' also returns None when even uniformly spread codes would
        give more than ``4 * rows / ratio`` candidates: the probes alone would cost more
        than they save, so the caller scans linearly without trying.
        """
        if self._strategy == "linear" or (self._strategy == "auto" and self._rows < MIH_MIN_ROWS):
            return None
        if self._strategy == "auto" and radius is not None:
            expected = probe_count(radius, self._bits // kernels.SUB_BITS) * self._rows / kernels.N_BUCKETS
            if expected > 4 * self._rows / ratio:
                return None
        mih = self._mih
        if mih is not None and self._rows - mih.rows <= max(MIH_TAIL_MIN, mih.rows // 8):
            return mih
        with self._mih_lock:
            if self._mih is None or self._mih.rows != self._rows:
                self._mih = self._build_tables()
            return self._mih

    def _build_tables(self) -> MihTables:
        """Counting-sort every row by each 16-bit substring, one table per thread task."""
        return build_tables(read_only(self._codes), self._rows, self._bits, self._run)

    # --- persistence -----------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the live entries to directory ``path``: codes-*.npy, ids-*.npy and meta.json naming them."""
        ids, codes = self.codes()
        storage.write_index(
            path, self.kind, FORMAT_VERSION, {"bits": self._bits, "count": int(ids.size)}, {"codes": codes, "ids": ids}
        )

    @classmethod
    def load(cls, path: Path, *, strategy: Strategy = "auto", threads: int | None = None, verify: bool = True) -> Self:
        """Open an index saved by save(): codes are memory-mapped, copied on first write."""
        path = Path(path)
        meta = storage.read_meta(path, cls.kind, frozenset({FORMAT_VERSION}))
        bits = storage.meta_int(meta, "bits", path)
        count = storage.meta_int(meta, "count", path)
        if bits == 0 or bits % 64:
            raise IndexFormatError(f"{path}: bad bit width {bits}")
        codes = storage.read_array(path, meta, "codes", np.dtype(np.uint64), (count, bits // 64), verify)
        ids = storage.read_array(path, meta, "ids", np.dtype(np.int64), (count,), verify)
        index = cls(bits, strategy=strategy, threads=threads)
        try:
            index._map = IdRowMap.from_rows(ids)
        except DuplicateIdError:
            raise IndexFormatError(f"{path}: duplicate entry ids (damaged index)") from None
        index._codes, index._ids = codes, ids
        index._alive = np.ones(count, dtype=np.bool_)
        index._rows = count
        return index


def _scan_tasks(
    codes: Words, queries: Words, which: IdArray, start: int, stop: int, radius: int, chunks: int
) -> list[Callable[[], Triple]]:
    """Thread tasks scanning rows [start, stop) for queries[which], split by rows."""
    sub = read_only(np.ascontiguousarray(queries[which]))
    # Split rows, not queries, so even a batch of one query uses every thread.
    bounds = np.linspace(start, stop, min(chunks, max(1, (stop - start) // 4096)) + 1).astype(np.int64).tolist()

    def task(lo: int, hi: int) -> Callable[[], Triple]:
        def run() -> Triple:
            qidx, rows, dists = kernels.scan_many(codes, lo, hi, sub, radius)
            return which[qidx], rows, dists

        return run

    return [task(lo, hi) for lo, hi in itertools.pairwise(bounds) if hi > lo]
