"""Console logins: the session cookie, the logged-in reviewer and CSRF checks on every form post.

Each login has its own CSRF token (stored with the session) that every form carries; the login
form itself, which has no session yet, uses a double-submit cookie. Cookies are HttpOnly,
SameSite=Strict and scoped to /console; they are Secure over https and always in production.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs

from fastapi import Request, Response

from brightline.auth.reviewers import ReviewerInfo, SessionInfo
from brightline.errors import PermissionDeniedError, ValidationError
from brightline.service.state import ServiceState

SESSION_COOKIE = "brightline_console"
LOGIN_CSRF_COOKIE = "brightline_console_login"
COOKIE_PATH = "/console"
MAX_FORM_BYTES = 64 * 1024


@dataclass(frozen=True)
class Login:
    """The reviewer behind a request, their session and its cookie token."""

    reviewer: ReviewerInfo
    session: SessionInfo
    token: str


def secure_cookies(request: Request, state: ServiceState) -> bool:
    """Secure cookies over https, and always in production (behind a TLS-terminating proxy too)."""
    return request.url.scheme == "https" or state.settings.environment == "production"


def set_cookie(response: Response, request: Request, state: ServiceState, name: str, value: str, max_age: int) -> None:
    """Set a console cookie with the console's flags."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request, state),
    )


def clear_cookie(response: Response, request: Request, state: ServiceState, name: str) -> None:
    """Delete a console cookie."""
    response.delete_cookie(
        name, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure_cookies(request, state)
    )


def current_login(request: Request, state: ServiceState) -> Login:
    """The logged-in reviewer; AuthenticationError without a valid, unexpired session cookie."""
    token = request.cookies.get(SESSION_COOKIE, "")
    reviewer, session = state.reviewers.session(token)
    return Login(reviewer=reviewer, session=session, token=token)


def require_admin(login: Login) -> None:
    """PermissionDeniedError unless the reviewer is an admin."""
    if not login.reviewer.is_admin:
        raise PermissionDeniedError("only admins may do this")


async def read_form(request: Request) -> dict[str, str]:
    """A url-encoded form body as a dict (first value of each field); other bodies read as empty."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        # Not a console form: read as empty, so the CSRF check refuses it (403) like any forged post.
        return {}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ValidationError("form too large")
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items() if values}


def check_csrf(expected: str, form: dict[str, str]) -> None:
    """PermissionDeniedError unless the form carries the expected CSRF token."""
    given = form.get("csrf", "")
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise PermissionDeniedError("missing or wrong CSRF token: reload the page and try again")


def new_login_csrf() -> str:
    """A fresh token for the login form's double-submit cookie."""
    return secrets.token_urlsafe(32)


def login_csrf(request: Request) -> str:
    """The login form's CSRF cookie value (empty when absent)."""
    return request.cookies.get(LOGIN_CSRF_COOKIE, "")
