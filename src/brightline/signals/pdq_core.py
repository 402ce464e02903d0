"""PDQ hash maths, bit-exact with the reference C++ implementation on identical pixels.

Every floating-point step is done in float32 in the same order as the reference
(luma, two Jarosz box-filter passes per axis, decimation to 64x64, the quality
metric and a 16x64 DCT matrix product), because re-associating any sum flips bits
on near-flat images. The loops are compiled with numba (no fastmath, so no fused
multiply-adds or reordered reductions).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

F32 = np.float32
MIN_HASHABLE_DIM = 5
DOWNSAMPLE = 64
JAROSZ_PASSES = 2

# Order of the dihedral variants everywhere in brightline (and in the reference CLI).
DIHEDRAL_NAMES = (
    "original",
    "rot90",
    "rot180",
    "rot270",
    "flipx",
    "flipy",
    "flipplus1",
    "flipminus1",
)


def _dct_matrix() -> npt.NDArray[np.float32]:
    """The 16x64 DCT-II rows 1..16, rounded to float32 as the reference rounds them."""
    scale = float(F32(math.sqrt(2.0 / 64.0)))  # the reference keeps the scale as float
    out = np.empty((16, 64), dtype=np.float32)
    for i in range(16):
        for j in range(64):
            out[i, j] = F32(scale * math.cos((math.pi / 2.0 / 64.0) * (i + 1) * (2 * j + 1)))
    return out


DCT_MATRIX = _dct_matrix()


@numba.njit(cache=True, nogil=True)
def luma_from_rgb(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:  # pragma: no cover - jitted
    """Float32 luma 0.299 R + 0.587 G + 0.114 B, summed left to right."""
    rows, cols = rgb.shape[0], rgb.shape[1]
    out = np.empty((rows, cols), dtype=np.float32)
    # Flat indexing lets LLVM vectorise the loop; 3-D indexing keeps it scalar (7x slower).
    src = rgb.ravel()
    flat = out.ravel()
    cr = np.float32(0.299)
    cg = np.float32(0.587)
    cb = np.float32(0.114)
    for p in range(rows * cols):
        flat[p] = cr * np.float32(src[3 * p]) + cg * np.float32(src[3 * p + 1]) + cb * np.float32(src[3 * p + 2])
    return out


@numba.njit(cache=True, nogil=True)
def luma_from_grey(grey: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:  # pragma: no cover
    """The reference's greyscale path: luma is the pixel value itself."""
    return grey.astype(np.float32)


def window_size(old_dimension: int, new_dimension: int = DOWNSAMPLE) -> int:
    """Jarosz box-filter window: half the source pixels per output pixel, rounded up."""
    return (old_dimension + 2 * new_dimension - 1) // (2 * new_dimension)


@numba.njit(cache=True, nogil=True)
def _box_row(src, i, dst, window):  # type: ignore[no-untyped-def]  # pragma: no cover
    # The reference's row pass: one Jarosz box filter along row i of src into the 1-D dst.
    # A uint8 grey source is read as float32, exactly the luma the reference would use.
    cols = src.shape[1]
    half = (window + 2) // 2
    total = np.float32(0.0)
    size = 0
    li = 0
    ri = 0
    oi = 0
    for _ in range(half - 1):
        total += np.float32(src[i, ri])
        size += 1
        ri += 1
    for _ in range(window - half + 1):
        total += np.float32(src[i, ri])
        size += 1
        dst[oi] = total / np.float32(size)
        ri += 1
        oi += 1
    for _ in range(cols - window):
        total += np.float32(src[i, ri])
        total -= np.float32(src[i, li])
        dst[oi] = total / np.float32(size)
        li += 1
        ri += 1
        oi += 1
    for _ in range(half - 1):
        total -= np.float32(src[i, li])
        size -= 1
        dst[oi] = total / np.float32(size)
        li += 1
        oi += 1


