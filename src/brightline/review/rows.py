"""Rows of the case tables turned into the review layer's value types, and the reviewer facts the queue needs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from brightline.errors import AuthenticationError, CaseNotFoundError
from brightline.review.types import CaseEventInfo, CaseInfo
from brightline.store.models_cases import case_events_table, cases_table, reviewers_table

_C = cases_table.c
_R = reviewers_table.c


@dataclass(frozen=True)
class Actor:
    """The reviewer taking a step: who, with which role and daily cap (None = the queue's default)."""

    id: int
    username: str
    role: str
    daily_cap: int | None

    @property
    def label(self) -> str:
        """How case events name this reviewer."""
        return f"reviewer:{self.username}"

    @property
    def is_admin(self) -> bool:
        """Admins may decide cases other reviewers claimed."""
        return self.role == "admin"


def claim_live(claimed_by: int | None, claimed_at: datetime | None, now: datetime, claim_minutes: int) -> bool:
    """Whether a claim still holds: claims older than ``claim_minutes`` count as released."""
    return claimed_by is not None and claimed_at is not None and claimed_at > now - timedelta(minutes=claim_minutes)


def case_info(row: Row[Any], now: datetime, claim_minutes: int) -> CaseInfo:
    """A case row as CaseInfo; an expired claim reads as no claim."""
    live = claim_live(row.claimed_by, row.claimed_at, now, claim_minutes) and row.status in ("open", "escalated")
    return CaseInfo(
        id=row.id,
        kind=row.kind,
        status=row.status,
        priority=row.priority,
        scan_id=row.scan_id,
        account_id=row.account_id,
        content_id=row.content_id,
        bank_name=row.bank_name,
        list_domain=row.list_domain,
        entry_category=row.entry_category,
        signal_type=row.signal_type,
        entry_id=row.entry_id,
        distance=row.distance,
        exact=bool(row.exact),
        verified=bool(row.verified),
        report_on_confirm=bool(row.report_on_confirm),
        rules=tuple(r for r in (row.rules or "").split(",") if r),
        claimed_by=row.claimed_by if live else None,
        claimed_at=row.claimed_at if live else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        decision=row.decision,
        classification=row.classification,
        decision_domain=row.decision_domain,
        media_viewed=bool(row.media_viewed),
        viewed_at=row.viewed_at,
        viewed_by=row.viewed_by,
        appeal_of=row.appeal_of,
        note=row.note,
    )


def event_info(row: Row[Any]) -> CaseEventInfo:
    """A case_events row as CaseEventInfo (details parsed from JSON; unreadable details become empty)."""
    try:
        details = json.loads(row.details or "{}")
    except ValueError:
        details = {}
    return CaseEventInfo(
        id=row.id,
        case_id=row.case_id,
        created_at=row.created_at,
        actor=row.actor,
        action=row.action,
        details=details if isinstance(details, dict) else {},
    )


def case_row(conn: Connection, case_id: int, *, lock: bool = False) -> Row[Any]:
    """The case row, locked for update when asked (PostgreSQL; SQLite's write lock covers it); CaseNotFoundError."""
    if isinstance(case_id, bool) or not isinstance(case_id, int):
        raise CaseNotFoundError(f"no case with id {case_id!r}")
    stmt = sa.select(cases_table).where(_C.id == case_id)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise CaseNotFoundError(f"no case with id {case_id}")
    return row


def actor(conn: Connection, reviewer_id: int) -> Actor:
    """The active reviewer with that id; AuthenticationError when unknown or deactivated."""
    if isinstance(reviewer_id, bool) or not isinstance(reviewer_id, int):
        raise AuthenticationError("unknown or inactive reviewer")
    row = conn.execute(
        sa.select(_R.id, _R.username, _R.role, _R.daily_cap, _R.active).where(_R.id == reviewer_id)
    ).first()
    if row is None or not row.active:
        raise AuthenticationError("unknown or inactive reviewer")
    return Actor(id=row.id, username=row.username, role=row.role, daily_cap=row.daily_cap)


def add_event(
    conn: Connection, case_id: int, now: datetime, actor_label: str, action: str, details: dict[str, Any] | None
) -> None:
    """Append one step to a case's history."""
    conn.execute(
        sa.insert(case_events_table).values(
            case_id=case_id,
            created_at=now,
            actor=actor_label,
            action=action,
            details=json.dumps(details or {}, sort_keys=True, default=str),
        )
    )
