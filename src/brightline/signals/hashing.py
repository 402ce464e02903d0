"""Turn one media file into all of its signals: file digests plus the perceptual hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from brightline.signals.media import decode_image, read_media_bytes
from brightline.signals.pdq import pdq_hash_pixels


@dataclass(frozen=True)
class HashOptions:
    """How to hash: decode path, dihedral variants and the safety limits."""

    exact: bool = False
    dihedral: bool = False
    max_pixels: int = 100_000_000
    max_bytes: int = 512 * 1024 * 1024
    fast_min_side: int = 1024


@dataclass(frozen=True)
class MediaHashes:
    """Every signal of one media file."""

    md5: str
    sha256: str
    pdq: str
    quality: int
    pdq_dihedral: tuple[str, ...] = ()
    width: int = 0
    height: int = 0
    format: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def signals(self) -> dict[str, str]:
        """Signal type name -> value, for matching."""
        return {"pdq": self.pdq, "md5": self.md5, "sha256": self.sha256, **self.extra}


def hash_bytes(data: bytes, options: HashOptions = HashOptions()) -> MediaHashes:
    """Hash media already in memory (digests over the bytes, PDQ over the decoded image)."""
    decoded = decode_image(
        data, exact=options.exact, max_pixels=options.max_pixels, fast_min_side=options.fast_min_side
    )
    pdq = pdq_hash_pixels(decoded.pixels, dihedral=options.dihedral)
    return MediaHashes(
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        pdq=pdq.value,
        quality=pdq.quality,
        pdq_dihedral=pdq.dihedral,
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
    )


def hash_file(path: Path, options: HashOptions = HashOptions()) -> MediaHashes:
    """Read and hash one file; raises a MediaError subclass naming what went wrong."""
    data = read_media_bytes(path, max_bytes=options.max_bytes)
    return hash_bytes(data, options)