@numba.njit(cache=True, nogil=True)
def _box_along_cols(src, dst, window):  # type: ignore[no-untyped-def]  # pragma: no cover
    # Same arithmetic as the reference's strided column pass, but walking rows in the
    # outer loop so memory is read contiguously; each column's sequence of float
    # operations is unchanged, so results are identical.
    rows, cols = src.shape
    half = (window + 2) // 2
    n1 = half - 1
    n2 = window - half + 1
    n3 = rows - window
    totals = np.zeros(cols, dtype=np.float32)
    size = 0
    ri = 0
    li = 0
    oi = 0
    for _ in range(n1):
        for j in range(cols):
            totals[j] += src[ri, j]
        size += 1
        ri += 1
    for _ in range(n2):
        size += 1
        fsize = np.float32(size)
        for j in range(cols):
            totals[j] += src[ri, j]
            dst[oi, j] = totals[j] / fsize
        ri += 1
        oi += 1
    fsize = np.float32(size)
    for _ in range(n3):
        for j in range(cols):
            totals[j] += src[ri, j]
            totals[j] -= src[li, j]
            dst[oi, j] = totals[j] / fsize
        li += 1
        ri += 1
        oi += 1
    for _ in range(half - 1):
        size -= 1
        fsize = np.float32(size)
        for j in range(cols):
            totals[j] -= src[li, j]
            dst[oi, j] = totals[j] / fsize
        li += 1
        oi += 1


# Rows handled together by the tiled row pass: the running sums of 16 rows advance side
# by side (one SIMD vector of lanes per step) instead of one latency-bound chain per row.
_LANES = 16


@numba.njit(cache=True, nogil=True)
def _sampled_rows(block, count, window, keep, tile, out, dst, row0):  # type: ignore[no-untyped-def]  # pragma: no cover
    # The second row pass over the first ``count`` rows of ``block``, keeping only the columns
    # in ``keep``, into dst[row0:row0 + count]. The rows are transposed into a tile so that
    # _box_along_cols advances their running sums side by side (one SIMD vector of lanes per
    # step) instead of one latency-bound chain per row; each row still sees its own sequence
    # of float32 operations, so the kept values are identical.
    cols = block.shape[1]
    flat_in, flat_tile = block.ravel(), tile.ravel()
    for k0 in range(0, cols, _LANES):
        k1 = min(cols, k0 + _LANES)
        for b in range(count):
            base = b * cols
            for k in range(k0, k1):
                flat_tile[k * _LANES + b] = flat_in[base + k]
    _box_along_cols(tile, out, window)
    flat_out = out.ravel()
    for b in range(count):
        for o in range(keep.shape[0]):
            dst[row0 + b, o] = flat_out[keep[o] * _LANES + b]


@numba.njit(cache=True, nogil=True)
def _sample_points(size):  # type: ignore[no-untyped-def]  # pragma: no cover
    points = np.empty(64, dtype=np.int64)
    for o in range(64):
        points[o] = int(((o + 0.5) * size) / 64)
    return points


@numba.njit(cache=True, nogil=True)
def _column_step(ring, span, ri, li, totals, fsize, block, oi):  # type: ignore[no-untyped-def]  # pragma: no cover
    # One output row of the first column pass: add row ri (if >= 0), drop row li (if >= 0),
    # in the reference's order, and write totals / size into block row oi % _LANES.
    cols = totals.shape[0]
    row = block[oi % _LANES]
    if ri >= 0:
        new = ring[ri % span]
        if li >= 0:
            old = ring[li % span]
            for j in range(cols):
                totals[j] += new[j]
                totals[j] -= old[j]
                row[j] = totals[j] / fsize
        else:
            for j in range(cols):
                totals[j] += new[j]
                row[j] = totals[j] / fsize
    else:
        old = ring[li % span]
        for j in range(cols):
            totals[j] -= old[j]
            row[j] = totals[j] / fsize


