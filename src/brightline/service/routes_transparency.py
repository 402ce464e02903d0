"""/v1/transparency: the transparency report of a period as JSON, HTML or PDF (scope: admin)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from brightline.auth import ApiKeyInfo
from brightline.privacy.transparency import report_period
from brightline.privacy.transparency_render import MEDIA_TYPES, render_transparency
from brightline.privacy.transparency_source import build_transparency_report
from brightline.service.deps import require_scope
from brightline.service.state import ServiceState, get_state
from brightline.store.models import utcnow

router = APIRouter(prefix="/v1")
State = Annotated[ServiceState, Depends(get_state)]
Admin = Annotated[ApiKeyInfo, Depends(require_scope("admin"))]


@router.get("/transparency", tags=["admin"], summary="Transparency report of a period (scope: admin)")
def transparency_report(
    _key: Admin,
    state: State,
    start: Annotated[
        date | None, Query(alias="from", description="First UTC day; default 364 days before `to`.")
    ] = None,
    end: Annotated[date | None, Query(alias="to", description="Last UTC day, included; default today.")] = None,
    fmt: Annotated[Literal["json", "html", "pdf"], Query(alias="format")] = "json",
) -> Response:
    """Volumes, matches, reviews, error rates per technology and list, reports, appeals, times and retention."""
    period = report_period(start, end, utcnow().date())
    report = build_transparency_report(state.db, period, state.settings)
    headers = {}
    if fmt != "json":
        name = f"transparency-{period.start}-{period.end}.{fmt}"
        headers["Content-Disposition"] = f'inline; filename="{name}"'
    return Response(render_transparency(report, fmt), media_type=MEDIA_TYPES[fmt], headers=headers)
