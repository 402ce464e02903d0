"""Decoding image files into pixel arrays for hashing, kept apart from the hash maths."""

from __future__ import annotations

import functools
import io
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError, features

from brightline.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaTooLargeError,
    MediaUnreadableError,
    UnsupportedMediaError,
)
from brightline.signals.files import check_payload, check_regular_file
from brightline.signals.media_formats import SUPPORTED_FORMATS, describe_unidentified, sniff_format
from brightline.signals.pdq_core import window_size

DEFAULT_MAX_PIXELS: Final = 100_000_000
DEFAULT_FAST_MIN_SIDE: Final = 1024

# Single-channel modes hashed on the reference's grey path (luma = pixel value); "1" is
# widened to 0/255 first, which is exactly what convert("RGB") would put in each channel.
_GREY_MODES: Final = frozenset({"L", "1"})
# libjpeg can only scale by these; other formats are reduced by the same powers of two so
# that `scale` means the same thing everywhere.
_SCALES: Final = (8, 4, 2)
_MAX_WINDOW_DRIFT: Final = 0.04
# What decoders raise on damaged data; anything else is a bug and should surface as such.
_DECODE_ERRORS: Final = (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, struct.error, zlib.error)


@dataclass(frozen=True, eq=False)  # eq=False: comparing ndarrays with == is ambiguous
class DecodedImage:
    """Pixels ready for hashing plus what is known about the file they came from."""

    pixels: npt.NDArray[np.uint8]
    is_grey: bool
    width: int
    height: int
    format: str
    mode: str
    scale: int = 1


def read_media_bytes(path: Path, *, max_bytes: int) -> bytes:
    """The whole file, or a media error saying why it cannot be had."""
    size = check_regular_file(path)
    if size > max_bytes:
        raise MediaTooLargeError(f"{path}: {size} bytes is over the {max_bytes}-byte limit")
    # The file may have changed between stat() and read(); judge what was actually read.
    return check_payload(_read_file(path, max_bytes + 1), max_bytes, str(path))


def decode_image(
    source: bytes | Path,
    *,
    exact: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    fast_min_side: int = DEFAULT_FAST_MIN_SIDE,
    jpeg_luma: bool = True,
) -> DecodedImage:
    """Decode the first frame; unless ``exact``, reduced (short side >= fast_min_side) and, for JPEG, as luma."""
    if fast_min_side < 1:
        raise ValueError("fast_min_side must be positive")
    if isinstance(source, Path):
        check_regular_file(source)
        data = _read_file(source, -1)
    else:
        data = bytes(source)
    if not data:
        raise EmptyMediaError("the media is empty")
    sniffed = sniff_format(data)
    if sniffed in ("HEIF", "AVIF"):
        _register_heif_opener()
    # Pillow reports huge images with a module-level warning; we apply our own limit instead,
    # and its other warnings are about metadata we do not use. Scoped so nothing leaks out.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", module=r"(PIL|pillow_heif)\.")
        image = _open(data, sniffed)
        with image:
            return _decode_opened(
                image, exact=exact, max_pixels=max_pixels, min_side=fast_min_side, jpeg_luma=jpeg_luma and not exact
            )


def _open(data: bytes, sniffed: str | None) -> Image.Image:
    """Parse the header only; no pixel data is decoded yet."""
    try:
        return Image.open(io.BytesIO(data), formats=_available_formats())
    except Image.DecompressionBombError as exc:
        raise MediaTooLargeError(f"image is too large to decode safely: {exc}") from None
    except UnidentifiedImageError:
        if sniffed in ("HEIF", "AVIF") and not _codec_available(sniffed):
            raise UnsupportedMediaError(f"{sniffed} support is not installed (pillow-heif / Pillow AVIF)") from None
        if sniffed in SUPPORTED_FORMATS:
            raise CorruptMediaError(f"damaged {sniffed} data: the header cannot be read") from None
        raise UnsupportedMediaError(describe_unidentified(data, sniffed)) from None
    except _DECODE_ERRORS as exc:
        raise CorruptMediaError(f"damaged {sniffed or 'image'} data: {exc}") from None


