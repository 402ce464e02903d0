"""Request dependencies: API-key authentication with a scope per endpoint, and body checks."""

from __future__ import annotations

import os
from typing import Annotated

from anyio import CapacityLimiter
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from brightline.auth import SCOPES, ApiKeyInfo
from brightline.errors import AuthenticationError, PermissionDeniedError, UnsupportedContentTypeError
from brightline.service.state import ServiceState, get_state

# Stateless: it only reads the Authorization header (and names the scheme in OpenAPI).
_bearer = HTTPBearer(auto_error=False, description="An API key from `brightline keys create` or POST /v1/keys.")


async def service_state(request: Request) -> ServiceState:
    """get_state as a coroutine: FastAPI runs a plain ``def`` dependency on the threadpool, a hop per request."""
    return get_state(request)


class ScopeGuard:
    """Dependency: the caller's API key, which must hold ``scope`` (admin holds every scope)."""

    def __init__(self, scope: str) -> None:
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}")
        self.scope = scope

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKeyInfo:
        """Authenticate, check the scope, then charge the key's rate limit."""
        state = get_state(request)
        if credentials is None or not credentials.credentials:
            raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
        key = state.keys.authenticate_nowait(credentials.credentials)
        if key is None:
            # On the threadpool: a cache miss reads the database, and last-use is written once a minute.
            key = await run_in_threadpool(state.keys.authenticate, credentials.credentials)
        if not key.allows(self.scope):
            raise PermissionDeniedError(f"this API key does not have the {self.scope!r} scope")
        state.limiter.check(key, state.settings.rate_limit_per_minute)
        request.state.api_key = key
        return key


def hashing_slots(request: Request) -> CapacityLimiter:
    """This app's limit on concurrent hashing threads (made on first use, in the loop).

    BRIGHTLINE_HASHING_THREADS, or one per CPU core: `serve --workers N` sets it to cores / N, since
    more hashing threads than cores on a host only queue for the cores and the GIL.
    """
    limiter = getattr(request.app.state, "hashing_slots", None)
    if not isinstance(limiter, CapacityLimiter):
        threads = get_state(request).settings.hashing_threads or os.cpu_count() or 1
        limiter = CapacityLimiter(threads)
        request.app.state.hashing_slots = limiter
    return limiter


def require_scope(scope: str) -> ScopeGuard:
    """A dependency that authenticates the request and requires ``scope``."""
    return ScopeGuard(scope)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def is_json(request: Request) -> bool:
    """Whether the body is declared as JSON (application/json or any +json type)."""
    media = _media_type(request)
    return media == "application/json" or media.endswith("+json")


def is_multipart(request: Request) -> bool:
    """Whether the body is declared as multipart/form-data."""
    return _media_type(request) == "multipart/form-data"


async def json_body(request: Request) -> None:
    """Dependency: refuse bodies not declared as JSON with 415."""
    if not is_json(request):
        raise UnsupportedContentTypeError("send the body as application/json")


async def multipart_body(request: Request) -> None:
    """Dependency: refuse bodies not declared as multipart/form-data with 415."""
    if not is_multipart(request):
        raise UnsupportedContentTypeError("send the body as multipart/form-data")


JsonBody = Depends(json_body)
MultipartBody = Depends(multipart_body)
