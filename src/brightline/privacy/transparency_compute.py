"""Compute a transparency report from audit events and scan counter rows: one pass, in time order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from brightline.privacy.transparency import (
    REVIEWED_DECISIONS,
    AuditEventLike,
    CounterRow,
    Durations,
    ErrorRate,
    Period,
    RetentionItem,
    TransparencyReport,
)


def _text(details: Mapping[str, Any], key: str, default: str = "unknown") -> str:
    value = details.get(key)
    return default if value is None or value == "" else str(value)


def _seconds(details: Mapping[str, Any], key: str) -> float | None:
    value = details.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


class _Tally:
    """Walks the period's events once, in time order, keeping the running counts."""

    def __init__(self, report: TransparencyReport) -> None:
        self.r = report
        self.scans: set[Any] = set()
        self.opened: set[Any] = set()
        self.reviewed: set[Any] = set()
        self.appeals: set[Any] = set()
        self.appeals_decided: set[Any] = set()
        self.reports: dict[Any, str] = {}
        self.retracted: set[Any] = set()
        self.review_times: list[float] = []
        self.report_times: list[float] = []

    def _rates(self, details: Mapping[str, Any]) -> list[ErrorRate]:
        bank = _text(details, "bank")
        per_bank = self.r.by_bank.setdefault(bank, ErrorRate(domain=_text(details, "domain")))
        return [self.r.overall, self.r.by_technology.setdefault(_text(details, "signal_type"), ErrorRate()), per_bank]

    def match_recorded(self, d: Mapping[str, Any]) -> None:
        scan = d.get("scan_id")
        if scan is not None and scan in self.scans:
            return
        self.scans.add(scan)
        hits = [h for h in d.get("hits") or () if isinstance(h, Mapping)]
        self.r.matched_scans += 1
        self.r.overall.matches += 1
        banks = {_text(h, "bank"): _text(h, "domain") for h in hits}
        for bank, domain in banks.items():
            self.r.matches_by_bank[bank] = self.r.matches_by_bank.get(bank, 0) + 1
            self.r.by_bank.setdefault(bank, ErrorRate(domain=domain)).matches += 1
        for domain in set(banks.values()):
            self.r.matches_by_domain[domain] = self.r.matches_by_domain.get(domain, 0) + 1
        for tech in {_text(h, "signal_type") for h in hits}:
            self.r.matches_by_technology[tech] = self.r.matches_by_technology.get(tech, 0) + 1
            self.r.by_technology.setdefault(tech, ErrorRate()).matches += 1

    def case_opened(self, d: Mapping[str, Any]) -> None:
        if d.get("kind", "match") == "match" and d.get("case_id") not in self.opened:
            self.opened.add(d.get("case_id"))
            self.r.cases_opened += 1

    def case_decided(self, d: Mapping[str, Any]) -> None:
        if d.get("kind", "match") != "match":
            return  # appeal cases are counted through appeal.decided
        decision = d.get("decision")
        if decision == "escalate":
            self.r.cases_escalated += 1
            return
        case = d.get("case_id")
        # Only a case's first verdict is its review; a later reversal is an appeal's doing.
        if decision not in REVIEWED_DECISIONS or case in self.reviewed:
            return
        self.reviewed.add(case)
        for rate in self._rates(d):
            rate.reviewed += 1
            if decision == "confirm":
                rate.confirmed += 1
            else:
                rate.false_positives_by_review += 1
        seconds = _seconds(d, "seconds_to_decision")
        if seconds is not None:
            self.review_times.append(seconds)

    def appeal_submitted(self, d: Mapping[str, Any]) -> None:
        if d.get("appeal_id") not in self.appeals:
            self.appeals.add(d.get("appeal_id"))
            self.r.appeals_submitted += 1

    def appeal_decided(self, d: Mapping[str, Any]) -> None:
        appeal = d.get("appeal_id")
        if appeal in self.appeals_decided:
            return
        self.appeals_decided.add(appeal)
        if d.get("outcome") == "upheld":
            self.r.appeals_upheld += 1
            for rate in self._rates(d):
                rate.false_positives_by_appeal += 1
        elif d.get("outcome") == "rejected":
            self.r.appeals_rejected += 1

    def report_sent(self, d: Mapping[str, Any]) -> None:
        report = d.get("report_id")
        if report in self.reports:
            return
        destination = _text(d, "destination")
        self.reports[report] = destination
        self.r.reports_by_destination[destination] = self.r.reports_by_destination.get(destination, 0) + 1
        seconds = _seconds(d, "seconds_since_case_opened")
        if seconds is not None:
            self.report_times.append(seconds)

    def report_retracted(self, d: Mapping[str, Any]) -> None:
        report = d.get("report_id")
        if report in self.retracted:
            return
        self.retracted.add(report)
        # A report sent before the period is not in the map: its destination is then unknown.
        destination = self.reports.get(report, "unknown")
        self.r.retractions_by_destination[destination] = self.r.retractions_by_destination.get(destination, 0) + 1

    def retention_deleted(self, d: Mapping[str, Any]) -> None:
        kind = _text(d, "kind")
        self.r.retention_deleted[kind] = self.r.retention_deleted.get(kind, 0) + 1

    def finish(self) -> None:
        self.r.cases_undecided = len(self.opened - self.reviewed)
        self.r.appeals_pending = len(self.appeals - self.appeals_decided)
        self.r.time_to_review = Durations(tuple(self.review_times))
        self.r.time_to_report = Durations(tuple(self.report_times))


_HANDLERS = {
    "match.recorded": _Tally.match_recorded,
    "case.opened": _Tally.case_opened,
    "case.decided": _Tally.case_decided,
    "appeal.submitted": _Tally.appeal_submitted,
    "appeal.decided": _Tally.appeal_decided,
    "report.sent": _Tally.report_sent,
    "report.retracted": _Tally.report_retracted,
    "retention.deleted": _Tally.retention_deleted,
}
ACTIONS = tuple(_HANDLERS)


def compute_transparency(
    period: Period,
    events: Iterable[AuditEventLike],
    counters: Iterable[CounterRow],
    *,
    generated_at: datetime,
    retention_policy: Sequence[RetentionItem] = (),
    safeguards: Sequence[str] = (),
) -> TransparencyReport:
    """Every figure of the report for ``period`` from audit events and scan counter rows (others are ignored)."""
    report = TransparencyReport(
        period=period,
        generated_at=generated_at,
        retention_policy=list(retention_policy),
        safeguards=list(safeguards),
    )
    monthly: dict[str, list[int]] = {m: [0, 0] for m in period.months()}
    for row in counters:
        if not period.start <= row.day <= period.end:
            continue
        ct = row.content_type
        report.scans_by_content_type[ct] = report.scans_by_content_type.get(ct, 0) + row.scans
        report.matched_by_content_type[ct] = report.matched_by_content_type.get(ct, 0) + row.matched
        month = monthly[f"{row.day.year:04d}-{row.day.month:02d}"]
        month[0] += row.scans
        month[1] += row.matched
    report.monthly = [(m, s, x) for m, (s, x) in monthly.items()]
    tally = _Tally(report)
    inside = [e for e in events if period.since <= e.created_at < period.until and e.action in _HANDLERS]
    for event in sorted(inside, key=lambda e: e.created_at):
        _HANDLERS[event.action](tally, event.details)
    tally.finish()
    return report
