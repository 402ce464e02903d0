"""vPDQ conformance with the reference hashes in shared/vectors/vpdq (every frame hashed).

Frame counts, frame numbers and timestamps must equal the reference. PDQ bits depend on the
FFmpeg that turned frames into RGB: the reference files came from an older FFmpeg, so each
frame must be within distance 10 and its quality equal. One file, doorknob-hd-no-bar at
native size, does not meet that with any current FFmpeg: Meta's own vpdq package built
against FFmpeg 5.1 gives the same distances as brightline (max 76, 15 qualities off by one,
most on near-flat frames of a fade); at 128x128 one low-quality frame's quality is off by one.
So doorknob has its own, looser check (quality within 1; distance <= 10 on frames of quality
>= 80, and on every frame at 128x128) and is then marked xfail.

The drift is swscale's rounding: converting with SWS_ACCURATE_RND (swscale's exact C path
instead of its SIMD YUV->RGB shortcut) reproduces doorknob's native-size reference (every
frame within 2 bits, qualities equal; the other videos stay within 8). It is not the default
because it makes the RGB conversion about ten times slower (2 ms instead of 0.2 ms a frame
at 480x720, 6 ms at 1280x720) and brightline would then no longer agree bit for bit with
Meta's vpdq package built against a current FFmpeg; test_doorknob_drift_is_swscale_rounding
keeps the finding checked, and test_matches_reference_with_accurate_rgb runs the whole matrix
with that option (BRIGHTLINE_VIDEO_ACCURATE_RGB): all cases pass but one doorknob frame's quality
at 128x128 (29 vs 30). Interpolation, chroma (FULL_CHR_H_INT/INP), BT.601 vs BT.709 and
colour range do not help (46, 36-46, 44 and 42 frames over 10 bits).
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import av
import pytest
from av.video.reformatter import Interpolation, VideoReformatter

from brightline.signals.pdq import pdq_hash_pixels
from brightline.signals.video import VpdqFeature, read_vpdq_file, vpdq_hash, write_vpdq_file

VIDEOS = [
    "chair-19-sd-bar",
    "chair-22-sd-sepia-bar",
    "chair-22-with-large-logo-bar",
    "chair-orig-22-sd-bar",
    "doorknob-hd-no-bar",
    "pattern-sd-grey-bar",
    "test-padded-dimensions",
]
CASES = [(name, size) for name in VIDEOS for size in (None, 128) if not (name == "test-padded-dimensions" and size)]
KNOWN_FFMPEG_DRIFT = {("doorknob-hd-no-bar", None), ("doorknob-hd-no-bar", 128)}
MAX_DISTANCE = 10


def _distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def _reference(shared_dir: Path, name: str, size: int | None) -> list[VpdqFeature]:
    suffix = "" if size is None else f"-{size}x{size}"
    return read_vpdq_file(shared_dir / "vectors" / "vpdq" / "hashes" / f"{name}{suffix}.txt")


def _hash(shared_dir: Path, name: str, size: int | None) -> list[VpdqFeature]:
    path = shared_dir / "vectors" / "vpdq" / "videos" / f"{name}.mp4"
    return list(vpdq_hash(path, seconds_per_hash=0, frame_size=size).features)


@pytest.mark.parametrize(("name", "size"), CASES)
def test_matches_reference(shared_dir: Path, name: str, size: int | None, record_property: object) -> None:
    reference = _reference(shared_dir, name, size)
    ours = _hash(shared_dir, name, size)
    assert len(ours) == len(reference)
    assert [f.frame_number for f in ours] == [f.frame_number for f in reference]
    assert [f"{f.timestamp:.3f}" for f in ours] == [f"{f.timestamp:.3f}" for f in reference]
    distances = [_distance(a.pdq, b.pdq) for a, b in zip(ours, reference, strict=True)]
    quality_gaps = [a.quality - b.quality for a, b in zip(ours, reference, strict=True)]
    print(f"{name} {size or 'native'}: distances {sorted(Counter(distances).items())}")
    if (name, size) in KNOWN_FFMPEG_DRIFT:
        assert max(abs(gap) for gap in quality_gaps) <= 1
        textured = [d for d, f in zip(distances, reference, strict=True) if f.quality >= 80]
        assert textured and max(textured) <= MAX_DISTANCE
        if size is not None:
            assert max(distances) <= MAX_DISTANCE
        pytest.xfail("reference made with an older FFmpeg; see module docstring")
    assert quality_gaps == [0] * len(reference)
    assert max(distances) <= MAX_DISTANCE


def test_doorknob_drift_is_swscale_rounding(shared_dir: Path) -> None:
    rounding = Interpolation.BILINEAR | Interpolation.ACCURATE_RND
    reference = _reference(shared_dir, "doorknob-hd-no-bar", None)
    path = shared_dir / "vectors" / "vpdq" / "videos" / "doorknob-hd-no-bar.mp4"
    scaler = VideoReformatter()
    with av.open(str(path)) as container:
        frames = container.decode(container.streams.video[0])
        hashes = [
            pdq_hash_pixels(scaler.reformat(f, format="rgb24", interpolation=rounding).to_ndarray()) for f in frames
        ]
    assert len(hashes) == len(reference)
    assert [h.quality for h in hashes] == [f.quality for f in reference]
    assert max(_distance(h.value, f.pdq) for h, f in zip(hashes, reference, strict=True)) <= 2


def test_reference_files_round_trip_byte_identical(shared_dir: Path) -> None:
    files = sorted((shared_dir / "vectors" / "vpdq" / "hashes").glob("*.txt"))
    assert len(files) == 13
    for path in files:
        features = read_vpdq_file(path)
        text, binary = io.StringIO(), io.BytesIO()
        write_vpdq_file(features, text)
        write_vpdq_file(features, binary)
        assert binary.getvalue() == path.read_bytes(), path.name
        assert text.getvalue().encode() == path.read_bytes()


def test_write_to_path(shared_dir: Path, tmp_path: Path) -> None:
    source = shared_dir / "vectors" / "vpdq" / "hashes" / "test-padded-dimensions.txt"
    write_vpdq_file(read_vpdq_file(source), tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_bytes() == source.read_bytes()


def test_malformed_hash_file(tmp_path: Path) -> None:
    from brightline.errors import HashListFormatError

    bad = tmp_path / "bad.txt"
    bad.write_text("0,100,abc,0.000\n")
    with pytest.raises(HashListFormatError, match=r"bad\.txt:1"):
        read_vpdq_file(bad)


@pytest.mark.parametrize(("name", "size"), CASES)
def test_matches_reference_with_accurate_rgb(shared_dir: Path, name: str, size: int | None) -> None:
    """With swscale's exact conversion (BRIGHTLINE_VIDEO_ACCURATE_RGB) every case meets the reference bound."""
    if (name, size) == ("doorknob-hd-no-bar", 128):
        pytest.xfail("one frame of quality 29 is hashed at quality 30 at 128x128 with any swscale option")
    path = shared_dir / "vectors" / "vpdq" / "videos" / f"{name}.mp4"
    ours = list(vpdq_hash(path, seconds_per_hash=0, frame_size=size, accurate_rgb=True).features)
    reference = _reference(shared_dir, name, size)
    assert [(f.frame_number, f"{f.timestamp:.3f}", f.quality) for f in ours] == [
        (f.frame_number, f"{f.timestamp:.3f}", f.quality) for f in reference
    ]
    assert max(_distance(a.pdq, b.pdq) for a, b in zip(ours, reference, strict=True)) <= MAX_DISTANCE
