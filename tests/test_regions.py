"""Border trimming, pdq_regions values, RegionIndex and region matching end to end."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from brightline.banks import BankService, EntryInput
from brightline.errors import IndexFormatError, InvalidSignalValueError
from brightline.index import RegionIndex, VideoRegionIndex, load_index
from brightline.matching import Matcher
from brightline.matching.regions import default_media_signals, query_variants
from brightline.signals.hashing import HashOptions, hash_bytes
from brightline.signals.regions import CROPS, PARTS, REGION_NAMES, trim_box, trimmed_hash
from brightline.signals.regions_signal import PdqRegionsSignal, decode_regions, encode_regions
from brightline.signals.vpdq_regions_signal import VpdqRegionsSignal
from brightline.store.db import Database

KODAK = "corpus/kodak24"


def _photo(shared_dir: Path, number: int) -> Image.Image:
    return Image.open(sorted((shared_dir / KODAK).iterdir())[number]).convert("RGB")


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _sticker(image: Image.Image) -> Image.Image:
    """A large black line drawing over the top-right corner, like the vPDQ logo sample."""
    out = image.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    r = int(min(w, h) * 0.2)
    cx, cy = int(w * 0.72), int(h * 0.3)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(0, 0, 0), width=r // 6)
    draw.arc((cx - r // 2, cy, cx + r // 2, cy + r // 2), 0, 180, fill=(0, 0, 0), width=r // 6)
    return out


@pytest.fixture
def banks(database_url: str) -> Iterator[BankService]:
    db = Database(database_url)
    db.upgrade()
    yield BankService(db)
    db.dispose()


def test_trim_box_finds_letterbox_bars_only() -> None:
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 255, size=(100, 160), dtype=np.uint8).astype(np.float32)
    padded = np.pad(picture, ((30, 30), (0, 0)), constant_values=3.0)
    assert trim_box(padded) == (30, 130, 0, 160)
    assert trim_box(picture) is None
    assert trim_box(np.full((100, 100), 7.0, dtype=np.float32)) is None  # flat: nothing inside


def test_trimmed_hash_equals_the_hash_of_the_picture_inside(shared_dir: Path) -> None:
    photo = np.asarray(_photo(shared_dir, 0))
    padded = np.pad(photo, ((60, 60), (0, 0), (0, 0)))
    trimmed = trimmed_hash(padded)
    assert trimmed is not None
    assert trimmed.pdq == hash_bytes(_png(photo), HashOptions(exact=True)).pdq
    assert trimmed_hash(photo) is None


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def test_region_values_round_trip_and_are_validated(shared_dir: Path) -> None:
    known = hash_bytes(_jpeg(_photo(shared_dir, 1)), HashOptions(regions="known"))
    query = hash_bytes(_jpeg(_photo(shared_dir, 1)), HashOptions(regions="query"))
    names = [r.name for r in decode_regions(known.regions)]
    assert names == list(REGION_NAMES)
    assert [r.name for r in decode_regions(query.regions)] == ["full", *PARTS]
    assert encode_regions(decode_regions(known.regions)) == known.regions
    assert decode_regions(known.regions)[0].pdq == known.pdq
    assert "pdq_regions" in known.signals() and "pdq_regions" not in hash_bytes(_jpeg(_photo(shared_dir, 1))).signals()
    shuffled = ";".join(reversed(known.regions.split(";")))
    assert PdqRegionsSignal.validate(shuffled) == known.regions
    for bad in (
        "full:80:" + "0" * 63,
        "nose:80:" + "0" * 64,
        "full:101:" + "0" * 64,
        "full:80:" + "0" * 64 + ";full:80:" + "1" * 64,
    ):
        with pytest.raises(InvalidSignalValueError, match="pdq_regions"):
            PdqRegionsSignal.validate(bad)


def _regions(names: dict[str, int]) -> str:
    return ";".join(f"{n}:90:{v:064x}" for n, v in sorted(names.items(), key=lambda kv: REGION_NAMES.index(kv[0])))


def test_region_index_rules_crops_and_two_parts(tmp_path: Path) -> None:
    index = RegionIndex()
    rng = np.random.default_rng(5)
    known = {name: int.from_bytes(rng.bytes(32), "big") for name in REGION_NAMES}
    far = int.from_bytes(rng.bytes(32), "big")
    index.add([7], [_regions(known)])
    assert len(index) == 1 and 7 in index and 8 not in index
    # A query whose plain PDQ equals a known crop hits it.
    (hit,) = index.search_regions(_regions({"full": known["crop80"]}), 31)
    assert (hit.entry_id, hit.distance, hit.variant) == (7, 0, "crop80")
    # One part alone is not enough; two are, and the deciding distance is the second smallest.
    assert index.search_regions(_regions({"full": far, "top": known["top"]}), 31) == []
    (hit,) = index.search_regions(_regions({"full": far, "top": known["top"], "left": known["left"] ^ 0b111}), 31)
    assert (hit.distance, hit.variant) == (3, "parts:t+l")
    # A part is compared only with the same part.
    assert index.search_regions(_regions({"full": far, "top": known["left"], "left": known["top"]}), 31) == []
    index.save(tmp_path / "r")
    loaded = load_index(tmp_path / "r")
    assert isinstance(loaded, RegionIndex) and loaded.search_regions(_regions({"full": known["crop95"]}), 0)
    assert index.remove([7, 99]) == 1 and len(index) == 0
    (tmp_path / "r" / "meta.json").write_text("{}")
    with pytest.raises(IndexFormatError):
        RegionIndex.load(tmp_path / "r")


def test_low_quality_regions_are_not_indexed() -> None:
    index = RegionIndex(min_quality=50)
    index.add([1], [";".join(f"{n}:10:{1:064x}" for n in CROPS)])
    assert len(index) == 1 and index.search_regions(_regions({"full": 1}), 31) == []
    index.add([2], [f"crop90:50:{1:064x}"])
    assert [h.entry_id for h in index.search_regions(_regions({"full": 1}), 0)] == [2] and len(index) == 2


def test_query_variants_add_the_trimmed_hash_last(shared_dir: Path) -> None:
    padded = ImageOps.expand(_photo(shared_dir, 2), border=(0, 60, 0, 60), fill=(0, 0, 0))
    hashes = hash_bytes(_jpeg(padded), HashOptions(dihedral=True))
    values, names = query_variants(hashes, dihedral=True)
    assert names[-1] == "trimmed" and values[-1] == hashes.pdq_trimmed and len(values) == 9
    assert query_variants(hashes, dihedral=False)[1] == ["original", "trimmed"]
    assert default_media_signals(True) == ["pdq", "pdq_regions", "md5", "sha256"]
    assert default_media_signals(False) == ["pdq", "md5", "sha256"]


def test_edited_copies_match_through_trim_crops_and_parts(shared_dir: Path, banks: BankService) -> None:
    banks.create_bank("known")
    originals = [_photo(shared_dir, n) for n in range(4)]
    for photo in originals:
        hashes = hash_bytes(_jpeg(photo), HashOptions(exact=True, regions="known"))
        banks.add_entries("known", [EntryInput(s, v) for s, v in hashes.signals().items() if s != "sha256"])
    matcher = Matcher(banks)
    matcher.refresh()
    assert matcher.wants_regions
    photo = originals[0]
    w, h = photo.size
    edits = {
        "pad": ImageOps.expand(photo, border=(0, h // 5, 0, h // 5), fill=(0, 0, 0)),
        "crop": photo.crop((w // 10, h // 10, w, h)),
        "sticker": _sticker(photo),
    }
    plain_pdq = {hash_bytes(_jpeg(p)).pdq for p in originals}
    for name, edited in edits.items():
        query = hash_bytes(_jpeg(edited), matcher.query_options(HashOptions()))
        assert query.pdq not in plain_pdq
        matches, low = matcher.match_hashes(query)
        assert not low and matches, name
        assert {m.entry_id for m in matches} <= {1, 2, 3}, name  # entries of the first photo only
        variants = {m.variant for m in matches}
        expected = {"pad": "trimmed", "crop": "br90", "sticker": "parts:"}[name]
        assert any(v.startswith(expected) for v in variants), (name, variants)
    other = hash_bytes(_jpeg(_photo(shared_dir, 10)), matcher.query_options(HashOptions()))
    assert matcher.match_hashes(other)[0] == []


def test_a_plain_pdq_list_still_matches_a_padded_copy(shared_dir: Path, banks: BankService) -> None:
    photo = _photo(shared_dir, 3)
    banks.create_bank("third-party")
    banks.add_entries("third-party", [EntryInput("pdq", hash_bytes(_jpeg(photo)).pdq)])
    matcher = Matcher(banks)
    matcher.refresh()
    assert not matcher.wants_regions
    padded = ImageOps.expand(photo, border=(80, 0, 80, 0), fill=(255, 255, 255))
    matches, _ = matcher.match_hashes(hash_bytes(_jpeg(padded), matcher.query_options(HashOptions())))
    assert [m.variant for m in matches] == ["trimmed"]
    untrimmed = hash_bytes(_jpeg(padded), HashOptions(trim=False))
    assert matcher.match_hashes(untrimmed)[0] == []


def _frame(rng: np.random.Generator) -> dict[str, int]:
    return {name: int.from_bytes(rng.bytes(32), "big") for name in ("full", *PARTS)}


def _frames_value(frames: list[dict[str, int]]) -> str:
    return "|".join(f"{n * 30}@{_regions(f)}" for n, f in enumerate(frames))


def test_video_region_index_matches_frames_by_whole_frame_or_parts(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    known = [_frame(rng) for _ in range(4)]
    index = VideoRegionIndex()
    index.add([3], [_frames_value(known)])
    assert len(index) == 1 and index.frame_count(3) == 4
    logo = {**known[1], "full": int.from_bytes(rng.bytes(32), "big"), "top": 5, "top-right": 6, "right": 7}
    query = [_regions(known[0]), _regions(logo), _regions(_frame(rng))]
    found = index.search_frames(query, 31)
    assert [(h.entry_id, h.slot, h.variant) for h in found[0]] == [(3, 0, "full")]
    assert [(h.slot, h.variant) for h in found[1]] == [(1, "parts:b+l+tl+bl+br")]
    assert found[2] == []
    index.save(tmp_path / "v")
    loaded = load_index(tmp_path / "v")
    assert isinstance(loaded, VideoRegionIndex) and loaded.frame_count(3) == 4
    assert [h.entry_id for h in loaded.search(_frames_value([logo]), 31)] == [3]
    assert index.remove([3]) == 1 and index.search_frames(query, 31) == [[], [], []]


def test_vpdq_regions_values_are_canonical() -> None:
    rng = np.random.default_rng(1)
    a, b = _frame(rng), _frame(rng)
    value = f"60@{_regions(b)}|0@{_regions(a)}|30@{_regions(a)}"
    assert VpdqRegionsSignal.validate(value) == f"0@{_regions(a)}|60@{_regions(b)}"  # sorted, repeats dropped
    with pytest.raises(InvalidSignalValueError, match="vpdq_regions"):
        VpdqRegionsSignal.validate(f"0@{_regions(a)}|0@{_regions(b)}")


def test_video_matches_by_percent_of_frames_with_parts(banks: BankService) -> None:
    rng = np.random.default_rng(2)
    known = [_frame(rng) for _ in range(10)]
    banks.create_bank("videos")
    banks.add_entries("videos", [EntryInput("vpdq_regions", _frames_value(known))])
    matcher = Matcher(banks)
    matcher.refresh()
    assert matcher.wants_regions
    # Every frame carries a logo over the top right: whole frames differ, parts still match.
    logo = [{**f, "full": int.from_bytes(rng.bytes(32), "big"), "top": 1, "right": 2, "top-right": 3} for f in known]
    (match,) = matcher.match_values("vpdq_regions", [_frames_value(logo[:9])])
    assert (match.signal_type, match.variant, match.query_percent, match.candidate_percent) == (
        "vpdq_regions",
        "frames+parts",
        100.0,
        90.0,
    )
    half = logo[:5] + [_frame(rng) for _ in range(5)]
    assert matcher.match_values("vpdq_regions", [_frames_value(half)]) == []  # 50 % < 80 %
