"""Import and export of hash-list files (csv, tsv, jsonl, plain hex), atomic and streaming.

An import reads the file once, validating every line and writing valid rows in batches
inside one transaction; if any line is bad the transaction is rolled back and the error
names the file and line of the first few problems, so nothing is ever half-imported.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from brightline.banks.fast_import import read_plain, sorted_unique
from brightline.banks.parsing import FIELDS, PARSERS, ErrorLog, LineReader
from brightline.banks.service import BankService
from brightline.banks.types import EntryInfo, EntryInput
from brightline.banks.validation import MAX_SOURCE_CHARS, EntryNormaliser
from brightline.errors import BrightlineError, HashListFormatError, ValidationError
from brightline.signals.registry import get_signal_type

FORMATS = ("csv", "tsv", "jsonl", "hex")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".txt": "hex",
    ".hex": "hex",
}
# Problems spelled out in an import error; the rest are counted.
_ERRORS_SHOWN = 5


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did: entries added, entries already present, lines read, entries parsed."""

    added: int
    unchanged: int
    lines: int
    entries: int


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """``fmt`` if given (checked), else the format the file extension implies."""
    if fmt is not None:
        name = fmt.strip().lower()
        if name not in FORMATS:
            raise ValidationError(f"unknown hash-list format {fmt!r} (known: {', '.join(FORMATS)})")
        return name
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise ValidationError(
            f"cannot tell the format of {str(path)!r} from its extension "
            f"(use .csv .tsv .jsonl .ndjson .txt .hex, or name the format: {', '.join(FORMATS)})"
        )
    return _EXTENSIONS[suffix]


def _format_error(display: str, errors: ErrorLog) -> HashListFormatError:
    (first_line, first_message), *rest = errors.kept
    message = first_message
    for line, text in rest[: _ERRORS_SHOWN - 1]:
        message += f"\n{display}:{line}: {text}"
    hidden = errors.count - min(len(errors.kept), _ERRORS_SHOWN)
    if hidden > 0:
        message += f"\n... and {hidden} more {'error' if hidden == 1 else 'errors'}"
    message += f"\n{errors.count} {'error' if errors.count == 1 else 'errors'} in all; nothing was imported"
    return HashListFormatError(message, source=display, line=first_line)


class _Importer:
    """Validates parsed records, counts them and stops passing rows on once anything is wrong."""

    def __init__(self, display: str, lines: LineReader, errors: ErrorLog, source: str | None) -> None:
        self.display = display
        self.lines = lines
        self.errors = errors
        self.source = source
        self.entries = 0
        self._normalise = EntryNormaliser()

    def run(self, records: Iterator[tuple[int, EntryInput]]) -> Iterator[EntryInput]:
        """Canonical entries; raises HashListFormatError at the end if any line was bad."""
        for number, record in records:
            try:
                entry = self._normalise(record)
            except BrightlineError as exc:
                self.errors.add(number, exc.message)
                continue
            self.entries += 1
            if self.source and not entry.source:
                entry = EntryInput(
                    entry.signal_type, entry.value, self.source, entry.category, entry.domain, entry.note, entry.enabled
                )
            # After the first error the import will be rolled back: keep reading only to report.
            if self.errors.count == 0:
                yield entry
        if self.errors.count:
            raise _format_error(self.display, self.errors)


def import_file(
    service: BankService,
    bank_name: str,
    path: str | Path,
    fmt: str | None = None,
    default_signal_type: str = "pdq",
    source: str | None = None,
) -> ImportReport:
    """Import a hash-list file into a bank: every line is valid and added, or nothing is."""
    fmt = detect_format(path, fmt)
    default_type = get_signal_type(default_signal_type).name
    display = str(path)
    service.get_bank(bank_name)  # fail fast, before reading a large file, if the bank is missing
    clean_source = source.strip() if source else None
    plain = None
    if len(clean_source or "") <= MAX_SOURCE_CHARS:  # else the general path says which line failed
        with contextlib.suppress(OSError):  # the general path below reports it
            plain = read_plain(path, fmt, default_type)
    if plain is not None:
        # Every line was a valid value: no per-line Python, the same rows as the general path.
        unique = sorted_unique(plain.codes)
        total = plain.codes.shape[0]
        result = service.add_hashes(bank_name, plain.signal_type, unique, total=total, source=clean_source or "")
        return ImportReport(added=result.added, unchanged=result.unchanged, lines=plain.lines, entries=total)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with below; open() errors need their own message
    except OSError as exc:
        raise HashListFormatError(f"cannot read file: {exc.strerror or exc}", source=display) from None
    with fh:
        errors = ErrorLog()
        lines = LineReader(fh, errors)
        importer = _Importer(display, lines, errors, clean_source)
        result = service.add_entries(bank_name, importer.run(PARSERS[fmt](lines, errors, default_type)))
    return ImportReport(
        added=result.added, unchanged=result.unchanged, lines=lines.lines_read, entries=importer.entries
    )


def _write_delimited(out: TextIO, entries: Iterator[EntryInfo], delimiter: str) -> int:
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(FIELDS)
    count = 0
    for e in entries:
        writer.writerow(
            [e.signal_type, e.value, e.source, e.category, e.domain, e.note or "", "true" if e.enabled else "false"]
        )
        count += 1
    return count


def _write_jsonl(out: TextIO, entries: Iterator[EntryInfo]) -> int:
    count = 0
    for e in entries:
        record = {
            "signal_type": e.signal_type,
            "value": e.value,
            "source": e.source,
            "category": e.category,
            "domain": e.domain,
            "note": e.note,
            "enabled": e.enabled,
        }
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def _write_hex(out: TextIO, entries: Iterator[EntryInfo], bank_name: str, signal_type: str) -> int:
    out.write(f"# brightline bank {bank_name}: enabled {signal_type} hashes, one per line\n")
    count = 0
    for e in entries:
        out.write(e.value + "\n")
        count += 1
    return count


def _hex_signal_type(service: BankService, bank_name: str, signal_type: str | None) -> str:
    if signal_type is not None:
        return get_signal_type(signal_type).name
    held = service.signal_types_in(bank_name)
    if len(held) > 1:
        raise ValidationError(
            f"bank {bank_name!r} holds {', '.join(held)} hashes; a hex list carries one type, so name it"
        )
    return held[0] if held else "pdq"


def export_bank(
    service: BankService, bank_name: str, path: str | Path, fmt: str | None = None, *, signal_type: str | None = None
) -> int:
    """Write a bank's entries to a file that import_file reads back; returns how many were written.

    csv, tsv and jsonl carry every entry and field; hex carries only the values of enabled
    entries of one signal type. The file appears complete or not at all.
    """
    fmt = detect_format(path, fmt)
    target = Path(path)
    if signal_type is not None:
        signal_type = get_signal_type(signal_type).name
    hex_type = _hex_signal_type(service, bank_name, signal_type) if fmt == "hex" else None
    service.get_bank(bank_name)
    # Write beside the target, then rename over it: readers never see a partial file.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            if hex_type is not None:
                with closing(service.iter_entries(bank_name, signal_type=hex_type, enabled_only=True)) as entries:
                    count = _write_hex(out, entries, bank_name, hex_type)
            else:
                with closing(service.iter_entries(bank_name, signal_type=signal_type)) as entries:
                    if fmt == "jsonl":
                        count = _write_jsonl(out, entries)
                    else:
                        count = _write_delimited(out, entries, "\t" if fmt == "tsv" else ",")
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return count
