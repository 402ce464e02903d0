"""The vPDQ signal type: a whole video's frame features as one single-line value.

Canonical form: features in order, joined by ";", each ``frame,quality,pdq_hex,timestamp``
with the timestamp written with three decimals (as the reference writes it). One line and no
tabs, so a value survives CSV, TSV, JSONL and plain-text hash lists unchanged. ``validate``
also accepts the reference's multi-line hash-file text and canonicalises it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from brightline.errors import HashListFormatError, InvalidSignalValueError
from brightline.signals.base import MatchKind, SignalType
from brightline.signals.vpdq import VpdqFeature, format_feature, parse_vpdq_text

FEATURE_SEPARATOR: Final = ";"
# Canonical timestamps have exactly three decimals, so a truncated or padded value is refused.
_FEATURE: Final = re.compile(r"(0|[1-9][0-9]*),(100|[1-9]?[0-9]),([0-9a-f]{64}),([0-9]+\.[0-9]{3})")


def encode_features(features: Iterable[VpdqFeature]) -> str:
    """The canonical single-line vpdq value of ``features`` (InvalidSignalValueError when empty)."""
    value = FEATURE_SEPARATOR.join(format_feature(feature) for feature in features)
    if not value:
        raise InvalidSignalValueError("vpdq value has no frame features")
    return value


def decode_features(value: str) -> list[VpdqFeature]:
    """The features of a canonical (or reference multi-line) vpdq value."""
    features: list[VpdqFeature] = []
    for part in VpdqSignal.validate(value).split(FEATURE_SEPARATOR):
        frame, quality, pdq, timestamp = part.split(",")
        features.append(VpdqFeature(int(frame), int(quality), pdq, float(timestamp)))
    return features


class VpdqSignal(SignalType):
    """Meta's vPDQ video hash: PDQ hashes of sampled frames, matched frame by frame."""

    name = "vpdq"
    match_kind = MatchKind.FRAMES
    # Whole values are compared only for identity; matching uses the PDQ frame threshold
    # and the query/candidate percentages (see brightline.matching_video).
    default_threshold = 0
    max_threshold = 0
    description = "vPDQ video hash (PDQ of sampled frames; matched by percent of frames within the PDQ threshold)"

    @classmethod
    def validate(cls, value: str) -> str:
        """Canonical single-line form, from the single-line form or the reference multi-line text."""
        text = cls.text_of(value)
        if "\n" in text or "\r" in text:
            try:
                return encode_features(parse_vpdq_text(text, source="vpdq value"))
            except HashListFormatError as exc:
                raise InvalidSignalValueError(f"vpdq value: {exc}") from None
        parts = [part.strip().replace(" ", "") for part in text.split(FEATURE_SEPARATOR)]
        for number, part in enumerate(parts, start=1):
            if _FEATURE.fullmatch(part) is None:
                raise InvalidSignalValueError(
                    f"vpdq value: feature {number} {part[:90]!r} is not frame,quality,pdq_hex,timestamp"
                    " (timestamp with three decimals)"
                )
        return FEATURE_SEPARATOR.join(parts)

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """Size of the symmetric difference of the two values' distinct frame hashes (a metric)."""
        return len(_hashes(a) ^ _hashes(b))


def _hashes(value: str) -> set[str]:
    return {part.split(",")[2] for part in value.split(FEATURE_SEPARATOR)}
