"""/v1/audit: read the audit log, take an anchor of its head and verify the chain (scope: admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from brightline.auth import ApiKeyInfo
from brightline.privacy.audit import anchor, anchor_key_from_settings, verify
from brightline.service.deps import require_scope
from brightline.service.state import ServiceState, get_state
from brightline.store.audit import AuditLog

router = APIRouter(prefix="/v1")
State = Annotated[ServiceState, Depends(get_state)]
Admin = Annotated[ApiKeyInfo, Depends(require_scope("admin"))]


@router.get("/audit", tags=["audit"], summary="Audit records in chain order (scope: admin)")
def list_audit(
    _key: Admin,
    state: State,
    since_id: Annotated[int, Query(ge=0, description="Only records after this id.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[str | None, Query(max_length=64, description="Exact action, or a prefix like case.*")] = None,
) -> dict[str, object]:
    """Records after ``since_id``, oldest first; pass the last id back as ``since_id`` for the next page."""
    records = AuditLog(state.db).records(since_id=since_id, limit=limit, action=action)
    next_since = records[-1].id if len(records) == limit else None
    return {"records": [r.as_dict() for r in records], "next_since_id": next_since}


@router.get("/audit/anchor", tags=["audit"], summary="A signed digest of the chain head (scope: admin)")
def audit_anchor(_key: Admin, state: State) -> dict[str, object]:
    """The head's id, hash and record count with an HMAC: keep it outside the database."""
    return anchor(state.db, key=anchor_key_from_settings(state.settings))


@router.get("/audit/verify", tags=["audit"], summary="Walk the audit chain (scope: admin)")
def audit_verify(_key: Admin, state: State) -> dict[str, object]:
    """Whether the chain is intact, and if not the first broken record and why."""
    return verify(state.db).as_dict()
