"""Video signals: sniffing video containers and hashing them with vPDQ (PDQ of sampled frames).

Decoding is PyAV's bundled FFmpeg (no external binary), streamed frame by frame so memory
stays bounded whatever the length. Animated WebP, which FFmpeg cannot decode, goes through
Pillow. Frame selection, numbering and timestamps follow the reference vPDQ (see
``brightline.signals.vpdq``).
"""

from __future__ import annotations

import hashlib
import io
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Final, cast

import av
import av.error
import numpy as np
import numpy.typing as npt

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
from brightline.signals.video_sniff import (
    VideoContainer,
    digest_file,
    not_video_message,
    open_file,
    sniff_container,
)
from brightline.signals.video_webp import WebpAnimation, open_webp_animation
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
_RESIZE_INTERPOLATION: Final = "LANCZOS"
# Sampled frames in flight between the decoder and the hashing threads; bounds memory.
_IN_FLIGHT_PER_WORKER: Final = 2


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
) -> VideoHashes:
    """vPDQ of a video: PDQ of every frame ``seconds_per_hash`` apart (0 = all), plus MD5/SHA-256."""
    _validate(frame_size, max_frames, max_seconds, max_pixels, workers)
    frame_interval(seconds_per_hash, 1.0)  # validates seconds_per_hash before any I/O
    if isinstance(source, Path):
        check_regular_file(source)
        md5, sha256 = digest_file(source)
        with open_file(source) as handle:
            return _hash_stream(
                handle, md5, sha256, seconds_per_hash, frame_size, max_frames, max_seconds, max_pixels, workers
            )
    data = bytes(source)
    if not data:
        raise EmptyMediaError("the media is empty")
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest()
    return _hash_stream(
        io.BytesIO(data), md5, sha256, seconds_per_hash, frame_size, max_frames, max_seconds, max_pixels, workers
    )


# --- hashing --------------------------------------------------------------------------


def _hash_stream(
    handle: BinaryIO,
    md5: str,
    sha256: str,
    seconds_per_hash: float,
    frame_size: int | None,
    max_frames: int | None,
    max_seconds: float | None,
    max_pixels: int,
    workers: int,
) -> VideoHashes:
    """Sniff, open and hash one video held in a seekable binary stream."""
    container = sniff_container(handle)
    if container is None:
        raise UnsupportedMediaError(not_video_message(handle))
    source = (
        _open_webp(handle, max_pixels)
        if container.demuxer == "pillow-webp"
        else _open_av(handle, container, max_pixels)
    )
    with source:
        if frame_size is None and min(source.width, source.height) < MIN_HASHABLE_DIM:
            raise UnsupportedMediaError(
                f"{source.width}x{source.height} frames are too small for PDQ (at least {MIN_HASHABLE_DIM} px a side)"
            )
        interval = frame_interval(seconds_per_hash, source.fps)
        features: list[VpdqFeature] = []
        pending: deque[tuple[int, Future[tuple[str, int]]]] = deque()
        count = 0
        truncated = False
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vpdq") as pool:
            for frame in source.frames():
                if (max_frames is not None and count >= max_frames) or (
                    max_seconds is not None and frame_timestamp(count, source.fps) >= max_seconds
                ):
                    truncated = True
                    break
                if frame_size is None and min(frame.width, frame.height) < MIN_HASHABLE_DIM:
                    raise UnsupportedMediaError(f"frame {count} is {frame.width}x{frame.height}, too small for PDQ")
                if frame.width * frame.height > max_pixels:
                    raise MediaTooLargeError(f"frame {count} has more than {max_pixels} pixels")
                if count % interval == 0:
                    # Non-sampled frames are decoded (the codec needs them) but never converted.
                    pending.append((count, pool.submit(_hash_frame, frame, frame_size)))
                    if len(pending) >= workers * _IN_FLIGHT_PER_WORKER:
                        features.append(_collect(pending.popleft(), source.fps))
                count += 1
            features.extend(_collect(item, source.fps) for item in pending)
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
        )


def _collect(item: tuple[int, Future[tuple[str, int]]], fps: float) -> VpdqFeature:
    """Wait for one frame's hash and make it a feature."""
    number, future = item
    pdq, quality = future.result()
    return VpdqFeature(number, quality, pdq, frame_timestamp(number, fps))