@numba.njit(cache=True, nogil=True)
def _downsample_64(pixels, skip_filter_at_64):  # type: ignore[no-untyped-def]  # pragma: no cover
    # Two Jarosz passes per axis (rows, columns, rows, columns), then the 64x64 samples, with
    # no full-size intermediate: a first-pass row is made when the column pass reaches it and
    # kept only while the window needs it (a ring of window + 1 rows), and column-pass rows go
    # on to the second row pass 16 at a time. Full-size temporaries cost more in fresh-page
    # faults and memory traffic than the filtering itself (16 vs 6 ms at 3 MP). Only sampled
    # columns of the second row pass and sampled rows of the last column pass are kept. Every
    # kept value goes through the same float32 operations, in the same order, as in the reference.
    rows, cols = pixels.shape
    out = np.empty((64, 64), dtype=np.float32)
    if skip_filter_at_64 and rows == 64 and cols == 64:
        for i in range(64):
            for j in range(64):
                out[i, j] = np.float32(pixels[i, j])
        return out
    w_rows = (cols + 127) // 128
    w_cols = (rows + 127) // 128
    keep = _sample_points(cols)
    span = w_cols + 1
    ring = np.empty((span, cols), dtype=np.float32)
    block = np.empty((_LANES, cols), dtype=np.float32)
    tile = np.zeros((cols, _LANES), dtype=np.float32)
    tiled = np.empty((cols, _LANES), dtype=np.float32)
    third = np.empty((rows, 64), dtype=np.float32)
    totals = np.zeros(cols, dtype=np.float32)
    half = (w_cols + 2) // 2
    size = 0
    ri = 0
    li = 0
    oi = 0
    for _ in range(half - 1):
        _box_row(pixels, ri, ring[ri % span], w_rows)
        row = ring[ri % span]
        for j in range(cols):
            totals[j] += row[j]
        size += 1
        ri += 1
    for phase in range(3):
        steps = (w_cols - half + 1, rows - w_cols, half - 1)[phase]
        for _ in range(steps):
            if phase == 0:
                size += 1
            elif phase == 2:
                size -= 1
            if phase < 2:
                _box_row(pixels, ri, ring[ri % span], w_rows)
            _column_step(
                ring, span, ri if phase < 2 else -1, li if phase > 0 else -1, totals, np.float32(size), block, oi
            )
            if phase < 2:
                ri += 1
            if phase > 0:
                li += 1
            oi += 1
            if oi % _LANES == 0:
                _sampled_rows(block, _LANES, w_rows, keep, tile, tiled, third, oi - _LANES)
    if oi % _LANES:
        _sampled_rows(block, oi % _LANES, w_rows, keep, tile, tiled, third, oi - oi % _LANES)
    fourth = np.empty_like(third)
    _box_along_cols(third, fourth, w_cols)
    row_points = _sample_points(rows)
    for oi in range(64):
        for oj in range(64):
            out[oi, oj] = fourth[row_points[oi], oj]
    return out


@numba.njit(cache=True, nogil=True)
def _quality(b64):  # type: ignore[no-untyped-def]  # pragma: no cover
    total = 0
    hundred = np.float32(100.0)
    scale = np.float32(255.0)
    for i in range(63):
        for j in range(64):
            d = int(((b64[i, j] - b64[i + 1, j]) * hundred) / scale)
            total += abs(d)
    for i in range(64):
        for j in range(63):
            d = int(((b64[i, j] - b64[i, j + 1]) * hundred) / scale)
            total += abs(d)
    q = total // 90
    return 100 if q > 100 else q


@numba.njit(cache=True, nogil=True)
def _dct_16(b64, dct):  # type: ignore[no-untyped-def]  # pragma: no cover
    tmp = np.empty((16, 64), dtype=np.float32)
    for i in range(16):
        for j in range(64):
            s = np.float32(0.0)
            for k in range(64):
                s += dct[i, k] * b64[k, j]
            tmp[i, j] = s
    out = np.empty((16, 16), dtype=np.float32)
    for i in range(16):
        for j in range(16):
            s = np.float32(0.0)
            for k in range(64):
                s += tmp[i, k] * dct[j, k]
            out[i, j] = s
    return out


