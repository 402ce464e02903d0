"""Video signals: sniffing video containers and hashing them with vPDQ (PDQ of sampled frames).

Decoding is PyAV's bundled FFmpeg (no external binary), streamed frame by frame so memory
stays bounded whatever the length. Animated WebP, which FFmpeg cannot decode, goes through
Pillow. Frame selection, numbering and timestamps follow the reference vPDQ (see
``brightline.signals.vpdq``).
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, cast

import av
import av.container
import av.error
import numpy as np
import numpy.typing as npt
from av.video.reformatter import Interpolation, VideoReformatter

from brightline.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaTooLargeError,
    UnsupportedMediaError,
    ValidationError,
)
from brightline.signals.files import check_regular_file
from brightline.signals.pdq import pdq_hash_pixels
from brightline.signals.pdq_core import MIN_HASHABLE_DIM
from brightline.signals.regions import FULL, RegionHash, region_hashes
from brightline.signals.regions_signal import encode_regions
from brightline.signals.video_sniff import (
    VideoContainer,
    digest_file,
    not_video_message,
    open_file,
    sniff_container,
)
from brightline.signals.video_source import FrameSource, open_av, open_webp
from brightline.signals.video_sparse import SparseMismatchError
from brightline.signals.vpdq import (
    VpdqFeature,
    frame_interval,
    frame_timestamp,
    read_vpdq_file,
    write_vpdq_file,
)

__all__ = [
    "VideoHashes",
    "VpdqFeature",
    "is_video",
    "read_vpdq_file",
    "vpdq_hash",
    "write_vpdq_file",
]

DEFAULT_MAX_PIXELS: Final = 100_000_000
# The reference's scaler for `-s`; PyAV passes it to libswscale.
_RESIZE_INTERPOLATION: Final = Interpolation.LANCZOS
# swscale's exact YUV->RGB path (SWS_ACCURATE_RND) instead of its SIMD shortcut: reproduces the
# reference hashes made with an older FFmpeg (see tests/test_vpdq_conformance.py), about ten
# times slower per conversion, and no longer bit-equal to Meta's vpdq built on a current FFmpeg.
_ACCURATE: Final = Interpolation.ACCURATE_RND
# Sampled frames in flight between the decoder and the hashing threads; bounds memory.
_IN_FLIGHT_PER_WORKER: Final = 2
# One swscale context (and its slice threads) per hashing thread, reused frame after frame:
# VideoFrame.to_ndarray sets both up afresh for every frame, which cost about three times
# the conversion itself (0.5 ms against 0.15 ms for a 480x720 frame).
_SCALERS: Final = threading.local()


@dataclass(frozen=True)
class VideoHashes:
    """Every signal of one video: file digests, vPDQ features and what the decoder saw."""

    md5: str
    sha256: str
    features: tuple[VpdqFeature, ...]
    duration: float
    frame_count: int
    average_fps: float
    width: int
    height: int
    format: str
    truncated: bool = False  # True when max_frames / max_seconds stopped decoding early
    # (frame number, pdq_regions value of the frame: whole frame and parts), when asked for.
    frame_regions: tuple[tuple[int, str], ...] = ()


def is_video(data_or_path: bytes | Path) -> bool:
    """Whether the bytes or file are a video brightline decodes (animated GIF/WebP count; stills do not)."""
    if isinstance(data_or_path, Path):
        check_regular_file(data_or_path)
        with open_file(data_or_path) as handle:
            return sniff_container(handle) is not None
    return sniff_container(io.BytesIO(data_or_path)) is not None


def vpdq_hash(
    source: bytes | Path,
    *,
    seconds_per_hash: float = 1.0,
    frame_size: int | None = None,
    max_frames: int | None = None,
    max_seconds: float | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int = 4,
    skip_unsampled: bool = True,
    regions: bool = False,
    accurate_rgb: bool = False,
) -> VideoHashes:
    """vPDQ of a video: PDQ of every frame ``seconds_per_hash`` apart (0 = all), plus MD5/SHA-256."""
    # skip_unsampled=False decodes every frame even where the stream lets sampling skip
    # some; the features are the same either way (see brightline.signals.video_sparse).
    _validate(frame_size, max_frames, max_seconds, max_pixels, workers)
    frame_interval(seconds_per_hash, 1.0)  # validates seconds_per_hash before any I/O
    options = _Options(
        seconds_per_hash,
        frame_size,
        max_frames,
        max_seconds,
        max_pixels,
        workers,
        skip_unsampled,
        regions,
        accurate_rgb,
    )
    if isinstance(source, Path):
        check_regular_file(source)
        md5, sha256 = digest_file(source)
        with open_file(source) as handle:
            return _hash_stream(handle, md5, sha256, options)
    data = bytes(source)
    if not data:
        raise EmptyMediaError("the media is empty")
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest()
    return _hash_stream(io.BytesIO(data), md5, sha256, options)


# --- hashing --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    seconds_per_hash: float
    frame_size: int | None
    max_frames: int | None
    max_seconds: float | None
    max_pixels: int
    workers: int
    skip_unsampled: bool
    regions: bool  # also hash each sampled frame's parts (vpdq_regions)
    accurate_rgb: bool  # swscale's exact conversion (see _ACCURATE)


def _hash_stream(handle: BinaryIO, md5: str, sha256: str, options: _Options) -> VideoHashes:
    """Sniff, open and hash one video held in a seekable binary stream."""
    container = sniff_container(handle)
    if container is None:
        raise UnsupportedMediaError(not_video_message(handle))
    if container.demuxer == "pillow-webp":
        with open_webp(handle, options.max_pixels) as source:
            return _hash_source(source, container, md5, sha256, options)
    try:
        with open_av(handle, container, options.max_pixels, options.skip_unsampled) as source:
            return _hash_source(source, container, md5, sha256, options)
    except SparseMismatchError:
        # The packet index promised more than the decoder kept: decode every frame instead.
        handle.seek(0)
        with open_av(handle, container, options.max_pixels, sparse=False) as source:
            return _hash_source(source, container, md5, sha256, options)


def _hash_source(
    source: FrameSource, container: VideoContainer, md5: str, sha256: str, options: _Options
) -> VideoHashes:
    """Hash the sampled frames of an opened video on a small thread pool."""
    frame_size, workers = options.frame_size, options.workers
    if frame_size is None and min(source.width, source.height) < MIN_HASHABLE_DIM:
        raise UnsupportedMediaError(
            f"{source.width}x{source.height} frames are too small for PDQ (at least {MIN_HASHABLE_DIM} px a side)"
        )
    interval = frame_interval(options.seconds_per_hash, source.fps)
    limit = _frame_limit(options.max_frames, options.max_seconds, source.fps)
    features: list[VpdqFeature] = []
    pending: deque[tuple[int, Future[tuple[str, int, str]]]] = deque()
    frame_regions: list[tuple[int, str]] = []
    count = 0
    truncated = False
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vpdq") as pool:
        for number, frame in source.frames(interval, limit):
            if limit is not None and number >= limit:
                truncated = True
                break
            if frame_size is None and min(frame.width, frame.height) < MIN_HASHABLE_DIM:
                raise UnsupportedMediaError(f"frame {number} is {frame.width}x{frame.height}, too small for PDQ")
            if frame.width * frame.height > options.max_pixels:
                raise MediaTooLargeError(f"frame {number} has more than {options.max_pixels} pixels")
            if number % interval == 0:
                # Frames between samples are decoded only as far as the codec needs; never converted.
                pending.append(
                    (number, pool.submit(_hash_frame, frame, frame_size, options.regions, options.accurate_rgb))
                )
                if len(pending) >= workers * _IN_FLIGHT_PER_WORKER:
                    features.append(_collect(pending.popleft(), source.fps, frame_regions))
            count = number + 1
        features.extend(_collect(item, source.fps, frame_regions) for item in pending)
    if source.frame_total is not None:  # sparse decoding counted the frames without decoding them all
        count = source.frame_total if limit is None else min(source.frame_total, limit)
        truncated = count < source.frame_total
    if count == 0:
        raise CorruptMediaError(f"the {container.name} video has no decodable frames")
    return VideoHashes(
        md5=md5,
        sha256=sha256,
        features=tuple(features),
        duration=source.duration if source.duration > 0 else count / source.fps,
        frame_count=count,
        average_fps=source.fps,
        width=source.width,
        height=source.height,
        format=container.name,
        truncated=truncated,
        frame_regions=tuple(frame_regions),
    )


def _frame_limit(max_frames: int | None, max_seconds: float | None, fps: float) -> int | None:
    """How many frames the budgets allow: the first frame number over either, or None."""
    limits = [] if max_frames is None else [max_frames]
    if max_seconds is not None and math.isfinite(max_seconds * fps):
        # The first n with n / fps >= max_seconds, in the same float arithmetic as the timestamps.
        number = max(0, math.ceil(max_seconds * fps))
        while number > 0 and frame_timestamp(number - 1, fps) >= max_seconds:
            number -= 1
        while frame_timestamp(number, fps) < max_seconds:
            number += 1
        limits.append(number)
    return min(limits) if limits else None


def _collect(
    item: tuple[int, Future[tuple[str, int, str]]], fps: float, frame_regions: list[tuple[int, str]]
) -> VpdqFeature:
    """Wait for one frame's hash and make it a feature (its regions, if hashed, go to ``frame_regions``)."""
    number, future = item
    pdq, quality, regions = future.result()
    if regions:
        frame_regions.append((number, regions))
    return VpdqFeature(number, quality, pdq, frame_timestamp(number, fps))


