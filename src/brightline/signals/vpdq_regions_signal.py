"""The vpdq_regions signal type: a video's sampled frames, each as whole-frame PDQ plus parts.

vPDQ (Meta's format, kept as the ``vpdq`` signal for interoperability) matches a frame only
when its whole-frame PDQ is within the threshold, so a large logo or caption burnt into every
frame defeats it. vpdq_regions adds, per sampled frame, the PDQ of its halves and quarters
(brightline.signals.regions): a frame then also matches when PARTS_NEEDED of its parts do.

Canonical form: ``frame_number@regions`` per frame, joined by "|", in frame order, where
``regions`` is a pdq_regions value (``name:quality:pdq_hex`` joined by ";"). Frames whose
regions repeat an earlier frame's exactly are dropped (a still scene is one frame).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from brightline.errors import InvalidSignalValueError
from brightline.signals.base import MatchKind, SignalType
from brightline.signals.regions_signal import PdqRegionsSignal

FRAME_SEPARATOR: Final = "|"
_FRAME: Final = re.compile(r"(0|[1-9][0-9]{0,9})@(.+)")


def encode_frame_regions(frames: Iterable[tuple[int, str]]) -> str:
    """The canonical vpdq_regions value of (frame number, pdq_regions value) pairs."""
    return VpdqRegionsSignal.validate(FRAME_SEPARATOR.join(f"{number}@{regions}" for number, regions in frames))


def decode_frame_regions(value: str) -> list[tuple[int, str]]:
    """(frame number, canonical pdq_regions value) per frame of a vpdq_regions value."""
    out = []
    for part in VpdqRegionsSignal.validate(value).split(FRAME_SEPARATOR):
        number, regions = part.split("@", 1)
        out.append((int(number), regions))
    return out


class VpdqRegionsSignal(SignalType):
    """Per-frame whole-frame and part PDQ hashes of a video (brightline's overlay-robust video match)."""

    name = "vpdq_regions"
    match_kind = MatchKind.FRAME_REGIONS
    # Compared frame by frame like vpdq: the PDQ threshold applies to each frame or part comparison.
    default_threshold = 31
    max_threshold = 128
    description = "Per-frame PDQ of whole frames and their halves/quarters (matched by percent of frames, like vpdq)"

    @classmethod
    def validate(cls, value: str) -> str:
        """Canonical form: frames in increasing frame order, each with a valid pdq_regions value."""
        text = cls.text_of(value)
        frames: dict[int, str] = {}
        seen: set[str] = set()
        for number, part in enumerate(text.split(FRAME_SEPARATOR), start=1):
            match = _FRAME.fullmatch(part.strip())
            if match is None:
                raise InvalidSignalValueError(f"{cls.name} value: frame {number} {part[:90]!r} is not frame@regions")
            frame = int(match.group(1))
            if frame in frames:
                raise InvalidSignalValueError(f"{cls.name} value: frame {frame} appears twice")
            try:
                regions = PdqRegionsSignal.validate(match.group(2))
            except InvalidSignalValueError as exc:
                raise InvalidSignalValueError(f"{cls.name} value: frame {frame}: {exc}") from None
            if regions not in seen:
                seen.add(regions)
                frames[frame] = regions
        return FRAME_SEPARATOR.join(f"{frame}@{frames[frame]}" for frame in sorted(frames))

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """Size of the symmetric difference of the two values' (frame, region, hash) triples (a metric)."""
        return len(_triples(a) ^ _triples(b))


def _triples(value: str) -> set[tuple[int, str]]:
    return {(frame, region) for frame, regions in decode_frame_regions(value) for region in regions.split(";")}
