"""Turn a confirmed case and its scan record into the report's value objects.

What the platform knows about the uploader comes from the scan's ``context`` object (the
``context`` field of POST /v1/scan). These keys are read, all optional:

``ip_address``, ``ip_event`` (Login, Registration, Purchase, Upload, Other, Unknown; default
Upload) and ``ip_captured_at`` (ISO 8601; default the scan's time) give the ``ipCaptureEvent``;
``screen_name``, ``display_name``, ``email``, ``profile_url`` and ``esp_service`` describe the
reported user; ``file_name`` is the file's original name; ``publicly_available`` (true/false)
says whether the file could be seen by anyone; ``incident_at`` (ISO 8601) overrides the
incident time, which is otherwise the scan's time.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from brightline.errors import ReportNotAllowedError, ValidationError
from brightline.reporting.ncmec_xml import FileReport, IncidentReport, IpCapture, ReportedUser, Reporter
from brightline.review.types import CaseInfo
from brightline.store.models_cases import CLASSIFICATIONS

CONTEXT_KEYS = (
    "ip_address",
    "ip_event",
    "ip_captured_at",
    "screen_name",
    "display_name",
    "email",
    "profile_url",
    "esp_service",
    "file_name",
    "publicly_available",
    "incident_at",
)


@dataclass(frozen=True)
class ScanFacts:
    """The columns of a scan record a report uses."""

    id: int
    created_at: datetime
    content_id: str | None
    account_id: str | None
    context: dict[str, Any]
    pdq: str | None
    pdq_quality: int | None
    md5: str | None
    sha256: str | None


def check_reportable(case: CaseInfo) -> None:
    """Raise ReportNotAllowedError unless a human confirmed this match case and classified it.

    This is the one gate every report passes: nothing reaches a destination on a rule's or a
    model's say-so alone.
    """
    if case.kind != "match":
        raise ReportNotAllowedError(f"case {case.id} is an {case.kind} case; only match cases are reported")
    if case.status != "confirmed" or case.decision != "confirm":
        raise ReportNotAllowedError(f"case {case.id} is {case.status}: only cases a reviewer confirmed are reported")
    if case.decided_by is None:
        raise ReportNotAllowedError(f"case {case.id} has no human reviewer's confirmation")
    if case.classification not in CLASSIFICATIONS:
        raise ReportNotAllowedError(f"case {case.id} has no industry classification (A1, A2, B1 or B2)")
    if case.scan_id is None:
        raise ReportNotAllowedError(f"case {case.id} has no scan record left to report")


def parse_context(text: str | None) -> dict[str, Any]:
    """The scan's context JSON as a dict (empty when missing or not an object)."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _string(context: dict[str, Any], key: str) -> str | None:
    value = context.get(key)
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _time(context: dict[str, Any], key: str, default: datetime) -> datetime:
    text = _string(context, key)
    if text is None:
        return default
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"scan context {key!r} is not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise ValidationError(f"scan context {key!r} needs a time zone: {text!r}")
    return value


def _ip_events(scan: ScanFacts) -> tuple[IpCapture, ...]:
    address = _string(scan.context, "ip_address")
    if address is None:
        return ()
    event = _string(scan.context, "ip_event") or "Upload"
    return (IpCapture(address, event, _time(scan.context, "ip_captured_at", scan.created_at)),)


def incident(case: CaseInfo, scan: ScanFacts, reporter: Reporter, *, esp_service: str = "") -> IncidentReport:
    """The report opened for ``case``."""
    context = scan.context
    user = ReportedUser(
        esp_identifier=case.account_id or scan.account_id,
        esp_service=_string(context, "esp_service") or esp_service or None,
        screen_name=_string(context, "screen_name"),
        display_name=_string(context, "display_name"),
        email=_string(context, "email"),
        profile_url=_string(context, "profile_url"),
        ip_events=_ip_events(scan),
    )
    return IncidentReport(incident_at=_time(context, "incident_at", scan.created_at), reporter=reporter, user=user)


def file_name(scan: ScanFacts, media_type: str) -> str:
    """The file's original name from the context, else ``scan-<id>`` with an extension for its type."""
    given = _string(scan.context, "file_name")
    if given is not None:
        return given.replace("\\", "/").rsplit("/", 1)[-1]
    return f"scan-{scan.id}{mimetypes.guess_extension(media_type) or ''}"


def file_report(case: CaseInfo, scan: ScanFacts, *, md5: str | None, name: str) -> FileReport:
    """What the report says of the scanned file: hash, whether a human saw it, classification, PDQ and the match."""
    details: list[tuple[str, str]] = []
    if scan.pdq:
        details.append(("PDQ", scan.pdq))
        if scan.pdq_quality is not None:
            details.append(("PDQ quality", str(scan.pdq_quality)))
    if scan.sha256:
        details.append(("SHA-256", scan.sha256))
    if case.bank_name:
        details.append(("Matched hash list", case.bank_name))
    if case.signal_type:
        details.append(("Matched signal", case.signal_type))
    if case.distance is not None:
        details.append(("Match distance", str(case.distance)))
    public = str(scan.context.get("publicly_available", "")).lower() in ("true", "1", "yes")
    return FileReport(
        original_file_name=name,
        md5=md5 or scan.md5,
        viewed_by_esp=case.media_viewed,
        classification=case.classification,
        publicly_available=public,
        details=tuple(details),
        ip_events=_ip_events(scan),
    )
