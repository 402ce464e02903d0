"""Streaming parsers for hash-list files: bounded line reads, then csv/tsv, jsonl or plain hex records.

Parsers never raise on bad input: they report each problem with its line number to an
ErrorLog and go on, so one import run can list every mistake in a file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from brightline.banks.types import EntryInput

# Longest line accepted; longer ones are skipped in bounded chunks, never read whole.
MAX_LINE_BYTES = 64 * 1024
# Errors remembered in full; beyond this only the count grows.
MAX_KEPT_ERRORS = 100
FIELDS = ("signal_type", "value", "source", "category", "domain", "note", "enabled")
ALIASES = {"type": "signal_type", "signal": "signal_type", "hash": "value"}
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})


@dataclass
class ErrorLog:
    """Problems found in a file: the first few in full, and how many in all."""

    count: int = 0
    kept: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, message: str) -> None:
        """Record a problem on ``line``."""
        self.count += 1
        if len(self.kept) < MAX_KEPT_ERRORS:
            self.kept.append((line, message))


class LineReader:
    """Numbered UTF-8 lines of a binary file, each read with a bounded readline."""

    def __init__(self, fh: BinaryIO, errors: ErrorLog) -> None:
        self._fh = fh
        self._errors = errors
        self.lines_read = 0

    def _skip_rest_of_line(self) -> None:
        while True:
            chunk = self._fh.readline(MAX_LINE_BYTES)
            if not chunk or chunk.endswith(b"\n"):
                return

    def __iter__(self) -> Iterator[tuple[int, str]]:
        """Yield (line number, text without its line ending); bad lines are reported and skipped."""
        while True:
            raw = self._fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            self.lines_read += 1
            number = self.lines_read
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                self._skip_rest_of_line()
                self._errors.add(number, f"line longer than {MAX_LINE_BYTES} bytes")
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._errors.add(number, f"not UTF-8 text (bad byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")
                continue
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]  # a byte-order mark some editors write
            yield number, text.rstrip("\r\n")


def _is_comment(text: str) -> bool:
    return text.lstrip().startswith("#")


def parse_bool(value: Any) -> bool:
    """true/false, yes/no, 1/0 (any case) or a JSON boolean; ValueError otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"enabled must be true or false, got {value!r}")


def _entry(fields: dict[str, Any], default_signal_type: str) -> EntryInput:
    """An EntryInput from named fields (empty optional fields take their defaults)."""
    for name, value in fields.items():
        if value is not None and not isinstance(value, str | bool):
            raise ValueError(f"{name} must be text, got {type(value).__name__}")
    if not fields.get("value"):
        raise ValueError("missing value")
    enabled = fields.get("enabled")
    return EntryInput(
        signal_type=fields.get("signal_type") or default_signal_type,
        value=fields["value"],
        source=fields.get("source") or "",
        category=fields.get("category") or "",
        domain=fields.get("domain") or None,
        note=fields.get("note") or None,
        enabled=True if enabled is None or enabled == "" else parse_bool(enabled),
    )


def _column_names(names: list[str]) -> list[str]:
    """Canonical column names; ValueError for unknown, duplicate or missing ones."""
    columns = [ALIASES.get(n.strip().lower(), n.strip().lower()) for n in names]
    unknown = [n for n in columns if n not in FIELDS]
    if unknown:
        raise ValueError(f"unknown column {unknown[0]!r} (known: {', '.join(FIELDS)}; aliases: type, hash)")
    dupes = sorted({n for n in columns if columns.count(n) > 1})
    if dupes:
        raise ValueError(f"column {dupes[0]!r} appears twice")
    if "value" not in columns:
        raise ValueError("header has no 'value' (or 'hash') column")
    return columns


@dataclass
class _Position:
    first: int = 0
    last: int = 0


def parse_delimited(
    lines: LineReader, errors: ErrorLog, default_signal_type: str, delimiter: str
) -> Iterator[tuple[int, EntryInput]]:
    """CSV or TSV with a header row; blank rows and rows starting with '#' are skipped."""
    where = _Position()

    def texts() -> Iterator[str]:
        for number, text in lines:
            if where.first == 0:
                where.first = number
            where.last = number
            yield text + "\n"  # the newline keeps quoted multi-line fields intact

    label = "TSV" if delimiter == "\t" else "CSV"
    reader = csv.reader(texts(), delimiter=delimiter, strict=True)
    columns: list[str] | None = None
    while True:
        where.first = 0
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.add(where.first or where.last, f"malformed {label}: {exc}")
            continue
        number = where.first or where.last
        if not any(cell.strip() for cell in row) or _is_comment(row[0]):
            continue
        if columns is None:
            try:
                columns = _column_names(row)
            except ValueError as exc:
                errors.add(number, f"bad header: {exc}")
                return  # nothing below a broken header can be read meaningfully
            continue
        if len(row) != len(columns):
            errors.add(number, f"expected {len(columns)} fields, got {len(row)}")
            continue
        try:
            yield number, _entry({c: v.strip() for c, v in zip(columns, row, strict=True)}, default_signal_type)
        except ValueError as exc:
            errors.add(number, str(exc))


def parse_jsonl(lines: LineReader, errors: ErrorLog, default_signal_type: str) -> Iterator[tuple[int, EntryInput]]:
    """One JSON object per line, keyed like the CSV columns; blank lines are skipped."""
    for number, text in lines:
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            errors.add(number, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(obj, dict):
            errors.add(number, f"expected a JSON object, got {type(obj).__name__}")
            continue
        try:
            names = _column_names(list(obj))
            yield number, _entry(dict(zip(names, obj.values(), strict=True)), default_signal_type)
        except ValueError as exc:
            errors.add(number, str(exc))


def parse_hex(lines: LineReader, errors: ErrorLog, default_signal_type: str) -> Iterator[tuple[int, EntryInput]]:
    """One hash per line; blank lines and '#' comments (whole-line or trailing) are skipped."""
    del errors  # every line is a value or nothing; values are checked by the caller
    for number, text in lines:
        value = text.split("#", 1)[0].strip()
        if value:
            yield number, EntryInput(signal_type=default_signal_type, value=value)


Parser = Callable[[LineReader, ErrorLog, str], Iterator[tuple[int, EntryInput]]]

PARSERS: dict[str, Parser] = {
    "csv": lambda lines, errors, default: parse_delimited(lines, errors, default, ","),
    "tsv": lambda lines, errors, default: parse_delimited(lines, errors, default, "\t"),
    "jsonl": parse_jsonl,
    "hex": parse_hex,
}
