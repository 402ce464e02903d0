"""/v1/cases, /v1/reports, /v1/holds and /v1/appeals: what happens after a match, over HTTP.

Reviewers decide in the console; this API is for the platform (appeals, notices) and for
administrators and scripts (case lists, reports, legal holds). Sending a report goes through
the same ReportService check as everything else: only a case a human confirmed can be reported.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from brightline.auth import ApiKeyInfo
from brightline.errors import ValidationError
from brightline.review.listing import cases_by_status
from brightline.service.deps import JsonBody, require_scope
from brightline.service.state import ServiceState, get_state
from brightline.store.models import MAX_IDENTIFIER
from brightline.store.models_cases import CASE_STATUSES

router = APIRouter(prefix="/v1")
State = Annotated[ServiceState, Depends(get_state)]
Admin = Annotated[ApiKeyInfo, Depends(require_scope("admin"))]
Appeals = Annotated[ApiKeyInfo, Depends(require_scope("appeals"))]


def _actor(key: ApiKeyInfo) -> str:
    return f"api_key:{key.id}"


@router.get("/cases", tags=["cases"], summary="Review cases, highest priority first (scope: admin)")
def list_cases(
    _key: Admin,
    state: State,
    status: Annotated[str | None, Query(description="open, escalated, confirmed, false_positive...")] = None,
    kind: Annotated[str | None, Query(description="match or appeal")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, object]:
    """Pending cases by default (open and escalated); ``status`` lists decided ones too."""
    if status is not None and status not in CASE_STATUSES:
        raise ValidationError(f"status must be one of {', '.join(CASE_STATUSES)}")
    if status is None:
        cases = state.queue.pending(limit=limit, offset=offset, kind=kind)
    else:
        cases = cases_by_status(
            state.db,
            status,
            kind=kind,
            limit=limit,
            offset=offset,
            claim_minutes=state.settings.review_claim_minutes,
        )
    return {"cases": [c.as_dict() for c in cases], "pending": state.queue.count_pending()}


@router.get("/cases/{case_id}", tags=["cases"], summary="One case with its history (scope: admin)")
def get_case(_key: Admin, state: State, case_id: int) -> dict[str, object]:
    """The case, every step in its history and the reports sent for it."""
    case = state.queue.get(case_id)
    return {
        "case": case.as_dict(),
        "history": [e.as_dict() for e in state.queue.history(case_id)],
        "reports": [r.as_dict() for r in state.reports.list(case_id=case_id)],
        "holds": [h.as_dict() for h in state.holds.active(case_id=case_id)],
    }


@router.post("/cases/{case_id}/report", tags=["reports"], summary="Report a confirmed case (scope: admin)")
def report_case(key: Admin, state: State, case_id: int) -> dict[str, object]:
    """Build, send and keep the report of a case a human confirmed; 409 for any other case."""
    return state.reports.create_and_send(case_id, actor=_actor(key)).as_dict()


@router.get("/reports", tags=["reports"], summary="Reports sent or attempted (scope: admin)")
def list_reports(
    _key: Admin,
    state: State,
    case_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, object]:
    """Reports, newest first."""
    return {"reports": [r.as_dict() for r in state.reports.list(case_id=case_id, limit=limit)]}


@router.get("/reports/{report_id}", tags=["reports"], summary="One report with the exact XML sent (scope: admin)")
def get_report(_key: Admin, state: State, report_id: int) -> dict[str, object]:
    """The report, its status at the destination and the XML as sent."""
    return state.reports.get(report_id).as_dict(documents=True)


class RetractIn(BaseModel):
    """Why a report is withdrawn."""

    reason: str = Field(min_length=1, max_length=2000)


@router.post("/reports/{report_id}/retract", tags=["reports"], summary="Retract a sent report (scope: admin)")
def retract_report(
    key: Admin, _body: Annotated[None, JsonBody], state: State, report_id: int, body: RetractIn
) -> dict[str, object]:
    """Ask the destination to withdraw the report and record why."""
    return state.reports.retract(report_id, actor=_actor(key), reason=body.reason).as_dict()


class HoldIn(BaseModel):
    """A legal hold on one case."""

    reason: str = Field(min_length=1, max_length=2000)
    expires_at: datetime | None = Field(default=None, description="ISO 8601 with offset; none = until released.")


@router.post("/cases/{case_id}/holds", tags=["holds"], summary="Place a legal hold (scope: admin)")
def place_hold(
    key: Admin, _body: Annotated[None, JsonBody], state: State, case_id: int, body: HoldIn
) -> dict[str, object]:
    """Nothing of the case is deleted while the hold is active."""
    if body.expires_at is not None and body.expires_at.tzinfo is None:
        raise ValidationError("expires_at must include a UTC offset, e.g. 2027-01-31T12:00:00Z")
    hold = state.holds.place(case_id, reason=body.reason, actor=_actor(key), expires_at=body.expires_at)
    return hold.as_dict()


@router.post("/holds/{hold_id}/release", tags=["holds"], summary="Release a legal hold (scope: admin)")
def release_hold(key: Admin, state: State, hold_id: int) -> dict[str, object]:
    """End the hold now; retention may delete the case's data afterwards."""
    return state.holds.release(hold_id, actor=_actor(key)).as_dict()


@router.get("/holds", tags=["holds"], summary="Active legal holds (scope: admin)")
def list_holds(_key: Admin, state: State) -> dict[str, object]:
    """Every hold in force."""
    return {"holds": [h.as_dict() for h in state.holds.active()]}


class AppealIn(BaseModel):
    """A user's appeal, as the platform forwards it: name the case, the scan or the content."""

    reason: str = Field(default="", max_length=4000)
    case_id: int | None = Field(default=None, ge=1)
    scan_id: int | None = Field(default=None, ge=1)
    content_id: str | None = Field(default=None, min_length=1, max_length=MAX_IDENTIFIER)
    account_id: str | None = Field(default=None, min_length=1, max_length=MAX_IDENTIFIER)


@router.post("/appeals", tags=["appeals"], status_code=201, summary="Submit a user's appeal (scope: appeals)")
def submit_appeal(key: Appeals, _body: Annotated[None, JsonBody], state: State, body: AppealIn) -> dict[str, Any]:
    """The appeal enters the review queue; an upheld appeal lifts the action, notifies and retracts reports."""
    appeal = state.appeals.submit(
        reason=body.reason,
        case_id=body.case_id,
        scan_id=body.scan_id,
        content_id=body.content_id,
        account_id=body.account_id,
        api_key_id=key.id,
        actor=_actor(key),
    )
    return appeal.as_dict()


@router.get("/appeals/{appeal_id}", tags=["appeals"], summary="Where an appeal stands (scope: appeals)")
def get_appeal(_key: Appeals, state: State, appeal_id: int) -> dict[str, Any]:
    """Status open, upheld or rejected, and what an upheld appeal reversed."""
    return state.appeals.get(appeal_id).as_dict()


@router.get("/appeals", tags=["appeals"], summary="Appeals, newest first (scope: appeals)")
def list_appeals(
    _key: Appeals,
    state: State,
    status: Annotated[str | None, Query(description="open, upheld or rejected")] = None,
    account_id: Annotated[str | None, Query(max_length=MAX_IDENTIFIER)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Appeals filtered by status or account."""
    return {"appeals": [a.as_dict() for a in state.appeals.list(status=status, account_id=account_id, limit=limit)]}
