"""The signal-type interface: one stateless class per hash algorithm.

A signal type knows how to validate, normalise and compare values of its kind. Its
``name`` is stable forever: it is the key under which values are stored and exchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import StrEnum
from typing import ClassVar

from brightline.errors import InvalidSignalValueError
from brightline.signals.hexcodes import validate_hex


class MatchKind(StrEnum):
    """How a signal type is searched: by Hamming distance, by equality, frame by frame (video) or region by region."""

    HAMMING = "hamming"
    EXACT = "exact"
    FRAMES = "frames"
    REGIONS = "regions"
    FRAME_REGIONS = "frame_regions"


class SignalType(ABC):
    """A kind of hash (PDQ, MD5, ...). Subclasses are stateless; use the class itself."""

    name: ClassVar[str]
    match_kind: ClassVar[MatchKind]
    # Largest distance that still counts as a match unless a bank says otherwise.
    default_threshold: ClassVar[int] = 0
    # Largest threshold a bank may set (beyond it matches are meaningless noise).
    max_threshold: ClassVar[int] = 0
    description: ClassVar[str] = ""

    @classmethod
    @abstractmethod
    def validate(cls, value: str) -> str:
        """Return the canonical form of ``value`` or raise InvalidSignalValueError."""

    @classmethod
    @abstractmethod
    def distance(cls, a: str, b: str) -> int:
        """Distance between two canonical values (0 means identical)."""

    @classmethod
    def text_of(cls, value: object) -> str:
        """``value`` stripped and lower-cased, or InvalidSignalValueError if it is not non-empty text."""
        if not isinstance(value, str):
            raise InvalidSignalValueError(f"{cls.name} value must be text, got {type(value).__name__}")
        text = value.strip().lower()
        if not text:
            raise InvalidSignalValueError(f"{cls.name} value is empty")
        return text

    @classmethod
    def matches(cls, a: str, b: str, threshold: int | None = None) -> bool:
        """Whether two values are within ``threshold`` (default: the type's default)."""
        limit = cls.default_threshold if threshold is None else threshold
        return cls.distance(a, b) <= limit


class HexSignalType(SignalType):
    """A fixed-width hash written as hex."""

    bits: ClassVar[int]

    @classmethod
    def validate(cls, value: str) -> str:
        """Lower-case hex of exactly ``bits`` bits, or InvalidSignalValueError."""
        return validate_hex(value, cls.bits, cls.name)


class HammingSignalType(HexSignalType):
    """A binary hash compared by Hamming distance."""

    match_kind = MatchKind.HAMMING

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """Number of differing bits."""
        return (int(a, 16) ^ int(b, 16)).bit_count()


class ExactSignalType(HexSignalType):
    """A cryptographic digest compared by equality."""

    match_kind = MatchKind.EXACT

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """0 when equal, 1 otherwise."""
        return 0 if a == b else 1
