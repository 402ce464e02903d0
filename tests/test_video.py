"""Video signals: container support, sampling rules, budgets and bad input (videos made with PyAV)."""

from __future__ import annotations

import io
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from brightline.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaTooLargeError,
    MediaUnreadableError,
    UnsupportedMediaError,
    ValidationError,
)
from brightline.signals.pdq import pdq_hash_pixels
from brightline.signals.video import VideoHashes, is_video, vpdq_hash

RNG = np.random.default_rng(7)


def _frames(count: int, width: int, height: int) -> list[np.ndarray]:
    """Smoothly varying frames with texture, so PDQ quality is high and frames differ."""
    ys, xs = np.mgrid[0:height, 0:width]
    out = []
    for i in range(count):
        base = 127 + 100 * np.sin((xs + 3 * i) / 7.0) * np.cos((ys - 2 * i) / 5.0)
        rgb = np.stack([base, np.roll(base, i, axis=1), 255 - base], axis=-1)
        out.append(np.clip(rgb, 0, 255).astype(np.uint8))
    return out


def make_video(
    path: Path,
    *,
    codec: str = "libx264",
    fmt: str | None = None,
    width: int = 64,
    height: int = 48,
    frames: int = 30,
    fps: int = 10,
    pix_fmt: str = "yuv420p",
) -> Path:
    """Encode a small test video with PyAV."""
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        for image in _frames(frames, width, height):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_audio(path: Path) -> Path:
    """An MP4 holding one second of AAC silence and no video stream."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=44100)
        samples = np.zeros((1, 1024), dtype=np.float32)
        for _ in range(44):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 44100
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def animated(fmt: str, frames: int = 6, duration: int = 100) -> bytes:
    """An animated GIF or WebP made by Pillow."""
    images = [Image.fromarray(image) for image in _frames(frames, 40, 32)]
    out = io.BytesIO()
    extra = {"lossless": True} if fmt == "WEBP" else {}
    images[0].save(out, format=fmt, save_all=True, append_images=images[1:], duration=duration, loop=0, **extra)
    return out.getvalue()


def still(fmt: str) -> bytes:
    """A one-frame image."""
    out = io.BytesIO()
    Image.fromarray(_frames(1, 40, 32)[0]).save(out, format=fmt)
    return out.getvalue()


# --- containers and codecs --------------------------------------------------------------

CONTAINERS = [
    ("mp4", "libx264", None, "MP4"),
    ("mov", "libx264", None, "MOV"),
    ("m4v", "libx264", "mp4", "MP4"),
    ("mkv", "libx264", None, "Matroska"),
    ("webm", "libvpx-vp9", None, "WebM"),
    ("webm", "libvpx", None, "WebM"),
    ("mkv", "libsvtav1", None, "Matroska"),
    ("mp4", "libx265", None, "MP4"),
    ("avi", "mpeg4", None, "AVI"),
]


@pytest.mark.parametrize(("suffix", "codec", "fmt", "name"), CONTAINERS)
def test_container_formats_decode(tmp_path: Path, suffix: str, codec: str, fmt: str | None, name: str) -> None:
    if codec not in av.codecs_available:
        pytest.skip(f"{codec} encoder not in this PyAV build")
    width, height = (64, 64) if codec == "libsvtav1" else (64, 48)
    path = make_video(tmp_path / f"v.{suffix}", codec=codec, fmt=fmt, width=width, height=height, frames=20)
    assert is_video(path)
    result = vpdq_hash(path, seconds_per_hash=0)
    assert result.format == name
    assert result.frame_count == 20
    assert len(result.features) == 20
    assert (result.width, result.height) == (width, height)
    assert result.average_fps == pytest.approx(10)
    assert all(f.quality > 50 and len(f.pdq) == 64 for f in result.features)


def test_sampling_follows_the_reference_rule(tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.mp4", frames=45, fps=10)
    every = vpdq_hash(path, seconds_per_hash=0)
    per_second = vpdq_hash(path)  # 1 s at 10 fps: frames 0, 10, 20, ...
    assert [f.frame_number for f in per_second.features] == [0, 10, 20, 30, 40]
    assert [f.timestamp for f in per_second.features] == [0.0, 1.0, 2.0, 3.0, 4.0]
    by_number = {f.frame_number: f for f in every.features}
    assert all(by_number[f.frame_number] == f for f in per_second.features)
    # trunc(0.25 * 10) = 2; trunc(0.05 * 10) = 0 -> every frame
    assert [f.frame_number for f in vpdq_hash(path, seconds_per_hash=0.25).features][:3] == [0, 2, 4]
    assert len(vpdq_hash(path, seconds_per_hash=0.05).features) == 45
    assert per_second.frame_count == every.frame_count == 45
    assert per_second.duration == pytest.approx(4.5, abs=0.2)


def test_bytes_and_path_agree_and_digests_are_of_the_file(tmp_path: Path) -> None:
    import hashlib

    path = make_video(tmp_path / "v.mp4")
    data = path.read_bytes()
    from_path, from_bytes = vpdq_hash(path), vpdq_hash(data)
    assert from_path == from_bytes
    assert from_path.md5 == hashlib.md5(data).hexdigest()
    assert from_path.sha256 == hashlib.sha256(data).hexdigest()


def test_frame_size_resizes_before_hashing(tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.mp4", width=96, height=64, frames=5)
    native = vpdq_hash(path, seconds_per_hash=0)
    small = vpdq_hash(path, seconds_per_hash=0, frame_size=32)
    assert [f.frame_number for f in small.features] == [f.frame_number for f in native.features]
    assert small.features != native.features


def test_animated_gif_and_webp_are_video(tmp_path: Path) -> None:
    for fmt, name in (("GIF", "GIF"), ("WEBP", "WEBP")):
        data = animated(fmt, frames=6, duration=100)
        assert is_video(data), fmt
        result = vpdq_hash(data, seconds_per_hash=0)
        assert result.format == name
        assert result.frame_count == 6
        assert result.average_fps == pytest.approx(10)
        assert [f.frame_number for f in result.features] == list(range(6))
        assert (result.width, result.height) == (40, 32)


def test_gif_and_webp_frames_are_the_animation_frames() -> None:
    for fmt in ("GIF", "WEBP"):
        data = animated(fmt)
        # Pillow composites both formats; its frames are what a viewer shows.
        with Image.open(io.BytesIO(data)) as image:
            expected = []
            for index in range(6):
                image.seek(index)
                expected.append(pdq_hash_pixels(np.asarray(image.convert("RGB"))).value)
        result = vpdq_hash(data, seconds_per_hash=0)
        distances = [_distance(f.pdq, e) for f, e in zip(result.features, expected, strict=True)]
        assert max(distances) <= 8, (fmt, distances)


def _distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def test_still_images_are_not_videos(tmp_path: Path) -> None:
    for fmt in ("GIF", "WEBP", "PNG", "JPEG"):
        data = still(fmt)
        assert not is_video(data), fmt
        with pytest.raises(UnsupportedMediaError, match=r"not a video|image"):
            vpdq_hash(data)
    assert not is_video(b"just some text")


# --- bad input ---------------------------------------------------------------------------


def test_zero_length(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(EmptyMediaError):
        vpdq_hash(tmp_path / "empty.mp4")
    with pytest.raises(EmptyMediaError):
        vpdq_hash(b"")
    with pytest.raises(EmptyMediaError):
        is_video(tmp_path / "empty.mp4")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(MediaUnreadableError):
        vpdq_hash(tmp_path / "nope.mp4")
    with pytest.raises(MediaUnreadableError):
        vpdq_hash(tmp_path)


def test_truncated(tmp_path: Path) -> None:
    data = make_video(tmp_path / "v.mp4", frames=30).read_bytes()
    for cut in (40, len(data) // 3, len(data) - 200):
        try:
            result = vpdq_hash(data[:cut], seconds_per_hash=0)
        except (CorruptMediaError, UnsupportedMediaError):
            pass
        else:  # FFmpeg may recover the frames before the cut: fewer, never more
            assert 0 < result.frame_count <= 30


def test_truncated_matroska_keeps_the_frames_before_the_cut(tmp_path: Path) -> None:
    data = make_video(tmp_path / "v.mkv", frames=30).read_bytes()
    try:
        result = vpdq_hash(data[: len(data) // 2], seconds_per_hash=0)
    except CorruptMediaError:
        return
    assert 0 < result.frame_count < 30


def test_corrupt(tmp_path: Path) -> None:
    data = bytearray(make_video(tmp_path / "v.mp4", frames=30).read_bytes())
    garbage = RNG.integers(0, 256, size=len(data) - 64, dtype=np.uint8).tobytes()
    # The container header survives; everything after it is noise.
    with pytest.raises(CorruptMediaError):
        vpdq_hash(bytes(data[:64]) + garbage)
    # Noise after an EBML magic: claims to be Matroska, is not.
    with pytest.raises(CorruptMediaError):
        vpdq_hash(b"\x1a\x45\xdf\xa3" + garbage[:5000])
    # Damaged payload inside a valid container: errors or concealed frames, never a crash.
    middle = len(data) // 2
    data[middle : middle + 400] = garbage[:400]
    try:
        result = vpdq_hash(bytes(data), seconds_per_hash=0)
    except CorruptMediaError:
        pass
    else:
        assert result.frame_count <= 30


def test_audio_only(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "a.mp4")
    with pytest.raises(UnsupportedMediaError, match="no video stream"):
        vpdq_hash(path)


def test_unsupported_data() -> None:
    with pytest.raises(UnsupportedMediaError):
        vpdq_hash(b"#EXTM3U\n#EXT-X-TARGETDURATION:1\nhttp://example.invalid/x.ts\n")
    with pytest.raises(UnsupportedMediaError):
        vpdq_hash(RNG.integers(0, 256, size=4096, dtype=np.uint8).tobytes())


def test_too_many_pixels_is_refused_before_decoding(tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.mp4", width=64, height=64, frames=5)
    with pytest.raises(MediaTooLargeError, match="64x64"):
        vpdq_hash(path, max_pixels=64 * 63)
    webp = animated("WEBP")
    with pytest.raises(MediaTooLargeError):
        vpdq_hash(webp, max_pixels=100)


def test_absurd_dimensions(tmp_path: Path) -> None:
    # 100,000 x 1 lossless video: too thin for PDQ at native size (refused before decoding), and
    # bounded work when resized.
    path = make_video(tmp_path / "thin.mkv", codec="ffv1", width=100_000, height=1, frames=3, pix_fmt="yuv444p")
    start = time.monotonic()
    with pytest.raises(UnsupportedMediaError, match="too small"):
        vpdq_hash(path)
    resized = vpdq_hash(path, frame_size=32, seconds_per_hash=0)
    assert resized.frame_count == 3
    assert time.monotonic() - start < 30
    # The size check reads the stream header, so it refuses before the decoder runs.
    with pytest.raises(MediaTooLargeError, match="100000x1"):
        vpdq_hash(path, frame_size=32, max_pixels=50_000)


def test_frame_budget(tmp_path: Path) -> None:
    path = make_video(tmp_path / "long.mp4", width=32, height=32, frames=1200, fps=30)
    capped = vpdq_hash(path, seconds_per_hash=0, max_frames=100)
    assert capped.frame_count == 100
    assert capped.truncated
    assert len(capped.features) == 100
    timed = vpdq_hash(path, max_seconds=10)
    assert timed.frame_count == 300
    assert [f.frame_number for f in timed.features] == list(range(0, 300, 30))
    full = vpdq_hash(path)
    assert not full.truncated
    assert full.frame_count == 1200
    assert len(full.features) == 40


def test_ten_hour_video_is_bounded(tmp_path: Path) -> None:
    # One frame every 10 minutes for 10 hours: cheap to make, long to play.
    path = tmp_path / "ten-hours.mkv"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(1, 600))
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.time_base = Fraction(1, 1)
        stream.options = {"preset": "ultrafast"}
        for i, image in enumerate(_frames(61, 32, 32)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i * 600, Fraction(1, 1)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    start = time.monotonic()
    result = vpdq_hash(path)
    assert time.monotonic() - start < 20
    assert result.duration == pytest.approx(36_000, rel=0.02)
    assert result.frame_count == 61
    capped = vpdq_hash(path, max_seconds=3600)
    assert capped.truncated
    assert capped.features[-1].timestamp < 3600


def test_bad_arguments(tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.mp4", frames=3)
    for kwargs in (
        {"seconds_per_hash": -1.0},
        {"seconds_per_hash": float("nan")},
        {"frame_size": 2},
        {"max_frames": 0},
        {"max_seconds": 0.0},
        {"max_pixels": 0},
    ):
        with pytest.raises(ValidationError):
            vpdq_hash(path, **kwargs)  # type: ignore[arg-type]


def test_result_type(tmp_path: Path) -> None:
    result = vpdq_hash(make_video(tmp_path / "v.mp4", frames=3))
    assert isinstance(result, VideoHashes)
    assert isinstance(result.features, tuple)
