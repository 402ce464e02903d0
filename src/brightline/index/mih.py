"""Multi-index hashing tables for HammingIndex: their layout, building them, and querying them from threads.

See kernels.py for the search itself. A table per ``width``-bit substring holds every row
number counting-sorted by that substring (int32), with direct-address bucket start
offsets (int32, 2**width + 1 per table). The layout is chosen from the row count
(Norouzi et al., "Fast Exact Search in Hamming Space with Multi-Index Hashing":
substrings of about log2(rows) bits), so buckets hold about one row each at any size.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from math import comb
from typing import Any

import numpy as np
import numpy.typing as npt

from brightline.errors import ValidationError
from brightline.index import mih_kernels as kernels
from brightline.index import storage

Words = npt.NDArray[np.uint64]
IdArray = npt.NDArray[np.int64]
Runner = Callable[[Sequence[Callable[[], Any]]], list[Any]]

# The radius the layout is tuned for (PDQ's usual match threshold); others stay exact.
DESIGN_RADIUS = 31
MIN_WIDTH, MAX_WIDTH = 8, 24
# Modelled cost of verifying a candidate (an order read and a code read, both usually
# cache misses) against one probe (a read of two adjacent bucket offsets).
CANDIDATE_COST = 2.0


@dataclass(frozen=True)
class MihTables:
    """Multi-index hash tables over rows [0, rows): one counting-sorted table per substring."""

    rows: int
    offsets: npt.NDArray[np.int32]  # (tables, 2**width + 1) bucket starts
    order: npt.NDArray[np.int32]  # (tables, rows) row numbers sorted by bucket

    @property
    def tables(self) -> int:
        """How many substrings are indexed."""
        return int(self.offsets.shape[0])

    @property
    def width(self) -> int:
        """Bits per substring."""
        return int(self.offsets.shape[1] - 1).bit_length() - 1


def read_only(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """A read-only view, so each kernel compiles once for one array type (and cannot write)."""
    view = array.view()
    view.flags.writeable = False
    return view


def radii(radius: int, tables: int, width: int) -> list[int]:
    """Per-table probe radii (mirrors kernels.mih_radii): sum(r + 1) = radius + 1, -1 = table skipped."""
    base, extra = divmod(radius, tables)
    return [min(base if k <= extra else base - 1, width) for k in range(tables)]


@functools.lru_cache(maxsize=1024)
def probe_count(radius: int, tables: int, width: int) -> int:
    """Buckets MIH probes per query for ``radius``."""
    return sum(sum(comb(width, i) for i in range(r + 1)) for r in radii(radius, tables, width) if r >= 0)


def expected_cost(rows: int, radius: int, tables: int, width: int) -> float:
    """Probes plus weighted candidates per query if the codes were uniformly spread."""
    probes = probe_count(radius, tables, width)
    return probes + CANDIDATE_COST * probes * rows / (1 << width)


@functools.lru_cache(maxsize=1024)
def choose_layout(rows: int, bits: int) -> tuple[int, int]:
    """(tables, width) with the lowest modelled cost at DESIGN_RADIUS.

    Offsets cost 4 bytes per bucket, so a width is allowed only while a table has at most
    four buckets per row (at 10M rows: 11 tables of 23 bits, 253 of the 256 bits indexed).
    """
    best: tuple[float, int, int] | None = None
    for width in range(MIN_WIDTH, min(MAX_WIDTH, bits) + 1):
        if width > MIN_WIDTH and (1 << width) > 4 * rows:
            break
        tables = bits // width
        cost = expected_cost(rows, DESIGN_RADIUS, tables, width)
        if best is None or cost < best[0]:
            best = (cost, tables, width)
    assert best is not None  # MIN_WIDTH <= 64 <= bits
    return best[1], best[2]


def table_shapes(
    rows: int, bits: int, layout: tuple[int, int] | None = None
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Shapes of (offsets, order) for tables over ``rows`` codes of ``bits`` bits."""
    tables, width = layout or choose_layout(rows, bits)
    return (tables, (1 << width) + 1), (tables, rows)


