"""Row segments of a HammingIndex: searching one, and the read-only base segment of a loaded index.

A loaded index is a memory-mapped base segment (codes, ids sorted ascending, MIH tables,
all read-only, shared between processes through the page cache) plus a small private
delta segment for changes made since. Removing a base row only sets a bit in a
tombstone bitmap; nothing of the base is ever copied.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brightline.index import kernels
from brightline.index.base import IndexHit
from brightline.index.mih import MihTables, Runner, build_tables, mih_task, read_only
from brightline.index.mih import search as mih_search

Words = npt.NDArray[np.uint64]
IdArray = npt.NDArray[np.int64]
Triple = tuple[IdArray, IdArray, IdArray]  # (query index, row, distance)
# Ids checked per step by strictly_increasing(), bounding its temporary memory.
_CHECK_CHUNK = 1 << 20


def search_one(codes: Words, rows: int, mih: MihTables | None, query: Words, radius: int, limit: int) -> list[Triple]:
    """Rows [0, rows) within ``radius`` of ``query`` (1, words): MIH over the tables' rows, then a scan."""
    parts: list[Triple] = []
    start = 0
    if mih is not None:
        qidx, found, dists, declined = mih_search(codes, mih, query, radius, limit)
        if not declined[0]:
            parts.append((qidx, found, dists))
            start = mih.rows
    if start < rows:
        found, dists = kernels.scan_one(codes, start, rows, query[0], radius)
        parts.append((np.zeros(found.size, dtype=np.int64), found, dists))
    return parts


def search_batch(
    codes: Words, rows: int, mih: MihTables | None, queries: Words, radius: int, limit: int, run: Runner, chunks: int
) -> list[Triple]:
    """search_one() for every query, as thread tasks handed to ``run`` (``chunks`` of them per pass)."""
    nq = queries.shape[0]
    found: list[Triple] = []
    tasks: list[Callable[[], Triple]] = []
    linear = np.arange(nq)
    if mih is not None:
        parts = [part for part in np.array_split(np.arange(nq), chunks) if part.size]
        results = run([mih_task(codes, mih, queries, part, radius, limit) for part in parts])
        found += [(qidx, hit_rows, dists) for qidx, hit_rows, dists, _ in results]
        declined = np.concatenate([r[3] for r in results])
        linear = np.flatnonzero(declined)
        accepted = np.flatnonzero(~declined)
        if accepted.size and mih.rows < rows:
            # Rows appended after the tables were built: scan them for MIH queries.
            tasks += _scan_tasks(codes, queries, accepted, mih.rows, rows, radius, chunks)
    if linear.size:
        tasks += _scan_tasks(codes, queries, linear, 0, rows, radius, chunks)
    found += run(tasks)
    return found