@numba.njit(cache=True, nogil=True)
def pdq_dct_and_quality(luma, skip_filter_at_64, dct):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Downsample luma to 64x64, then return (16x16 DCT coefficients, quality 0..100)."""
    b64 = _downsample_64(luma, skip_filter_at_64)
    return _dct_16(b64, dct), _quality(b64)


# Sign masks for the dihedral transforms in the DCT domain: a mirror along one axis
# negates the odd frequencies along it (index 0 here is frequency 1).
_EVEN = np.arange(16) % 2 == 0
_ROW_SIGN = np.where(_EVEN, -1.0, 1.0).astype(np.float32)[:, None] * np.ones((1, 16), np.float32)
_COL_SIGN = _ROW_SIGN.T.copy()
_CHECKER = np.where((np.add.outer(np.arange(16), np.arange(16)) % 2) == 1, -1.0, 1.0).astype(np.float32)


def dihedral_coefficients(coeffs: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
    """The 8 dihedral variants of a 16x16 DCT block, in DIHEDRAL_NAMES order."""
    a = coeffs
    return [
        a,
        (a * _COL_SIGN).T,  # rot90: transpose, negate even column indices
        a * _CHECKER,  # rot180
        (a * _ROW_SIGN).T,  # rot270
        a * _ROW_SIGN,  # flipx
        a * _COL_SIGN,  # flipy
        a.T,  # flipplus1
        (a * _CHECKER).T,  # flipminus1
    ]


def bits_to_hex(coeffs: npt.NDArray[np.float32]) -> str:
    """Threshold 16x16 coefficients at their median; bit i*16+j of a 256-bit big-endian hex."""
    flat = coeffs.reshape(256)
    # The reference's Torben median of 256 values is always the 128th smallest one.
    median = np.partition(flat, 127)[127]
    bits = flat > median
    return np.packbits(bits[::-1]).tobytes().hex()


def pdq_from_luma(luma: npt.NDArray[np.float32], dihedral: bool = False) -> tuple[list[str], int]:
    """PDQ hex hash(es) and quality of a float32 luma plane (see pdq_from_pixels)."""
    return pdq_from_pixels(np.ascontiguousarray(luma, dtype=np.float32), dihedral)


def pdq_from_pixels(pixels: npt.NDArray[np.generic], dihedral: bool = False) -> tuple[list[str], int]:
    """PDQ hex hash(es) and quality of float32 luma, uint8 grey (H, W) or uint8 RGB (H, W, 3) pixels.

    Returns ([plain]) or, with ``dihedral``, the 8 variants in DIHEDRAL_NAMES order.
    Images under 5 pixels on a side hash to zeros with quality 0, like the reference.
    """
    rows, cols = pixels.shape[0], pixels.shape[1]
    count = 8 if dihedral else 1
    if rows < MIN_HASHABLE_DIM or cols < MIN_HASHABLE_DIM:
        return ["0" * 64] * count, 0
    contiguous = np.ascontiguousarray(pixels)
    if contiguous.dtype == np.uint8 and contiguous.ndim == 3:
        contiguous = luma_from_rgb(contiguous)
    # uint8 grey goes in as it is: the filter reads each pixel as float32, the reference's luma.
    # The reference skips the box filter for an exact 64x64 input in its plain hash
    # but not in its dihedral one; follow it so both stay bit-exact.
    coeffs, quality = pdq_dct_and_quality(contiguous, True, DCT_MATRIX)
    if not dihedral:
        return [bits_to_hex(coeffs)], int(quality)
    if rows == 64 and cols == 64:
        filtered, _ = pdq_dct_and_quality(contiguous, False, DCT_MATRIX)
        hashes = [bits_to_hex(coeffs)] + [bits_to_hex(c) for c in dihedral_coefficients(filtered)[1:]]
        return hashes, int(quality)
    return [bits_to_hex(c) for c in dihedral_coefficients(coeffs)], int(quality)
