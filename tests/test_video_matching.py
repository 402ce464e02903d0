"""Video matching: the sample variants match their original only; image <-> video frames; thresholds; snapshots."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import av
import pytest

from brightline.banks import BankService, EntryInput
from brightline.errors import InvalidSignalValueError
from brightline.matching import Matcher, MatchOptions
from brightline.signals.hashing import HashOptions, MediaHashes, hash_file
from brightline.signals.vpdq import format_feature
from brightline.signals.vpdq_signal import VpdqSignal, decode_features, encode_features
from brightline.store.db import Database

ORIGINALS = ("chair-orig-22-sd-bar", "pattern-sd-grey-bar", "doorknob-hd-no-bar", "test-padded-dimensions")
CHAIR_VARIANTS = ("chair-19-sd-bar", "chair-22-sd-sepia-bar", "chair-22-with-large-logo-bar")
LARGE_LOGO = "chair-22-with-large-logo-bar"
# Region hashes too: vpdq_regions (whole frames and parts) catches the large-logo variant.
OPTIONS = HashOptions(exact=True, seconds_per_hash=1.0, regions="query")


@pytest.fixture(scope="module")
def videos(shared_dir: Path) -> dict[str, MediaHashes]:
    """Every sample video hashed once (one frame per second)."""
    folder = shared_dir / "vectors" / "vpdq" / "videos"
    # The chair variants differ in frame rate (19 vs 22 fps): sampled once a second their frames
    # fall at different moments (about 10 % match), so they are hashed at every frame.
    every = replace(OPTIONS, seconds_per_hash=0.0)
    return {
        p.stem: hash_file(p, every if p.stem.startswith("chair") else OPTIONS) for p in sorted(folder.glob("*.mp4"))
    }


@pytest.fixture
def banks(tmp_path: Path) -> Iterator[BankService]:
    # SQLite only: the matching logic does not depend on the database, and video values are long.
    db = Database(f"sqlite:///{tmp_path / 'v.db'}")
    db.upgrade()
    yield BankService(db)
    db.dispose()


def _bank_originals(banks: BankService, videos: dict[str, MediaHashes]) -> dict[str, int]:
    banks.create_bank("originals")
    entries = [EntryInput("vpdq", videos[name].signals()["vpdq"], note=name) for name in ORIGINALS]
    banks.add_entries("originals", entries)
    return {e.note or "": e.id for e in banks.list_entries("originals")}


def test_every_variant_matches_its_original_and_nothing_else(
    banks: BankService, videos: dict[str, MediaHashes]
) -> None:
    ids = _bank_originals(banks, videos)
    matcher = Matcher(banks)
    matcher.refresh()
    for name, hashes in videos.items():
        found = {m.entry_id: m for m in matcher.match_hashes(hashes)[0] if m.signal_type == "vpdq"}
        expected = ids["chair-orig-22-sd-bar"] if name.startswith("chair") else ids.get(name)
        if name == LARGE_LOGO:
            assert set(found) <= {expected}  # see test_the_large_logo_variant_matches_its_original
            continue
        assert set(found) == {expected}, name
        match = found[expected]
        assert match.query_percent is not None and match.query_percent >= 80.0
        assert match.candidate_percent is not None and match.candidate_percent > 0
        assert match.time_ranges and match.time_ranges[0][0] <= match.time_ranges[-1][1]
        assert match.as_dict()["time_ranges"] == [list(r) for r in match.time_ranges]
    for name in CHAIR_VARIANTS:
        if name == LARGE_LOGO:
            continue
        assert {m.entry_id for m in matcher.match_hashes(videos[name])[0]} == {ids["chair-orig-22-sd-bar"]}


def test_the_large_logo_variant_matches_its_original_by_parts(
    banks: BankService, videos: dict[str, MediaHashes]
) -> None:
    """With vpdq_regions every sample variant (bars, logos, sepia, grey) matches its original and only it."""
    banks.create_bank("regions")
    entries = [EntryInput("vpdq_regions", videos[name].signals()["vpdq_regions"], note=name) for name in ORIGINALS]
    banks.add_entries("regions", entries)
    ids = {e.note or "": e.id for e in banks.list_entries("regions")}
    matcher = Matcher(banks)
    matcher.refresh()
    for name, hashes in videos.items():
        found = {m.entry_id: m for m in matcher.match_hashes(hashes)[0] if m.signal_type == "vpdq_regions"}
        expected = ids["chair-orig-22-sd-bar"] if name.startswith("chair") else ids[name]
        assert set(found) == {expected}, name
        match = found[expected]
        assert match.query_percent is not None and match.query_percent >= 80.0, name
        assert match.time_ranges, name
    logo = next(m for m in matcher.match_hashes(videos[LARGE_LOGO])[0] if m.signal_type == "vpdq_regions")
    assert logo.variant == "frames+parts"  # most of its frames match only by their parts


def test_identical_video_matches_fully_and_by_md5(banks: BankService, videos: dict[str, MediaHashes]) -> None:
    hashes = videos["chair-orig-22-sd-bar"]
    banks.create_bank("known")
    banks.add_entries("known", [EntryInput(t, v) for t, v in hashes.signals().items()])
    matcher = Matcher(banks)
    matcher.refresh()
    matches, low = matcher.match_hashes(hashes)
    assert not low
    assert {m.signal_type for m in matches} == {"vpdq", "vpdq_regions", "md5", "sha256"}
    vpdq = next(m for m in matches if m.signal_type == "vpdq")
    assert (vpdq.query_percent, vpdq.candidate_percent, vpdq.distance) == (100.0, 100.0, 0)
    assert "query_percent" not in next(m for m in matches if m.signal_type == "md5").as_dict()


def test_percent_thresholds_are_configurable(banks: BankService, videos: dict[str, MediaHashes]) -> None:
    ids = _bank_originals(banks, videos)
    loose = Matcher(banks)
    loose.refresh()
    query = videos["chair-19-sd-bar"]
    (match,) = [m for m in loose.match_hashes(query)[0] if m.signal_type == "vpdq"]
    assert match.entry_id == ids["chair-orig-22-sd-bar"]
    strict_query = Matcher(banks, options=MatchOptions(video_query_percent=100.0))
    strict_query.refresh()
    strict_candidate = Matcher(banks, options=MatchOptions(video_candidate_percent=100.0))
    strict_candidate.refresh()
    if match.query_percent is not None and match.query_percent < 100.0:
        assert strict_query.match_hashes(query)[0] == []
    if match.candidate_percent is not None and match.candidate_percent < 100.0:
        assert strict_candidate.match_hashes(query)[0] == []
    zero = Matcher(banks, options=MatchOptions(video_query_percent=0.0))
    zero.refresh()
    assert len(zero.match_hashes(query)[0]) >= 1


def _frame_png(video: Path, target: Path, second: float) -> Path:
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= second:
                frame.to_image().save(target)
                return target
    raise AssertionError("no frame at that time")


def test_an_image_hits_a_video_frame(
    banks: BankService, videos: dict[str, MediaHashes], shared_dir: Path, tmp_path: Path
) -> None:
    ids = _bank_originals(banks, videos)
    matcher = Matcher(banks)
    matcher.refresh()
    still = _frame_png(shared_dir / "vectors/vpdq/videos/chair-orig-22-sd-bar.mp4", tmp_path / "f.png", 5.0)
    matches, _ = matcher.match_hashes(hash_file(still, HashOptions(exact=True)))
    assert [(m.entry_id, m.signal_type) for m in matches] == [(ids["chair-orig-22-sd-bar"], "vpdq")]


def test_a_video_hits_an_image_entry(
    banks: BankService, videos: dict[str, MediaHashes], shared_dir: Path, tmp_path: Path
) -> None:
    still = _frame_png(shared_dir / "vectors/vpdq/videos/pattern-sd-grey-bar.mp4", tmp_path / "f.png", 3.0)
    banks.create_bank("photos")
    banks.add_entries("photos", [EntryInput("pdq", hash_file(still, HashOptions(exact=True)).pdq)])
    matcher = Matcher(banks)
    matcher.refresh()
    matches, _ = matcher.match_hashes(videos["pattern-sd-grey-bar"])
    assert [m.signal_type for m in matches] == ["pdq"]
    assert matches[0].time_ranges
    assert matcher.match_hashes(videos["chair-orig-22-sd-bar"])[0] == []


def test_snapshot_and_refresh_after_disable_and_remove(
    banks: BankService, videos: dict[str, MediaHashes], tmp_path: Path
) -> None:
    ids = _bank_originals(banks, videos)
    chair = ids["chair-orig-22-sd-bar"]
    first = Matcher(banks, index_dir=tmp_path / "index")
    first.refresh()
    first.save_snapshot()
    second = Matcher(banks, index_dir=tmp_path / "index")
    second.refresh()
    assert second.size()["vpdq"] == len(ORIGINALS)
    assert {m.entry_id for m in second.match_hashes(videos["chair-19-sd-bar"])[0]} == {chair}
    banks.set_entries_enabled("originals", [chair], False)
    second.refresh()
    assert second.match_hashes(videos["chair-19-sd-bar"])[0] == []
    banks.set_entries_enabled("originals", [chair], True)
    second.refresh()
    assert {m.entry_id for m in second.match_hashes(videos["chair-19-sd-bar"])[0]} == {chair}
    banks.remove_entries("originals", [chair])
    second.refresh()
    assert second.match_hashes(videos["chair-19-sd-bar"])[0] == []
    assert second.size()["vpdq"] == len(ORIGINALS) - 1


def test_match_values_accepts_a_vpdq_value(banks: BankService, videos: dict[str, MediaHashes]) -> None:
    ids = _bank_originals(banks, videos)
    matcher = Matcher(banks)
    matcher.refresh()
    value = videos["chair-22-sd-sepia-bar"].signals()["vpdq"]
    assert [m.entry_id for m in matcher.match_values("vpdq", [value])] == [ids["chair-orig-22-sd-bar"]]


def test_vpdq_values_canonicalise_from_the_reference_text(videos: dict[str, MediaHashes]) -> None:
    features = videos["chair-19-sd-bar"].video.features  # type: ignore[union-attr]
    canonical = encode_features(features)
    multi_line = "".join(format_feature(f) + "\n" for f in features)
    assert VpdqSignal.validate(multi_line) == canonical
    assert "\n" not in canonical and "\t" not in canonical
    assert decode_features(canonical) == [replace(f, timestamp=round(f.timestamp, 3)) for f in features]
    with pytest.raises(InvalidSignalValueError, match="vpdq"):
        VpdqSignal.validate("0,100,abc,0.000")
