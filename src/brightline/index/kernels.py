"""Compiled Hamming-distance kernels: popcount and prefetch intrinsics, linear scans (MIH: mih_kernels.py).

Codes are rows of uint64 words. Every kernel returns exact results: a row is reported
if and only if its full Hamming distance to the query is <= radius. Outputs are int64
arrays (query index, row, distance) that grow by doubling, since hit counts are unknown;
hits are first gathered in fixed per-block (or per-query) buffers, see _append.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# Rows per block in the batched scan: 4 words x 256 rows stays well inside a 32 KiB L1.
SCAN_BLOCK = 256


def _popcount_typer(typingctx: Any, x: Any) -> Any:  # pragma: no cover - compiled
    """LLVM ctpop on a uint64 word, typed int64 (numba turns int64 + uint64 into float64)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    return types.int64(types.uint64), codegen


# Typed Any: mypy cannot see that a numba intrinsic is called without its typing context.
_popcount: Any = intrinsic(_popcount_typer)


def _prefetch_typer(typingctx: Any, address: Any) -> Any:  # pragma: no cover - compiled
    """LLVM prefetch (read, keep in all cache levels) of the byte at ``address``: no fault, no result."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
            builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]), "llvm.prefetch.p0"
        )
        builder.call(
            fn, [builder.inttoptr(args[0], byte_ptr), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)]
        )
        return context.get_dummy_value()

    return types.void(types.uint64), codegen


_prefetch: Any = intrinsic(_prefetch_typer)
# MIH touches rows, tables and codes at random: prefetching this many steps ahead keeps
# more cache misses in flight than out-of-order execution alone does (~1.5x measured).
PREFETCH = 16


@numba.njit(cache=True, nogil=True)
def _append(out, n, src, m):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """out[:n] followed by src[:m], in ``out`` or in a new int64 array twice as long."""
    # Results go through this only once per block or query: numba reference-counts an
    # array that is reassigned inside a loop, and doing that per row costs ~10x the scan.
    if n + m > out.shape[0]:
        bigger = np.empty(max(2 * out.shape[0], n + m), dtype=np.int64)
        bigger[:n] = out[:n]
        out = bigger
    out[n : n + m] = src[:m]
    return out


@numba.njit(cache=True, nogil=True)
def _append_value(out, n, value, m):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """out[:n] followed by ``value`` m times (see _append)."""
    if n + m > out.shape[0]:
        bigger = np.empty(max(2 * out.shape[0], n + m), dtype=np.int64)
        bigger[:n] = out[:n]
        out = bigger
    out[n : n + m] = value
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _distance(codes, i, q, lo, hi):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Differing bits between words lo..hi-1 of codes[i] and of q (any width)."""
    d = 0
    for j in range(lo, hi):
        d += _popcount(codes[i, j] ^ q[j])
    return d


