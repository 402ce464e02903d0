"""Checks and normalisation for bank names, list domains, categories, thresholds and entries."""

from __future__ import annotations

import re
from collections.abc import Callable

from brightline.banks.types import EntryInput
from brightline.errors import ValidationError
from brightline.signals.base import ExactSignalType, HammingSignalType, SignalType
from brightline.signals.registry import get_signal_type

# A name starts with a letter or digit so it can never be mistaken for a CLI option or a path.
_BANK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DOMAIN = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# The industry hash-sharing classification (A1 prepubescent sex act ... B2), written upper-case.
_INDUSTRY_CLASS = re.compile(r"[abAB][12]")
# The list domains brightline knows by name; others are allowed (lower-case slugs).
KNOWN_DOMAINS = ("csam", "ncii", "terrorism", "other")
DEFAULT_DOMAIN = "other"
# The signal type whose distance a bank's threshold overrides.
THRESHOLD_SIGNAL_TYPE = "pdq"
MAX_SOURCE_CHARS = 1024
MAX_CATEGORY_CHARS = 64
MAX_NOTE_CHARS = 4096


def validate_bank_name(name: str) -> str:
    """``name`` unchanged if it is 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit."""
    if not isinstance(name, str) or not _BANK_NAME.fullmatch(name):
        raise ValidationError(
            f"invalid bank name {name!r}: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return name


def normalise_domain(domain: str) -> str:
    """A list domain as a lower-case slug (csam, ncii, other...)."""
    text = domain.strip().lower() if isinstance(domain, str) else ""
    if not _DOMAIN.fullmatch(text):
        raise ValidationError(
            f"invalid list domain {domain!r}: use a short lower-case word such as {', '.join(KNOWN_DOMAINS)}"
        )
    return text


def normalise_category(category: str) -> str:
    """Free-text category, stripped; industry classes (a1, b2...) upper-cased."""
    text = category.strip()
    if len(text) > MAX_CATEGORY_CHARS:
        raise ValidationError(f"category longer than {MAX_CATEGORY_CHARS} characters")
    return text.upper() if _INDUSTRY_CLASS.fullmatch(text) else text


def validate_threshold(threshold: int | None) -> int | None:
    """A bank threshold within 0..the PDQ maximum, or None for the default."""
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise ValidationError(f"threshold must be a whole number, got {threshold!r}")
    limit = get_signal_type(THRESHOLD_SIGNAL_TYPE).max_threshold
    if not 0 <= threshold <= limit:
        raise ValidationError(f"threshold {threshold} out of range 0..{limit}")
    return threshold


def bounded_text(value: str, limit: int, what: str) -> str:
    """``value`` unchanged if it is text of at most ``limit`` characters, else ValidationError."""
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise ValidationError(f"{what} longer than {limit} characters")
    return value


def plain_hex_bits(signal_type: type[SignalType]) -> int | None:
    """The bit width of a stock hex signal type (canonical value: lower-case hex), None for any other.

    Types that override ``validate`` get None: their own check always runs.
    """
    for base in (HammingSignalType, ExactSignalType):
        if issubclass(signal_type, base) and signal_type.validate.__func__ is base.validate.__func__:  # type: ignore[attr-defined]
            return signal_type.bits
    return None


def _canonical_pattern(signal_type: type[SignalType]) -> re.Pattern[str] | None:
    """A regex matching values already in canonical form, for the stock hex signal types only."""
    bits = plain_hex_bits(signal_type)
    return None if bits is None else re.compile(f"[0-9a-f]{{{bits // 4}}}")


class EntryNormaliser:
    """Validates entries into canonical form, caching the signal-type lookup per type name."""

    def __init__(self) -> None:
        self._types: dict[str, tuple[str, Callable[[str], str], re.Pattern[str] | None]] = {}

    def _lookup(self, name: str) -> tuple[str, Callable[[str], str], re.Pattern[str] | None]:
        found = self._types.get(name)
        if found is None:
            if not isinstance(name, str):
                raise ValidationError(f"signal type must be text, got {type(name).__name__}")
            signal_type = get_signal_type(name)
            found = (signal_type.name, signal_type.validate, _canonical_pattern(signal_type))
            self._types[name] = found
        return found

    def __call__(self, entry: EntryInput) -> EntryInput:
        """The canonical form of ``entry`` or a SignalError/ValidationError saying what is wrong."""
        name, validate, canonical = self._lookup(entry.signal_type)
        value = entry.value
        # Fast path: a value already in canonical hex needs no cleaning (a million-line import
        # would otherwise spend seconds here); anything else goes through the type's validate.
        if canonical is None or not isinstance(value, str) or canonical.fullmatch(value) is None:
            value = validate(value)
        plain = entry.source == "" and entry.category == "" and entry.domain is None and entry.note is None
        if plain and entry.enabled is True and name == entry.signal_type and value == entry.value:
            return entry
        category = normalise_category(bounded_text(entry.category, MAX_CATEGORY_CHARS, "category"))
        domain = None if entry.domain is None or entry.domain == "" else normalise_domain(entry.domain)
        # An empty note is no note: files cannot tell the two apart, so round trips would not match.
        note = None if entry.note is None else bounded_text(entry.note, MAX_NOTE_CHARS, "note") or None
        if not isinstance(entry.enabled, bool):
            raise ValidationError(f"enabled must be true or false, got {entry.enabled!r}")
        source = bounded_text(entry.source, MAX_SOURCE_CHARS, "source").strip()
        return EntryInput(name, value, source, category, domain, note, entry.enabled)
