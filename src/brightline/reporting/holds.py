"""Legal holds on cases and how long a case must be preserved.

A hold has a reason, the person who placed it and an optional expiry; while it is active
(neither released nor expired) nothing of the case may be deleted. A reported case is also
preserved until its report's ``preserve_until`` (one year by default, per jurisdiction via
``BRIGHTLINE_PRESERVATION_DAYS_BY_JURISDICTION``). ``preserved_until`` combines both, and
``assert_deletable`` is what a deletion job calls before removing a case's data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from brightline.errors import HoldNotFoundError, LegalHoldError, ValidationError
from brightline.reporting.types import Hold, Preservation
from brightline.review.rows import add_event, case_row
from brightline.store.audit import append_audit, iso_utc
from brightline.store.db import Database
from brightline.store.models import utcnow
from brightline.store.models_cases import legal_holds_table
from brightline.store.models_reporting import reports_table

_H = legal_holds_table.c
_R = reports_table.c


def _hold(row: Row[Any]) -> Hold:
    return Hold(
        id=row.id,
        case_id=row.case_id,
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        released_at=row.released_at,
        released_by=row.released_by,
    )


def _text(name: str, value: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ValidationError(f"{name} must be 1 to {limit} characters")
    return value.strip()


class HoldService:
    """Place, release and query legal holds; answer whether a case may be deleted."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def place(self, case_id: int, *, reason: str, actor: str, expires_at: datetime | None = None) -> Hold:
        """Put the case under a hold (until ``expires_at``, or until released when None)."""
        reason = _text("reason", reason, 2000)
        actor = _text("actor", actor, 128)
        now = utcnow()
        if expires_at is not None and (expires_at.tzinfo is None or expires_at <= now):
            raise ValidationError("a hold's expiry must be a timezone-aware time in the future")
        with self.db.write_connection() as conn:
            case_row(conn, case_id, lock=True)
            hold_id = conn.execute(
                sa.insert(legal_holds_table)
                .values(case_id=case_id, reason=reason, created_by=actor, created_at=now, expires_at=expires_at)
                .returning(_H.id)
            ).scalar_one()
            details = {"hold_id": hold_id, "reason": reason, "expires_at": expires_at}
            add_event(conn, case_id, now, actor, "hold_placed", details)
            audited = {
                "hold_id": hold_id,
                "case_id": case_id,
                "expires_at": None if expires_at is None else iso_utc(expires_at),
            }
            append_audit(conn, actor=actor, action="hold.placed", subject=f"case:{case_id}", details=audited, at=now)
        return self.get(int(hold_id))

    def get(self, hold_id: int) -> Hold:
        """One hold; HoldNotFoundError when unknown."""
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(legal_holds_table).where(_H.id == hold_id)).first()
        if row is None:
            raise HoldNotFoundError(f"no legal hold with id {hold_id}")
        return _hold(row)

    def release(self, hold_id: int, *, actor: str) -> Hold:
        """End a hold now; releasing an already released hold is refused."""
        actor = _text("actor", actor, 128)
        now = utcnow()
        with self.db.write_connection() as conn:
            row = conn.execute(sa.select(legal_holds_table).where(_H.id == hold_id).with_for_update()).first()
            if row is None:
                raise HoldNotFoundError(f"no legal hold with id {hold_id}")
            if row.released_at is not None:
                raise LegalHoldError(f"legal hold {hold_id} was already released")
            conn.execute(
                sa.update(legal_holds_table).where(_H.id == hold_id).values(released_at=now, released_by=actor)
            )
            add_event(conn, row.case_id, now, actor, "hold_released", {"hold_id": hold_id})
            append_audit(
                conn,
                actor=actor,
                action="hold.released",
                subject=f"case:{row.case_id}",
                details={"hold_id": hold_id, "case_id": row.case_id},
                at=now,
            )
        return self.get(hold_id)

    def active(self, case_id: int | None = None, *, at: datetime | None = None) -> list[Hold]:
        """Holds in force (not released, not expired), oldest first; of one case when given."""
        when = at or utcnow()
        stmt = (
            sa.select(legal_holds_table)
            .where(_H.released_at.is_(None), sa.or_(_H.expires_at.is_(None), _H.expires_at > when))
            .order_by(_H.id)
        )
        if case_id is not None:
            stmt = stmt.where(_H.case_id == case_id)
        with self.db.engine.connect() as conn:
            return [_hold(row) for row in conn.execute(stmt)]

    def is_held(self, case_id: int, *, at: datetime | None = None) -> bool:
        """Whether an active hold is on the case."""
        return bool(self.active(case_id, at=at))

    def preserved_until(self, case_id: int, *, at: datetime | None = None) -> Preservation:
        """How long the case must be kept: its reports' preservation and its active holds together."""
        when = at or utcnow()
        holds = self.active(case_id, at=when)
        with self.db.engine.connect() as conn:
            case_row(conn, case_id)
            report_until = conn.execute(
                sa.select(sa.func.max(_R.preserve_until)).where(_R.case_id == case_id)
            ).scalar_one_or_none()
        ends = [h.expires_at for h in holds if h.expires_at is not None]
        if report_until is not None:
            ends.append(report_until)
        return Preservation(
            case_id=case_id,
            until=max(ends) if ends else None,
            indefinite=any(h.expires_at is None for h in holds),
            holds=tuple(h.id for h in holds),
        )

    def assert_deletable(self, case_id: int, *, at: datetime | None = None) -> None:
        """Raise LegalHoldError while a hold or a report's preservation period protects the case."""
        when = at or utcnow()
        preservation = self.preserved_until(case_id, at=when)
        if preservation.holds:
            raise LegalHoldError(f"case {case_id} is under legal hold {', '.join(map(str, preservation.holds))}")
        if preservation.protects(when):
            assert preservation.until is not None
            raise LegalHoldError(f"case {case_id} is preserved until {preservation.until.isoformat()}")
