"""Entry id -> row number, kept as sorted numpy arrays plus a small dict of recent changes.

A plain dict of a million Python ints costs ~100 MB and seconds to rebuild after a load;
sorted int64 arrays cost 16 bytes an entry and are looked up with vectorised binary
search. Small updates go to a dict that is merged into the arrays once it grows, so a
stream of single-entry adds stays amortised O(log n) each.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Int64Array = npt.NDArray[np.int64]

# Merge the pending dict into the arrays once it holds more than this, or 1/8 of the arrays.
_PENDING_MIN = 4096


def _fill_from(rows: Int64Array, ids: Int64Array, keys: Int64Array, values: Int64Array) -> None:
    """rows[i] = values[j] wherever ids[i] == keys[j] (keys sorted and unique)."""
    if keys.size == 0:
        return
    pos = np.minimum(np.searchsorted(keys, ids), keys.size - 1)
    hit = keys[pos] == ids
    rows[hit] = values[pos[hit]]


class DuplicateIdError(ValueError):
    """from_rows() was given the same id twice."""


class IdRowMap:
    """A map from entry id to row; a row of -1 means "absent"."""

    def __init__(self) -> None:
        self._keys: Int64Array = np.zeros(0, dtype=np.int64)
        self._rows: Int64Array = np.zeros(0, dtype=np.int64)
        self._pending: dict[int, int] = {}

    @classmethod
    def from_rows(cls, ids: Int64Array) -> IdRowMap:
        """Map ``ids[i] -> i``; DuplicateIdError if an id repeats."""
        out = cls()
        order = np.argsort(ids, kind="stable")
        keys = np.ascontiguousarray(ids[order], dtype=np.int64)
        if keys.size > 1 and bool(np.any(keys[1:] == keys[:-1])):
            raise DuplicateIdError("duplicate entry id")
        out._keys = keys
        out._rows = order.astype(np.int64)
        return out

    @classmethod
    def from_sorted(cls, keys: Int64Array, values: Int64Array) -> IdRowMap:
        """Map ``keys[i] -> values[i]`` for strictly increasing keys, without copying the arrays.

        Memory-mapped arrays stay shared between processes: pass them opened copy-on-write
        (``mmap_mode="c"``) so that a discard only privatises the pages it touches.
        """
        if keys.shape != values.shape or keys.ndim != 1:
            raise ValueError("keys and values must be 1-D arrays of the same length")
        out = cls()
        out._keys = keys
        out._rows = values
        return out

    def arrays(self) -> tuple[Int64Array, Int64Array]:
        """Every live (key, value) pair as two arrays sorted by key."""
        self._merge(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        live = self._rows >= 0
        return self._keys[live], self._rows[live]

    def lookup(self, ids: Int64Array) -> Int64Array:
        """Row of each id, -1 where absent."""
        rows = np.full(ids.shape[0], -1, dtype=np.int64)
        _fill_from(rows, ids, self._keys, self._rows)
        # Pending entries are newer than the arrays, so they are applied last and win.
        if 0 < ids.size <= len(self._pending):
            for i, entry_id in enumerate(ids.tolist()):
                row = self._pending.get(entry_id)
                if row is not None:
                    rows[i] = row
        elif self._pending:
            # Many ids (a bulk add): sorting the pending dict beats a Python loop over them.
            keys = np.fromiter(self._pending.keys(), dtype=np.int64, count=len(self._pending))
            values = np.fromiter(self._pending.values(), dtype=np.int64, count=len(self._pending))
            order = np.argsort(keys)
            _fill_from(rows, ids, keys[order], values[order])
        return rows

    def assign(self, ids: Int64Array, rows: Int64Array) -> None:
        """Set ``ids[i] -> rows[i]`` (ids unique within the call)."""
        if ids.size > _PENDING_MIN:
            self._merge(ids, rows)
            return
        self._pending.update(zip(ids.tolist(), rows.tolist(), strict=True))
        if len(self._pending) > max(_PENDING_MIN, self._keys.size // 8):
            self._merge(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

    def discard(self, ids: Int64Array) -> None:
        """Forget ``ids`` (absent ones are ignored)."""
        if self._keys.size:
            pos = np.minimum(np.searchsorted(self._keys, ids), self._keys.size - 1)
            self._rows[pos[self._keys[pos] == ids]] = -1
        if self._pending:
            for entry_id in ids.tolist():
                # An id still in the arrays is marked -1 above; one only here is dropped.
                self._pending.pop(entry_id, None)

    def _merge(self, ids: Int64Array, rows: Int64Array) -> None:
        """Fold the pending dict and (ids, rows) into the sorted arrays, newest last."""
        live = self._rows >= 0
        pend_ids = np.fromiter(self._pending.keys(), dtype=np.int64, count=len(self._pending))
        pend_rows = np.fromiter(self._pending.values(), dtype=np.int64, count=len(self._pending))
        all_ids = np.concatenate([self._keys[live], pend_ids, ids])
        all_rows = np.concatenate([self._rows[live], pend_rows, rows])
        # np.unique keeps the first occurrence; reversing makes that the newest one.
        keys, first = np.unique(all_ids[::-1], return_index=True)
        self._keys = keys.astype(np.int64, copy=False)
        self._rows = np.ascontiguousarray(all_rows[::-1][first])
        self._pending = {}
