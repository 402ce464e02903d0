"""Hash-list provenance over HTTP: bank contents out (audited) and false-positive feedback per source (scope: admin).

Entry values are confidential: only admin keys read them, and every read is a bank.exported record.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from starlette.background import BackgroundTask
from starlette.responses import FileResponse

from brightline.auth import ApiKeyInfo
from brightline.banks.feedback import false_positive_feedback, render_feedback
from brightline.banks.transfer import export_bank_file, record_export
from brightline.service.deps import require_scope
from brightline.service.state import ServiceState, get_state

router = APIRouter(prefix="/v1")
State = Annotated[ServiceState, Depends(get_state)]
Admin = Annotated[ApiKeyInfo, Depends(require_scope("admin"))]
_MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def _actor(key: ApiKeyInfo) -> str:
    return f"api_key:{key.id}"


@router.get("/banks/{name}/entries", tags=["banks"], summary="A page of a bank's entries (scope: admin; audited)")
def list_entries(
    key: Admin,
    state: State,
    name: str,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, object]:
    """Up to ``limit`` entries from ``offset``, oldest first, with their values; recorded as bank.exported."""
    info = state.banks.get_bank(name)
    entries = state.banks.list_entries(name, limit=limit, offset=offset)
    record_export(state.banks, name, fmt="api-page", entries=len(entries), actor=_actor(key))
    more = offset + len(entries) < info.entry_count
    return {
        "bank": info.as_dict(),
        "entries": [e.as_dict() for e in entries],
        "next_offset": offset + len(entries) if more else None,
    }


@router.get("/banks/{name}/export", tags=["banks"], summary="Export a bank as csv or jsonl (scope: admin; audited)")
def export_bank(
    key: Admin, state: State, name: str, fmt: Annotated[Literal["csv", "jsonl"], Query(alias="format")] = "csv"
) -> FileResponse:
    """Every entry of the bank in a re-importable file; recorded as bank.exported before it is sent."""
    state.banks.get_bank(name)  # 404 before making a file
    fd, tmp = tempfile.mkstemp(prefix="brightline-export-", suffix=f".{fmt}")
    os.close(fd)
    path = Path(tmp)
    try:
        export_bank_file(state.banks, name, path, fmt, actor=_actor(key))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(
        path,
        media_type=_MEDIA[fmt],
        filename=f"{name}.{fmt}",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.get("/feedback", tags=["banks"], summary="False-positive feedback for one source (scope: admin)")
def feedback(
    _key: Admin,
    state: State,
    source: Annotated[str, Query(min_length=1, max_length=128, description="List owner or feed name.")],
    since: Annotated[datetime | None, Query(description="Only decisions at or after this time (ISO 8601).")] = None,
    fmt: Annotated[Literal["csv", "jsonl"], Query(alias="format")] = "jsonl",
) -> Response:
    """The source's entries reviewers marked false positive, with counts and first/last decision times."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    items = false_positive_feedback(state.db, source, since=since)
    return Response(render_feedback(items, fmt), media_type=_MEDIA[fmt])
