"""Vectorised reading of plain fixed-width hash lists (a million PDQ lines per second or so).

A file qualifies when, after an optional header, every line has the same length and the
same shape: ``<type><delimiter><hex>`` (csv/tsv with a ``signal_type,value`` header) or
``<hex>`` (csv/tsv with a ``value`` header, or a hex list). Such a file is checked and
decoded with numpy on its raw bytes, never one Python object per line. Anything else
(comments, quotes, blank lines, other columns, a bad digit, an unknown type, a short file)
makes ``read_plain`` return None and the caller uses the general parsers, which say what is
wrong and where. A qualifying file holds only valid values, so the two paths store the same.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from brightline.banks.parsing import ALIASES
from brightline.banks.validation import plain_hex_bits
from brightline.errors import BrightlineError
from brightline.signals.registry import get_signal_type
from brightline.store.models import VALUE_KEY_MAX

# Files with fewer data lines take the general path: it keeps small imports' ids in input order.
FAST_MIN_LINES = 10_000
# Lines checked and decoded per numpy step (bounded temporary memory).
_CHUNK_LINES = 1 << 18
_HEADER_MAX = 4096

Codes = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class PlainHashes:
    """What a plain file held: its signal type, the decoded values (file order) and lines read."""

    signal_type: str
    codes: Codes
    lines: int


def _header_columns(line: bytes, delimiter: str) -> list[str] | None:
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        return None
    rows = list(csv.reader([text], delimiter=delimiter, strict=True))
    if len(rows) != 1:
        return None
    names = [ALIASES.get(n.strip().lower(), n.strip().lower()) for n in rows[0]]
    return names if names in (["signal_type", "value"], ["value"]) else None


def _signal_type(name: str) -> tuple[str, int] | None:
    """Canonical name and bit width if ``name`` is a stock hex type whose values are their own unique key."""
    try:
        kind = get_signal_type(name)
    except BrightlineError:
        return None
    bits = plain_hex_bits(kind)
    return None if bits is None or bits // 4 > VALUE_KEY_MAX else (kind.name, bits)


def _line_shape(first: bytes, delimiter: str, typed: bool) -> tuple[bytes, bytes, bytes] | None:
    """(prefix, hex digits, line ending) of the first data line, if it has the plain shape."""
    body = first.rstrip(b"\r\n")
    ending = first[len(body) :]
    if ending not in (b"\n", b"\r\n"):
        return None
    prefix = b""
    if typed:
        head, sep, body = body.partition(delimiter.encode())
        if not sep or not head or head != head.strip() or head.startswith(b"#") or b'"' in head:
            return None
        prefix = head + sep
    return prefix, body, ending


def read_plain(path: str | Path, fmt: str, default_signal_type: str) -> PlainHashes | None:
    """The decoded values of a plain fixed-width file, or None when it needs the general parsers."""
    if fmt not in ("csv", "tsv", "hex"):
        return None
    with open(path, "rb") as fh:
        return _read(fh, fmt, default_signal_type)


def _read(fh: BinaryIO, fmt: str, default_signal_type: str) -> PlainHashes | None:
    delimiter = "\t" if fmt == "tsv" else ","
    header_lines, typed = 0, False
    if fmt != "hex":
        columns = _header_columns(fh.readline(_HEADER_MAX), delimiter)
        if columns is None:
            return None
        header_lines, typed = 1, columns[0] == "signal_type"
    start = fh.tell()
    shape = _line_shape(fh.readline(_HEADER_MAX), delimiter, typed)
    if shape is None:
        return None
    prefix, digits, ending = shape
    found = _signal_type(prefix[:-1].decode("ascii", "replace") if typed else default_signal_type)
    if found is None or len(digits) != found[1] // 4:
        return None
    name, bits = found
    width = len(prefix) + len(digits) + len(ending)
    fh.seek(0, 2)
    size = fh.tell() - start
    # The last line may lack its line ending; any other length is not a plain file.
    lines, rest = divmod(size, width)
    if rest == width - len(ending):
        lines += 1
    elif rest:
        return None
    if lines < FAST_MIN_LINES:
        return None
    fh.seek(start)
    codes = np.empty((lines, bits // 8), dtype=np.uint8)
    template = np.frombuffer(prefix + b"0" * len(digits) + ending, dtype=np.uint8)
    fixed = np.ones(width, dtype=np.bool_)
    fixed[len(prefix) : len(prefix) + len(digits)] = False
    for lo in range(0, lines, _CHUNK_LINES):
        count = min(_CHUNK_LINES, lines - lo)
        raw = fh.read(count * width)
        if len(raw) < count * width:
            raw += ending  # the unterminated last line
        if not _decode(raw, count, width, template, fixed, codes[lo : lo + count]):
            return None
    return PlainHashes(name, codes, header_lines + lines)


def _decode(raw: bytes, count: int, width: int, template: Codes, fixed: npt.NDArray[np.bool_], out: Codes) -> bool:
    """Check ``count`` lines of ``raw`` against the template and decode their hex into ``out``."""
    if len(raw) != count * width:
        return False
    block = np.frombuffer(raw, dtype=np.uint8).reshape(count, width)
    if not np.array_equal(block[:, fixed], np.broadcast_to(template[fixed], (count, int(fixed.sum())))):
        return False
    hex_text = block[:, ~fixed].tobytes()
    # bytes.fromhex takes either case and refuses other characters, but skips ASCII
    # whitespace: the length check catches that.
    try:
        decoded = bytes.fromhex(hex_text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return False
    if len(decoded) != out.size:
        return False
    out[:] = np.frombuffer(decoded, dtype=np.uint8).reshape(out.shape)
    return True


def sorted_unique(codes: Codes) -> Codes:
    """Distinct rows of ``codes`` in byte order (the order of their hex text in a unique index)."""
    if codes.shape[0] == 0:
        return codes
    words = codes.view(">u8") if codes.shape[1] % 8 == 0 else None
    if words is None:
        return np.unique(codes, axis=0)
    head = words[:, 0].astype(np.uint64)
    order = np.argsort(head, kind="stable")
    out = codes[order]
    head = head[order]
    ties = head[1:] == head[:-1]
    if ties.any():
        # Rows sharing their first 8 bytes (duplicates, mostly): order each such run fully.
        rows = np.flatnonzero(np.concatenate([ties, [False]]) | np.concatenate([[False], ties]))
        tied = out[rows].view(">u8").astype(np.uint64)
        sub = np.lexsort(tied.T[::-1])
        out[rows] = out[rows][sub]
        same = np.all(out[1:] == out[:-1], axis=1)
        out = out[np.concatenate([[True], ~same])]
    return out
