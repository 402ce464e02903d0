"""The vectorised import of plain hash lists and the columnar index build give what the general paths give."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from brightline.banks import BankService, EntryInput, fast_import, fast_insert, fast_read, import_file
from brightline.banks import formats as formats_module
from brightline.errors import HashListFormatError
from brightline.index import HammingIndex
from brightline.matching import Matcher
from brightline.store import Database


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fast paths for small files, with chunk sizes that make every loop run several times."""
    monkeypatch.setattr(fast_import, "FAST_MIN_LINES", 10)
    monkeypatch.setattr(fast_import, "_CHUNK_LINES", 37)
    monkeypatch.setattr(fast_insert, "SQLITE_CHUNK", 41)
    monkeypatch.setattr(fast_insert, "COPY_CHUNK", 43)
    monkeypatch.setattr(fast_insert, "BULK_FK_MIN", 50)
    monkeypatch.setattr(fast_read, "CHUNK_ROWS", 29)


@pytest.fixture
def fast_used(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, per import, whether the fast path took the file."""
    seen: list[bool] = []
    real = fast_import.read_plain

    def spy(*args: Any) -> Any:
        result = real(*args)
        seen.append(result is not None)
        return result

    monkeypatch.setattr(formats_module, "read_plain", spy)
    return seen


@pytest.fixture
def banks(database_url: str) -> Iterator[BankService]:
    db = Database(database_url)
    db.upgrade()
    service = BankService(db)
    service.create_bank("fast", domain="csam")
    service.create_bank("slow", domain="csam")
    try:
        yield service
    finally:
        db.dispose()


def _values(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(256):064x}" for _ in range(count)]


def _csv(
    path: Path, values: list[str], *, header: str = "signal_type,value", typed: bool = True, end: str = "\n"
) -> Path:
    lines = [header] if header else []
    lines += [f"pdq,{v}" if typed else v for v in values]
    path.write_bytes((end.join(lines) + end).encode())
    return path


def _rows(service: BankService, bank: str) -> list[tuple[Any, ...]]:
    return [
        (e.signal_type, e.value, e.source, e.category, e.domain, e.note, e.enabled) for e in service.iter_entries(bank)
    ]


def _general(monkeypatch: pytest.MonkeyPatch, service: BankService, bank: str, path: Path, **kw: Any) -> Any:
    with monkeypatch.context() as m:
        m.setattr(fast_import, "FAST_MIN_LINES", 2**62)
        return import_file(service, bank, path, **kw)


@pytest.mark.usefixtures("small_chunks")
def test_same_rows_and_report_as_the_general_path(
    banks: BankService, tmp_path: Path, fast_used: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    values = _values(300)
    # Upper-case digits, and duplicates inside the file (one of them differing only in case).
    values[5] = values[5].upper()
    values += [*values[:40], values[7].upper()]
    random.Random(2).shuffle(values)
    path = _csv(tmp_path / "list.csv", values)
    fast = import_file(banks, "fast", path, source="partner")
    slow = _general(monkeypatch, banks, "slow", path, source="partner")
    assert fast_used == [True, False]
    assert fast == slow
    assert (fast.added, fast.unchanged, fast.lines, fast.entries) == (300, 41, 342, 341)
    assert sorted(_rows(banks, "fast")) == sorted(_rows(banks, "slow"))
    stored = list(banks.iter_entries("fast"))
    assert all(e.source == "partner" and e.domain == "csam" and e.value == e.value.lower() for e in stored)
    # Big imports are written in hash order: ids follow the values.
    assert [e.value for e in stored] == sorted(e.value for e in stored)
    again = import_file(banks, "fast", path)
    assert (again.added, again.unchanged) == (0, 341)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize(
    ("fmt", "header", "typed", "end"),
    [
        ("csv", "value", False, "\n"),
        ("csv", "type,hash", True, "\r\n"),
        ("tsv", "signal_type\tvalue", True, "\n"),
        ("hex", "", False, "\n"),
    ],
)
def test_other_plain_shapes(
    banks: BankService,
    tmp_path: Path,
    fast_used: list[bool],
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    header: str,
    typed: bool,
    end: str,
) -> None:
    values = _values(120, seed=3)
    lines = [f"pdq\t{v}" if fmt == "tsv" else f"pdq,{v}" if typed else v for v in values]
    text = end.join([header, *lines] if header else lines)  # no line ending after the last line
    path = tmp_path / f"list.{fmt}"
    path.write_text(text)
    fast = import_file(banks, "fast", path, fmt=fmt)
    slow = _general(monkeypatch, banks, "slow", path, fmt=fmt)
    assert fast_used == [True, False]
    assert fast == slow and fast.added == 120
    assert sorted(_rows(banks, "fast")) == sorted(_rows(banks, "slow"))


@pytest.mark.usefixtures("small_chunks")
def test_duplicates_against_existing_rows(banks: BankService, tmp_path: Path, fast_used: list[bool]) -> None:
    values = _values(200, seed=4)
    banks.add_entries("fast", [EntryInput("pdq", v, category="a1") for v in values[:50]])
    banks.add_entries("slow", [EntryInput("pdq", v) for v in values])  # another bank: no conflict
    before = {e.value: e for e in banks.iter_entries("fast")}
    report = import_file(banks, "fast", _csv(tmp_path / "list.csv", values))
    assert fast_used == [True]
    assert (report.added, report.unchanged) == (150, 50)
    after = {e.value: e for e in banks.iter_entries("fast")}
    assert len(after) == 200
    assert all(after[v] == before[v] for v in values[:50])  # untouched: same id, category, revision
    assert banks.get_bank("slow").entry_count == 200


@pytest.mark.usefixtures("small_chunks")
def _schema(database_url: str) -> list[Any]:
    engine = sa.create_engine(database_url)
    try:
        inspector = sa.inspect(engine)
        return [
            inspector.get_foreign_keys("bank_entries"),
            inspector.get_unique_constraints("bank_entries"),
            sorted(inspector.get_indexes("bank_entries"), key=lambda index: str(index["name"])),
        ]
    finally:
        engine.dispose()


@pytest.mark.usefixtures("small_chunks")
def test_constraints_survive_a_bulk_import(banks: BankService, tmp_path: Path, database_url: str) -> None:
    before = _schema(database_url)
    values = _values(120, seed=5)
    import_file(banks, "fast", _csv(tmp_path / "list.csv", values))  # empty table: indexes rebuilt on PostgreSQL
    assert _schema(database_url) == before
    assert import_file(banks, "fast", _csv(tmp_path / "again.csv", values)).added == 0
    assert banks.delete_bank("fast") == 120


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize(
    "bad",
    [
        lambda v: f"pdq,{v[:63]}z",  # same width: only the digit check can tell
        lambda v: f"pdq,{v[:63]} ",  # a space, which bytes.fromhex would skip
        lambda v: f"pdq,{v[:62]}",
        lambda v: f"md5,{v}",
        lambda v: f"nosuchtype,{v}",
        lambda v: f"pdq,{v},extra",
    ],
)
def test_bad_lines_are_reported_by_line(
    banks: BankService, tmp_path: Path, fast_used: list[bool], bad: Callable[[str], str]
) -> None:
    values = _values(100, seed=6)
    path = _csv(tmp_path / "list.csv", values)
    lines = path.read_text().splitlines()
    lines[59] = bad(values[58])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(HashListFormatError) as caught:
        import_file(banks, "fast", path)
    assert caught.value.line == 60
    assert fast_used == [False]
    assert banks.get_bank("fast").entry_count == 0


@pytest.mark.usefixtures("small_chunks")
def test_irregular_files_take_the_general_path(banks: BankService, tmp_path: Path, fast_used: list[bool]) -> None:
    values = _values(100, seed=7)
    path = _csv(tmp_path / "list.csv", values)
    text = path.read_text().replace(f"pdq,{values[30]}\n", f"pdq,{values[30]}\n# a comment\n\n")
    path.write_text(text)
    report = import_file(banks, "fast", path)
    assert fast_used == [False]
    assert report.added == 100


def test_sorted_unique_matches_numpy() -> None:
    rng = np.random.default_rng(8)
    codes = rng.integers(0, 256, size=(500, 32), dtype=np.uint8)
    codes[100:200, :8] = codes[0, :8]  # long runs sharing their first word
    codes[300:350] = codes[10]  # duplicates
    assert np.array_equal(fast_import.sorted_unique(codes), np.unique(codes, axis=0))


def _index_state(matcher: Matcher) -> tuple[Any, Any, Any]:
    index = matcher._indexes["pdq"]
    assert isinstance(index, HammingIndex)
    ids, codes = index.codes()
    order = np.argsort(ids)
    bank_ids = matcher._entry_bank.lookup(ids[order])
    return ids[order].tolist(), codes[order].tolist(), bank_ids.tolist()


def _row_built(banks: BankService) -> tuple[Any, Any, Any]:
    """The PDQ index as the EntryRow path builds it."""
    matcher = Matcher(banks)
    matcher._columnar_types = lambda: []  # type: ignore[method-assign]
    matcher.refresh()
    return _index_state(matcher)


@pytest.mark.usefixtures("small_chunks")
def test_columnar_build_and_incremental_sync(banks: BankService, tmp_path: Path) -> None:
    values = _values(150, seed=9)
    banks.add_entries("slow", [EntryInput("pdq", v) for v in values[:80]])  # shared values across banks
    banks.add_entries("slow", [EntryInput("md5", "d41d8cd98f00b204e9800998ecf8427e")])
    import_file(banks, "fast", _csv(tmp_path / "list.csv", values))
    some = [e.id for e in banks.iter_entries("fast")][:10]
    banks.set_entries_enabled("fast", some, False)
    matcher = Matcher(banks)
    matcher.refresh()
    assert _index_state(matcher) == _row_built(banks)
    assert len(_index_state(matcher)[0]) == 150 - 10 + 80
    assert matcher.size()["md5"] == 1
    hits = matcher.match_values("pdq", [values[100]])
    assert {m.bank for m in hits if m.distance == 0} == {"fast"}
    # Later changes reach the same matcher incrementally.
    more = _values(60, seed=10)
    import_file(banks, "fast", _csv(tmp_path / "more.csv", more))
    banks.set_entries_enabled("fast", some[:5], True)
    banks.remove_entries("fast", some[5:7])
    banks.update_bank("slow", enabled=False)
    matcher.refresh()
    assert _index_state(matcher) == _row_built(banks)
    assert [m.bank for m in matcher.match_values("pdq", [more[3]]) if m.distance == 0] == ["fast"]
    banks.update_bank("slow", enabled=True)
    matcher.refresh()
    assert _index_state(matcher) == _row_built(banks)