def _decode_opened(image: Image.Image, *, exact: bool, max_pixels: int, min_side: int, jpeg_luma: bool) -> DecodedImage:
    """Check the declared size, then decode, convert and (on the fast path) shrink."""
    width, height = image.size
    # Checked on the header's numbers, before any pixel memory is allocated.
    if width * height > max_pixels:
        raise MediaTooLargeError(f"{width}x{height} pixels is over the {max_pixels}-pixel limit")
    fmt = "JPEG" if image.format == "MPO" else str(image.format)
    mode = image.mode
    scale = 1 if exact else _pick_scale(width, height, min_side)
    try:
        # Fast path: a colour JPEG decoded straight to its Y channel skips the chroma IDCT,
        # upsampling and colour conversion (~40 % of decoding) and the luma pass. JPEG's Y
        # is the same 0.299/0.587/0.114 mix as PDQ's luma, before the RGB rounding and
        # clamping, so hashes move by a bit or two (bench/README.md, "Hashing").
        luma = jpeg_luma and fmt == "JPEG" and image.mode == "RGB"
        drafted = _draft(image, scale, "L" if luma else image.mode) if fmt == "JPEG" and (scale > 1 or luma) else 1
        image.load()
        converted = _convert(image)
        if scale > drafted:
            # Formats without scaled decoding: a box average costs far less than hashing
            # every full-size pixel.
            converted = converted.reduce(scale // drafted)
        pixels: npt.NDArray[np.uint8] = np.asarray(converted, dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise MediaTooLargeError(f"image is too large to decode safely: {exc}") from None
    except _DECODE_ERRORS as exc:
        raise CorruptMediaError(f"damaged {fmt} data: {exc}") from None
    return DecodedImage(
        pixels=pixels, is_grey=pixels.ndim == 2, width=width, height=height, format=fmt, mode=mode, scale=scale
    )


def _pick_scale(width: int, height: int, min_side: int) -> int:
    """The largest power-of-two reduction that keeps the short side >= min_side and PDQ's filter unchanged."""
    for factor in _SCALES:
        if min(width, height) // factor < min_side:
            continue
        # PDQ box-filters with a window of ceil(side/128) pixels; on the reduced image that is
        # factor * ceil(side/(128*factor)) original pixels. A wider filter flips bits, so
        # only reduce when the two agree closely (measured: bench/bench_hashing.py --sweep).
        if _window_drift(width, factor) <= _MAX_WINDOW_DRIFT and _window_drift(height, factor) <= _MAX_WINDOW_DRIFT:
            return factor
    return 1


def _window_drift(side: int, factor: int) -> float:
    """Relative growth of PDQ's box-filter window when a side is reduced by ``factor``."""
    full = window_size(side)
    return (factor * window_size(-(-side // factor)) - full) / full


def _draft(image: Image.Image, factor: int, mode: str) -> int:
    """Ask libjpeg to decode at 1/factor in the DCT domain (in ``mode``); return the factor it will use."""
    width, height = image.size
    # Pillow picks the largest libjpeg scale whose output is >= the size asked for; floor
    # division makes that `factor`. "L" from a YCbCr JPEG is its Y channel; any other mode
    # than the image's own is ignored by Pillow.
    result = image.draft(mode, (width // factor, height // factor))
    if result is None:
        return 1
    return max(1, round(width / result[1][2]))


def _convert(image: Image.Image) -> Image.Image:
    """An "L" image for the grey path, else exactly what convert("RGB") gives."""
    if image.mode == "L" or image.mode == "RGB":
        return image
    target = "L" if image.mode in _GREY_MODES else "RGB"
    try:
        return image.convert(target)
    except ValueError as exc:
        raise UnsupportedMediaError(f"colour mode {image.mode} cannot be converted to {target}: {exc}") from None


def _read_file(path: Path, limit: int) -> bytes:
    """Up to ``limit`` bytes of the file (-1 for all of it)."""
    try:
        with path.open("rb") as handle:
            return handle.read(limit)
    except FileNotFoundError:
        raise MediaUnreadableError(f"{path}: no such file") from None
    except OSError as exc:
        raise MediaUnreadableError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _available_formats() -> tuple[str, ...]:
    """The supported formats Pillow has an opener for now (HEIF only once registered)."""
    # Pillow raises KeyError for a listed format without an opener, so list only those it has.
    Image.init()
    return tuple(fmt for fmt in SUPPORTED_FORMATS if fmt in Image.OPEN)


def _codec_available(fmt: str) -> bool:
    """Whether a decoder for an optional format is present in this installation."""
    if fmt == "AVIF":
        return bool(features.check_module("avif"))
    return fmt in Image.OPEN


@functools.cache
def _register_heif_opener() -> None:
    """Teach Pillow HEIF once, on first need, so importing brightline stays light."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return  # HEIF files then fail as unsupported; the message below says why
    register_heif_opener()
