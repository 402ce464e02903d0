"""User redress: appeals against an action, reviewed by a human, and the reversal an upheld appeal brings.

An appeal opens a review case of kind ``appeal`` that points at the contested case. Upholding
it undoes everything the match led to: enforcement is lifted, the platform's webhooks hear of
it, a report already sent is retracted, and the original match is marked a false positive, so
it counts in the error rates. Every step is a case event on both cases.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Row

from brightline.actions.enforcement import EnforcementService
from brightline.actions.webhooks import WebhookService
from brightline.errors import AppealNotFoundError, CaseNotFoundError, CaseStateError, ValidationError
from brightline.review.queue import ReviewQueue
from brightline.review.types import CaseHit, CaseInfo, Decision
from brightline.store.audit import append_audit
from brightline.store.db import Database
from brightline.store.models import MAX_IDENTIFIER, utcnow
from brightline.store.models_cases import appeals_table, cases_table

log = logging.getLogger(__name__)

MAX_REASON = 4000
# Appeals jump the queue: a wrongly blocked user waits on us.
APPEAL_PRIORITY_HIT_DISTANCE = 0

_A = appeals_table.c
_C = cases_table.c


class ReportRetractor(Protocol):
    """What reversal needs of the reporting layer: retract every report sent for a case."""

    def retract_for_case(self, case_id: int, *, actor: str, reason: str) -> int:
        """Retract the case's sent reports; the number retracted."""


@dataclass(frozen=True)
class AppealInfo:
    """An appeal and where it stands."""

    id: int
    case_id: int | None
    review_case_id: int | None
    content_id: str | None
    account_id: str | None
    reason: str
    status: str
    api_key_id: int | None
    created_at: datetime
    decided_at: datetime | None
    outcome: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "case_id": self.case_id,
            "review_case_id": self.review_case_id,
            "content_id": self.content_id,
            "account_id": self.account_id,
            "reason": self.reason,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "outcome": self.outcome,
        }


def _appeal(row: Row[Any]) -> AppealInfo:
    return AppealInfo(
        id=row.id,
        case_id=row.case_id,
        review_case_id=row.review_case_id,
        content_id=row.content_id,
        account_id=row.account_id,
        reason=row.reason,
        status=row.status,
        api_key_id=row.api_key_id,
        created_at=row.created_at,
        decided_at=row.decided_at,
        outcome=row.outcome,
    )


def _identifier(name: str, value: str | None) -> str | None:
    if value is not None and (not isinstance(value, str) or not value or len(value) > MAX_IDENTIFIER):
        raise ValidationError(f"{name} must be 1 to {MAX_IDENTIFIER} characters")
    return value


