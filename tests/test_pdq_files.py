"""File-level PDQ conformance: decode_image + pdq_hash_pixels against shared/vectors/pdq/files/expected.csv."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from brightline.signals.media import decode_image
from brightline.signals.pdq import pdq_hash_pixels

# Upstream's rule for file-level hashes of good-quality images (decoders may differ).
MAX_DISTANCE = 10
MIN_QUALITY = 80


def _distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _good_rows(shared_dir: Path) -> list[dict[str, str]]:
    with (shared_dir / "vectors" / "pdq" / "files" / "expected.csv").open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if int(row["quality"]) >= MIN_QUALITY]


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "fast"])
def test_file_vectors_within_upstream_distance(shared_dir: Path, exact: bool) -> None:
    rows = _good_rows(shared_dir)
    assert len(rows) >= 50, "expected.csv lost most of its rows"
    folder = shared_dir / "vectors" / "pdq" / "files"
    failures = []
    for row in rows:
        digest = pdq_hash_pixels(decode_image(folder / row["file"], exact=exact).pixels)
        distance = _distance(digest.value, row["pdq"])
        if distance > MAX_DISTANCE or digest.quality < MIN_QUALITY:
            failures.append(f"{row['file']}: distance {distance}, quality {digest.quality}")
    assert not failures, "\n".join(failures)


def test_exact_path_reports_reference_quality(shared_dir: Path) -> None:
    folder = shared_dir / "vectors" / "pdq" / "files"
    with (folder / "expected.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    # Low-quality rows (quality 0..4) are excluded above; their quality must still agree.
    for row in rows:
        digest = pdq_hash_pixels(decode_image(folder / row["file"], exact=True).pixels)
        assert abs(digest.quality - int(row["quality"])) <= 5, row["file"]
