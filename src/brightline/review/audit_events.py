"""Audit records of review cases (opened, viewed, decided, status changed), written in the case's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from brightline.store.audit import append_audit, iso_utc

# Free text (reasons) is cut to this length in audit records, which stay small.
_TEXT = 200


def audit_opened(conn: Connection, case: Row[Any], actor: str, now: datetime) -> None:
    """case.opened, with what the case matched (bank, list domain, signal) and whether the list is verified."""
    append_audit(
        conn,
        actor=actor,
        action="case.opened",
        subject=f"case:{case.id}",
        details={
            "case_id": case.id,
            "kind": case.kind,
            "bank": case.bank_name,
            "domain": case.list_domain,
            "signal_type": case.signal_type,
            "verified": bool(case.verified),
        },
        at=now,
    )


def audit_viewed(conn: Connection, case_id: int, actor: str, now: datetime) -> None:
    """case.viewed: a reviewer revealed the case's media unblurred."""
    append_audit(
        conn, actor=actor, action="case.viewed", subject=f"case:{case_id}", details={"case_id": case_id}, at=now
    )


def audit_decided(
    conn: Connection,
    case: Row[Any],
    actor: str,
    now: datetime,
    *,
    decision: str,
    classification: str | None,
    domain: str | None,
) -> None:
    """case.decided, with the time the case waited for it (``case`` is the row as it was before the decision)."""
    append_audit(
        conn,
        actor=actor,
        action="case.decided",
        subject=f"case:{case.id}",
        details={
            "case_id": case.id,
            "kind": case.kind,
            "decision": decision,
            "classification": classification,
            "domain": domain or case.list_domain,
            "bank": case.bank_name,
            "signal_type": case.signal_type,
            "opened_at": iso_utc(case.created_at),
            "seconds_to_decision": round((now - case.created_at).total_seconds(), 3),
        },
        at=now,
    )


def audit_status_changed(
    conn: Connection, case_id: int, actor: str, now: datetime, *, status: str, reason: str
) -> None:
    """case.status_changed outside a review decision (an upheld appeal reverses a confirmation)."""
    append_audit(
        conn,
        actor=actor,
        action="case.status_changed",
        subject=f"case:{case_id}",
        details={"case_id": case_id, "status": status, "reason": reason[:_TEXT]},
        at=now,
    )
