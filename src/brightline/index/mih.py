"""Multi-index hashing tables for HammingIndex: building them and querying them from threads.

See kernels.py for the search itself. A table per 16-bit substring holds every row
number counting-sorted by that substring, with bucket start offsets.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from brightline.errors import ValidationError
from brightline.index import kernels, storage

Words = npt.NDArray[np.uint64]
IdArray = npt.NDArray[np.int64]
Runner = Callable[[Sequence[Callable[[], Any]]], list[Any]]


@dataclass(frozen=True)
class MihTables:
    """Multi-index hash tables over rows [0, rows): one counting-sorted table per substring."""

    rows: int
    offsets: npt.NDArray[np.int64]  # (tables, 65537) bucket starts
    order: npt.NDArray[np.int32]  # (tables, rows) row numbers sorted by bucket


def read_only(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """A read-only view, so each kernel compiles once for one array type (and cannot write)."""
    view = array.view()
    view.flags.writeable = False
    return view


def table_shapes(rows: int, bits: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Shapes of (offsets, order) for tables over ``rows`` codes of ``bits`` bits."""
    tables = bits // kernels.SUB_BITS
    return (tables, kernels.N_BUCKETS + 1), (tables, rows)


def build_tables(
    codes: Words,
    rows: int,
    bits: int,
    run: Runner,
    offsets: npt.NDArray[np.int64] | None = None,
    order: npt.NDArray[np.int32] | None = None,
) -> MihTables:
    """Tables over codes[:rows], one counting sort per substring, run through ``run`` (a thread pool).

    ``offsets`` and ``order`` may be given (e.g. memory-mapped files to fill); else they are allocated.
    """
    if rows >= np.iinfo(np.int32).max:
        raise ValidationError("MIH tables hold at most 2**31 - 1 rows; use strategy='linear'")
    offsets_shape, order_shape = table_shapes(rows, bits)
    tables = offsets_shape[0]
    offsets = np.empty(offsets_shape, dtype=np.int64) if offsets is None else offsets
    order = np.empty(order_shape, dtype=np.int32) if order is None else order

    def build(k: int) -> None:
        kernels.mih_build_table(codes, rows, k, offsets[k], order[k])

    run([functools.partial(build, k) for k in range(tables)])
    return MihTables(rows, read_only(offsets), read_only(order))


def probe_count(radius: int, tables: int) -> int:
    """Buckets MIH probes for ``radius`` (mirrors kernels._mih_radii)."""
    base, extra = divmod(radius, tables)
    radii = [min(base if k <= extra else base - 1, kernels.SUB_BITS) for k in range(tables)]
    return sum(int(kernels.MASK_ENDS[r]) for r in radii if r >= 0)


def mih_task(
    codes: Words, mih: MihTables, queries: Words, part: IdArray, radius: int, limit: int
) -> Callable[[], tuple[IdArray, IdArray, IdArray, npt.NDArray[np.bool_]]]:
    """A thread task: MIH search for queries[part], with query indexes mapped back."""

    def run() -> tuple[IdArray, IdArray, IdArray, npt.NDArray[np.bool_]]:
        sub = read_only(np.ascontiguousarray(queries[part]))
        qidx, rows, dists, declined = kernels.mih_search(
            codes, mih.offsets, mih.order, kernels.MASKS, kernels.MASK_ENDS, sub, radius, limit
        )
        return part[qidx], rows, dists, declined

    return run


def table_fills(count: int, bits: int, run: Runner) -> dict[str, storage.Fill]:
    """storage.Fill entries writing MIH tables over ``count`` rows of the "codes" array written before them."""
    offsets_shape, order_shape = table_shapes(count, bits)
    offsets = np.empty(offsets_shape, dtype=np.int64)  # small: 65537 per table

    def fill_order(out: npt.NDArray[Any], written: Mapping[str, npt.NDArray[Any]]) -> None:
        build_tables(read_only(written["codes"]), count, bits, run, offsets, out)

    def fill_offsets(out: npt.NDArray[Any], _: Mapping[str, npt.NDArray[Any]]) -> None:
        out[:] = offsets

    return {
        "mihorder": storage.Fill(np.dtype(np.int32), order_shape, fill_order),
        "mihoffsets": storage.Fill(np.dtype(np.int64), offsets_shape, fill_offsets),
    }
