"""Animated WebP as video: header parsing (canvas, frame durations) and frame decoding via Pillow.

FFmpeg's WebP decoder takes stills only, so animated WebP is decoded by Pillow's libwebp
binding. The RIFF chunks are read directly so the canvas size and the frame rate are known
before any frame is decoded.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from brightline.errors import CorruptMediaError, MediaTooLargeError

_ANIMATION_FLAG: Final = 0x02
# Browsers show GIF/WebP frames declared with no delay at 100 ms; so do we, to get a rate.
_DEFAULT_FRAME_MS: Final = 100
_DECODE_ERRORS: Final = (OSError, ValueError, EOFError, SyntaxError)


def is_animated_webp(head: bytes) -> bool:
    """Whether a WebP header (first 21+ bytes) is an extended file with the animation flag."""
    return (
        head[:4] == b"RIFF"
        and head[8:12] == b"WEBP"
        and head[12:16] == b"VP8X"
        and len(head) > 20
        and bool(head[20] & _ANIMATION_FLAG)
    )


@dataclass
class WebpAnimation:
    """An opened animated WebP: canvas size, frame rate, duration and a frame iterator."""

    image: Image.Image
    width: int
    height: int
    frame_count: int
    fps: float
    duration: float

    def frames(self) -> Iterator[npt.NDArray[np.uint8]]:
        """Each composited frame as RGB (alpha dropped, as the reference's RGB24 conversion does)."""
        for index in range(self.frame_count):
            try:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", module=r"PIL\.")
                    self.image.seek(index)
                    rgb = np.asarray(self.image.convert("RGB"), dtype=np.uint8)
            except _DECODE_ERRORS as exc:
                raise CorruptMediaError(f"damaged WEBP data at frame {index}: {exc}") from None
            yield rgb

    def close(self) -> None:
        """Release the decoder."""
        self.image.close()


def open_webp_animation(data: bytes, max_pixels: int) -> WebpAnimation:
    """Parse the chunks, check the canvas against max_pixels, then open the decoder."""
    width, height, durations = _parse_chunks(data)
    if width * height > max_pixels:
        raise MediaTooLargeError(f"{width}x{height} WebP canvas is over the {max_pixels}-pixel limit")
    if not durations:
        raise CorruptMediaError("the animated WebP has no frames")
    total_ms = sum(ms or _DEFAULT_FRAME_MS for ms in durations)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"PIL\.")
            image = Image.open(io.BytesIO(data), formats=["WEBP"])
    except _DECODE_ERRORS as exc:
        raise CorruptMediaError(f"damaged WEBP data: {exc}") from None
    return WebpAnimation(
        image=image,
        width=width,
        height=height,
        frame_count=len(durations),
        fps=len(durations) * 1000.0 / total_ms,
        duration=total_ms / 1000.0,
    )


def _parse_chunks(data: bytes) -> tuple[int, int, list[int]]:
    """Canvas width and height (VP8X) and each ANMF frame's duration in milliseconds."""
    if len(data) < 30 or data[12:16] != b"VP8X":
        raise CorruptMediaError("damaged WEBP data: no extended header")
    width = int.from_bytes(data[24:27], "little") + 1
    height = int.from_bytes(data[27:30], "little") + 1
    durations: list[int] = []
    offset = 12
    end = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    while offset + 8 <= end:
        tag = data[offset : offset + 4]
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        body = offset + 8
        if body + size > end:
            raise CorruptMediaError(f"damaged WEBP data: the {tag!r} chunk runs past the end (truncated?)")
        if tag == b"ANMF":
            if size < 16:
                raise CorruptMediaError("damaged WEBP data: short ANMF chunk")
            durations.append(int.from_bytes(data[body + 12 : body + 15], "little"))
        offset = body + size + (size & 1)  # chunks are padded to even sizes
    return width, height, durations
