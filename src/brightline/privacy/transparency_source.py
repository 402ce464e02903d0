"""Read a transparency report's inputs from the database: audit events, scan counters, policy in force."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa

from brightline.privacy.retention_policy import CATEGORIES, policy_from_settings
from brightline.privacy.transparency import (
    CounterRow,
    Period,
    RetentionItem,
    TransparencyReport,
)
from brightline.privacy.transparency_compute import ACTIONS, compute_transparency
from brightline.settings import Settings
from brightline.store.audit import AuditLog, AuditRecord
from brightline.store.db import Database
from brightline.store.models import scan_counters_table, utcnow

_PAGE = 1000
_C = scan_counters_table.c


def audit_events(db: Database, period: Period) -> Iterator[AuditRecord]:
    """Every audit record the report counts, inside the period, one action at a time, page by page."""
    log = AuditLog(db)
    for action in ACTIONS:
        since_id = 0
        while True:
            page = log.records(since_id=since_id, limit=_PAGE, action=action, since=period.since, until=period.until)
            yield from page
            if len(page) < _PAGE:
                break
            since_id = page[-1].id


def counter_rows(db: Database, period: Period) -> list[CounterRow]:
    """Scan counters of the period's days, summed over API keys."""
    query = (
        sa.select(_C.day, _C.content_type, sa.func.sum(_C.scans), sa.func.sum(_C.matched))
        .where(_C.day >= period.start, _C.day <= period.end)
        .group_by(_C.day, _C.content_type)
        .order_by(_C.day, _C.content_type)
    )
    with db.engine.connect() as conn:
        return [
            CounterRow(day, ct, int(scans or 0), int(matched or 0)) for day, ct, scans, matched in conn.execute(query)
        ]


def _days(n: int) -> str:
    return "no limit" if n == 0 else "1 day" if n == 1 else f"{n} days"


_CATEGORY_TEXT = {
    "unconfirmed": "Matches not yet reviewed (scan record, evidence, case)",
    "false_positive": "Matches found false (by review or an upheld appeal)",
    "confirmed": "Confirmed matches",
}


def retention_policy(settings: Settings) -> list[RetentionItem]:
    """The retention rules in force, as lines of text (the retention policy and the preservation settings)."""
    policy = policy_from_settings(settings)
    items = [
        RetentionItem("Media that matched nothing", "never stored; only a per-day count by content type"),
        RetentionItem("Scan counters and audit log", "kept; numbers, ids and names only, never media"),
    ]
    sections = [("", policy.default), *((f" ({name})", p) for name, p in sorted(policy.jurisdictions.items()))]
    for suffix, section in sections:
        for category in CATEGORIES:
            items.append(RetentionItem(_CATEGORY_TEXT[category] + suffix, _days(section.days_for(category))))
        if section.max_days:
            items.append(RetentionItem(f"Any case, whatever its state{suffix}", f"at most {_days(section.max_days)}"))
    items.append(
        RetentionItem(
            "Reported cases: evidence and records",
            f"preserved {_days(settings.preservation_days)} after the report (18 U.S.C. 2258A asks for one year)",
        )
    )
    for jurisdiction, days in sorted(settings.preservation_days_by_jurisdiction.items()):
        items.append(RetentionItem(f"Reports to {jurisdiction}", f"preserved {_days(days)}"))
    items.append(RetentionItem("Cases under a legal hold", "kept until the hold is released or expires"))
    return items


def safeguards(settings: Settings) -> list[str]:
    """Measures in force that limit the error rate and protect the data, stated from the settings."""
    return [
        "A person reviews every match before anything is reported; a report needs a confirmed case "
        "with an industry classification.",
        f"Perceptual (PDQ) matches need a distance of at most {settings.pdq_threshold} bits and a hash "
        f"quality of at least {settings.min_quality}.",
        "Hash lists marked unverified never block content or notify a user without review.",
        "A false positive can disable the entry that misfired or allow-list the media; an upheld appeal "
        "lifts blocks, retracts reports and counts against the list's error rate.",
        "Reviewers see media blurred and greyscale by default; every unblurred view and evidence read is logged.",
        "Evidence is encrypted at rest (AES-256-GCM); media that match nothing are never stored.",
    ]


def build_transparency_report(
    db: Database, period: Period, settings: Settings, *, now: datetime | None = None
) -> TransparencyReport:
    """The transparency report for ``period`` from this database's audit log and scan counters."""
    return compute_transparency(
        period,
        audit_events(db, period),
        counter_rows(db, period),
        generated_at=now or utcnow(),
        retention_policy=retention_policy(settings),
        safeguards=safeguards(settings),
    )
