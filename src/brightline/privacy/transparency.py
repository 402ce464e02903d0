"""Transparency report numbers (EU Regulation 2021/1232 Art. 3), computed from audit events and scan counters only.

Retention deletes case rows after their period, so a yearly report cannot rely on them: every number
here comes from what survives, the audit log (no content) and the per-day scan counters. This
module holds the report's types and definitions; ``transparency_compute`` fills them from events
and counter rows, ``transparency_source`` reads those from the database.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from brightline.errors import ValidationError

REVIEWED_DECISIONS = ("confirm", "false_positive")

DEFINITIONS: dict[str, str] = {
    "period": "UTC days from 'from' to 'to', both included; every count is of events inside the period.",
    "scans": "Media scanned, from the daily scan counters (kept without content), by content type.",
    "matched scans": "Scans with at least one hit on a hash list; per bank, list domain or technology a scan "
    "counts once however many entries it hit there.",
    "reviewed": "Match cases a human decided as confirm or false positive (the first such decision per case; "
    "escalations are not reviews).",
    "false positives by review": "Reviewed match cases decided false positive.",
    "false positives by appeal": "Appeals upheld: an earlier decision overturned, so the match counts as a "
    "false positive of its technology and hash list.",
    "error rate": "(false positives by review + false positives by appeal) / reviewed; n/a when nothing was reviewed.",
    "time to review": "Seconds from a match case opening to its review decision (mean and median).",
    "time to report": "Seconds from a case opening to its report being sent (mean and median).",
    "appeals pending": "Appeals submitted in the period and not decided within it.",
    "cases undecided": "Match cases opened in the period and not reviewed within it.",
}


class AuditEventLike(Protocol):
    """What the report needs of an audit record: when, which action, and its details."""

    @property
    def created_at(self) -> datetime: ...

    @property
    def action(self) -> str: ...

    @property
    def details(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class CounterRow:
    """One scan counter row summed over API keys: a UTC day and content type."""

    day: date
    content_type: str
    scans: int
    matched: int


@dataclass(frozen=True)
class Period:
    """A report period of whole UTC days, both ends included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValidationError(f"the period ends ({self.end}) before it starts ({self.start})")

    @property
    def since(self) -> datetime:
        """The first instant of the period (inclusive)."""
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """The instant after the period's last day (exclusive)."""
        return datetime(self.end.year, self.end.month, self.end.day, tzinfo=UTC) + timedelta(days=1)

    def months(self) -> list[str]:
        """Every month the period touches, as YYYY-MM, in order."""
        found, year, month = [], self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            found.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return found


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


@dataclass
class ErrorRate:
    """Review outcomes of one technology, hash list or everything: counts and the error rate."""

    matches: int = 0
    reviewed: int = 0
    confirmed: int = 0
    false_positives_by_review: int = 0
    false_positives_by_appeal: int = 0
    domain: str | None = None  # hash lists only: the list domain the bank belongs to

    @property
    def false_positives(self) -> int:
        """False positives found by review and by appeal together."""
        return self.false_positives_by_review + self.false_positives_by_appeal

    @property
    def error_rate(self) -> float | None:
        """False positives over reviewed cases; None (n/a) when nothing was reviewed."""
        return _ratio(self.false_positives, self.reviewed)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts and ratio."""
        out: dict[str, Any] = {} if self.domain is None else {"domain": self.domain}
        out |= {
            "matches": self.matches,
            "reviewed": self.reviewed,
            "confirmed": self.confirmed,
            "false_positives_by_review": self.false_positives_by_review,
            "false_positives_by_appeal": self.false_positives_by_appeal,
            "false_positives": self.false_positives,
            "error_rate": self.error_rate,
        }
        return out


@dataclass(frozen=True)
class Durations:
    """A set of durations in seconds: how many, mean and median (values kept for the histogram)."""

    values: tuple[float, ...] = ()

    @property
    def count(self) -> int:
        """How many durations."""
        return len(self.values)

    @property
    def mean_seconds(self) -> float | None:
        """Mean in seconds; None when there are none."""
        return statistics.fmean(self.values) if self.values else None

    @property
    def median_seconds(self) -> float | None:
        """Median in seconds; None when there are none."""
        return float(statistics.median(self.values)) if self.values else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the values themselves are left out)."""
        return {"count": self.count, "mean_seconds": self.mean_seconds, "median_seconds": self.median_seconds}


@dataclass(frozen=True)
class RetentionItem:
    """One line of the retention policy in force: what is kept and for how long."""

    what: str
    kept: str


