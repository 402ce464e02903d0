"""Extra PDQ hashes of parts of an image, for edits that plain PDQ misses.

PDQ hashes the whole frame, so anything that moves the frame's edges (a crop, a border) or
covers a large part of it (a sticker, a caption) changes most bits. brightline keeps the
plain PDQ (for interoperability with everyone else's lists) and adds, from the same pixels:

- ``trimmed``: the PDQ after removing near-uniform margins (letterbox, pillarbox, borders),
  computed for queries and compared with plain PDQ entries, so a padded copy is compared
  as the picture inside the padding (this also works against other parties' lists);
- crops, computed for known images: the middle 98/95/90/85/80/75/70 % of each side, and
  90/80 % anchored at each corner, so a cropped copy meets a hash of about the same field
  of view (the query's plain or trimmed PDQ is compared with them);
- parts, computed on both sides: the four halves and four quarters. A sticker or caption
  that covers one corner or edge leaves at least two parts intact; a match on parts needs
  PARTS_NEEDED of them within the threshold, each compared with the same part.

Crops and parts are brightline's own hashes (other parties' lists carry only plain PDQ),
computed the same way on both sides from a luma plane of at most REGION_MAX_SIDE pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from brightline.signals.pdq_core import luma_from_grey, luma_from_rgb, pdq_from_luma

FULL: Final = "full"
CENTRE_CROPS: Final = {
    "crop98": 0.98,
    "crop95": 0.95,
    "crop90": 0.90,
    "crop85": 0.85,
    "crop80": 0.80,
    "crop75": 0.75,
    "crop70": 0.70,
}
# Corner crops keep this fraction of each side, anchored at one corner (a crop off two edges).
CORNER_KEEP: Final = (0.90, 0.80)
CORNERS: Final = {"tl": (0, 0), "tr": (0, 1), "bl": (1, 0), "br": (1, 1)}
CORNER_CROPS: Final = tuple(f"{corner}{round(keep * 100)}" for keep in CORNER_KEEP for corner in CORNERS)
CROPS: Final = (*CENTRE_CROPS, *CORNER_CROPS)
PARTS: Final = ("top", "bottom", "left", "right", "top-left", "top-right", "bottom-left", "bottom-right")
# Short part names for match variants ("parts:t+l"), which are stored in 32 characters.
PART_CODES: Final = {"top": "t", "bottom": "b", "left": "l", "right": "r"} | {
    f"{v}-{h}": f"{v[0]}{h[0]}" for v in ("top", "bottom") for h in ("left", "right")
}
REGION_NAMES: Final = (FULL, *CROPS, *PARTS)
PARTS_NEEDED: Final = 2
# Region hashes come from a luma plane downscaled (box average) to at most this long side:
# PDQ itself looks at a 64x64 reduction, so more pixels only cost time.
REGION_MAX_SIDE: Final = 512
# A margin row/column counts as uniform when its luma stays within this many levels
# (of 255) of the border colour: JPEG ringing and faint gradients stay below it.
UNIFORM_TOLERANCE: Final = 10.0
# Trim only margins of at least this fraction of a side (smaller ones barely move PDQ),
# and never trim a side to less than this fraction of itself (a flat image is not a border).
MIN_MARGIN: Final = 0.02
MIN_KEPT: Final = 0.30


@dataclass(frozen=True)
class RegionHash:
    """A PDQ hash of one region of an image, with the region's quality."""

    name: str
    pdq: str
    quality: int


def luma_of(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """PDQ's float32 luma of an RGB (H, W, 3) or greyscale (H, W) uint8 array."""
    if pixels.ndim == 2:
        return luma_from_grey(np.ascontiguousarray(pixels))
    return luma_from_rgb(np.ascontiguousarray(pixels))


def _edges_uniform(pixels: npt.NDArray[np.uint8]) -> bool:
    """Whether any outermost row or column is near-uniform (cheap test before computing luma)."""
    for line in (pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]):
        values = line.astype(np.int16)
        if int(values.max()) - int(values.min()) <= 2 * UNIFORM_TOLERANCE:
            return True
    return False


