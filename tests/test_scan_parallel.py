"""Matcher.scan_paths on worker processes: same results, order and per-file errors as on threads."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from brightline.banks import BankService, EntryInput
from brightline.matching import Matcher
from brightline.matching.parallel import MIN_FILES_FOR_PROCESSES, hash_for_scan, hash_in_processes, use_processes
from brightline.signals.hashing import HashOptions, hash_file
from brightline.store.db import Database


@pytest.fixture
def banks(database_url: str) -> Iterator[BankService]:
    db = Database(database_url)
    db.upgrade()
    yield BankService(db)
    db.dispose()


@pytest.fixture
def files(shared_dir: Path, tmp_path: Path) -> list[Path]:
    photos = sorted((shared_dir / "corpus" / "kodak24").iterdir())[:12]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    small = tmp_path / "small.jpg"
    with Image.open(photos[0]) as image:
        image.convert("RGB").resize((200, 150)).save(small, quality=90)
    return [*photos[:6], broken, tmp_path / "missing.jpg", small, *photos[6:], photos[0]]


def test_small_jobs_and_one_worker_stay_on_threads() -> None:
    assert not use_processes(MIN_FILES_FOR_PROCESSES - 1, 8)
    assert not use_processes(1000, 1)
    assert use_processes(MIN_FILES_FOR_PROCESSES, 2)
    assert not use_processes(1000, 2, processes=False)  # threads unless asked (the default)


def test_hashes_survive_the_trip_between_processes(files: list[Path]) -> None:
    hashes = hash_file(files[0], HashOptions(dihedral=True))
    assert pickle.loads(pickle.dumps(hashes)) == hashes
    assert isinstance(hash_for_scan(files[6], HashOptions()), str)  # the broken PNG: its message


def test_processes_give_what_threads_give(banks: BankService, files: list[Path]) -> None:
    assert use_processes(len(files), 2)
    banks.create_bank("known")
    banks.add_entries("known", [EntryInput("pdq", hash_file(files[2]).pdq)])
    matcher = Matcher(banks)
    matcher.refresh()
    seen: list[str] = []
    on_processes = list(
        matcher.scan_paths(files, HashOptions(), workers=2, on_result=lambda r: seen.append(r.file), processes=True)
    )
    on_threads = [matcher.scan_file(path, HashOptions()) for path in files]
    assert on_processes == on_threads
    assert [r.file for r in on_processes] == [str(p) for p in files] == seen
    assert [r.error is not None for r in on_processes] == [p.name in ("broken.png", "missing.jpg") for p in files]
    assert on_processes[2].matched


def test_stopping_early_shuts_the_pool_down(files: list[Path]) -> None:
    outcomes = hash_in_processes(files * 2, HashOptions(), 2)
    first = next(outcomes)
    outcomes.close()
    assert not isinstance(first, str) and first.pdq == hash_file(files[0]).pdq
