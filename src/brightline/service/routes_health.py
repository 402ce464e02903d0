"""Operational endpoints without authentication: /healthz, /readyz and /metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from brightline.service.metrics import CONTENT_TYPE
from brightline.service.state import ServiceState, get_state

router = APIRouter(tags=["operations"])
State = Annotated[ServiceState, Depends(get_state)]


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process is up and its event loop answers."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the index is loaded and fresh", response_model=None)
async def readyz(state: State) -> JSONResponse:
    """200 when this worker's index refreshed within max_index_age_seconds, else 503."""
    status = state.keeper.status()
    ready = bool(status["fresh"])
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "index": status}, status_code=200 if ready else 503
    )


@router.get("/metrics", summary="Prometheus metrics of this worker", response_class=Response)
async def metrics(state: State) -> Response:
    """Request, hashing, matching and index metrics in the Prometheus text format."""
    return Response(state.metrics.render(state.keeper), media_type=CONTENT_TYPE)