def _hash_frame(frame: av.VideoFrame, frame_size: int | None) -> tuple[str, int]:
    """RGB24 at native size (or frame_size squared, Lanczos as the reference's -s), then PDQ."""
    if frame_size is None:
        pixels = cast("npt.NDArray[np.uint8]", frame.to_ndarray(format="rgb24"))
    else:
        pixels = cast(
            "npt.NDArray[np.uint8]",
            frame.to_ndarray(format="rgb24", width=frame_size, height=frame_size, interpolation=_RESIZE_INTERPOLATION),
        )
    result = pdq_hash_pixels(pixels)
    return result.value, result.quality


# --- frame sources --------------------------------------------------------------------


class _FrameSource:
    """An opened video: its size, average frame rate, duration and a frame iterator."""

    def __init__(
        self,
        width: int,
        height: int,
        fps: float,
        duration: float,
        frames: Callable[[], Iterator[av.VideoFrame]],
        close: Callable[[], None],
    ) -> None:
        self.width = width
        self.height = height
        self.fps = fps
        self.duration = duration
        self.frames = frames
        self._close = close

    def __enter__(self) -> _FrameSource:
        return self

    def __exit__(self, *_: object) -> None:
        self._close()


def _open_av(handle: BinaryIO, container: VideoContainer, max_pixels: int) -> _FrameSource:
    """Open with FFmpeg, forcing the sniffed demuxer so no other FFmpeg demuxer sees the bytes."""
    try:
        opened = av.open(handle, mode="r", format=container.demuxer)
    except av.error.FFmpegError as exc:
        raise CorruptMediaError(f"damaged {container.name} data: {_reason(exc)}") from None
    try:
        if not opened.streams.video:
            kinds = sorted({stream.type for stream in opened.streams})
            raise UnsupportedMediaError(
                f"the {container.name} file has no video stream ({', '.join(kinds) or 'no streams'})"
            )
        stream = opened.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            raise CorruptMediaError(f"the {container.name} video stream declares no frame size")
        # Checked on the header's numbers, before the decoder allocates a single frame.
        if width * height > max_pixels:
            raise MediaTooLargeError(f"{width}x{height} video frames are over the {max_pixels}-pixel limit")
        # The reference's rate: avg_frame_rate, else r_frame_rate.
        rate = stream.average_rate or stream.base_rate
        if not rate:
            raise CorruptMediaError(f"the {container.name} video has no usable frame rate")
        stream.thread_type = "AUTO"  # frame + slice threads: decoding is the serial bottleneck
        duration = _duration(stream.duration, stream.time_base, opened.duration)
    except BaseException:
        opened.close()
        raise

    def frames() -> Iterator[av.VideoFrame]:
        count = 0
        try:
            for frame in opened.decode(stream):
                count += 1
                yield frame
        except av.error.FFmpegError as exc:
            raise CorruptMediaError(f"damaged {container.name} data after frame {count}: {_reason(exc)}") from None

    return _FrameSource(width, height, float(rate), duration, frames, opened.close)


def _open_webp(handle: BinaryIO, max_pixels: int) -> _FrameSource:
    """Animated WebP through Pillow (FFmpeg has no animated-WebP decoder)."""
    animation: WebpAnimation = open_webp_animation(handle.read(), max_pixels)

    def frames() -> Iterator[av.VideoFrame]:
        for rgb in animation.frames():
            yield av.VideoFrame.from_ndarray(rgb, format="rgb24")

    return _FrameSource(animation.width, animation.height, animation.fps, animation.duration, frames, animation.close)


def _duration(stream_duration: int | None, time_base: Fraction | None, container_duration: int | None) -> float:
    """Seconds of video: the stream's own duration, else the container's, else 0 (unknown)."""
    if stream_duration and time_base:
        return float(stream_duration * time_base)
    if container_duration:
        return container_duration / av.time_base
    return 0.0


def _reason(exc: av.error.FFmpegError) -> str:
    """FFmpeg's message without PyAV's errno prefix."""
    return str(exc.strerror or exc)


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
