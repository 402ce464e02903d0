"""A retention scenario written straight into the database: units of every category and age, with explicit times."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from brightline.actions.evidence import EvidenceStore
from brightline.store.db import Database
from brightline.store.models import scan_records_table
from brightline.store.models_actions import (
    enforcements_table,
    evidence_table,
    user_notices_table,
    webhook_attempts_table,
    webhook_deliveries_table,
)
from brightline.store.models_cases import appeals_table, case_events_table, cases_table, legal_holds_table
from brightline.store.models_reporting import reports_table


@dataclass
class Unit:
    """One scenario unit: its ids and whether the policy should delete it."""

    name: str
    scan_id: int
    case_ids: list[int] = field(default_factory=list)
    evidence_id: int | None = None
    evidence_file: Path | None = None
    extra: dict[str, list[int]] = field(default_factory=dict)


class Builder:
    """Inserts scans, cases, reports, holds and side rows with times relative to ``now``."""

    def __init__(self, db: Database, evidence: EvidenceStore, now: datetime) -> None:
        self.db = db
        self.evidence = evidence
        self.now = now

    def ago(self, days: float) -> datetime:
        """``days`` before now."""
        return self.now - timedelta(days=days)

    def _insert(self, table: sa.Table, **values: object) -> int:
        with self.db.write_connection() as conn:
            return int(conn.execute(sa.insert(table).values(**values).returning(table.c.id)).scalar_one())

    def scan(self, name: str, days: float) -> Unit:
        """A matched scan record made ``days`` ago."""
        scan_id = self._insert(
            scan_records_table,
            created_at=self.ago(days),
            content_id=f"content-{name}",
            account_id=f"account-{name}",
            content_type="image/png",
            md5="0" * 32,
        )
        return Unit(name=name, scan_id=scan_id)

    def case(
        self,
        unit: Unit,
        status: str,
        *,
        created: float,
        decided: float | None = None,
        kind: str = "match",
        appeal_of: int | None = None,
    ) -> int:
        """A case on the unit's scan, opened ``created`` days ago and decided ``decided`` days ago."""
        case_id = self._insert(
            cases_table,
            kind=kind,
            status=status,
            scan_id=unit.scan_id,
            appeal_of=appeal_of,
            created_at=self.ago(created),
            updated_at=self.ago(created),
            decided_at=None if decided is None else self.ago(decided),
        )
        self._insert(case_events_table, case_id=case_id, created_at=self.ago(created), actor="system", action="opened")
        unit.case_ids.append(case_id)
        return case_id

    def keep_evidence(self, unit: Unit, days: float, *, preserve_for: float | None = None) -> None:
        """Store an encrypted evidence file for the unit's scan, dated ``days`` ago."""
        info = self.evidence.put(unit.scan_id, f"media of {unit.name}".encode(), media_type="image/png", actor="test")
        values: dict[str, object] = {"created_at": self.ago(days)}
        if preserve_for is not None:
            values["preserve_until"] = self.now + timedelta(days=preserve_for)
        with self.db.write_connection() as conn:
            conn.execute(sa.update(evidence_table).where(evidence_table.c.id == info.id).values(**values))
            path = conn.execute(sa.select(evidence_table.c.path).where(evidence_table.c.id == info.id)).scalar_one()
        unit.evidence_id = info.id
        unit.evidence_file = self.evidence.directory / path

    def side_rows(self, unit: Unit) -> None:
        """A webhook delivery with an attempt, a user notice and a block for the unit's scan."""
        delivery = self._insert(
            webhook_deliveries_table,
            rule="r",
            url="https://platform.example/hook",
            event="match",
            payload="{}",
            scan_id=unit.scan_id,
            case_id=unit.case_ids[0] if unit.case_ids else None,
        )
        self._insert(webhook_attempts_table, delivery_id=delivery, status_code=200)
        notice = self._insert(user_notices_table, scan_id=unit.scan_id, rule="r", text="removed")
        block = self._insert(enforcements_table, scan_id=unit.scan_id, action="block", rule="r", actor="test")
        unit.extra.update(delivery=[delivery], notice=[notice], enforcement=[block])

    def report(self, unit: Unit, jurisdiction: str, *, preserved_for: float) -> int:
        """A finished report of the unit's first case, preserved ``preserved_for`` days from now (negative: ended)."""
        report_id = self._insert(
            reports_table,
            case_id=unit.case_ids[0],
            destination="cybertipline" if jurisdiction == "US" else "file_drop",
            jurisdiction=jurisdiction,
            status="finished",
            report_xml="<report/>",
            created_by="test",
            preserve_until=self.now + timedelta(days=preserved_for),
        )
        unit.extra.setdefault("report", []).append(report_id)
        return report_id

    def hold(self, unit: Unit, *, released: bool = False) -> int:
        """A legal hold on the unit's first case (released a day ago when ``released``)."""
        hold_id = self._insert(
            legal_holds_table,
            case_id=unit.case_ids[0],
            reason="investigation",
            created_by="test",
            created_at=self.ago(50),
            released_at=self.ago(1) if released else None,
            released_by="test" if released else None,
        )
        unit.extra.setdefault("hold", []).append(hold_id)
        return hold_id

    def appeal(self, unit: Unit, review_case_id: int) -> int:
        """The appeal row behind an appeal case."""
        appeal_id = self._insert(
            appeals_table, case_id=unit.case_ids[0], review_case_id=review_case_id, reason="mine", status="upheld"
        )
        unit.extra.setdefault("appeal", []).append(appeal_id)
        return appeal_id


