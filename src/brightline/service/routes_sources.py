"""/v1/sources: configure hash-list sources, see their sync status, sync now, pause or resume one (scope: admin).

Credentials go in (POST, PUT .../credentials) and never come out: answers say only whether a
source has any. A sync run here commits batch by batch like the scheduled one, then refreshes
this worker's index; other workers see the changes within the freshness bound.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from brightline.auth import ApiKeyInfo
from brightline.service.deps import JsonBody, require_scope
from brightline.service.state import ServiceState, get_state
from brightline.sources.service import SourceService
from brightline.sources.sync import MAX_PAUSE_REASON

router = APIRouter(prefix="/v1/sources", tags=["sources"])
State = Annotated[ServiceState, Depends(get_state)]
Admin = Annotated[ApiKeyInfo, Depends(require_scope("admin"))]


class SourceCreate(BaseModel):
    """A source to configure."""

    name: str = Field(min_length=1, max_length=128, description="Also the provenance name of its entries.")
    kind: str = Field(min_length=1, max_length=32, description="file, http_feed, brightline, ncmec, ...")
    bank: str = Field(min_length=1, max_length=64, description="Default target bank.")
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    credentials: dict[str, str] = Field(default_factory=dict, description="Sealed at rest; never returned.")
    bank_map: dict[str, str] = Field(default_factory=dict, description="category or classification -> bank.")


class CredentialsIn(BaseModel):
    """New credentials for a source (they replace the old ones)."""

    credentials: dict[str, str]


def _actor(key: ApiKeyInfo) -> str:
    return f"api_key:{key.id}"


def _sources(state: ServiceState) -> SourceService:
    return state.after.sources


@router.get("", summary="Configured sources and their sync status (scope: admin)")
def list_sources(_key: Admin, state: State) -> dict[str, object]:
    """Every source: configuration (no credentials), state, last success, lag, totals, errors, feedback queue."""
    return {"sources": [s.as_dict() for s in _sources(state).catalog.list()]}


@router.post("", status_code=201, summary="Configure a source (scope: admin)")
def add_source(key: Admin, _body: Annotated[None, JsonBody], state: State, body: SourceCreate) -> dict[str, object]:
    """Check the options by building the source, seal the credentials, store it; 409 if the name is taken."""
    info = _sources(state).catalog.add(
        body.name,
        kind=body.kind,
        bank=body.bank,
        options=body.options,
        credentials=body.credentials,
        bank_map=body.bank_map,
        actor=_actor(key),
    )
    return info.as_dict()


@router.get("/{name}", summary="One source's sync status (scope: admin)")
def source_status(_key: Admin, state: State, name: str) -> dict[str, object]:
    """Last success, lag, totals, last error, pause reason, recent problems and feedback counts."""
    return _sources(state).catalog.get(name).as_dict()


@router.delete("/{name}", summary="Remove a source (scope: admin)")
def remove_source(key: Admin, state: State, name: str) -> dict[str, object]:
    """Forget the source and its queued feedback; the entries it supplied stay, with their provenance."""
    _sources(state).catalog.remove(name, actor=_actor(key))
    return {"removed": name}


@router.put("/{name}/credentials", summary="Replace a source's credentials (scope: admin)")
def set_credentials(
    key: Admin, _body: Annotated[None, JsonBody], state: State, name: str, body: CredentialsIn
) -> dict[str, object]:
    """Seal and store new credentials (resume the source afterwards if they had been refused)."""
    _sources(state).catalog.set_credentials(name, body.credentials, actor=_actor(key))
    return _sources(state).catalog.get(name).as_dict()


def _sync(state: ServiceState, name: str, actor: str) -> dict[str, Any]:
    result = _sources(state).engine.sync(name, actor=actor)
    state.keeper.try_refresh()
    return {"result": result.as_dict(), "source": _sources(state).catalog.get(name).as_dict()}


@router.post("/{name}/sync", summary="Sync a source now (scope: admin)")
async def sync_source(key: Admin, state: State, name: str) -> dict[str, object]:
    """One run: every batch the source has now; 409 if it is paused. ``busy`` if another process runs it."""
    return await run_in_threadpool(_sync, state, name, _actor(key))


@router.post("/{name}/pause", summary="Stop a source's syncs until it is resumed (scope: admin)")
async def pause_source(
    key: Admin,
    state: State,
    name: str,
    reason: Annotated[str, Query(max_length=MAX_PAUSE_REASON, description="Why (status and audit log).")] = "",
) -> dict[str, object]:
    """Pause the source; syncs answer 409 until it is resumed, which then confirms nothing."""
    await run_in_threadpool(_sources(state).engine.pause, name, reason, actor=_actor(key))
    return {"source": _sources(state).catalog.get(name).as_dict()}


@router.post("/{name}/resume", summary="Confirm a paused source (scope: admin)")
async def resume_source(
    key: Admin,
    state: State,
    name: str,
    sync: Annotated[bool, Query(description="Run the sync at once.")] = True,
) -> dict[str, object]:
    """Lift the pause; the change the safety check held back is applied by this (or the next) sync."""
    await run_in_threadpool(_sources(state).engine.resume, name, actor=_actor(key))
    if sync:
        return await run_in_threadpool(_sync, state, name, _actor(key))
    return {"result": None, "source": _sources(state).catalog.get(name).as_dict()}
