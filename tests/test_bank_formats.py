"""Hash-list import and export: every format, every kind of bad input, atomicity and speed."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from brightline.banks import BankService, EntryInfo, EntryInput, detect_format, export_bank, import_file
from brightline.banks.inserts import BATCH_SIZE
from brightline.banks.parsing import MAX_LINE_BYTES
from brightline.errors import BankNotFoundError, HashListFormatError, UnknownSignalTypeError, ValidationError
from brightline.store import Database

PDQ = ["%064x" % (i * 0x9E3779B97F4A7C15 + 1) for i in range(1, 6)]
MD5 = "d41d8cd98f00b204e9800998ecf8427e"


@pytest.fixture
def service(database_url: str) -> Iterator[BankService]:
    db = Database(database_url)
    db.upgrade()
    service = BankService(db)
    service.create_bank("list", domain="csam")
    try:
        yield service
    finally:
        db.dispose()


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _values(service: BankService, bank: str = "list") -> list[str]:
    return sorted(e.value for e in service.iter_entries(bank))


def _import_error(service: BankService, path: Path, **kwargs: str) -> HashListFormatError:
    with pytest.raises(HashListFormatError) as caught:
        import_file(service, "list", path, **kwargs)
    assert _values(service) == [], "a failed import must add nothing"
    return caught.value


# --- format detection ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("a.TSV", "tsv"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.txt", "hex"),
        ("a.hex", "hex"),
    ],
)
def test_format_is_detected_from_the_extension(name: str, fmt: str) -> None:
    assert detect_format(name) == fmt


def test_unknown_extension_or_format_is_refused() -> None:
    with pytest.raises(ValidationError, match="cannot tell the format"):
        detect_format("list.xlsx")
    with pytest.raises(ValidationError, match="unknown hash-list format"):
        detect_format("list.csv", "xml")
    assert detect_format("list.weird", "CSV") == "csv"


# --- good input ---------------------------------------------------------------------------


def test_hex_import_skips_blank_lines_and_comments(service: BankService, tmp_path: Path) -> None:
    text = f"# a list\n\n{PDQ[0]}\n  {PDQ[1].upper()}  # trailing comment\r\n\n{PDQ[2]}"
    report = import_file(service, "list", _write(tmp_path / "l.txt", text))
    assert (report.added, report.unchanged, report.entries, report.lines) == (3, 0, 3, 6)
    assert _values(service) == sorted(PDQ[:3])
    assert {e.domain for e in service.iter_entries("list")} == {"csam"}


def test_hex_import_takes_the_signal_type_option(service: BankService, tmp_path: Path) -> None:
    import_file(service, "list", _write(tmp_path / "l.hex", MD5 + "\n"), default_signal_type="md5")
    assert [(e.signal_type, e.value) for e in service.iter_entries("list")] == [("md5", MD5)]
    with pytest.raises(UnknownSignalTypeError):
        import_file(service, "list", tmp_path / "l.hex", default_signal_type="nope")


def test_csv_import_with_all_columns(service: BankService, tmp_path: Path) -> None:
    text = (
        "signal_type,value,source,category,domain,note,enabled\n"
        f'pdq,{PDQ[0]},feed-a,a1,,"note, with comma",true\n'
        f"md5,{MD5},feed-b,Other stuff,ncii,,no\n"
    )
    report = import_file(service, "list", _write(tmp_path / "l.csv", text))
    assert (report.added, report.lines) == (2, 3)
    pdq, md5 = service.list_entries("list")
    assert (pdq.source, pdq.category, pdq.domain, pdq.note, pdq.enabled) == (
        "feed-a",
        "A1",
        "csam",
        "note, with comma",
        True,
    )
    assert (md5.source, md5.category, md5.domain, md5.note, md5.enabled) == (
        "feed-b",
        "Other stuff",
        "ncii",
        None,
        False,
    )


def test_csv_header_aliases_and_default_type(service: BankService, tmp_path: Path) -> None:
    import_file(service, "list", _write(tmp_path / "a.csv", f"Type,Hash\nMD5,{MD5.upper()}\n"))
    import_file(service, "list", _write(tmp_path / "b.csv", f"hash\n{PDQ[0]}\n"))
    assert sorted((e.signal_type, e.value) for e in service.iter_entries("list")) == [("md5", MD5), ("pdq", PDQ[0])]


def test_tsv_and_jsonl_import(service: BankService, tmp_path: Path) -> None:
    import_file(service, "list", _write(tmp_path / "l.tsv", f"type\thash\tcategory\npdq\t{PDQ[0]}\tb2\n"))
    lines = [
        json.dumps({"signal_type": "pdq", "value": PDQ[1], "enabled": False, "note": None}),
        "",
        json.dumps({"type": "md5", "hash": MD5, "source": "s"}),
    ]
    import_file(service, "list", _write(tmp_path / "l.jsonl", "\n".join(lines)))
    entries = {e.value: e for e in service.iter_entries("list")}
    assert entries[PDQ[0]].category == "B2"
    assert not entries[PDQ[1]].enabled
    assert entries[MD5].source == "s"


def test_empty_files_import_nothing(service: BankService, tmp_path: Path) -> None:
    for name in ("e.txt", "e.csv", "e.tsv", "e.jsonl"):
        report = import_file(service, "list", _write(tmp_path / name, ""))
        assert (report.added, report.unchanged, report.lines) == (0, 0, 0)
    assert import_file(service, "list", _write(tmp_path / "h.csv", "signal_type,value\n")).added == 0


def test_duplicates_in_a_file_and_reimports_are_idempotent(service: BankService, tmp_path: Path) -> None:
    path = _write(tmp_path / "l.txt", f"{PDQ[0]}\n{PDQ[0].upper()}\n{PDQ[1]}\n")
    first = import_file(service, "list", path)
    assert (first.added, first.unchanged) == (2, 1)
    again = import_file(service, "list", path)
    assert (again.added, again.unchanged) == (0, 3)
    assert _values(service) == sorted(PDQ[:2])


def test_source_option_fills_rows_without_a_source(service: BankService, tmp_path: Path) -> None:
    text = f"value,source\n{PDQ[0]},\n{PDQ[1]},own\n"
    import_file(service, "list", _write(tmp_path / "l.csv", text), source="vendor-2024")
    assert {e.value: e.source for e in service.iter_entries("list")} == {PDQ[0]: "vendor-2024", PDQ[1]: "own"}


def test_byte_order_mark_is_ignored(service: BankService, tmp_path: Path) -> None:
    import_file(service, "list", _write(tmp_path / "l.csv", b"\xef\xbb\xbfsignal_type,value\npdq," + PDQ[0].encode()))
    assert _values(service) == [PDQ[0]]


# --- bad input ----------------------------------------------------------------------------


def test_wrong_length_names_file_and_line(service: BankService, tmp_path: Path) -> None:
    rows = "".join(f"pdq,{PDQ[i % 5]}\n" for i in range(15))
    path = _write(tmp_path / "list.csv", f"signal_type,value\n{rows}pdq,{'a' * 63}\n")
    error = _import_error(service, path)
    assert str(error).startswith(f"{path}:17: pdq: expected 64 hex digits, got 63")
    assert error.line == 17
    assert error.source == str(path)


def test_bad_hex_digits(service: BankService, tmp_path: Path) -> None:
    error = _import_error(service, _write(tmp_path / "l.txt", f"{PDQ[0]}\n{'z' * 64}\n"))
    assert error.line == 2
    assert "not hex" in str(error)


def test_unknown_signal_type(service: BankService, tmp_path: Path) -> None:
    error = _import_error(service, _write(tmp_path / "l.csv", f"signal_type,value\npdq,{PDQ[0]}\nphash,{PDQ[1]}\n"))
    assert error.line == 3
    assert "unknown signal type 'phash'" in str(error)


def test_a_bad_last_line_adds_nothing(service: BankService, tmp_path: Path) -> None:
    # More lines than one insert batch, so rows were written before the bad line was read.
    good = "\n".join(f"{i:064x}" for i in range(BATCH_SIZE + 10))
    error = _import_error(service, _write(tmp_path / "l.txt", f"{good}\nnot-a-hash\n"))
    assert error.line == BATCH_SIZE + 11
    assert service.get_bank("list").entry_count == 0


def test_every_error_is_counted_and_the_first_few_shown(service: BankService, tmp_path: Path) -> None:
    lines = [PDQ[0], "bad1", PDQ[1], "bad2", "bad3", "bad4", "bad5", "bad6", "bad7"]
    error = _import_error(service, _write(tmp_path / "l.txt", "\n".join(lines)))
    text = str(error)
    assert error.line == 2
    assert f"{tmp_path / 'l.txt'}:4:" in text
    assert f"{tmp_path / 'l.txt'}:7:" in text
    assert f"{tmp_path / 'l.txt'}:8:" not in text
    assert "and 2 more errors" in text
    assert "7 errors in all; nothing was imported" in text


def test_an_overlong_line_is_refused_without_reading_it_whole(service: BankService, tmp_path: Path) -> None:
    path = tmp_path / "l.txt"
    with path.open("wb") as fh:
        fh.write(PDQ[0].encode() + b"\n")
        fh.write(b"a" * (10 * 1024 * 1024) + b"\n")
        fh.write(PDQ[1].encode() + b"\n")
    error = _import_error(service, path)
    assert error.line == 2
    assert f"line longer than {MAX_LINE_BYTES} bytes" in str(error)
    assert "1 error in all" in str(error)
    assert ":3:" not in str(error)


def test_an_overlong_last_line_without_newline(service: BankService, tmp_path: Path) -> None:
    error = _import_error(service, _write(tmp_path / "l.csv", b"signal_type,value\n" + b"x" * (MAX_LINE_BYTES + 5)))
    assert error.line == 2


def test_invalid_utf8_names_the_line(service: BankService, tmp_path: Path) -> None:
    data = f"signal_type,value,note\npdq,{PDQ[0]},ok\npdq,{PDQ[1]},".encode() + b"caf\xe9\n"
    error = _import_error(service, _write(tmp_path / "l.csv", data))
    assert error.line == 3
    assert "not UTF-8" in str(error)


def test_utf16_file_is_refused(service: BankService, tmp_path: Path) -> None:
    error = _import_error(service, _write(tmp_path / "l.txt", f"{PDQ[0]}\n".encode("utf-16")))
    assert error.line == 1
    assert "not UTF-8" in str(error)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("signal_type,value,colour\n", "unknown column 'colour'"),
        ("value,hash\n", "column 'value' appears twice"),
        ("signal_type,source\n", "no 'value'"),
    ],
)
def test_bad_csv_headers(service: BankService, tmp_path: Path, text: str, needle: str) -> None:
    error = _import_error(service, _write(tmp_path / "l.csv", text + f"pdq,{PDQ[0]}\n"))
    assert error.line == 1
    assert needle in str(error)


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        (f"pdq,{PDQ[0]},extra", "expected 2 fields, got 3"),
        ("pdq,", "missing value"),
        (f'pdq,"{PDQ[0]}', "malformed CSV"),
    ],
)
def test_bad_csv_rows(service: BankService, tmp_path: Path, row: str, needle: str) -> None:
    error = _import_error(service, _write(tmp_path / "l.csv", f"signal_type,value\n{row}\n"))
    assert error.line == 2
    assert needle in str(error)


def test_bad_enabled_and_category(service: BankService, tmp_path: Path) -> None:
    text = f"value,enabled,category\n{PDQ[0]},maybe,\n{PDQ[1]},true,{'c' * 80}\n"
    error = _import_error(service, _write(tmp_path / "l.csv", text))
    assert error.line == 2
    assert "enabled must be true or false" in str(error)
    assert ":3: category longer than 64" in str(error)


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"signal_type": "pdq", "value": 5}', "value must be text"),
        ('{"signal_type": "pdq", "value": "' + PDQ[0] + '", "colour": "red"}', "unknown column 'colour'"),
        ('{"signal_type": "pdq", "value": "' + PDQ[0] + '", "enabled": "sometimes"}', "enabled must be"),
    ],
)
def test_bad_jsonl_lines(service: BankService, tmp_path: Path, line: str, needle: str) -> None:
    good = json.dumps({"value": PDQ[1]})
    error = _import_error(service, _write(tmp_path / "l.jsonl", f"{good}\n{line}\n"))
    assert error.line == 2
    assert needle in str(error)


def test_missing_file_and_missing_bank(service: BankService, tmp_path: Path) -> None:
    with pytest.raises(HashListFormatError, match="cannot read file"):
        import_file(service, "list", tmp_path / "absent.txt")
    with pytest.raises(BankNotFoundError):
        import_file(service, "nobank", _write(tmp_path / "l.txt", PDQ[0]))


# --- export and round trips ---------------------------------------------------------------


def _fill(service: BankService) -> None:
    service.add_entries(
        "list",
        [
            EntryInput("pdq", PDQ[0], source="feed", category="a2", note='multi\nline "note", with comma\tand tab'),
            EntryInput("pdq", PDQ[1], enabled=False, domain="ncii"),
            EntryInput("md5", MD5, category="Ünïcode", note=""),
        ],
    )


def _snapshot(service: BankService, bank: str) -> list[tuple[object, ...]]:
    return sorted(
        (e.signal_type, e.value, e.source, e.category, e.domain, e.note, e.enabled) for e in service.iter_entries(bank)
    )


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_round_trip_keeps_every_field(service: BankService, tmp_path: Path, fmt: str) -> None:
    _fill(service)
    path = tmp_path / f"out.{fmt}"
    assert export_bank(service, "list", path) == 3
    service.create_bank("copy", domain="other")
    report = import_file(service, "copy", path)
    assert (report.added, report.unchanged) == (3, 0)
    assert _snapshot(service, "copy") == _snapshot(service, "list")


def test_hex_round_trip_carries_enabled_values_of_one_type(service: BankService, tmp_path: Path) -> None:
    _fill(service)
    with pytest.raises(ValidationError, match="holds md5, pdq"):
        export_bank(service, "list", tmp_path / "out.txt")
    assert export_bank(service, "list", tmp_path / "out.txt", signal_type="pdq") == 1
    service.create_bank("copy")
    import_file(service, "copy", tmp_path / "out.txt")
    assert _values(service, "copy") == [PDQ[0]]
    assert export_bank(service, "list", tmp_path / "md5.hex", signal_type="md5") == 1
    assert import_file(service, "copy", tmp_path / "md5.hex", default_signal_type="md5").added == 1


def test_export_of_an_empty_bank(service: BankService, tmp_path: Path) -> None:
    assert export_bank(service, "list", tmp_path / "e.csv") == 0
    assert (tmp_path / "e.csv").read_text() == "signal_type,value,source,category,domain,note,enabled\n"
    assert export_bank(service, "list", tmp_path / "e.txt") == 0


def test_failed_export_leaves_no_file(service: BankService, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(BankNotFoundError):
        export_bank(service, "nobank", out / "x.csv")
    with pytest.raises(UnknownSignalTypeError):
        export_bank(service, "list", out / "x.csv", signal_type="nope")
    assert list(out.iterdir()) == []


def test_export_failing_half_way_leaves_no_file(
    service: BankService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(service)
    out = tmp_path / "out"
    out.mkdir()
    (out / "x.csv").write_text("previous export\n")
    real = service.iter_entries

    def broken(bank: str, **kwargs: object) -> Iterator[EntryInfo]:
        for i, entry in enumerate(real(bank, **kwargs)):  # type: ignore[arg-type]
            if i == 2:
                raise OSError("disk full")
            yield entry

    monkeypatch.setattr(service, "iter_entries", broken)
    with pytest.raises(OSError, match="disk full"):
        export_bank(service, "list", out / "x.csv")
    assert [p.name for p in out.iterdir()] == ["x.csv"]
    assert (out / "x.csv").read_text() == "previous export\n"


# --- size ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_import_of_200k_hashes(service: BankService, tmp_path: Path) -> None:
    rng = random.Random(7)
    path = tmp_path / "big.txt"
    with path.open("w") as fh:
        for _ in range(200_000):
            fh.write(f"{rng.getrandbits(256):064x}\n")
    start = time.perf_counter()
    report = import_file(service, "list", path)
    elapsed = time.perf_counter() - start
    assert (report.added, report.lines) == (200_000, 200_000)
    assert service.get_bank("list").entry_count == 200_000
    # Generous bound for slow CI machines; a 1M import takes ~15 s on SQLite.
    limit = float(os.environ.get("BRIGHTLINE_TEST_IMPORT_LIMIT_S", "60"))
    assert elapsed < limit
