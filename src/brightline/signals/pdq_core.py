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
def _box_along_rows(src, dst, window):  # type: ignore[no-untyped-def]  # pragma: no cover
    rows, cols = src.shape
    half = (window + 2) // 2
    n1 = half - 1
    n2 = window - half + 1
    n3 = cols - window
    n4 = half - 1
    for i in range(rows):
        total = np.float32(0.0)
        size = 0
        li = 0
        ri = 0
        oi = 0
        for _ in range(n1):
            total += src[i, ri]
            size += 1
            ri += 1
        for _ in range(n2):
            total += src[i, ri]
            size += 1
            dst[i, oi] = total / np.float32(size)
            ri += 1
            oi += 1
        for _ in range(n3):
            total += src[i, ri]
            total -= src[i, li]
            dst[i, oi] = total / np.float32(size)
            li += 1
            ri += 1
            oi += 1
        for _ in range(n4):
            total -= src[i, li]
            size -= 1
            dst[i, oi] = total / np.float32(size)
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
def _to_tile(src, i0, tile):  # type: ignore[no-untyped-def]  # pragma: no cover
    # tile[k, b] = src[i0 + b, k], in blocks of 16 columns on flat indices (2-D strided
    # indexing compiles to several times more instructions).
    rows, cols = src.shape
    lanes = min(_LANES, rows - i0)
    flat, out = src.ravel(), tile.ravel()
    for k0 in range(0, cols, _LANES):
        k1 = min(cols, k0 + _LANES)
        for b in range(lanes):
            base = (i0 + b) * cols
            for k in range(k0, k1):
                out[k * _LANES + b] = flat[base + k]


@numba.njit(cache=True, nogil=True)
def _row_pass_sampled(src, window, keep):  # type: ignore[no-untyped-def]  # pragma: no cover
    # The reference's per-row Jarosz pass keeping only the output columns in ``keep``, run
    # on 16 rows at once: each tile is transposed so that _box_along_cols (vectorised across
    # its columns) walks the rows' pixels in order. Every row still sees its own sequence
    # of float32 operations, so the kept values are identical. (For a full-width pass the
    # transposes cost more than they save; _box_along_rows is used there.)
    rows, cols = src.shape
    width = keep.shape[0]
    dst = np.empty((rows, width), dtype=np.float32)
    tile = np.zeros((cols, _LANES), dtype=np.float32)
    out = np.empty((cols, _LANES), dtype=np.float32)
    flat_out, flat_dst = out.ravel(), dst.ravel()
    for i0 in range(0, rows, _LANES):
        _to_tile(src, i0, tile)
        _box_along_cols(tile, out, window)
        for b in range(min(_LANES, rows - i0)):
            for o in range(width):
                flat_dst[(i0 + b) * width + o] = flat_out[keep[o] * _LANES + b]
    return dst


@numba.njit(cache=True, nogil=True)
def _sample_points(size):  # type: ignore[no-untyped-def]  # pragma: no cover
    points = np.empty(64, dtype=np.int64)
    for o in range(64):
        points[o] = int(((o + 0.5) * size) / 64)
    return points


@numba.njit(cache=True, nogil=True)
def _downsample_64(luma, skip_filter_at_64):  # type: ignore[no-untyped-def]  # pragma: no cover
    # Two Jarosz passes per axis (rows, columns, rows, columns), then the 64x64 samples.
    # Only the sampled columns of the second row pass and the sampled rows of the second
    # column pass are ever read, so only those are kept: each kept value went through the
    # same operations as in the reference.
    rows, cols = luma.shape
    out = np.empty((64, 64), dtype=np.float32)
    if skip_filter_at_64 and rows == 64 and cols == 64:
        out[:, :] = luma
        return out
    w_rows = (cols + 127) // 128
    w_cols = (rows + 127) // 128
    first = np.empty_like(luma)
    _box_along_rows(luma, first, w_rows)
    second = np.empty_like(first)
    _box_along_cols(first, second, w_cols)
    third = _row_pass_sampled(second, w_rows, _sample_points(cols))
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
    if contiguous.dtype == np.uint8:
        contiguous = luma_from_rgb(contiguous) if contiguous.ndim == 3 else luma_from_grey(contiguous)
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
