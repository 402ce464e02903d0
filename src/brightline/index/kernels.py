"""Compiled Hamming-distance kernels: linear scans and multi-index hashing (MIH).

Codes are rows of uint64 words. Every kernel returns exact results: a row is reported
if and only if its full Hamming distance to the query is <= radius. Outputs are int64
arrays (query index, row, distance) that grow by doubling, since hit counts are unknown;
hits are first gathered in fixed per-block (or per-query) buffers, see _append.

MIH splits each code into 16-bit substrings. If the full distance is <= r, then some
substring k is within r_k of the query's, where sum(r_k + 1) = r + 1 (pigeonhole), so
probing every bucket within r_k of the query in each table k finds every match. A row
found through table k is reported only if no earlier table j < k would have found it,
which removes duplicates without a per-query "seen" array.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import numpy.typing as npt
from numba import types
from numba.extending import intrinsic

SUB_BITS = 16
N_BUCKETS = 1 << SUB_BITS
# Rows per block in the batched scan: 4 words x 256 rows stays well inside a 32 KiB L1.
SCAN_BLOCK = 256


def _popcount_typer(typingctx: Any, x: Any) -> Any:  # pragma: no cover - compiled
    """LLVM ctpop on a uint64 word, typed int64 (numba turns int64 + uint64 into float64)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    return types.int64(types.uint64), codegen


# Typed Any: mypy cannot see that a numba intrinsic is called without its typing context.
_popcount: Any = intrinsic(_popcount_typer)


def _weight_sorted_masks() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """All 16-bit masks ordered by popcount, and how many have popcount <= w for w = 0..16."""
    values = np.arange(N_BUCKETS, dtype=np.uint32)
    weights = np.unpackbits(values.astype(">u2").view(np.uint8)).reshape(N_BUCKETS, SUB_BITS).sum(axis=1)
    order = np.argsort(weights, kind="stable")
    ends = np.searchsorted(weights[order], np.arange(SUB_BITS + 1), side="right")
    return values[order].astype(np.int64), ends.astype(np.int64)


MASKS, MASK_ENDS = _weight_sorted_masks()


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


@numba.njit(cache=True, nogil=True, inline="always")
def _subkey(word, k):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Substring k's 16 bits as int64, taken from the word that holds them (big-endian order)."""
    # int64, not uint64: numba would turn uint64 + int64 index arithmetic into float64.
    return np.int64((word >> np.uint64(48 - SUB_BITS * (k & 3))) & np.uint64(0xFFFF))


@numba.njit(cache=True, nogil=True)
def mih_build_table(codes, nrows, k, offsets, order):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Counting-sort rows [0, nrows) by substring k: fills offsets (65537,) and order (nrows,)."""
    word = k >> 2
    offsets[:] = 0
    for i in range(np.uint64(nrows)):  # unsigned: no negative-index wraparound code
        offsets[_subkey(codes[i, word], k) + 1] += 1
    for b in range(N_BUCKETS):
        offsets[b + 1] += offsets[b]
    fill = offsets[:N_BUCKETS].copy()
    for i in range(np.uint64(nrows)):
        key = _subkey(codes[i, word], k)
        order[fill[key]] = i
        fill[key] += 1


@numba.njit(cache=True, nogil=True)
def _mih_radii(radius, tables):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Per-table probe radii r_k with sum(r_k + 1) = radius + 1; -1 means skip the table."""
    base = radius // tables
    extra = radius % tables
    radii = np.empty(tables, dtype=np.int64)
    for k in range(tables):
        rk = base if k <= extra else base - 1
        # A 16-bit key is never more than 16 away, so probing radius 16 covers every bucket.
        radii[k] = min(rk, SUB_BITS)
    return radii


@numba.njit(cache=True, nogil=True)
def mih_search(codes, offsets, order, masks, mask_ends, queries, radius, limit):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Rows covered by the tables within ``radius`` of each query: (query index, row, distance, declined).

    A query whose probes would verify more than ``limit`` rows is skipped and flagged in
    ``declined`` so the caller can scan it linearly instead (cheaper at large radii).
    """
    words = codes.shape[1]
    tables = offsets.shape[0]
    radii = _mih_radii(radius, tables)
    probes = 0
    for k in range(tables):
        if radii[k] >= 0:
            probes += mask_ends[radii[k]]
    qkeys = np.empty(tables, dtype=np.int64)
    lo = np.empty(probes, dtype=np.int64)
    hi = np.empty(probes, dtype=np.int64)
    table = np.empty(probes, dtype=np.int64)
    cand = np.empty(1024, dtype=np.int64)
    cand_table = np.empty(1024, dtype=np.int64)
    hit_rows = np.empty(1024, dtype=np.int64)
    hit_dists = np.empty(1024, dtype=np.int64)
    declined = np.zeros(queries.shape[0], dtype=np.bool_)
    qidx = np.empty(64, dtype=np.int64)
    rows = np.empty(64, dtype=np.int64)
    dists = np.empty(64, dtype=np.int64)
    n = 0
    four = words == 4
    last = words - 1
    for qi in range(queries.shape[0]):
        q = queries[qi]
        q0, q1, q2, q3 = q[0], q[min(1, last)], q[min(2, last)], q[min(3, last)]
        for k in range(tables):
            qkeys[k] = _subkey(q[k >> 2], k)
        # Three passes (bucket bounds, candidate rows, verification), each a run of
        # independent loads, so the CPU overlaps the cache misses instead of chaining them.
        p = 0
        for k in range(tables):
            if radii[k] < 0:
                continue
            for mi in range(mask_ends[radii[k]]):
                b = qkeys[k] ^ masks[mi]
                lo[p] = offsets[k, b]
                hi[p] = offsets[k, b + 1]
                table[p] = k
                p += 1
        total = 0
        for p in range(probes):
            total += hi[p] - lo[p]
        if total > limit:
            declined[qi] = True
            continue
        if total > cand.shape[0]:
            cand = np.empty(total * 2, dtype=np.int64)
            cand_table = np.empty(total * 2, dtype=np.int64)
            hit_rows = np.empty(total * 2, dtype=np.int64)
            hit_dists = np.empty(total * 2, dtype=np.int64)
        c = 0
        for p in range(probes):
            k = table[p]
            for x in range(lo[p], hi[p]):
                cand[c] = order[k, x]
                cand_table[c] = k
                c += 1
        hits = 0
        for x in range(c):
            row = np.uint64(cand[x])  # unsigned: no negative-index wraparound code
            if four:
                d = (
                    _word(codes, row, 0, q0)
                    + _word(codes, row, 1, q1)
                    + _word(codes, row, 2, q2)
                    + _word(codes, row, 3, q3)
                )
            else:
                d = _distance(codes, row, q, 0, words)
            if d > radius:
                continue
            k = cand_table[x]
            seen = False
            for j in range(k):
                if radii[j] >= 0 and _popcount(np.uint64(_subkey(codes[row, j >> 2], j) ^ qkeys[j])) <= radii[j]:
                    seen = True
                    break
            if not seen:
                hit_rows[hits] = row
                hit_dists[hits] = d
                hits += 1
        qidx = _append_value(qidx, n, qi, hits)
        rows = _append(rows, n, hit_rows, hits)
        dists = _append(dists, n, hit_dists, hits)
        n += hits
    return qidx[:n], rows[:n], dists[:n], declined
