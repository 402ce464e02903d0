"""Read-only case listings for administrators and reports (the queue itself lists only pending cases)."""

from __future__ import annotations

import sqlalchemy as sa

from brightline.review.rows import case_info
from brightline.review.types import CaseInfo
from brightline.store.db import Database
from brightline.store.models import utcnow
from brightline.store.models_cases import cases_table

_C = cases_table.c


def cases_by_status(
    db: Database,
    status: str,
    *,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
    claim_minutes: int = 30,
) -> list[CaseInfo]:
    """Cases in ``status``, most recently changed first."""
    query = (
        sa.select(cases_table)
        .where(_C.status == status)
        .order_by(_C.updated_at.desc(), _C.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if kind is not None:
        query = query.where(_C.kind == kind)
    now = utcnow()
    with db.engine.connect() as conn:
        return [case_info(row, now, claim_minutes) for row in conn.execute(query)]