@functools.lru_cache(maxsize=64)
def probe_plan(radius: int, tables: int, width: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(table, key mask) of every bucket a query probes at ``radius`` (cached: the same for every query)."""
    rmax = max(0, *radii(radius, tables, width))
    masks, ends = kernels.weight_masks(width, rmax)
    ptable, pmask = kernels.probe_plan(radius, tables, width, masks, ends)
    return read_only(ptable), read_only(pmask)


def build_tables(
    codes: Words,
    rows: int,
    bits: int,
    run: Runner,
    offsets: npt.NDArray[np.int32] | None = None,
    order: npt.NDArray[np.int32] | None = None,
) -> MihTables:
    """Tables over codes[:rows], one counting sort per substring, run through ``run`` (a thread pool).

    ``offsets`` and ``order`` may be given (e.g. memory-mapped files to fill); else they are allocated.
    """
    if rows >= np.iinfo(np.int32).max:
        raise ValidationError("MIH tables hold at most 2**31 - 1 rows; use strategy='linear'")
    offsets_shape, order_shape = table_shapes(rows, bits)
    tables, width = offsets_shape[0], offsets_shape[1].bit_length() - 1
    offsets = np.empty(offsets_shape, dtype=np.int32) if offsets is None else offsets
    order = np.empty(order_shape, dtype=np.int32) if order is None else order

    def build(k: int) -> None:
        kernels.mih_count(codes, rows, k, width, offsets[k])
        kernels.mih_scatter(codes, rows, k, width, offsets[k], order[k])

    run([functools.partial(build, k) for k in range(tables)])
    return MihTables(rows, read_only(offsets), read_only(order))


def search(codes: Words, mih: MihTables, queries: Words, radius: int, limit: int) -> tuple[IdArray, ...]:
    """kernels.mih_search over ``mih``: (query index, row, distance, declined)."""
    ptable, pmask = probe_plan(radius, mih.tables, mih.width)
    result: tuple[IdArray, ...] = kernels.mih_search(
        codes, mih.offsets, mih.order, ptable, pmask, queries, radius, limit
    )
    return result


def mih_task(
    codes: Words, mih: MihTables, queries: Words, part: IdArray, radius: int, limit: int
) -> Callable[[], tuple[IdArray, IdArray, IdArray, npt.NDArray[np.bool_]]]:
    """A thread task: MIH search for queries[part], with query indexes mapped back."""

    def run() -> tuple[IdArray, IdArray, IdArray, npt.NDArray[np.bool_]]:
        sub = read_only(np.ascontiguousarray(queries[part]))
        qidx, rows, dists, declined = search(codes, mih, sub, radius, limit)
        return part[qidx], rows, dists, declined.astype(np.bool_, copy=False)

    return run


def table_fills(count: int, bits: int, run: Runner) -> dict[str, storage.Fill]:
    """storage.Fill entries writing MIH tables over ``count`` rows of the "codes" array written before them.

    Both are filled in place in their files: first the offsets (a counting pass per table),
    then the order arrays from those offsets, so no table is ever held in private memory.
    """
    offsets_shape, order_shape = table_shapes(count, bits)
    tables, width = offsets_shape[0], offsets_shape[1].bit_length() - 1

    def fill_offsets(out: npt.NDArray[Any], written: Mapping[str, npt.NDArray[Any]]) -> None:
        codes = read_only(written["codes"])
        run([functools.partial(kernels.mih_count, codes, count, k, width, out[k]) for k in range(tables)])

    def fill_order(out: npt.NDArray[Any], written: Mapping[str, npt.NDArray[Any]]) -> None:
        codes, offsets = read_only(written["codes"]), read_only(written["mihoffsets"])
        run([functools.partial(kernels.mih_scatter, codes, count, k, width, offsets[k], out[k]) for k in range(tables)])

    return {
        "mihoffsets": storage.Fill(np.dtype(np.int32), offsets_shape, fill_offsets),
        "mihorder": storage.Fill(np.dtype(np.int32), order_shape, fill_order),
    }
