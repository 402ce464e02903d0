"""Render a transparency report in one of its formats: JSON, HTML or PDF."""

from __future__ import annotations

import json
from typing import Literal

from brightline.errors import ValidationError
from brightline.privacy.transparency import TransparencyReport
from brightline.privacy.transparency_html import render_html
from brightline.privacy.transparency_pdf import render_pdf

Format = Literal["json", "html", "pdf"]
FORMATS: tuple[Format, ...] = ("json", "html", "pdf")
MEDIA_TYPES: dict[Format, str] = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}


def check_format(value: str) -> Format:
    """The format named by ``value``, or ValidationError listing the known ones."""
    for known in FORMATS:
        if value == known:
            return known
    raise ValidationError(f"unknown transparency report format {value!r} (use one of: {', '.join(FORMATS)})")


def render_transparency(report: TransparencyReport, fmt: Format) -> bytes:
    """The report as bytes in ``fmt`` (JSON is indented, UTF-8, keys in a stable order)."""
    if fmt == "json":
        return (json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n").encode()
    if fmt == "html":
        return render_html(report).encode()
    return render_pdf(report)
