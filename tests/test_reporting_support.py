"""Shared helpers of the reporting tests: cases in the database, an in-memory evidence store, a wired service."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa

from brightline.errors import EvidenceNotFoundError
from brightline.reporting import CyberTiplineClient, CyberTiplineDestination, FakeCyberTipline, Reporter, ReportService
from brightline.store.db import Database
from brightline.store.models import scan_records_table
from brightline.store.models_cases import cases_table, reviewers_table

REPORTER = Reporter("Ada", "Lovelace", "trust@example.org")
PDQ = "f" * 16 + "0" * 48
MEDIA = b"\x89PNG\r\n\x1a\n benign test bytes"
SCAN_TIME = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FakeEvidenceInfo:
    """What the fake evidence store answers for a scan."""

    id: int
    scan_id: int
    media_type: str
    md5: str


@dataclass
class FakeEvidence:
    """An in-memory stand-in for actions.evidence.EvidenceStore."""

    blobs: dict[int, bytes] = field(default_factory=dict)  # scan id -> bytes
    preserved: dict[int, datetime] = field(default_factory=dict)
    reads: list[tuple[int, str, str]] = field(default_factory=list)

    def for_scan(self, scan_id: int) -> FakeEvidenceInfo:
        if scan_id not in self.blobs:
            raise EvidenceNotFoundError(f"no evidence for scan {scan_id}")
        return FakeEvidenceInfo(scan_id * 10, scan_id, "image/png", hashlib.md5(self.blobs[scan_id]).hexdigest())

    def read(self, evidence_id: int, *, actor: str, purpose: str) -> bytes:
        self.reads.append((evidence_id, actor, purpose))
        return self.blobs[evidence_id // 10]

    def preserve(self, scan_id: int, until: datetime, *, actor: str) -> object:
        self.preserved[scan_id] = max(until, self.preserved.get(scan_id, until))
        return None


def add_reviewer(db: Database, username: str = "rev") -> int:
    with db.write_connection() as conn:
        return int(
            conn.execute(
                sa.insert(reviewers_table)
                .values(username=username, password_hash="x", created_at=SCAN_TIME)
                .returning(reviewers_table.c.id)
            ).scalar_one()
        )


def add_case(
    db: Database,
    *,
    status: str = "confirmed",
    decided_by: int | None = None,
    classification: str | None = "A1",
    kind: str = "match",
    context: dict[str, Any] | None = None,
    report_on_confirm: bool = False,
    media_viewed: bool = True,
    appeal_of: int | None = None,
) -> int:
    """A scan record and a case on it; a confirmed case gets decision 'confirm'."""
    ctx = {"ip_address": "192.0.2.7", "ip_event": "Upload", "screen_name": "someone", "file_name": "holiday.png"}
    with db.write_connection() as conn:
        scan_id = conn.execute(
            sa.insert(scan_records_table)
            .values(
                created_at=SCAN_TIME,
                content_id="content-1",
                account_id="account-9",
                context=json.dumps(ctx if context is None else context),
                content_type="image",
                pdq=PDQ,
                pdq_quality=90,
                md5=hashlib.md5(MEDIA).hexdigest(),
                sha256=hashlib.sha256(MEDIA).hexdigest(),
            )
            .returning(scan_records_table.c.id)
        ).scalar_one()
        case_id = conn.execute(
            sa.insert(cases_table)
            .values(
                kind=kind,
                status=status,
                scan_id=scan_id,
                account_id="account-9",
                content_id="content-1",
                bank_name="known-list",
                list_domain="csam",
                signal_type="pdq",
                distance=4,
                decided_by=decided_by,
                decision="confirm" if status == "confirmed" else None,
                classification=classification,
                media_viewed=media_viewed,
                report_on_confirm=report_on_confirm,
                appeal_of=appeal_of,
                created_at=SCAN_TIME,
                updated_at=SCAN_TIME,
            )
            .returning(cases_table.c.id)
        ).scalar_one()
    return int(case_id)


def scan_of(db: Database, case_id: int) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.select(cases_table.c.scan_id).where(cases_table.c.id == case_id)).scalar_one())


def events(db: Database, case_id: int) -> list[str]:
    from brightline.store.models_cases import case_events_table

    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(case_events_table.c.action)
            .where(case_events_table.c.case_id == case_id)
            .order_by(case_events_table.c.id)
        )
        return [r.action for r in rows]


def wired(
    db: Database, fake: FakeCyberTipline | None = None, evidence: FakeEvidence | None = None, **service: Any
) -> tuple[ReportService, FakeCyberTipline, FakeEvidence]:
    """A ReportService delivering to a fake CyberTipline with no waiting between retries."""
    fake = fake or FakeCyberTipline()
    evidence = evidence if evidence is not None else FakeEvidence()
    client = CyberTiplineClient(
        "https://exttest.cybertip.org/ispws",
        fake.username,
        fake.password,
        transport=httpx.MockTransport(fake.handle),
        backoff_s=0,
        sleep=lambda _s: None,
    )
    reports = ReportService(
        db, destination=CyberTiplineDestination(client), evidence=evidence, reporter=REPORTER, **service
    )
    return reports, fake, evidence
