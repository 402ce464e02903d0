"""vPDQ's frame features, its frame-selection rules and the reference text format.

The rules follow Meta's reference vPDQ (facebook/ThreatExchange, vpdq/cpp): frames are
numbered in decode order from 0; with ``seconds_per_hash`` s and average frame rate f,
frame n is hashed when ``n % max(1, trunc(s * f)) == 0``; its timestamp is ``n / f``
seconds, written with three decimals. Hash files hold one line per feature,
``frame_number,quality,pdq_hex,timestamp``, each ended by a single "\\n".
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, cast

from brightline.errors import HashListFormatError, MediaUnreadableError, ValidationError

_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_INT: Final = re.compile(r"-?[0-9]+")
_DECIMAL: Final = re.compile(r"[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True)
class VpdqFeature:
    """One hashed video frame: its number in decode order, PDQ quality and hash, and time."""

    frame_number: int
    quality: int
    pdq: str
    timestamp: float


def frame_interval(seconds_per_hash: float, frame_rate: float) -> int:
    """Hash every n-th frame: trunc(seconds_per_hash * frame_rate), at least 1 (0 s = every frame)."""
    if not math.isfinite(seconds_per_hash) or seconds_per_hash < 0:
        raise ValidationError(f"seconds_per_hash must be a finite number >= 0, got {seconds_per_hash}")
    if not math.isfinite(frame_rate) or frame_rate <= 0:
        raise ValidationError(f"frame rate must be positive, got {frame_rate}")
    # The reference assigns the double product to an int, which truncates toward zero;
    # a rate below 1 fps would otherwise give 0 and a division by zero.
    return max(1, int(seconds_per_hash * frame_rate))


def frame_timestamp(frame_number: int, frame_rate: float) -> float:
    """Seconds from the start, as the reference computes it (frame number over average rate)."""
    return frame_number / frame_rate


def format_feature(feature: VpdqFeature) -> str:
    """One line of the reference text format, without the newline."""
    # C++ `fixed << setprecision(3)` and Python's ".3f" both round the binary double correctly,
    # so the text matches the reference byte for byte.
    return f"{feature.frame_number},{feature.quality},{feature.pdq},{feature.timestamp:.3f}"


def parse_vpdq_text(text: str, *, source: str = "") -> list[VpdqFeature]:
    """Features from reference-format text; HashListFormatError names the bad line."""
    features: list[VpdqFeature] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.strip().split(",")
        if len(fields) != 4:
            raise HashListFormatError(
                f"expected 4 comma-separated fields, got {len(fields)}", source=source, line=number
            )
        frame, quality, pdq, timestamp = (field.strip() for field in fields)
        if not _INT.fullmatch(frame) or int(frame) < 0:
            raise HashListFormatError(f"bad frame number {frame!r}", source=source, line=number)
        if not _INT.fullmatch(quality) or not 0 <= int(quality) <= 100:
            raise HashListFormatError(f"bad quality {quality!r} (0..100)", source=source, line=number)
        pdq = pdq.lower()
        if not _HEX64.fullmatch(pdq):
            raise HashListFormatError(f"bad PDQ hash {pdq!r} (64 hex digits)", source=source, line=number)
        if not _DECIMAL.fullmatch(timestamp):
            raise HashListFormatError(f"bad timestamp {timestamp!r}", source=source, line=number)
        features.append(VpdqFeature(int(frame), int(quality), pdq, float(timestamp)))
    return features


def read_vpdq_file(path: Path) -> list[VpdqFeature]:
    """Read a reference vPDQ hash file (frame_number,quality,pdq_hex,timestamp per line)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MediaUnreadableError(f"{path}: no such file") from None
    except OSError as exc:
        raise MediaUnreadableError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise HashListFormatError("not an ASCII vPDQ hash file", source=str(path)) from None
    return parse_vpdq_text(text, source=str(path))


def write_vpdq_file(features: Iterable[VpdqFeature], path_or_stream: Path | IO[str] | IO[bytes]) -> None:
    """Write features in the reference text format (byte-identical to the reference's files)."""
    text = "".join(format_feature(feature) + "\n" for feature in features)
    if isinstance(path_or_stream, Path):
        # Bytes, not text mode: no platform newline translation.
        path_or_stream.write_bytes(text.encode("ascii"))
    elif isinstance(path_or_stream, io.TextIOBase) or "b" not in str(getattr(path_or_stream, "mode", "b")):
        cast("IO[str]", path_or_stream).write(text)
    else:
        # Binary streams (BytesIO, files opened "wb") and anything without a text mode.
        cast("IO[bytes]", path_or_stream).write(text.encode("ascii"))
