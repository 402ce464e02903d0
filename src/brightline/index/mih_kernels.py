"""Compiled multi-index hashing (MIH) kernels: building tables, probing them, verifying candidates.

MIH splits each code into ``tables`` substrings of ``width`` bits (bits left over at the
end are verified, never indexed). If the full distance is <= r, then some substring k is
within r_k of the query's, where sum(r_k + 1) = r + 1 (pigeonhole), so probing every bucket
within r_k in each table k finds every match. A row found through table k is reported only
if no earlier table j < k would have found it: no per-query "seen" array.
"""

from __future__ import annotations

import numba
import numpy as np

from brightline.index.kernels import PREFETCH, _append, _append_value, _distance, _popcount, _prefetch, _word


@numba.njit(cache=True, nogil=True, inline="always")
def _substring(codes, i, start, width):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Bits [start, start + width) of row i (bit 0 = top bit of word 0, as in hex) as int64."""
    # int64 result: numba would turn uint64 + int64 index arithmetic into float64.
    j = start >> 6
    end = (start & 63) + width
    if end <= 64:
        v = codes[i, j] >> np.uint64(64 - end)
    else:  # the substring straddles two words
        v = (codes[i, j] << np.uint64(end - 64)) | (codes[i, j + 1] >> np.uint64(128 - end))
    return np.int64(v & ((np.uint64(1) << np.uint64(width)) - np.uint64(1)))


@numba.njit(cache=True, nogil=True, inline="always")
def _log2(x):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """log2 of a power of two."""
    r = 0
    while (np.int64(1) << r) < x:
        r += 1
    return r


@numba.njit(cache=True, nogil=True)
def weight_masks(width, rmax):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Every ``width``-bit mask of popcount <= rmax, ordered by popcount, and ends[w] = how many have popcount <= w."""
    total = 0
    count = 1  # C(width, r), updated exactly
    for r in range(rmax + 1):
        total += count
        count = count * (width - r) // (r + 1)
    masks = np.empty(total, dtype=np.int64)
    ends = np.empty(rmax + 1, dtype=np.int64)
    n = 0
    for r in range(rmax + 1):
        x = (np.int64(1) << r) - 1
        while x < (np.int64(1) << width):
            masks[n] = x
            n += 1
            if x == 0:
                break
            # Gosper's hack: the next larger integer with the same popcount.
            c = x & -x
            y = x + c
            x = (((y ^ x) >> 2) // c) | y
        ends[r] = n
    return masks, ends


@numba.njit(cache=True, nogil=True)
def mih_count(codes, nrows, k, width, offsets):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Bucket start offsets (2**width + 1,) of table k over rows [0, nrows): a counting sort's first half."""
    start = k * width
    offsets[:] = 0
    for i in range(np.uint64(nrows)):  # unsigned: no negative-index wraparound code
        offsets[_substring(codes, i, start, width) + 1] += 1
    for b in range(offsets.shape[0] - 1):
        offsets[b + 1] += offsets[b]


@numba.njit(cache=True, nogil=True)
def mih_scatter(codes, nrows, k, width, offsets, order):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Row numbers [0, nrows) into ``order`` by table k's bucket, given its offsets (the second half)."""
    start = k * width
    fill = offsets[:-1].copy()
    for i in range(np.uint64(nrows)):
        key = _substring(codes, i, start, width)
        order[fill[key]] = i
        fill[key] += 1


@numba.njit(cache=True, nogil=True)
def check_offsets(offsets, rows):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Whether every table's bucket offsets start at 0, never decrease and end at ``rows``."""
    for k in range(offsets.shape[0]):
        if offsets[k, 0] != 0 or offsets[k, offsets.shape[1] - 1] != rows:
            return False
        for b in range(offsets.shape[1] - 1):
            if offsets[k, b + 1] < offsets[k, b]:
                return False
    return True


@numba.njit(cache=True, nogil=True)
def mih_radii(radius, tables, width):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Per-table probe radii r_k with sum(r_k + 1) = radius + 1; -1 means skip the table."""
    base = radius // tables
    extra = radius % tables
    radii = np.empty(tables, dtype=np.int64)
    for k in range(tables):
        rk = base if k <= extra else base - 1
        # A width-bit key is never more than width away: probing that radius covers every bucket.
        radii[k] = min(rk, width)
    return radii


@numba.njit(cache=True, nogil=True)
def probe_plan(radius, tables, width, masks, mask_ends):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """(table, key mask) of every bucket probe for ``radius``, the same for every query: two int64 arrays."""
    radii = mih_radii(radius, tables, width)
    probes = 0
    for k in range(tables):
        if radii[k] >= 0:
            probes += mask_ends[radii[k]]
    ptable = np.empty(probes, dtype=np.int64)
    pmask = np.empty(probes, dtype=np.int64)
    p = 0
    for k in range(tables):
        if radii[k] >= 0:
            for mi in range(mask_ends[radii[k]]):
                ptable[p] = k
                pmask[p] = masks[mi]
                p += 1
    return ptable, pmask


@numba.njit(cache=True, nogil=True)
def mih_search(codes, offsets, order, ptable, pmask, queries, radius, limit):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Rows covered by the tables within ``radius`` of each query: (query index, row, distance, declined).

    ``ptable`` and ``pmask`` come from probe_plan(). A query whose probes plus candidates
    would exceed ``limit`` is skipped and flagged in ``declined`` so the caller can scan
    it linearly instead (cheaper at large radii).
    """
    words = codes.shape[1]
    tables = offsets.shape[0]
    width = _log2(offsets.shape[1] - 1)
    radii = mih_radii(radius, tables, width)
    probes = ptable.shape[0]
    nrows = order.shape[1]
    off_base, off_stride = offsets.ctypes.data, offsets.strides[0]
    order_base, order_stride = order.ctypes.data, order.strides[0]
    codes_base, codes_stride = codes.ctypes.data, codes.strides[0]
    qkeys = np.empty(tables, dtype=np.int64)
    lo = np.empty(probes, dtype=np.int64)
    hi = np.empty(probes, dtype=np.int64)
    # Sized for ~2 candidates per probe, so a typical query never reallocates.
    cand = np.empty(2 * probes + 1026, dtype=np.int64)
    cand_table = np.empty(cand.shape[0], dtype=np.int64)
    hit_rows = np.empty(cand.shape[0], dtype=np.int64)
    hit_dists = np.empty(cand.shape[0], dtype=np.int64)
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
            qkeys[k] = _substring(queries, qi, k * width, width)
        # Three passes (bucket bounds, candidate rows, verification), each a run of
        # independent loads, so the CPU overlaps the cache misses instead of chaining them.
        for p in range(probes):
            ahead = p + PREFETCH
            if ahead < probes:
                _prefetch(np.uint64(off_base + ptable[ahead] * off_stride + (qkeys[ptable[ahead]] ^ pmask[ahead]) * 4))
            k = ptable[p]
            b = qkeys[k] ^ pmask[p]
            lo[p] = offsets[k, b]
            hi[p] = offsets[k, b + 1]
        total = probes
        for p in range(probes):
            total += hi[p] - lo[p]
        if total > limit:
            declined[qi] = True
            continue
        if total + 2 > cand.shape[0]:
            cand = np.empty(total * 2 + 2, dtype=np.int64)
            cand_table = np.empty(total * 2 + 2, dtype=np.int64)
            hit_rows = np.empty(total * 2, dtype=np.int64)
            hit_dists = np.empty(total * 2, dtype=np.int64)
        c = 0
        for p in range(probes):
            ahead = p + PREFETCH
            if ahead < probes:
                _prefetch(np.uint64(order_base + ptable[ahead] * order_stride + lo[ahead] * 4))
            k = ptable[p]
            start, size = lo[p], hi[p] - lo[p]
            if size <= 2 and start + 2 <= nrows:
                # Most buckets hold 0-2 rows: copy two unconditionally and advance by the
                # size, with no data-dependent branch to mispredict.
                cand[c] = order[k, start]
                cand[c + 1] = order[k, start + 1]
                cand_table[c] = k
                cand_table[c + 1] = k
                c += size
            else:
                for x in range(start, start + size):
                    cand[c] = order[k, x]
                    cand_table[c] = k
                    c += 1
        hits = 0
        for x in range(c):
            if x + PREFETCH < c:
                _prefetch(np.uint64(codes_base + cand[x + PREFETCH] * codes_stride))
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
            # Report a row only through the first table that finds it (no per-query "seen" set).
            k = cand_table[x]
            seen = False
            for j in range(k):
                if (
                    radii[j] >= 0
                    and _popcount(np.uint64(_substring(codes, row, j * width, width) ^ qkeys[j])) <= radii[j]
                ):
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
