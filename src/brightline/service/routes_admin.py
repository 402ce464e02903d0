"""/v1/matches (recorded match events) and /v1/keys (API key administration)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from brightline.auth import ApiKeyInfo
from brightline.errors import ValidationError
from brightline.service.deps import JsonBody, require_scope
from brightline.service.schemas import KeyCreate
from brightline.service.state import ServiceState, get_state

router = APIRouter(prefix="/v1")
State = Annotated[ServiceState, Depends(get_state)]
Admin = Annotated[ApiKeyInfo, Depends(require_scope("admin"))]


def _aware(value: datetime | None, name: str) -> datetime | None:
    # A time without a zone is ambiguous; the store keeps UTC and refuses naive datetimes.
    if value is not None and value.tzinfo is None:
        raise ValidationError(f"{name} must include a UTC offset, e.g. 2026-01-31T12:00:00Z")
    return value


@router.get("/matches", tags=["records"], summary="Recorded match events (scope: matches:read)")
def list_matches(
    _key: Annotated[ApiKeyInfo, Depends(require_scope("matches:read"))],
    state: State,
    bank: Annotated[str | None, Query(max_length=64, description="Only this bank.")] = None,
    account_id: Annotated[str | None, Query(max_length=255, description="Only this account.")] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601, inclusive.")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int | None, Query(ge=1, description="next_cursor of the previous page.")] = None,
) -> dict[str, object]:
    """Match events, newest first, one page at a time (follow ``next_cursor`` until it is null)."""
    events, next_cursor = state.records.list_matches(
        bank=bank,
        account_id=account_id,
        since=_aware(since, "since"),
        until=_aware(until, "until"),
        limit=limit,
        cursor=cursor,
    )
    return {"matches": [e.as_dict() for e in events], "next_cursor": next_cursor}


@router.get("/keys", tags=["admin"], summary="List API keys (scope: admin)")
def list_keys(_key: Admin, state: State) -> dict[str, object]:
    """Every API key, revoked ones included; tokens are never shown again."""
    return {"keys": [k.as_dict() for k in state.keys.list()]}


@router.post("/keys", tags=["admin"], status_code=201, summary="Create an API key (scope: admin)")
def create_key(key: Admin, _body: Annotated[None, JsonBody], state: State, body: KeyCreate) -> dict[str, object]:
    """Create a key; the response holds its token, which is shown this once only."""
    token, info = state.keys.create(
        body.name, body.scopes, rate_limit_per_minute=body.rate_limit_per_minute, actor=f"api_key:{key.id}"
    )
    return {"token": token, "key": info.as_dict()}


@router.delete("/keys/{key_id}", tags=["admin"], summary="Revoke an API key (scope: admin)")
def revoke_key(key: Admin, state: State, key_id: int) -> dict[str, object]:
    """Revoke a key; this worker refuses it at once, other workers within the auth cache time."""
    return {"key": state.keys.revoke(key_id, actor=f"api_key:{key.id}").as_dict()}
