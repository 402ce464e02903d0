"""Opening videos for vPDQ: FFmpeg (PyAV) containers and Pillow's animated WebP as numbered frames."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import BinaryIO

import av
import av.container
import av.error
from av.video.stream import VideoStream

from brightline.errors import CorruptMediaError, MediaTooLargeError, UnsupportedMediaError
from brightline.signals.video_sniff import VideoContainer
from brightline.signals.video_sparse import (
    SPARSE_CODECS,
    SparseMismatchError,
    decode_sparse,
    index_packets,
    plan_sparse,
)
from brightline.signals.video_webp import WebpAnimation, open_webp_animation

# (frame number, frame) pairs given the sampling interval and the frame budget (or None).
Frames = Callable[[int, "int | None"], Iterator[tuple[int, av.VideoFrame]]]


class FrameSource:
    """An opened video: its size, average frame rate, duration and a numbered frame iterator.

    Plain decoding yields every frame; sparse decoding yields only sampled frames and sets
    ``frame_total`` to the count a plain decode would have reached.
    """

    def __init__(
        self, width: int, height: int, fps: float, duration: float, frames: Frames, close: Callable[[], None]
    ) -> None:
        self.width = width
        self.height = height
        self.fps = fps
        self.duration = duration
        self.frames = frames
        self.frame_total: int | None = None
        self._close = close

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *_: object) -> None:
        self._close()


def open_av(handle: BinaryIO, container: VideoContainer, max_pixels: int, sparse: bool) -> FrameSource:
    """Open with FFmpeg, forcing the sniffed demuxer so no other FFmpeg demuxer sees the bytes."""
    opened, stream = _open_container(handle, container, max_pixels)
    current = [opened]  # sparse decoding reopens the file after its demux-only pass
    try:
        width, height = stream.codec_context.width, stream.codec_context.height
        # The reference's rate: avg_frame_rate, else r_frame_rate.
        rate = stream.average_rate or stream.base_rate
        if not rate:
            raise CorruptMediaError(f"the {container.name} video has no usable frame rate")
        duration = _duration(stream.duration, stream.time_base, opened.duration)
        time_base, codec = stream.time_base, stream.codec_context.name
    except BaseException:
        opened.close()
        raise
    fps = float(rate)

    def frames(interval: int, limit: int | None) -> Iterator[tuple[int, av.VideoFrame]]:
        decoding, video = current[0], stream
        if sparse and interval > 1 and time_base and codec in SPARSE_CODECS:
            index = index_packets(decoding, video, limit)
            decoding.close()
            handle.seek(0)
            decoding, video = _open_container(handle, container, max_pixels)
            current[0] = decoding
            plan = None if index is None else plan_sparse(index, time_base, fps, interval, limit)
            if plan is not None:
                source.frame_total = plan.frame_count
                try:
                    yield from decode_sparse(decoding, video, plan)
                except av.error.FFmpegError as exc:
                    raise SparseMismatchError(_reason(exc)) from None
                return
        count = 0
        try:
            for frame in decoding.decode(video):
                yield count, frame
                count += 1
        except av.error.FFmpegError as exc:
            raise CorruptMediaError(f"damaged {container.name} data after frame {count}: {_reason(exc)}") from None

    source = FrameSource(width, height, fps, duration, frames, lambda: current[0].close())
    return source


def _open_container(
    handle: BinaryIO, container: VideoContainer, max_pixels: int
) -> tuple[av.container.InputContainer, VideoStream]:
    """The opened container and its first video stream, checked and set up for threaded decoding."""
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
        stream.thread_type = "AUTO"  # frame + slice threads: decoding is the serial bottleneck
    except BaseException:
        opened.close()
        raise
    return opened, stream


def open_webp(handle: BinaryIO, max_pixels: int) -> FrameSource:
    """Animated WebP through Pillow (FFmpeg has no animated-WebP decoder)."""
    animation: WebpAnimation = open_webp_animation(handle.read(), max_pixels)

    def frames(_interval: int, _limit: int | None) -> Iterator[tuple[int, av.VideoFrame]]:
        for number, rgb in enumerate(animation.frames()):
            yield number, av.VideoFrame.from_ndarray(rgb, format="rgb24")

    return FrameSource(animation.width, animation.height, animation.fps, animation.duration, frames, animation.close)


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
