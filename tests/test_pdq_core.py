"""PDQ must equal the reference C++ core bit for bit on the shared core vectors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brightline.signals.pdq import PdqSignal, pdq_hash_pixels
from brightline.signals.pdq_core import DIHEDRAL_NAMES, bits_to_hex, pdq_from_pixels, window_size

VARIANTS = ["rot90", "rot180", "rot270", "flipx", "flipy", "flipplus1", "flipminus1"]


def _rows(shared: Path) -> list[dict[str, str]]:
    with open(shared / "vectors" / "pdq" / "core" / "expected.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _pixels(path: Path, mode: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L" if mode == "L" else "RGB"))


def test_every_core_vector_is_bit_exact(shared_dir: Path) -> None:
    rows = _rows(shared_dir)
    assert len(rows) == 100
    misses = []
    for row in rows:
        got = pdq_hash_pixels(_pixels(shared_dir / "vectors/pdq/core" / row["file"], row["mode"]), dihedral=True)
        want = [row["pdq"]] + [row[k] for k in VARIANTS]
        if list(got.dihedral) != want or got.value != row["pdq"] or str(got.quality) != row["quality"]:
            misses.append(row["file"])
    assert misses == []


def test_vectors_cover_the_tricky_cases(shared_dir: Path) -> None:
    rows = _rows(shared_dir)
    modes = {r["mode"] for r in rows}
    assert modes == {"RGB", "L"}
    assert any(r["file"].startswith("flat_") for r in rows)
    assert any(r["width"] == "64" and r["height"] == "64" for r in rows)
    assert any(int(r["width"]) < 5 or int(r["height"]) < 5 for r in rows)


def test_tiny_images_hash_to_zero_with_quality_zero() -> None:
    got = pdq_hash_pixels(np.full((4, 40, 3), 200, dtype=np.uint8), dihedral=True)
    assert got.value == "0" * 64 and got.quality == 0 and set(got.dihedral) == {"0" * 64}


def test_dihedral_order_matches_the_reference_names() -> None:
    assert ("original", *VARIANTS) == DIHEDRAL_NAMES


TRANSFORMS = {
    "rot90": lambda a: np.rot90(a, k=1),  # a quarter turn counter-clockwise
    "rot180": lambda a: np.rot90(a, k=2),
    "rot270": lambda a: np.rot90(a, k=3),
    "flipx": np.flipud,
    "flipy": np.fliplr,
    "flipplus1": lambda a: a.transpose(1, 0, 2),
}


@pytest.mark.parametrize("variant", sorted(TRANSFORMS))
def test_each_dihedral_variant_predicts_the_transformed_image(shared_dir: Path, variant: str) -> None:
    photo = sorted((shared_dir / "corpus/kodak24").iterdir())[0]
    pixels = _pixels(photo, "RGB")
    predicted = pdq_hash_pixels(pixels, dihedral=True).dihedral
    actual = pdq_hash_pixels(np.ascontiguousarray(TRANSFORMS[variant](pixels))).value
    distances = [PdqSignal.distance(actual, v) for v in predicted]
    assert distances.index(min(distances)) == DIHEDRAL_NAMES.index(variant)
    assert min(distances) <= PdqSignal.default_threshold


def test_window_size_matches_reference_rounding() -> None:
    assert [window_size(n) for n in (5, 64, 128, 129, 1024, 4000)] == [1, 1, 1, 2, 8, 32]


def test_bits_to_hex_sets_bit_k_as_row_times_16_plus_column() -> None:
    coeffs = np.zeros((16, 16), dtype=np.float32)
    coeffs[0, 0] = 1.0  # bit 0: the least significant bit of the big-endian hex
    assert bits_to_hex(coeffs) == "0" * 63 + "1"
    coeffs[:] = 0
    coeffs[15, 15] = 1.0  # bit 255: the most significant bit
    assert bits_to_hex(coeffs) == "8" + "0" * 63


def test_rejects_pixels_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match="shape"):
        pdq_hash_pixels(np.zeros((10, 10, 4), dtype=np.uint8))


def test_grey_pixels_hash_like_their_float32_luma() -> None:
    # uint8 grey goes into the filter as it is (read as float32 there): the same hash as its luma.
    rng = np.random.default_rng(7)
    for rows, cols in ((5, 9), (64, 64), (300, 517), (1031, 129)):
        grey = rng.integers(0, 256, (rows, cols), dtype=np.uint8)
        for dihedral in (False, True):
            assert pdq_from_pixels(grey, dihedral) == pdq_from_pixels(grey.astype(np.float32), dihedral)