@numba.njit(cache=True, nogil=True, inline="always")
def _word(codes, i, j, qj):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Differing bits in word j of codes[i] against query word qj."""
    # Inlined by numba (a call per row is 4x slower), with the query word in a register.
    return _popcount(codes[i, j] ^ qj)


@numba.njit(cache=True, nogil=True)
def scan_one(codes, start, stop, q, radius):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Rows in [start, stop) within ``radius`` of the single query ``q``: (rows, distances)."""
    words = codes.shape[1]
    # Unrelated codes differ in about half of any k words (32k bits, give or take
    # 4 sqrt(k)). Test the radius after the fewest words whose distance alone is then
    # almost always (3 sigma) over it, so the branch predicts well; where even all the
    # words are within 1.5 sigma of the radius, go branch-free. Every variant is exact.
    head = 0
    for k in range(words, 0, -1):
        if 32 * k - (12 if k < words else 6) * np.sqrt(k) > radius:
            head = k
    if words == 4:
        head = 0 if head == 0 else max(head, 2)  # 256 bits: loops below are spelled out
        q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    else:
        q0 = q1 = q2 = q3 = q[0]
    block_rows = np.empty(SCAN_BLOCK, dtype=np.int64)
    block_dists = np.empty(SCAN_BLOCK, dtype=np.int64)
    rows = np.empty(64, dtype=np.int64)
    dists = np.empty(64, dtype=np.int64)
    n = 0
    for s in range(start, stop, SCAN_BLOCK):
        # Row indexes are uint64 so numba emits no negative-index wraparound per access,
        # and each 256-bit variant has its own loop with the query words in registers
        # (~1.4x faster than a loop over words).
        lo, hi = np.uint64(s), np.uint64(min(stop, s + SCAN_BLOCK))
        c = 0
        if words == 4 and head == 2:
            for i in range(lo, hi):
                d = _word(codes, i, 0, q0) + _word(codes, i, 1, q1)
                if d <= radius:
                    d += _word(codes, i, 2, q2) + _word(codes, i, 3, q3)
                    block_rows[c] = i
                    block_dists[c] = d
                    c += d <= radius
        elif words == 4 and head == 3:
            for i in range(lo, hi):
                d = _word(codes, i, 0, q0) + _word(codes, i, 1, q1) + _word(codes, i, 2, q2)
                if d <= radius:
                    d += _word(codes, i, 3, q3)
                    block_rows[c] = i
                    block_dists[c] = d
                    c += d <= radius
        elif words == 4 and head == 4:
            for i in range(lo, hi):
                d = _word(codes, i, 0, q0) + _word(codes, i, 1, q1) + _word(codes, i, 2, q2) + _word(codes, i, 3, q3)
                if d <= radius:
                    block_rows[c] = i
                    block_dists[c] = d
                    c += 1
        elif words == 4:
            for i in range(lo, hi):
                d = _word(codes, i, 0, q0) + _word(codes, i, 1, q1) + _word(codes, i, 2, q2) + _word(codes, i, 3, q3)
                block_rows[c] = i
                block_dists[c] = d
                c += d <= radius
        else:
            for i in range(lo, hi):
                d = _distance(codes, i, q, 0, head if head > 0 else words)
                if d <= radius:
                    d += _distance(codes, i, q, head, words) if head > 0 else 0
                    block_rows[c] = i
                    block_dists[c] = d
                    c += d <= radius
        if c:
            rows = _append(rows, n, block_rows, c)
            dists = _append(dists, n, block_dists, c)
            n += c
    return rows[:n], dists[:n]


@numba.njit(cache=True, nogil=True)
def _block_distances(block, m, q, acc):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """acc[t] = distance of block column t to q for t < m; returns the minimum."""
    words = block.shape[0]
    lo = 1 << 30
    if words == 4:
        # Fused and branch-free so LLVM vectorises it (vpopcntq where the CPU has it).
        b0, b1, b2, b3 = block[0], block[1], block[2], block[3]
        q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
        for t in range(m):
            d = _popcount(b0[t] ^ q0) + _popcount(b1[t] ^ q1) + _popcount(b2[t] ^ q2) + _popcount(b3[t] ^ q3)
            acc[t] = d
            lo = min(lo, d)
        return lo
    for t in range(m):
        acc[t] = 0
    for j in range(words):
        row = block[j]
        qj = q[j]
        for t in range(m):
            acc[t] += _popcount(row[t] ^ qj)
    for t in range(m):
        lo = min(lo, acc[t])
    return lo


@numba.njit(cache=True, nogil=True)
def scan_many(codes, start, stop, queries, radius):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Rows in [start, stop) within ``radius`` of each query: (query index, row, distance)."""
    words = codes.shape[1]
    nq = queries.shape[0]
    # Transposing a block of rows once lets every query reuse it from L1 with
    # contiguous, vectorisable loads; the scan becomes compute-bound, not memory-bound.
    block = np.empty((words, SCAN_BLOCK), dtype=np.uint64)
    acc = np.empty(SCAN_BLOCK, dtype=np.int64)
    block_rows = np.empty(SCAN_BLOCK, dtype=np.int64)
    block_dists = np.empty(SCAN_BLOCK, dtype=np.int64)
    qidx = np.empty(64, dtype=np.int64)
    rows = np.empty(64, dtype=np.int64)
    dists = np.empty(64, dtype=np.int64)
    n = 0
    for s in range(start, stop, SCAN_BLOCK):
        m = min(stop - s, SCAN_BLOCK)
        for t in range(m):
            for j in range(words):
                block[j, t] = codes[s + t, j]
        for qi in range(nq):
            if _block_distances(block, m, queries[qi], acc) > radius:
                continue
            c = 0
            for t in range(m):
                d = acc[t]
                block_rows[c] = s + t
                block_dists[c] = d
                c += d <= radius
            qidx = _append_value(qidx, n, qi, c)
            rows = _append(rows, n, block_rows, c)
            dists = _append(dists, n, block_dists, c)
            n += c
    return qidx[:n], rows[:n], dists[:n]
