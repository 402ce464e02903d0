"""The evaluation's edit catalogue: every transform at every strength, the SPEC syntax, determinism."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from brightline.evaluation.transforms import CATALOGUE, Edit, parse_spec

W, H = 320, 240


@pytest.fixture(scope="module")
def image() -> Image.Image:
    """An asymmetric, textured test image: coloured blocks over a diagonal gradient."""
    rng = np.random.default_rng(7)
    blocks = rng.integers(0, 256, (H // 8, W // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    ramp = np.add.outer(np.arange(H), np.arange(W)).astype(np.float32)[..., None] / (H + W) * 120
    pixels = np.clip(blocks * 0.6 + ramp, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def _decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG"
        return im.convert("RGB")


def _expect_size(name: str, strength: str, size: tuple[int, int]) -> None:
    w, h = size
    if name == "crop":
        assert w < W and h < H
    elif name.startswith("pad-"):
        assert w > W and h > H
    elif name == "letterbox":
        assert w == W and h > H
    elif name == "resize":
        f = float(strength)
        assert abs(w - max(8, round(W * f))) <= 1 and abs(h - max(8, round(H * f))) <= 1
    elif name == "rotate" and strength in ("90", "270"):
        assert (w, h) == (H, W)
    elif name == "screenshot":
        assert (w, h) == ((720, 1560) if strength == "phone" else (1600, 1000))
    else:
        assert (w, h) == (W, H)


ALL = [(name, s) for name, t in CATALOGUE.items() for s in t.strengths]


@pytest.mark.parametrize(("name", "strength"), ALL, ids=[f"{n}:{s}" for n, s in ALL])
def test_every_transform_gives_a_valid_different_image(image: Image.Image, name: str, strength: str) -> None:
    edit = Edit(((name, strength),))
    data = edit.apply(image, seed=1, photo_key="photo.jpg")
    out = _decode(data)
    _expect_size(name, strength, out.size)
    baseline = io.BytesIO()
    image.save(baseline, "JPEG", quality=95)
    assert data != baseline.getvalue()
    if out.size == image.size and name != "jpeg":
        diff = np.abs(np.asarray(out, np.int16) - np.asarray(_decode(baseline.getvalue()), np.int16)).mean()
        assert diff > 0.2, f"{name}:{strength} barely changed the image (mean diff {diff:.2f})"


def test_jpeg_edits_are_encoded_at_their_own_quality(image: Image.Image) -> None:
    low = Edit((("jpeg", "10"),)).apply(image, 0, "a")
    high = Edit((("jpeg", "90"),)).apply(image, 0, "a")
    assert len(low) < len(high)


def test_edits_are_deterministic_per_seed_and_photo(image: Image.Image) -> None:
    crop = Edit((("crop", "0.2"),))
    assert crop.apply(image, 3, "a") == crop.apply(image, 3, "a")
    others = {crop.apply(image, seed, key) for seed in range(4) for key in ("a", "b")}
    assert len(others) > 1  # the crop position is seeded


def test_spec_lists_strengths_and_chains() -> None:
    edits = parse_spec("crop:0.05,0.10;jpeg:50;crop:0.05+jpeg:50")
    assert [e.label for e in edits] == ["crop:0.05", "crop:0.1", "jpeg:50", "crop:0.05+jpeg:50"]
    assert (edits[3].name, edits[3].strength) == ("crop+jpeg", "0.05+50")
    assert [e.label for e in parse_spec("flip")] == ["flip:h", "flip:v"]


def test_standard_and_all_cover_the_catalogue() -> None:
    standard = parse_spec("standard")
    every = parse_spec("all")
    assert {e.name for e in standard} >= set(CATALOGUE)
    assert len(every) > len(standard) > 40
    assert parse_spec("standard;crop:0.01")[-1].label == "crop:0.01"
    assert len(parse_spec("jpeg:50;jpeg:50")) == 1


@pytest.mark.parametrize("spec", ["nope:1", "crop:2", "crop:x", "flip:d", "crop:0.1,0.2+jpeg:50", "", " ; "])
def test_bad_specs_say_why(spec: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the messages differ per mistake
        parse_spec(spec)