def _uniform_run(lines: npt.NDArray[np.float32], reference: float) -> int:
    """How many leading lines (rows of ``lines``) stay within the tolerance of ``reference``."""
    deviation = np.abs(lines - reference).max(axis=1)
    bad = np.flatnonzero(deviation > UNIFORM_TOLERANCE)
    return int(bad[0]) if bad.size else lines.shape[0]


def trim_box(luma: npt.NDArray[np.float32]) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the picture inside near-uniform margins, or None if there are none."""
    rows, cols = luma.shape
    if rows < 16 or cols < 16:
        return None
    margins = []
    for lines in (luma, luma[::-1], luma.T, luma.T[::-1]):
        # The border colour is the median of the outermost line, so a stray pixel does not set it.
        margins.append(_uniform_run(lines, float(np.median(lines[0]))))
    top, bottom, left, right = margins
    if max(top, bottom) < MIN_MARGIN * rows and max(left, right) < MIN_MARGIN * cols:
        return None
    if rows - top - bottom < MIN_KEPT * rows or cols - left - right < MIN_KEPT * cols:
        return None
    return top, rows - bottom, left, cols - right


def _hash(name: str, luma: npt.NDArray[np.float32]) -> RegionHash:
    hashes, quality = pdq_from_luma(np.ascontiguousarray(luma))
    return RegionHash(name, hashes[0], quality)


def trimmed_hash(pixels: npt.NDArray[np.uint8]) -> RegionHash | None:
    """PDQ of the picture inside near-uniform margins, or None when it has no such margins."""
    if pixels.shape[0] < 16 or pixels.shape[1] < 16 or not _edges_uniform(pixels):
        return None
    luma = luma_of(pixels)
    box = trim_box(luma)
    if box is None:
        return None
    top, bottom, left, right = box
    return _hash("trimmed", luma[top:bottom, left:right])


def reduced_luma(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Luma box-averaged by a whole factor so that its long side is at most REGION_MAX_SIDE."""
    luma = luma_of(pixels)
    factor = -(-max(luma.shape) // REGION_MAX_SIDE)
    if factor <= 1:
        return luma
    rows, cols = (luma.shape[0] // factor) * factor, (luma.shape[1] // factor) * factor
    blocks = luma[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor)
    reduced: npt.NDArray[np.float32] = blocks.mean(axis=(1, 3), dtype=np.float32)
    return reduced


def crop_hashes(luma: npt.NDArray[np.float32]) -> list[RegionHash]:
    """PDQ of the centre crops and corner crops, in CROPS order."""
    rows, cols = luma.shape
    out = []
    for name, keep in CENTRE_CROPS.items():
        dy, dx = round(rows * (1 - keep) / 2), round(cols * (1 - keep) / 2)
        out.append(_hash(name, luma[dy : rows - dy, dx : cols - dx]))
    for keep in CORNER_KEEP:
        height, width = round(rows * keep), round(cols * keep)
        for corner, (bottom, right) in CORNERS.items():
            y0, x0 = (rows - height) * bottom, (cols - width) * right
            out.append(_hash(f"{corner}{round(keep * 100)}", luma[y0 : y0 + height, x0 : x0 + width]))
    return out


def part_hashes(luma: npt.NDArray[np.float32]) -> list[RegionHash]:
    """PDQ of the four halves and four quarters, in PARTS order."""
    rows, cols = luma.shape
    r, c = rows // 2, cols // 2
    parts = (luma[:r], luma[r:], luma[:, :c], luma[:, c:], luma[:r, :c], luma[:r, c:], luma[r:, :c], luma[r:, c:])
    return [_hash(name, part) for name, part in zip(PARTS, parts, strict=True)]


def region_hashes(pixels: npt.NDArray[np.uint8], plain: RegionHash, *, known: bool) -> list[RegionHash]:
    """``plain`` (the image's PDQ) plus its parts, and for a known image its crops too."""
    if pixels.shape[0] < 16 or pixels.shape[1] < 16:
        return [plain]
    luma = reduced_luma(pixels)
    return [plain, *(crop_hashes(luma) if known else []), *part_hashes(luma)]
