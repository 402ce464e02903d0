"""Request body size limit, enforced on the declared length and on the bytes actually received."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brightline.errors import PayloadTooLargeError
from brightline.service.errors import error_payload


class _BodyTooLargeError(Exception):
    """Raised from receive() to stop reading a body that went over the limit."""


async def _reject(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_payload(code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    """Answer 413 for bodies over ``max_bytes``; chunked bodies are counted as they arrive."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check Content-Length up front, then count what is read."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLargeError(f"request body is over the {self.max_bytes}-byte limit")
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _reject(send, 400, "bad_request", "Content-Length is not a number")
                return
            if length > self.max_bytes:
                await _reject(send, too_large.http_status, too_large.code, too_large.message)
                return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # Whatever the app answers to a body cut short (FastAPI makes it a 400) is replaced below.
            if exceeded and not started:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _reject(send, too_large.http_status, too_large.code, too_large.message)
