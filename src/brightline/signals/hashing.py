"""Turn one media file into all of its signals: file digests plus the perceptual hash (PDQ or vPDQ)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from brightline.errors import MediaTooLargeError
from brightline.settings import Settings
from brightline.signals.media import decode_image, read_media_bytes
from brightline.signals.pdq import pdq_hash_pixels
from brightline.signals.regions import FULL, RegionHash, region_hashes, trimmed_hash
from brightline.signals.regions_signal import encode_regions
from brightline.signals.video import VideoHashes, is_video, vpdq_hash
from brightline.signals.vpdq_regions_signal import encode_frame_regions
from brightline.signals.vpdq_signal import encode_features


@dataclass(frozen=True)
class HashOptions:
    """How to hash: decode path, dihedral variants, video sampling and the safety limits."""

    exact: bool = False
    dihedral: bool = False
    max_pixels: int = 100_000_000
    max_bytes: int = 512 * 1024 * 1024
    fast_min_side: int = 1024
    seconds_per_hash: float = 1.0  # video: hash one frame per this many seconds; 0 = every frame
    frame_size: int | None = None  # video: resize frames to N x N before hashing
    max_video_seconds: float | None = None  # video budget: stop decoding after this much video
    max_video_frames: int | None = None  # video budget: stop decoding after this many frames
    video_accurate_rgb: bool = False  # video: swscale's exact YUV->RGB path (reference-faithful, slower)
    # Images: also hash the picture inside near-uniform margins (pdq_trimmed), and which
    # region hashes to add (pdq_regions): "known" for media going into a bank (crops and
    # parts), "query" for media being matched (parts), "none" to skip them.
    trim: bool = True
    regions: Literal["none", "query", "known"] = "none"

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        exact: bool,
        dihedral: bool,
        regions: Literal["none", "query", "known"] = "none",
    ) -> HashOptions:
        """Options from the configured limits, video sampling and budgets (0 budgets mean none)."""
        return cls(
            exact=exact,
            dihedral=dihedral,
            trim=settings.trim_borders,
            regions=regions,
            max_pixels=settings.max_image_pixels,
            max_bytes=settings.max_file_bytes,
            fast_min_side=settings.fast_decode_min_side,
            seconds_per_hash=settings.video_seconds_per_hash,
            max_video_seconds=settings.video_max_seconds or None,
            max_video_frames=settings.video_max_frames or None,
            video_accurate_rgb=settings.video_accurate_rgb,
        )


@dataclass(frozen=True)
class MediaHashes:
    """Every signal of one media file; for a video ``video`` is set and ``pdq`` is empty (no still hash)."""

    md5: str
    sha256: str
    pdq: str
    quality: int
    pdq_dihedral: tuple[str, ...] = ()
    width: int = 0
    height: int = 0
    format: str = ""
    pdq_trimmed: str = ""  # PDQ inside near-uniform margins, when the image has such margins
    regions: str = ""  # pdq_regions value, when asked for
    video_regions: str = ""  # vpdq_regions value of a video, when asked for
    extra: dict[str, str] = field(default_factory=dict)
    video: VideoHashes | None = None

    @property
    def is_video(self) -> bool:
        """Whether these are a video's hashes (vPDQ features instead of one PDQ)."""
        return self.video is not None

    def signals(self) -> dict[str, str]:
        """Signal type name -> value, for matching (vpdq instead of pdq for a video with features)."""
        if self.video is not None:
            video = {"vpdq": encode_features(self.video.features)} if self.video.features else {}
            if self.video_regions:
                video["vpdq_regions"] = self.video_regions
            return {"md5": self.md5, "sha256": self.sha256, **video, **self.extra}
        regions = {"pdq_regions": self.regions} if self.regions else {}
        return {"pdq": self.pdq, "md5": self.md5, "sha256": self.sha256, **regions, **self.extra}


def video_media_hashes(video: VideoHashes) -> MediaHashes:
    """MediaHashes wrapping a video's hashes (the MD5/SHA-256 are over the whole file)."""
    return MediaHashes(
        md5=video.md5,
        sha256=video.sha256,
        pdq="",
        quality=0,
        width=video.width,
        height=video.height,
        format=video.format,
        video=video,
        video_regions=encode_frame_regions(video.frame_regions) if video.frame_regions else "",
    )


def _hash_video(source: bytes | Path, options: HashOptions) -> MediaHashes:
    return video_media_hashes(
        vpdq_hash(
            source,
            seconds_per_hash=options.seconds_per_hash,
            frame_size=options.frame_size,
            max_frames=options.max_video_frames,
            max_seconds=options.max_video_seconds,
            max_pixels=options.max_pixels,
            regions=options.regions != "none",
            accurate_rgb=options.video_accurate_rgb,
        )
    )


def hash_bytes(data: bytes, options: HashOptions = HashOptions()) -> MediaHashes:
    """Hash media already in memory (digests over the bytes, PDQ over the image or vPDQ over the video)."""
    if is_video(data):
        return _hash_video(data, options)
    decoded = decode_image(
        data, exact=options.exact, max_pixels=options.max_pixels, fast_min_side=options.fast_min_side
    )
    pdq = pdq_hash_pixels(decoded.pixels, dihedral=options.dihedral)
    trimmed = trimmed_hash(decoded.pixels) if options.trim else None
    regions = ""
    if options.regions != "none":
        plain = RegionHash(FULL, pdq.value, pdq.quality)
        regions = encode_regions(region_hashes(decoded.pixels, plain, known=options.regions == "known"))
    return MediaHashes(
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        pdq=pdq.value,
        quality=pdq.quality,
        pdq_dihedral=pdq.dihedral,
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        pdq_trimmed=trimmed.pdq if trimmed is not None and trimmed.quality > 0 else "",
        regions=regions,
    )


def hash_file(path: Path, options: HashOptions = HashOptions()) -> MediaHashes:
    """Read and hash one file; raises a MediaError subclass naming what went wrong."""
    if is_video(path):
        size = path.stat().st_size
        if size > options.max_bytes:
            raise MediaTooLargeError(f"{path}: {size} bytes is over the {options.max_bytes}-byte limit")
        # Streamed from disk, never read whole: decoding holds a few frames at a time.
        return _hash_video(path, options)
    return hash_bytes(read_media_bytes(path, max_bytes=options.max_bytes), options)
