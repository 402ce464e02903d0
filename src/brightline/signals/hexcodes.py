"""Hex encodings of fixed-width hashes, and their packed uint64 form for indexes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from brightline.errors import InvalidSignalValueError

_HEX_DIGITS = frozenset("0123456789abcdef")


def validate_hex(value: str, bits: int, type_name: str) -> str:
    """Canonical lower-case hex of ``bits`` bits, or InvalidSignalValueError saying why."""
    if not isinstance(value, str):
        raise InvalidSignalValueError(f"{type_name}: expected a hex string, got {type(value).__name__}")
    text = value.strip().lower()
    want = bits // 4
    if len(text) != want:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise InvalidSignalValueError(f"{type_name}: expected {want} hex digits, got {len(text)} ({shown!r})")
    if not _HEX_DIGITS.issuperset(text):
        bad = next(ch for ch in text if ch not in _HEX_DIGITS)
        raise InvalidSignalValueError(f"{type_name}: not hex: {bad!r} in {text!r}")
    return text


def hex_to_words(values: list[str], bits: int = 256) -> npt.NDArray[np.uint64]:
    """Pack canonical hex values into an (n, bits/64) uint64 array (big-endian word order)."""
    words = bits // 64
    if not values:
        return np.zeros((0, words), dtype=np.uint64)
    raw = bytes.fromhex("".join(values))
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(len(values), words)


def words_to_hex(words: npt.NDArray[np.uint64]) -> list[str]:
    """Inverse of hex_to_words."""
    if words.ndim != 2:
        raise ValueError("expected a 2-D array of packed hashes")
    width = words.shape[1] * 16
    raw = words.astype(">u8").tobytes().hex()
    return [raw[i : i + width] for i in range(0, len(raw), width)]