@dataclass
class TransparencyReport:
    """Every figure of one transparency report; ``as_dict`` gives the stable JSON form."""

    period: Period
    generated_at: datetime
    scans_by_content_type: dict[str, int] = field(default_factory=dict)
    matched_by_content_type: dict[str, int] = field(default_factory=dict)
    monthly: list[tuple[str, int, int]] = field(default_factory=list)  # (YYYY-MM, scans, matched)
    matched_scans: int = 0  # from the audit log's match.recorded events
    matches_by_bank: dict[str, int] = field(default_factory=dict)
    matches_by_domain: dict[str, int] = field(default_factory=dict)
    matches_by_technology: dict[str, int] = field(default_factory=dict)
    cases_opened: int = 0
    cases_escalated: int = 0
    cases_undecided: int = 0
    overall: ErrorRate = field(default_factory=ErrorRate)
    by_technology: dict[str, ErrorRate] = field(default_factory=dict)
    by_bank: dict[str, ErrorRate] = field(default_factory=dict)
    reports_by_destination: dict[str, int] = field(default_factory=dict)
    retractions_by_destination: dict[str, int] = field(default_factory=dict)
    appeals_submitted: int = 0
    appeals_upheld: int = 0
    appeals_rejected: int = 0
    appeals_pending: int = 0
    time_to_review: Durations = field(default_factory=Durations)
    time_to_report: Durations = field(default_factory=Durations)
    retention_policy: list[RetentionItem] = field(default_factory=list)
    retention_deleted: dict[str, int] = field(default_factory=dict)
    safeguards: list[str] = field(default_factory=list)

    @property
    def scans(self) -> int:
        """Media scanned in the period."""
        return sum(self.scans_by_content_type.values())

    @property
    def matched(self) -> int:
        """Scans that matched, by the scan counters."""
        return sum(self.matched_by_content_type.values())

    @property
    def reports_sent(self) -> int:
        """Reports sent to any destination."""
        return sum(self.reports_by_destination.values())

    @property
    def reports_retracted(self) -> int:
        """Reports withdrawn."""
        return sum(self.retractions_by_destination.values())

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data with stable keys (inner mappings sorted by name)."""
        content_types = sorted(set(self.scans_by_content_type) | set(self.matched_by_content_type))
        return {
            "period": {"from": self.period.start.isoformat(), "to": self.period.end.isoformat()},
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "volume": {
                "scans": self.scans,
                "matched": self.matched,
                "match_rate": _ratio(self.matched, self.scans),
                "by_content_type": {
                    ct: {
                        "scans": self.scans_by_content_type.get(ct, 0),
                        "matched": self.matched_by_content_type.get(ct, 0),
                        "match_rate": _ratio(
                            self.matched_by_content_type.get(ct, 0), self.scans_by_content_type.get(ct, 0)
                        ),
                    }
                    for ct in content_types
                },
                "by_month": [{"month": m, "scans": s, "matched": x} for m, s, x in self.monthly],
            },
            "matches": {
                "matched_scans": self.matched_scans,
                "by_bank": dict(sorted(self.matches_by_bank.items())),
                "by_domain": dict(sorted(self.matches_by_domain.items())),
                "by_technology": dict(sorted(self.matches_by_technology.items())),
            },
            "cases": {
                "opened": self.cases_opened,
                "reviewed": self.overall.reviewed,
                "confirmed": self.overall.confirmed,
                "false_positive": self.overall.false_positives_by_review,
                "escalated": self.cases_escalated,
                "undecided": self.cases_undecided,
            },
            "error_rates": {
                "overall": self.overall.as_dict(),
                "by_technology": {k: v.as_dict() for k, v in sorted(self.by_technology.items())},
                "by_bank": {k: v.as_dict() for k, v in sorted(self.by_bank.items())},
            },
            "reports": {
                "sent": self.reports_sent,
                "by_destination": dict(sorted(self.reports_by_destination.items())),
                "retracted": self.reports_retracted,
                "retracted_by_destination": dict(sorted(self.retractions_by_destination.items())),
            },
            "appeals": {
                "submitted": self.appeals_submitted,
                "upheld": self.appeals_upheld,
                "rejected": self.appeals_rejected,
                "pending": self.appeals_pending,
            },
            "time_to_review": self.time_to_review.as_dict(),
            "time_to_report": self.time_to_report.as_dict(),
            "retention": {
                "policy": [{"what": r.what, "kept": r.kept} for r in self.retention_policy],
                "deleted": dict(sorted(self.retention_deleted.items())),
            },
            "safeguards": list(self.safeguards),
            "definitions": dict(DEFINITIONS),
        }


def parse_day(value: str, name: str) -> date:
    """A YYYY-MM-DD date from user input, or ValidationError naming the option."""
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None


def report_period(start: date | None, end: date | None, today: date) -> Period:
    """The period asked for; a missing end is ``today``, a missing start a year (365 days) before the end."""
    last = end or today
    return Period(start or last - timedelta(days=364), last)
