"""Reports of confirmed cases: build the documents, deliver them, keep what was sent, preserve the evidence.

Only a case a human reviewer confirmed and classified is ever reported (``assemble.check_reportable``,
checked inside the transaction that creates the report, on the locked case row). A case has at
most one active report: asking again resumes an unfinished one from its stored progress and
refuses a finished one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from brightline.errors import (
    BrightlineError,
    EvidenceNotFoundError,
    ReportNotAllowedError,
    ReportNotFoundError,
    ReportOutcomeUnknownError,
    ValidationError,
)
from brightline.reporting import assemble
from brightline.reporting.destinations import DeliveryProgress, Receipt, ReportDestination, ReportFile, ReportPackage
from brightline.reporting.ncmec_xml import Reporter, report_xml
from brightline.reporting.types import ReportInfo
from brightline.review.rows import add_event, case_info, case_row
from brightline.review.types import CaseInfo
from brightline.store.audit import append_audit
from brightline.store.db import Database
from brightline.store.models import scan_records_table, utcnow
from brightline.store.models_reporting import ACTIVE_REPORT_STATUSES, reports_table

_R = reports_table.c
_S = scan_records_table.c
MAX_PAGE = 1000


class EvidenceItem(Protocol):
    """What the reporting layer reads of a piece of evidence."""

    @property
    def id(self) -> int:
        """Evidence id."""
        ...

    @property
    def media_type(self) -> str:
        """MIME type of the stored bytes."""
        ...

    @property
    def md5(self) -> str:
        """MD5 of the stored bytes (the report's originalFileHash)."""
        ...


class EvidenceSource(Protocol):
    """The evidence store as reporting uses it (actions.evidence.EvidenceStore fits)."""

    def for_scan(self, scan_id: int) -> EvidenceItem:
        """The scan's evidence; EvidenceNotFoundError when none is kept."""
        ...

    def read(self, evidence_id: int, *, actor: str, purpose: str) -> bytes:
        """The decrypted bytes (the read is logged)."""
        ...

    def preserve(self, scan_id: int, until: datetime, *, actor: str) -> object:
        """Keep the scan's evidence at least until ``until``."""
        ...


def preservation_days_for(jurisdiction: str, default: int, by_jurisdiction: Mapping[str, int] | None = None) -> int:
    """Days a report to ``jurisdiction`` keeps its case preserved: the jurisdiction's own figure, else ``default``."""
    days = {k.upper(): v for k, v in (by_jurisdiction or {}).items()}.get(jurisdiction.upper(), default)
    if days < 1:
        raise ValidationError(f"preservation days for {jurisdiction or 'the default'} must be at least 1")
    return days


def _actor(actor: str) -> str:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 128:
        raise ValidationError("actor must be 1 to 128 characters")
    return actor


class ReportService:
    """Create, deliver, resume and retract reports of confirmed cases."""

    def __init__(
        self,
        db: Database,
        *,
        destination: ReportDestination,
        evidence: EvidenceSource | None,
        reporter: Reporter,
        preservation_days: int = 365,
        jurisdiction_days: Mapping[str, int] | None = None,
        esp_service: str = "",
    ) -> None:
        self.db = db
        self.destination = destination
        self.evidence = evidence
        self.reporter = reporter
        self.esp_service = esp_service
        self.preservation_days = preservation_days_for(destination.jurisdiction, preservation_days, jurisdiction_days)

    # --- reading ------------------------------------------------------------------------

    def get(self, report_id: int) -> ReportInfo:
        """One report; ReportNotFoundError when unknown."""
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(reports_table).where(_R.id == report_id)).first()
        if row is None:
            raise ReportNotFoundError(f"no report with id {report_id}")
        return ReportInfo.from_row(row)

    def list(
        self, *, case_id: int | None = None, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[ReportInfo]:
        """Reports, newest first, optionally of one case or status."""
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise ValidationError(f"limit must be 1 to {MAX_PAGE} and offset at least 0")
        stmt = sa.select(reports_table).order_by(_R.id.desc()).limit(limit).offset(offset)
        if case_id is not None:
            stmt = stmt.where(_R.case_id == case_id)
        if status is not None:
            stmt = stmt.where(_R.status == status)
        with self.db.engine.connect() as conn:
            return [ReportInfo.from_row(row) for row in conn.execute(stmt)]

    def active_for_case(self, case_id: int) -> ReportInfo:
        """The case's report that is not retracted; ReportNotFoundError when there is none."""
        found = [r for r in self.list(case_id=case_id) if r.status in ACTIVE_REPORT_STATUSES]
        if not found:
            raise ReportNotFoundError(f"case {case_id} has no active report")
        return found[0]

    def note(self, case_id: int, *, actor: str, action: str, details: dict[str, Any]) -> None:
        """Append an event to a case's history (used by listeners to record failures)."""
        with self.db.write_connection() as conn:
            add_event(conn, case_id, utcnow(), actor, action, details)

    # --- sending ------------------------------------------------------------------------

    def create_and_send(self, case_id: int, *, actor: str, resubmit: bool = False) -> ReportInfo:
        """Report a confirmed case (or resume its unfinished report); ReportNotAllowedError if not allowed.

        ``resubmit`` sends again a report whose last submission got no answer, once a person has
        checked with the destination that it did not arrive.
        """
        actor = _actor(actor)
        report_id, case, scan = self._open_report(case_id, actor, resubmit)
        info = self.get(report_id)
        progress = DeliveryProgress.from_json(self._progress_text(report_id))
        if resubmit:
            progress.outcome_unknown = False
        try:
            files = self._files(case, scan, actor)
            package = ReportPackage(
                case_id=case.id,
                report_xml=info.report_xml,
                files=files,
                metadata={"case_id": case.id, "report_id": report_id, "classification": case.classification},
            )
            receipt = self.destination.send(package, progress, lambda p: self._checkpoint(report_id, p))
        except BrightlineError as exc:
            if isinstance(exc, ReportOutcomeUnknownError):
                progress.outcome_unknown = True
            self._failed(report_id, case.id, actor, progress, exc)
            raise
        return self._finished(report_id, case.id, actor, receipt)

    def _open_report(self, case_id: int, actor: str, resubmit: bool) -> tuple[int, CaseInfo, assemble.ScanFacts]:
        """Check the case and create its report row (or find the unfinished one); returns its id."""
        now = utcnow()
        with self.db.write_connection() as conn:
            case = case_info(case_row(conn, case_id, lock=True), now, 0)
            assemble.check_reportable(case)
            assert case.scan_id is not None  # check_reportable refuses cases without a scan
            scan = _scan_facts(conn, case.scan_id)
            existing = conn.execute(
                sa.select(reports_table)
                .where(_R.case_id == case_id, _R.status.in_(ACTIVE_REPORT_STATUSES))
                .order_by(_R.id.desc())
            ).first()
            if existing is not None:
                if existing.status == "finished":
                    raise ReportNotAllowedError(f"case {case_id} was already reported (report {existing.id})")
                progress = DeliveryProgress.from_json(existing.progress)
                if progress.outcome_unknown and progress.remote_id is None and not resubmit:
                    raise ReportNotAllowedError(
                        f"report {existing.id}'s last submission got no answer and may have arrived; check with "
                        f"{existing.destination}, then send again with resubmit (CLI: --resubmit)"
                    )
                if existing.destination != self.destination.name:
                    raise ReportNotAllowedError(
                        f"case {case_id} has an unfinished report to {existing.destination}; retract it first"
                    )
                return int(existing.id), case, scan
            document = report_xml(assemble.incident(case, scan, self.reporter, esp_service=self.esp_service))
            until = now + timedelta(days=self.preservation_days)
            report_id = conn.execute(
                sa.insert(reports_table)
                .values(
                    case_id=case_id,
                    destination=self.destination.name,
                    jurisdiction=self.destination.jurisdiction,
                    status="pending",
                    report_xml=document,
                    preserve_until=until,
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                )
                .returning(_R.id)
            ).scalar_one()
            add_event(conn, case_id, now, actor, "report_created", {"report_id": report_id, "preserve_until": until})
        return int(report_id), case, scan

    def _files(self, case: CaseInfo, scan: assemble.ScanFacts, actor: str) -> tuple[ReportFile, ...]:
        """The scanned file (its bytes only for destinations that take media); preserves the evidence first."""
        if self.evidence is None:
            return ()
        try:
            item = self.evidence.for_scan(scan.id)
        except EvidenceNotFoundError:
            return ()  # hash-only scans keep no media; the report still carries the hashes
        self.evidence.preserve(scan.id, utcnow() + timedelta(days=self.preservation_days), actor=actor)
        data = b""
        if self.destination.takes_media:
            data = self.evidence.read(item.id, actor=actor, purpose=f"report of case {case.id}")
        name = assemble.file_name(scan, item.media_type)
        return (ReportFile(name, data, assemble.file_report(case, scan, md5=item.md5, name=name)),)

    def _progress_text(self, report_id: int) -> str:
        with self.db.engine.connect() as conn:
            return str(conn.execute(sa.select(_R.progress).where(_R.id == report_id)).scalar_one())

    def _checkpoint(self, report_id: int, progress: DeliveryProgress) -> None:
        values: dict[str, Any] = {
            "progress": progress.to_json(),
            "remote_id": progress.remote_id,
            "file_xml": json.dumps(progress.file_documents),
            "updated_at": utcnow(),
        }
        if progress.remote_id is not None:
            values["status"] = "submitted"
        with self.db.write_connection() as conn:
            conn.execute(sa.update(reports_table).where(_R.id == report_id).values(**values))

    def _failed(
        self, report_id: int, case_id: int, actor: str, progress: DeliveryProgress, exc: BrightlineError
    ) -> None:
        now = utcnow()
        with self.db.write_connection() as conn:
            conn.execute(
                sa.update(reports_table)
                .where(_R.id == report_id)
                .values(
                    status="failed",
                    progress=progress.to_json(),
                    attempts=_R.attempts + 1,
                    last_error=f"{exc.code}: {exc}",
                    updated_at=now,
                )
            )
            add_event(conn, case_id, now, actor, "report_failed", {"report_id": report_id, "error": str(exc)})
            details = {"report_id": report_id, "case_id": case_id}
            append_audit(
                conn, actor=actor, action="report.failed", subject=f"report:{report_id}", details=details, at=now
            )

    def _finished(self, report_id: int, case_id: int, actor: str, receipt: Receipt) -> ReportInfo:
        now = utcnow()
        with self.db.write_connection() as conn:
            conn.execute(
                sa.update(reports_table)
                .where(_R.id == report_id)
                .values(status="finished", attempts=_R.attempts + 1, last_error="", finished_at=now, updated_at=now)
            )
            details = {
                "report_id": report_id,
                "destination": receipt.destination,
                "remote_id": receipt.remote_id,
                "file_ids": list(receipt.file_ids),
            }
            add_event(conn, case_id, now, actor, "report_sent", details)
            opened_at = case_row(conn, case_id).created_at
            audited = {
                "report_id": report_id,
                "case_id": case_id,
                "destination": receipt.destination,
                "seconds_since_case_opened": round((now - opened_at).total_seconds(), 3),
            }
            append_audit(
                conn, actor=actor, action="report.sent", subject=f"report:{report_id}", details=audited, at=now
            )
        return self.get(report_id)

    # --- retracting ---------------------------------------------------------------------

    def retract(self, report_id: int, *, actor: str, reason: str) -> ReportInfo:
        """Withdraw a report at its destination (when it got that far) and mark it retracted."""
        actor = _actor(actor)
        if not reason.strip():
            raise ValidationError("a retraction needs a reason")
        info = self.get(report_id)
        if info.status == "retracted":
            raise ReportNotAllowedError(f"report {report_id} is already retracted")
        if info.remote_id is not None:
            if info.destination != self.destination.name:
                raise ReportNotAllowedError(
                    f"report {report_id} went to {info.destination}; retract it with that destination"
                )
            try:
                self.destination.retract(Receipt(info.destination, info.remote_id, info.file_ids))
            except BrightlineError as exc:
                self.note(info.case_id, actor=actor, action="report_retract_failed", details={"error": str(exc)})
                raise
        now = utcnow()
        with self.db.write_connection() as conn:
            conn.execute(
                sa.update(reports_table)
                .where(_R.id == report_id)
                .values(status="retracted", retracted_at=now, retracted_by=actor, retract_reason=reason, updated_at=now)
            )
            details = {"report_id": report_id, "remote_id": info.remote_id, "reason": reason}
            add_event(conn, info.case_id, now, actor, "report_retracted", details)
            append_audit(
                conn,
                actor=actor,
                action="report.retracted",
                subject=f"report:{report_id}",
                details={"report_id": report_id, "case_id": info.case_id},
                at=now,
            )
        return self.get(report_id)

    def retract_case(self, case_id: int, *, actor: str, reason: str) -> ReportInfo:
        """Retract the case's active report; ReportNotFoundError when it has none."""
        return self.retract(self.active_for_case(case_id).id, actor=actor, reason=reason)

    def retract_for_case(self, case_id: int, *, actor: str, reason: str) -> int:
        """Retract every active report of the case; how many (0 when none). Fits appeals.ReportRetractor."""
        active = [r for r in self.list(case_id=case_id, limit=MAX_PAGE) if r.status in ACTIVE_REPORT_STATUSES]
        for report in active:
            self.retract(report.id, actor=actor, reason=reason)
        return len(active)


def _scan_facts(conn: Connection, scan_id: int) -> assemble.ScanFacts:
    row = conn.execute(sa.select(scan_records_table).where(_S.id == scan_id)).first()
    if row is None:
        raise ReportNotAllowedError(f"scan record {scan_id} no longer exists")
    return assemble.ScanFacts(
        id=row.id,
        created_at=row.created_at,
        content_id=row.content_id,
        account_id=row.account_id,
        context=assemble.parse_context(row.context),
        pdq=row.pdq,
        pdq_quality=row.pdq_quality,
        md5=row.md5,
        sha256=row.sha256,
    )