class AppealService:
    """Takes appeals in, queues them for review and carries out the reversal of upheld ones."""

    def __init__(
        self,
        db: Database,
        *,
        queue: ReviewQueue,
        enforcement: EnforcementService,
        webhooks: WebhookService,
        reports: ReportRetractor | None = None,
    ) -> None:
        self._db = db
        self._queue = queue
        self._enforcement = enforcement
        self._webhooks = webhooks
        self._reports = reports

    def set_reports(self, reports: ReportRetractor) -> None:
        """Attach the reporting layer once it exists (it is built after the queue)."""
        self._reports = reports

    def _contested(self, case_id: int | None, content_id: str | None, scan_id: int | None) -> CaseInfo:
        if case_id is not None:
            case = self._queue.get(case_id)
            if case.kind != "match":
                raise ValidationError("an appeal contests a match case, not another appeal")
            return case
        if content_id is None and scan_id is None:
            raise ValidationError("name the contested case, scan or content: case_id, scan_id or content_id")
        query = sa.select(_C.id).where(_C.kind == "match").order_by(_C.id.desc()).limit(1)
        query = query.where(_C.scan_id == scan_id) if scan_id is not None else query.where(_C.content_id == content_id)
        with self._db.engine.connect() as conn:
            found = conn.execute(query).scalar()
        if found is None:
            raise CaseNotFoundError("no match case for that content or scan: nothing was decided to appeal against")
        return self._queue.get(int(found))

    def submit(
        self,
        *,
        reason: str,
        case_id: int | None = None,
        scan_id: int | None = None,
        content_id: str | None = None,
        account_id: str | None = None,
        api_key_id: int | None = None,
        actor: str = "platform",
    ) -> AppealInfo:
        """Record an appeal and put it in the review queue; CaseStateError if one is already open for the case."""
        if not isinstance(reason, str) or len(reason) > MAX_REASON:
            raise ValidationError(f"reason must be text of at most {MAX_REASON} characters")
        _identifier("content_id", content_id)
        _identifier("account_id", account_id)
        contested = self._contested(case_id, content_id, scan_id)
        with self._db.engine.connect() as conn:
            already = conn.execute(
                sa.select(_A.id).where(_A.case_id == contested.id, _A.status == "open").limit(1)
            ).scalar()
        if already is not None:
            raise CaseStateError(f"appeal {already} against case {contested.id} is still open")
        hit = CaseHit(
            bank=contested.bank_name,
            domain=contested.list_domain,
            category=contested.entry_category,
            signal_type=contested.signal_type,
            entry_id=contested.entry_id or 0,
            distance=APPEAL_PRIORITY_HIT_DISTANCE,
        )
        review_case = self._queue.open_case(
            scan_id=contested.scan_id,
            account_id=account_id or contested.account_id,
            content_id=content_id or contested.content_id,
            hits=[hit],
            verified=contested.verified,
            actor=actor,
            kind="appeal",
            appeal_of=contested.id,
            note=reason,
        )
        with self._db.session(write=True) as session:
            appeal_id = session.execute(
                sa.insert(appeals_table)
                .values(
                    case_id=contested.id,
                    review_case_id=review_case.id,
                    content_id=content_id or contested.content_id,
                    account_id=account_id or contested.account_id,
                    reason=reason,
                    status="open",
                    api_key_id=api_key_id,
                    created_at=utcnow(),
                    outcome="",
                )
                .returning(_A.id)
            ).scalar_one()
            append_audit(
                session,
                actor=actor,
                action="appeal.submitted",
                subject=f"appeal:{appeal_id}",
                details={"appeal_id": appeal_id, "case_id": contested.id},
            )
        self._queue.record_event(
            contested.id,
            actor=actor,
            action="appealed",
            details={"appeal_id": appeal_id, "review_case": review_case.id},
        )
        return self.get(appeal_id)

    def get(self, appeal_id: int) -> AppealInfo:
        """One appeal; AppealNotFoundError when unknown."""
        with self._db.engine.connect() as conn:
            row = conn.execute(sa.select(appeals_table).where(_A.id == appeal_id)).first()
        if row is None:
            raise AppealNotFoundError(f"no appeal with id {appeal_id}")
        return _appeal(row)

    def list(self, *, status: str | None = None, account_id: str | None = None, limit: int = 100) -> list[AppealInfo]:
        """Appeals, newest first."""
        query = sa.select(appeals_table).order_by(_A.id.desc()).limit(min(max(limit, 1), 1000))
        if status is not None:
            query = query.where(_A.status == status)
        if account_id is not None:
            query = query.where(_A.account_id == account_id)
        with self._db.engine.connect() as conn:
            return [_appeal(row) for row in conn.execute(query)]

    def on_decision(self, decision: Decision) -> None:
        """DecisionListener: an upheld appeal reverses the contested case; a rejected one is closed."""
        case = decision.case
        if case.kind != "appeal":
            return
        with self._db.engine.connect() as conn:
            appeal_id = conn.execute(sa.select(_A.id).where(_A.review_case_id == case.id)).scalar()
        if appeal_id is None:
            log.warning("appeal case %s has no appeal row", case.id)
            return
        actor = f"reviewer:{decision.reviewer}"
        if decision.decision == "uphold":
            outcome = self._reverse(case, actor=actor, note=decision.note)
            status = "upheld"
        else:
            outcome = "appeal rejected: the decision stands"
            status = "rejected"
        with self._db.session(write=True) as session:
            session.execute(
                sa.update(appeals_table)
                .where(_A.id == appeal_id)
                .values(status=status, decided_at=utcnow(), outcome=outcome)
            )
            details = {
                "appeal_id": appeal_id,
                "case_id": case.appeal_of,
                "outcome": status,
                "bank": case.bank_name,
                "domain": case.list_domain,
                "signal_type": case.signal_type,
            }
            append_audit(session, actor=actor, action="appeal.decided", subject=f"appeal:{appeal_id}", details=details)
        if case.appeal_of is not None:
            self._queue.record_event(
                case.appeal_of, actor=actor, action=f"appeal_{status}", details={"appeal_id": appeal_id}
            )

    def _reverse(self, appeal_case: CaseInfo, *, actor: str, note: str) -> str:
        """Undo what the contested match led to; a description of what was undone."""
        if appeal_case.appeal_of is None:
            return "nothing to reverse: the appeal names no case"
        original = self._queue.get(appeal_case.appeal_of)
        reason = f"appeal upheld (case {appeal_case.id})" + (f": {note}" if note else "")
        steps: list[str] = []
        if original.scan_id is not None:
            lifted = self._enforcement.reverse(scan_id=original.scan_id, actor=actor, reason=reason)
            if lifted:
                steps.append(f"lifted {', '.join(sorted({e.action for e in lifted}))}")
            for url in self._webhooks.urls_for_scan(original.scan_id):
                self._webhooks.enqueue(
                    rule="appeal",
                    url=url,
                    event="reversal",
                    payload={
                        "scan_id": original.scan_id,
                        "content_id": original.content_id,
                        "account_id": original.account_id,
                        "case_id": original.id,
                        "appeal_case_id": appeal_case.id,
                        "lifted": sorted({e.action for e in lifted}),
                    },
                    scan_id=original.scan_id,
                    case_id=original.id,
                )
                steps.append("platform notified")
        if self._reports is not None:
            retracted = self._reports.retract_for_case(original.id, actor=actor, reason=reason)
            if retracted:
                steps.append(f"retracted {retracted} report(s)")
        if original.status != "false_positive":
            self._queue.set_status(original.id, "false_positive", actor=actor, reason=reason)
            steps.append("match marked a false positive")
        return "; ".join(steps) or "nothing was in force"
