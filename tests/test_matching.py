"""matching.py: indexes follow the store by revision; thresholds, filters, quality and variants."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from brightline.banks import BankService, EntryInput
from brightline.matching import SNAPSHOT_META, Matcher, MatchOptions
from brightline.signals.hashing import HashOptions, hash_file
from brightline.store.db import Database


def _flip(value: str, bits: int) -> str:
    """``value`` with its lowest ``bits`` bits inverted (distance exactly ``bits``)."""
    return f"{int(value, 16) ^ ((1 << bits) - 1):064x}"


BASE = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


@pytest.fixture
def banks(database_url: str) -> Iterator[BankService]:
    db = Database(database_url)
    db.upgrade()
    yield BankService(db)
    db.dispose()


def test_matches_within_the_default_radius_only(banks: BankService) -> None:
    banks.create_bank("known")
    banks.add_entries("known", [EntryInput("pdq", BASE)])
    matcher = Matcher(banks)
    matcher.refresh()
    assert [m.distance for m in matcher.match_values("pdq", [_flip(BASE, 31)])] == [31]
    assert matcher.match_values("pdq", [_flip(BASE, 32)]) == []


def test_bank_threshold_overrides_the_default(banks: BankService) -> None:
    banks.create_bank("strict", threshold=10)
    banks.create_bank("loose", threshold=40)
    banks.add_entries("strict", [EntryInput("pdq", BASE)])
    banks.add_entries("loose", [EntryInput("pdq", BASE)])
    matcher = Matcher(banks)
    matcher.refresh()
    assert {m.bank for m in matcher.match_values("pdq", [_flip(BASE, 20)])} == {"loose"}
    assert {m.bank for m in matcher.match_values("pdq", [_flip(BASE, 5)])} == {"strict", "loose"}
    assert {m.bank for m in matcher.match_values("pdq", [_flip(BASE, 5)], banks={"strict"})} == {"strict"}


def test_refresh_applies_adds_disables_removals_and_bank_changes(banks: BankService) -> None:
    banks.create_bank("known")
    matcher = Matcher(banks)
    matcher.refresh()
    assert matcher.match_values("pdq", [BASE]) == []
    banks.add_entries("known", [EntryInput("pdq", BASE), EntryInput("md5", "a" * 32)])
    matcher.refresh()
    (hit,) = matcher.match_values("pdq", [BASE])
    assert matcher.match_values("md5", ["A" * 32])[0].signal_type == "md5"
    banks.set_entries_enabled("known", [hit.entry_id], False)
    matcher.refresh()
    assert matcher.match_values("pdq", [BASE]) == []
    banks.set_entries_enabled("known", [hit.entry_id], True)
    matcher.refresh()
    assert len(matcher.match_values("pdq", [BASE])) == 1
    banks.update_bank("known", enabled=False)
    matcher.refresh()
    assert matcher.match_values("pdq", [BASE]) == []
    banks.update_bank("known", enabled=True)
    matcher.refresh()
    banks.remove_entries("known", [hit.entry_id])
    matcher.refresh()
    assert matcher.match_values("pdq", [BASE]) == []
    banks.delete_bank("known")
    matcher.refresh()
    assert matcher.match_values("md5", ["a" * 32]) == []


def test_snapshot_is_reused_and_only_later_changes_are_applied(banks: BankService, tmp_path: Path) -> None:
    banks.create_bank("known")
    rng = np.random.default_rng(0)
    values = [f"{int.from_bytes(rng.bytes(32), 'big'):064x}" for _ in range(200)]
    banks.add_entries("known", [EntryInput("pdq", v) for v in values])
    first = Matcher(banks, index_dir=tmp_path / "index")
    first.refresh()
    assert (tmp_path / "index" / SNAPSHOT_META).exists()
    snapshot_revision = first.revision
    banks.add_entries("known", [EntryInput("pdq", BASE)])
    second = Matcher(banks, index_dir=tmp_path / "index")
    second.refresh()
    assert second.revision > snapshot_revision
    assert second.size() == {"pdq": 201}
    assert len(second.match_values("pdq", [BASE])) == 1
    assert second.match_values("pdq", [values[7]])[0].bank == "known"


def test_damaged_snapshot_falls_back_to_a_full_build(banks: BankService, tmp_path: Path) -> None:
    banks.create_bank("known")
    banks.add_entries("known", [EntryInput("pdq", BASE)])
    Matcher(banks, index_dir=tmp_path / "index").refresh()
    (tmp_path / "index" / SNAPSHOT_META).write_text("{not json")
    matcher = Matcher(banks, index_dir=tmp_path / "index")
    matcher.refresh()
    assert len(matcher.match_values("pdq", [BASE])) == 1


def test_snapshot_from_another_database_is_ignored(banks: BankService, tmp_path: Path) -> None:
    banks.create_bank("known")
    banks.add_entries("known", [EntryInput("pdq", BASE)])
    Matcher(banks, index_dir=tmp_path / "index").refresh()
    other_db = Database(f"sqlite:///{tmp_path / 'other.db'}")
    other_db.upgrade()
    other = BankService(other_db)
    other.create_bank("busy")
    for _ in range(5):  # a higher revision than the snapshot's: only the store id tells them apart
        other.add_entries("busy", [EntryInput("md5", "b" * 32)])
        other.remove_entries("busy", [e.id for e in other.list_entries("busy")])
    matcher = Matcher(other, index_dir=tmp_path / "index")
    matcher.refresh()
    assert matcher.match_values("pdq", [BASE]) == []
    other_db.dispose()


@pytest.fixture
def photo(shared_dir: Path) -> Path:
    return sorted((shared_dir / "corpus" / "kodak24").iterdir())[3]


def test_low_quality_pdq_is_reported_but_not_matched(banks: BankService, tmp_path: Path) -> None:
    flat = tmp_path / "flat.png"
    Image.new("RGB", (200, 200), (120, 130, 140)).save(flat)
    hashes = hash_file(flat)
    assert hashes.quality < 50
    banks.create_bank("known")
    banks.add_entries("known", [EntryInput("pdq", hashes.pdq), EntryInput("md5", hashes.md5)])
    matcher = Matcher(banks)
    matcher.refresh()
    result = matcher.scan_file(flat, HashOptions())
    assert result.low_quality
    assert [m.signal_type for m in result.matches] == ["md5"]  # exact digests still match
    lenient = Matcher(banks, options=MatchOptions(min_quality=0))
    lenient.refresh()
    assert {m.signal_type for m in lenient.scan_file(flat, HashOptions()).matches} == {"pdq", "md5"}


def test_dihedral_matching_names_the_variant(banks: BankService, photo: Path, tmp_path: Path) -> None:
    banks.create_bank("known")
    banks.add_entries("known", [EntryInput("pdq", hash_file(photo).pdq)])
    rotated = tmp_path / "rotated.png"
    with Image.open(photo) as im:
        ImageOps.flip(im.convert("RGB")).save(rotated)
    plain = Matcher(banks)
    plain.refresh()
    assert plain.scan_file(rotated, HashOptions()).matches == ()
    dihedral = Matcher(banks, options=MatchOptions(dihedral=True))
    dihedral.refresh()
    (match,) = dihedral.scan_file(rotated, HashOptions(dihedral=True)).matches
    assert match.variant == "flipx"


def test_scan_paths_keeps_input_order_and_reports_errors(banks: BankService, photo: Path, tmp_path: Path) -> None:
    banks.create_bank("known")
    matcher = Matcher(banks)
    matcher.refresh()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    seen: list[str] = []
    results = list(
        matcher.scan_paths([photo, broken, photo], HashOptions(), workers=2, on_result=lambda r: seen.append(r.file))
    )
    assert [r.file for r in results] == [str(photo), str(broken), str(photo)] == seen
    assert results[1].error is not None and results[0].error is None


def test_only_one_process_writes_a_snapshot_at_a_time(banks: BankService, tmp_path: Path) -> None:
    import fcntl

    banks.create_bank("known")
    banks.add_entries("known", [EntryInput("pdq", BASE)])
    folder = tmp_path / "index"
    folder.mkdir()
    with open(folder / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another worker is writing
        matcher = Matcher(banks, index_dir=folder)
        matcher.refresh()
        assert not (folder / SNAPSHOT_META).exists()
        assert len(matcher.match_values("pdq", [BASE])) == 1
    matcher.refresh()  # lock released: the pending save happens now
    assert (folder / SNAPSHOT_META).exists()
    reloaded = Matcher(banks, index_dir=folder)
    reloaded.refresh()
    assert reloaded.match_values("pdq", [BASE])[0].bank == "known"


def test_a_worker_adopts_a_newer_snapshot_written_by_another(
    banks: BankService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import brightline.matching as matching

    folder = tmp_path / "index"
    banks.create_bank("known")
    banks.add_entries("known", [EntryInput("pdq", BASE)])
    writer, reader = Matcher(banks, index_dir=folder), Matcher(banks, index_dir=folder)
    writer.refresh()  # full build, then the first snapshot
    reader.refresh()  # maps that snapshot
    monkeypatch.setattr(matching, "SNAPSHOT_AFTER_CHANGES", 2)
    extra = [_flip(BASE, 40 + n) for n in range(3)]
    banks.add_entries("known", [EntryInput("pdq", v) for v in extra])
    reader.refresh()  # applies the 3 changes to its private overlay (and saves, being over the limit)
    banks.add_entries("known", [EntryInput("pdq", _flip(BASE, 60))])
    writer.refresh()  # writes a newer snapshot holding all 5 entries
    newest = json.loads((folder / SNAPSHOT_META).read_text())["revision"]
    reader.refresh()
    assert reader._based_on is not None and reader._based_on[1] == newest
    assert reader.size() == {"pdq": 5}
    assert {m.distance for m in reader.match_values("pdq", [BASE], banks={"known"})} == {0}
    assert reader.match_values("pdq", [_flip(BASE, 60)])[0].distance == 0  # the entry added last