def build(db: Database, evidence: EvidenceStore, now: datetime) -> tuple[dict[str, Unit], set[str]]:
    """Every category and age; returns the units by name and the names the EU-aware policy deletes."""
    b = Builder(db, evidence, now)
    units: dict[str, Unit] = {}

    def add(unit: Unit) -> Unit:
        units[unit.name] = unit
        return unit

    u = add(b.scan("open-old", 100))
    b.case(u, "open", created=100)
    b.keep_evidence(u, 100)
    u = add(b.scan("open-young", 10))
    b.case(u, "escalated", created=10)
    add(b.scan("never-opened-old", 95))
    add(b.scan("never-opened-young", 5))

    u = add(b.scan("fp-old", 50))
    b.case(u, "false_positive", created=50, decided=40)
    b.keep_evidence(u, 50)
    b.side_rows(u)
    u = add(b.scan("fp-young", 20))
    b.case(u, "false_positive", created=20, decided=10)
    b.keep_evidence(u, 20)
    u = add(b.scan("fp-held", 50))
    b.case(u, "false_positive", created=50, decided=40)
    b.keep_evidence(u, 50)
    b.hold(u)
    u = add(b.scan("fp-hold-released", 50))
    b.case(u, "false_positive", created=50, decided=40)
    b.hold(u, released=True)
    u = add(b.scan("fp-evidence-preserved", 50))
    b.case(u, "false_positive", created=50, decided=40)
    b.keep_evidence(u, 50, preserve_for=10)

    u = add(b.scan("us-reported-preserved", 420))
    b.case(u, "confirmed", created=420, decided=400)
    b.keep_evidence(u, 420, preserve_for=30)
    b.report(u, "US", preserved_for=30)
    u = add(b.scan("us-reported-done", 420))
    b.case(u, "confirmed", created=420, decided=400)
    b.keep_evidence(u, 420)
    b.report(u, "US", preserved_for=-35)
    b.side_rows(u)
    u = add(b.scan("confirmed-young", 120))
    b.case(u, "confirmed", created=120, decided=100)
    u = add(b.scan("eu-confirmed-old-scan", 370))
    b.case(u, "confirmed", created=370, decided=300)
    b.keep_evidence(u, 370)
    b.report(u, "EU", preserved_for=-5)
    u = add(b.scan("eu-confirmed-young-scan", 200))
    b.case(u, "confirmed", created=200, decided=150)
    b.report(u, "EU", preserved_for=-5)

    # An appeal upheld 40 days ago: the match case became a false positive; both cases and the appeal go.
    u = add(b.scan("appeal-upheld", 60))
    original = b.case(u, "false_positive", created=60, decided=40)
    review = b.case(u, "appeal_upheld", created=45, decided=40, kind="appeal", appeal_of=original)
    b.appeal(u, review)
    # An old confirmed case with a fresh, still open appeal: the open appeal keeps it.
    u = add(b.scan("appeal-open", 500))
    original = b.case(u, "confirmed", created=500, decided=480)
    b.case(u, "open", created=3, kind="appeal", appeal_of=original)

    deleted = {
        "open-old",
        "never-opened-old",
        "fp-old",
        "fp-hold-released",
        "us-reported-done",
        "eu-confirmed-old-scan",
        "appeal-upheld",
    }
    return units, deleted
