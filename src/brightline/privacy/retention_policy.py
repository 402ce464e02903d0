"""Retention policy: how long each category of matched data is kept, per jurisdiction.

A policy has a ``[default]`` section and optional ``[jurisdictions.<NAME>]`` sections; a
jurisdiction names only what differs and inherits the rest from the default. A case's
jurisdiction is the jurisdiction of its reports' destination (``US`` for NCMEC's CyberTipline);
a case never reported falls under the default. Every figure is in days, and 0 means "no limit
from this rule". The policy is checked in full when loaded: unknown keys, negative numbers and a
policy that would delete reported US cases before a year (18 U.S.C. 2258A) are refused.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from brightline.errors import ConfigurationError
from brightline.settings import Settings

# Categories of a retention unit (a matched scan with its cases), in the order they are explained.
CATEGORIES = ("unconfirmed", "false_positive", "confirmed")
DEFAULT = "default"
# 18 U.S.C. 2258A(h): a provider preserves the contents of a report for one year.
US_MINIMUM_DAYS = 365
_JURISDICTION = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,15}$")


@dataclass(frozen=True)
class JurisdictionPolicy:
    """Days each category is kept (0 = no limit), and the most any case is kept (0 = no maximum)."""

    unconfirmed_days: int = 90
    false_positive_days: int = 30
    confirmed_days: int = 365
    max_days: int = 0

    def days_for(self, category: str) -> int:
        """The retention figure of one category (``unconfirmed``, ``false_positive`` or ``confirmed``)."""
        value: int = getattr(self, f"{category}_days")
        return value

    def as_dict(self) -> dict[str, int]:
        """JSON-ready form, in the file's key names."""
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}


_KEYS = frozenset(f.name for f in fields(JurisdictionPolicy))


def _section(where: str, raw: object, base: JurisdictionPolicy) -> JurisdictionPolicy:
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"retention policy: {where} must be a table")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigurationError(
            f"retention policy: {where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})"
        )
    values: dict[str, int] = {}
    for key, value in raw.items():
        # bool is an int in Python; "true days" is a mistake, not a number.
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigurationError(f"retention policy: {where}.{key} must be a whole number of days >= 0")
        values[key] = value
    return replace(base, **values)


@dataclass(frozen=True)
class RetentionPolicy:
    """The policy in force: the default and each named jurisdiction (already merged with the default)."""

    default: JurisdictionPolicy
    jurisdictions: Mapping[str, JurisdictionPolicy]
    source: str = "settings"

    def __post_init__(self) -> None:
        self._check_us_minimum()

    def for_jurisdiction(self, name: str | None) -> tuple[str, JurisdictionPolicy]:
        """The section that applies to a jurisdiction (case-insensitive) and its name; the default if unnamed."""
        key = (name or "").strip().upper()
        if key and key in self.jurisdictions:
            return key, self.jurisdictions[key]
        return DEFAULT, self.default

    def _check_us_minimum(self) -> None:
        name, policy = self.for_jurisdiction("US")
        # Reported US cases are confirmed ones (a report needs a human confirmation).
        for key in ("confirmed_days", "max_days"):
            value = getattr(policy, key)
            if 0 < value < US_MINIMUM_DAYS:
                raise ConfigurationError(
                    f"retention policy: {name}.{key} = {value} would delete reported US cases before "
                    f"{US_MINIMUM_DAYS} days (18 U.S.C. 2258A asks for one year); use 0 or at least {US_MINIMUM_DAYS}"
                )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: the source, the default and every jurisdiction in full."""
        return {
            "source": self.source,
            DEFAULT: self.default.as_dict(),
            "jurisdictions": {name: p.as_dict() for name, p in sorted(self.jurisdictions.items())},
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, base: JurisdictionPolicy, source: str) -> RetentionPolicy:
        """A policy from parsed TOML; sections left out take ``base`` (the settings' figures)."""
        unknown = sorted(set(data) - {DEFAULT, "jurisdictions"})
        if unknown:
            raise ConfigurationError(
                f"retention policy: unknown section {unknown[0]!r} (known: default, jurisdictions)"
            )
        default = _section(DEFAULT, data.get(DEFAULT, {}), base)
        raw_jurisdictions = data.get("jurisdictions", {})
        if not isinstance(raw_jurisdictions, Mapping):
            raise ConfigurationError("retention policy: jurisdictions must be a table of tables")
        jurisdictions: dict[str, JurisdictionPolicy] = {}
        for name, raw in raw_jurisdictions.items():
            if not _JURISDICTION.match(name):
                raise ConfigurationError(
                    f"retention policy: jurisdiction name {name!r} is not a short code like US or EU"
                )
            key = name.upper()
            if key in jurisdictions:
                raise ConfigurationError(f"retention policy: jurisdiction {key} is defined twice")
            jurisdictions[key] = _section(f"jurisdictions.{name}", raw, default)
        return cls(default=default, jurisdictions=jurisdictions, source=source)

    @classmethod
    def from_file(cls, path: Path, *, base: JurisdictionPolicy | None = None) -> RetentionPolicy:
        """Load and check a TOML policy file."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigurationError(f"retention policy {path}: unreadable: {exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"retention policy {path}: not valid TOML: {exc}") from None
        return cls.from_mapping(data, base=base or JurisdictionPolicy(), source=str(path))


def policy_from_settings(settings: Settings) -> RetentionPolicy:
    """The policy in force: ``BRIGHTLINE_RETENTION_FILE`` over the ``BRIGHTLINE_RETENTION_*_DAYS`` defaults."""
    base = JurisdictionPolicy(
        unconfirmed_days=settings.retention_unconfirmed_days,
        false_positive_days=settings.retention_false_positive_days,
        confirmed_days=settings.retention_confirmed_days,
        max_days=settings.retention_max_days,
    )
    if settings.retention_file is not None:
        return RetentionPolicy.from_file(settings.retention_file, base=base)
    return RetentionPolicy(default=base, jurisdictions={}, source="settings")