def _scan_tasks(
    codes: Words, queries: Words, which: IdArray, start: int, stop: int, radius: int, chunks: int
) -> list[Callable[[], Triple]]:
    """Thread tasks scanning rows [start, stop) for queries[which], split by rows."""
    sub = read_only(np.ascontiguousarray(queries[which]))
    # Split rows, not queries, so even a batch of one query uses every thread.
    bounds = np.linspace(start, stop, min(chunks, max(1, (stop - start) // 4096)) + 1).astype(np.int64).tolist()

    def task(lo: int, hi: int) -> Callable[[], Triple]:
        def scan() -> Triple:
            qidx, found, dists = kernels.scan_many(codes, lo, hi, sub, radius)
            return which[qidx], found, dists

        return scan

    return [task(lo, hi) for lo, hi in itertools.pairwise(bounds) if hi > lo]


class BaseSegment:
    """Read-only rows (typically memory-mapped) with ids sorted ascending, plus a private tombstone bitmap."""

    def __init__(self, codes: Words, ids: IdArray, mih: MihTables | None = None) -> None:
        self.codes: Words = read_only(codes)
        self.ids: IdArray = read_only(ids)
        self.rows = int(ids.shape[0])
        self._mih = mih  # persisted tables, or None: built (privately) on first use
        self._mih_lock = threading.Lock()
        # One bit per row, allocated on the first removal. np.zeros gets zeroed pages from
        # the OS lazily, so only pages holding a tombstone cost memory: <= rows/8 bytes.
        self._dead: npt.NDArray[np.uint8] | None = None
        self.dead = 0

    @classmethod
    def empty(cls, words: int) -> BaseSegment:
        """A segment with no rows."""
        return cls(np.zeros((0, words), dtype=np.uint64), np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return self.rows - self.dead

    def rows_of(self, ids: IdArray) -> IdArray:
        """Row of each id, -1 where absent or removed."""
        if self.rows == 0 or ids.size == 0:
            return np.full(ids.shape[0], -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.ids, ids), self.rows - 1)
        found = self.ids[pos] == ids
        found[found] = self.live(pos[found])
        return np.where(found, pos, -1).astype(np.int64)

    def kill(self, rows: IdArray) -> None:
        """Tombstone live rows (each at most once)."""
        if rows.size == 0:
            return
        if self._dead is None:
            self._dead = np.zeros((self.rows + 7) // 8, dtype=np.uint8)
        np.bitwise_or.at(self._dead, rows >> 3, (1 << (rows & 7)).astype(np.uint8))
        self.dead += int(rows.size)

    def live(self, rows: IdArray) -> npt.NDArray[np.bool_]:
        """Whether each row is still live."""
        if self._dead is None:
            return np.ones(rows.shape[0], dtype=np.bool_)
        bits: npt.NDArray[np.uint8] = self._dead[rows >> 3] >> (rows & 7).astype(np.uint8)
        live: npt.NDArray[np.bool_] = (bits & 1) == 0
        return live

    def live_rows(self, start: int = 0, stop: int | None = None) -> IdArray:
        """Live row numbers in [start, stop), ascending."""
        stop = self.rows if stop is None else stop
        rows = np.arange(start, stop, dtype=np.int64)
        return rows if self._dead is None else rows[self.live(rows)]

    def tables(self, bits: int, run: Runner) -> MihTables:
        """The persisted MIH tables, or ones built on first use when the files had none."""
        if self._mih is None:
            with self._mih_lock:
                if self._mih is None:
                    self._mih = build_tables(self.codes, self.rows, bits, run)
        return self._mih


@dataclass(frozen=True)
class View:
    """One segment as a search sees it: rows to search, tables, and how to resolve hit rows."""

    codes: Words
    rows: int
    mih: MihTables | None
    live: Callable[[IdArray], npt.NDArray[np.bool_]]
    ids: IdArray


def strictly_increasing(ids: IdArray) -> bool:
    """Whether ids ascend without repeats, checked in chunks (no temporary as large as ``ids``)."""
    last = ids.size - 1
    for lo in range(0, max(last, 0), _CHECK_CHUNK):
        hi = min(lo + _CHECK_CHUNK, last)
        if not np.all(ids[lo + 1 : hi + 1] > ids[lo:hi]):
            return False
    return True


def resolve(parts: Sequence[Triple], view: View) -> Triple:
    """Kernel output for one segment -> (query index, entry id, distance) of its live rows."""
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    qidx = np.concatenate([p[0] for p in parts])
    rows = np.concatenate([p[1] for p in parts])
    dists = np.concatenate([p[2] for p in parts])
    live = view.live(rows)
    return qidx[live], view.ids[rows[live]], dists[live]


def group(found: Sequence[Triple], nq: int) -> list[list[IndexHit]]:
    """Hits of every segment -> per-query hit lists sorted by distance then id."""
    if not found:
        return [[] for _ in range(nq)]
    qidx = np.concatenate([f[0] for f in found])
    ids = np.concatenate([f[1] for f in found])
    dists = np.concatenate([f[2] for f in found])
    if nq == 1:  # one query (search()): its few hits sort faster as Python tuples
        return [[IndexHit(i, d) for d, i in sorted(zip(dists.tolist(), ids.tolist(), strict=True))]]
    order = np.lexsort((ids, dists, qidx))
    qidx, id_list, dist_list = qidx[order], ids[order].tolist(), dists[order].tolist()
    bounds = np.searchsorted(qidx, np.arange(nq + 1)).tolist()
    return [[IndexHit(id_list[i], dist_list[i]) for i in range(bounds[q], bounds[q + 1])] for q in range(nq)]
