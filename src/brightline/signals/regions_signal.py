"""The pdq_regions signal type: brightline's region hashes of one image as one value.

Canonical form: ``name:quality:pdq_hex`` per region, joined by ";", in REGION_NAMES order
(see brightline.signals.regions). A known image's value carries crops and parts; a query's
carries its plain PDQ and parts. Matching (brightline.index.regions) compares a query's
plain PDQ with known crops, and parts with the same parts (PARTS_NEEDED of them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from brightline.errors import InvalidSignalValueError
from brightline.signals.base import MatchKind, SignalType
from brightline.signals.regions import REGION_NAMES, RegionHash

SEPARATOR: Final = ";"
_ORDER: Final = {name: number for number, name in enumerate(REGION_NAMES)}
_REGION: Final = re.compile(r"([a-z0-9-]+):(100|[1-9]?[0-9]):([0-9a-f]{64})")
# distance() counts a region present on one side only as this many differing bits.
MISSING_REGION_BITS: Final = 256


def encode_regions(regions: Iterable[RegionHash]) -> str:
    """The canonical pdq_regions value of ``regions`` (InvalidSignalValueError on unknown or repeated names)."""
    return PdqRegionsSignal.validate(SEPARATOR.join(f"{r.name}:{r.quality}:{r.pdq}" for r in regions))


def decode_regions(value: str) -> list[RegionHash]:
    """The region hashes of a pdq_regions value, in REGION_NAMES order."""
    out = []
    for part in PdqRegionsSignal.validate(value).split(SEPARATOR):
        name, quality, pdq = part.split(":")
        out.append(RegionHash(name, pdq, int(quality)))
    return out


class PdqRegionsSignal(SignalType):
    """PDQ hashes of an image's crops and parts, matched region by region (brightline's own)."""

    name = "pdq_regions"
    match_kind = MatchKind.REGIONS
    # The PDQ threshold applies to each region comparison.
    default_threshold = 31
    max_threshold = 128
    description = "PDQ of an image's crops, halves and quarters (brightline's crop and overlay robustness)"

    @classmethod
    def validate(cls, value: str) -> str:
        """Canonical form: known region names once each, in REGION_NAMES order, lower-case hex."""
        text = cls.text_of(value)
        seen: dict[str, str] = {}
        for number, part in enumerate(text.split(SEPARATOR), start=1):
            match = _REGION.fullmatch(part.strip())
            if match is None:
                raise InvalidSignalValueError(
                    f"{cls.name} value: region {number} {part[:90]!r} is not name:quality:pdq_hex"
                )
            name = match.group(1)
            if name not in _ORDER:
                raise InvalidSignalValueError(f"{cls.name} value: unknown region {name!r}")
            if name in seen:
                raise InvalidSignalValueError(f"{cls.name} value: region {name!r} appears twice")
            seen[name] = match.group(0)
        return SEPARATOR.join(seen[name] for name in sorted(seen, key=_ORDER.__getitem__))

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """Sum over region names of the Hamming distance (a region on one side only counts 256)."""
        left = {r.name: r.pdq for r in decode_regions(a)}
        right = {r.name: r.pdq for r in decode_regions(b)}
        total = 0
        for name in left.keys() | right.keys():
            if name in left and name in right:
                total += (int(left[name], 16) ^ int(right[name], 16)).bit_count()
            else:
                total += MISSING_REGION_BITS
        return total
