"""Rendering console pages: Jinja2 templates, security headers and the small formatting helpers they use."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from brightline.store.models import utcnow

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
# Nothing outside this origin: no inline script or style, no frames, forms post only here.
CSP = (
    "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def age(moment: datetime | None) -> str:
    """How long ago, shortly: 42s, 5m, 3h, 2d."""
    if moment is None:
        return ""
    seconds = max(0, int((utcnow() - moment).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def when(moment: datetime | None) -> str:
    """A UTC timestamp to the second."""
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(("html",), default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["age"] = age
_env.filters["when"] = when


def secure(response: Response) -> Response:
    """Add the console's security headers to a response."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A rendered template with the security headers."""
    html = _env.get_template(template).render(**context)
    response = HTMLResponse(html, status_code=status_code)
    secure(response)
    return response


def redirect(url: str) -> RedirectResponse:
    """A 303 See Other (what a browser follows with GET after a form post)."""
    response = RedirectResponse(url, status_code=303)
    secure(response)
    return response