def _hash_frame(
    frame: av.VideoFrame, frame_size: int | None, regions: bool = False, accurate_rgb: bool = False
) -> tuple[str, int, str]:
    """RGB24 at native size (or frame_size squared, Lanczos as the reference's -s), then PDQ."""
    scalers: dict[int | None, VideoReformatter] | None = getattr(_SCALERS, "by_size", None)
    if scalers is None:
        scalers = _SCALERS.by_size = {}
    scaler = scalers.get(frame_size)
    if scaler is None:
        scaler = scalers[frame_size] = VideoReformatter()
    if frame_size is None:
        flags = Interpolation.BILINEAR | _ACCURATE if accurate_rgb else None
        rgb = scaler.reformat(frame, format="rgb24", interpolation=flags)
    else:
        resize = _RESIZE_INTERPOLATION | _ACCURATE if accurate_rgb else _RESIZE_INTERPOLATION
        rgb = scaler.reformat(frame, format="rgb24", width=frame_size, height=frame_size, interpolation=resize)
    pixels = cast("npt.NDArray[np.uint8]", rgb.to_ndarray())
    result = pdq_hash_pixels(pixels)
    if not regions:
        return result.value, result.quality, ""
    plain = RegionHash(FULL, result.value, result.quality)
    return result.value, result.quality, encode_regions(region_hashes(pixels, plain, known=False))


# --- arguments ------------------------------------------------------------------------


def _validate(
    frame_size: int | None, max_frames: int | None, max_seconds: float | None, max_pixels: int, workers: int
) -> None:
    """Refuse arguments that make no sense before touching the media."""
    if frame_size is not None and frame_size < MIN_HASHABLE_DIM:
        raise ValidationError(f"frame_size must be at least {MIN_HASHABLE_DIM}, got {frame_size}")
    if max_frames is not None and max_frames < 1:
        raise ValidationError(f"max_frames must be at least 1, got {max_frames}")
    if max_seconds is not None and not max_seconds > 0:
        raise ValidationError(f"max_seconds must be positive, got {max_seconds}")
    if max_pixels < 1:
        raise ValidationError(f"max_pixels must be positive, got {max_pixels}")
    if workers < 1:
        raise ValidationError(f"workers must be at least 1, got {workers}")
