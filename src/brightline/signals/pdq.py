"""The PDQ signal type and hashing of decoded images with it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brightline.signals.base import HammingSignalType
from brightline.signals.pdq_core import pdq_from_pixels


class PdqSignal(HammingSignalType):
    """Meta's 256-bit PDQ perceptual hash, bit-exact with the reference on identical pixels."""

    name = "pdq"
    bits = 256
    default_threshold = 31
    max_threshold = 128
    description = "PDQ perceptual image hash (256 bits, Hamming distance)"


@dataclass(frozen=True)
class PdqHash:
    """A PDQ hash, its quality (0..100) and, when asked, the 8 dihedral variants."""

    value: str
    quality: int
    dihedral: tuple[str, ...] = ()


def pdq_hash_pixels(pixels: npt.NDArray[np.uint8], dihedral: bool = False) -> PdqHash:
    """PDQ of an RGB (H, W, 3) or greyscale (H, W) uint8 array."""
    if pixels.dtype != np.uint8 or not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
        raise ValueError(f"expected (H, W) or (H, W, 3) uint8 pixels, got {pixels.dtype} of shape {pixels.shape}")
    hashes, quality = pdq_from_pixels(pixels, dihedral=dihedral)
    return PdqHash(value=hashes[0], quality=quality, dihedral=tuple(hashes) if dihedral else ())
