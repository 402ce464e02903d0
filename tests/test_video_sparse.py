"""Sparse decoding (only what the sampled frames need) gives exactly the features of decoding every frame."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from brightline.signals import video as video_module
from brightline.signals.video import VideoHashes, vpdq_hash
from brightline.signals.video_source import FrameSource, open_av
from brightline.signals.video_sparse import index_packets, plan_sparse

SECONDS_PER_HASH = (0.5, 1.0, 2.0, 5.0)
SAMPLES = [
    "chair-19-sd-bar",
    "chair-22-sd-sepia-bar",
    "chair-22-with-large-logo-bar",
    "chair-orig-22-sd-bar",
    "doorknob-hd-no-bar",
    "pattern-sd-grey-bar",
    "test-padded-dimensions",
]


def _texture(seed: int, width: int, height: int) -> np.ndarray:
    """Smooth random RGB texture twice the frame's width, to scroll through."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(height // 8 + 1, width // 4 + 1, 3)).astype(np.float64)
    big = np.kron(coarse, np.ones((8, 8, 1)))[:height, : 2 * width]
    return np.clip(big, 0, 255).astype(np.uint8)


def make_long_video(
    path: Path,
    codec: str,
    *,
    seconds: int = 60,
    fps: int = 30,
    gop_seconds: int = 2,
    width: int = 96,
    height: int = 64,
    vfr: bool = False,
    options: dict[str, str] | None = None,
) -> Path:
    """A video of ``seconds`` s, keyframes every ``gop_seconds`` s, a new scene every 5 s, scrolling."""
    gop = fps * gop_seconds
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        # Fixed here: the muxer replaces stream.time_base once it writes the header.
        base = Fraction(1, 90_000 if vfr else fps)
        stream.time_base = base
        stream.options = options or {}
        tick = 0
        for index in range(seconds * fps):
            texture = _texture(index // (5 * fps), width, height)
            shift = (index * 2) % width
            image = np.ascontiguousarray(texture[:, shift : shift + width])
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.time_base = base
            frame.pts = tick
            # Variable frame rate: alternate short and long frame durations.
            tick += (90_000 // fps) * (1 if index % 3 else 2) if vfr else 1
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


X264 = {"x264-params": "keyint=60:min-keyint=60:scenecut=0:bframes=3:b-pyramid=normal", "preset": "veryfast"}
X265 = "keyint=60:min-keyint=60:scenecut=0:bframes=3:open-gop=0"
SYNTHETIC = {
    "h264": ("mp4", "libx264", X264),
    "h264-open-gop": ("mkv", "libx264", {**X264, "x264-params": X264["x264-params"] + ":open-gop=1"}),
    "vp9": ("webm", "libvpx-vp9", {"deadline": "realtime", "cpu-used": "8"}),
    "vp9-altref": ("webm", "libvpx-vp9", {"cpu-used": "8", "lag-in-frames": "16", "auto-alt-ref": "1"}),
    "hevc": ("mp4", "libx265", {"preset": "ultrafast", "x265-params": X265}),
    "av1": ("mkv", "libsvtav1", {"preset": "12"}),
}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sparse")
    made = {}
    for name, (suffix, codec, options) in SYNTHETIC.items():
        if codec in av.codecs_available:
            made[name] = make_long_video(folder / f"{name}.{suffix}", codec, options=options)
    made["h264-vfr"] = make_long_video(folder / "vfr.mkv", "libx264", vfr=True, options=X264)
    return made


def _sparse_used(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record the sparse flag of every open_av call made by vpdq_hash (a second call = fallback)."""
    calls: list[bool] = []

    def spy(*args: object, **kwargs: object) -> FrameSource:
        calls.append(bool(kwargs.get("sparse", args[3] if len(args) > 3 else None)))
        return open_av(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(video_module, "open_av", spy)
    return calls


def _assert_same_as_every_frame(path: Path, every: VideoHashes, seconds: float, monkeypatch: pytest.MonkeyPatch) -> int:
    """Sparse vpdq_hash at ``seconds`` equals the plain one; returns packets the plan sends (0: no plan)."""
    calls = _sparse_used(monkeypatch)
    sparse = vpdq_hash(path, seconds_per_hash=seconds)
    monkeypatch.undo()
    assert calls == [True], "sparse decoding fell back to decoding every frame"
    # Plain decoding at this rate hashes exactly these frames of the every-frame decode.
    interval = max(1, int(seconds * every.average_fps))
    assert sparse == replace(every, features=tuple(f for f in every.features if f.frame_number % interval == 0))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        index = index_packets(container, stream)
    assert index is not None and time_base is not None
    plan = plan_sparse(index, time_base, every.average_fps, interval, None)
    return 0 if plan is None else plan.packets_sent


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_videos_sparse_equals_every_frame(shared_dir: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = shared_dir / "vectors" / "vpdq" / "videos" / f"{name}.mp4"
    every = vpdq_hash(path, seconds_per_hash=0)
    sent = [_assert_same_as_every_frame(path, every, seconds, monkeypatch) for seconds in SECONDS_PER_HASH]
    # 2-second GOPs (one for the 5-second test-padded-dimensions): at 1 s or more per hash
    # whole GOP tails are never decoded.
    assert all(0 < count < every.frame_count for count in sent[1:]), sent


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_videos_sparse_equals_every_frame(
    synthetic: dict[str, Path], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if name not in synthetic:
        pytest.skip(f"{SYNTHETIC[name][1]} encoder not in this PyAV build")
    path = synthetic[name]
    every = vpdq_hash(path, seconds_per_hash=0)
    assert every.frame_count == 1800
    sent = {seconds: _assert_same_as_every_frame(path, every, seconds, monkeypatch) for seconds in SECONDS_PER_HASH}
    if name != "h264-open-gop":  # open GOPs have no clean restart points: every packet is sent
        assert 0 < sent[5.0] < every.frame_count // 3, sent


def test_variable_frame_rate_decodes_every_frame(synthetic: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    path = synthetic["h264-vfr"]
    every = vpdq_hash(path, seconds_per_hash=0)
    for seconds in SECONDS_PER_HASH:
        assert _assert_same_as_every_frame(path, every, seconds, monkeypatch) == 0  # no plan


def test_budgets_with_sparse_decoding(synthetic: dict[str, Path]) -> None:
    path = synthetic["h264"]
    for kwargs in (
        {"max_frames": 700},
        {"max_seconds": 10.0},
        {"max_seconds": 10.01},
        {"max_frames": 1750},
        {"max_frames": 1800},
    ):
        sparse = vpdq_hash(path, seconds_per_hash=1.0, **kwargs)
        plain = vpdq_hash(path, seconds_per_hash=1.0, skip_unsampled=False, **kwargs)
        assert sparse == plain, kwargs
    assert vpdq_hash(path, max_seconds=10.0).frame_count == 300
    with av.open(str(path)) as container:  # a budget stops the demux-only pass early
        index = index_packets(container, container.streams.video[0], 100)
    assert index is not None and len(index) < 200


def test_mismatch_falls_back_to_every_frame(synthetic: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from brightline.signals import video_sparse

    path = synthetic["h264"]
    plain = vpdq_hash(path, skip_unsampled=False)
    # A plan that sends no packet at all: the sampled frames never come out of the decoder.
    real = video_sparse.plan_sparse

    def starved(*args: object) -> video_sparse.SparsePlan | None:
        plan = real(*args)  # type: ignore[arg-type]
        assert plan is not None
        plan.send[:] = False
        return plan

    monkeypatch.setattr("brightline.signals.video_source.plan_sparse", starved)
    calls = _sparse_used(monkeypatch)
    assert vpdq_hash(path) == plain
    assert calls == [True, False]
