"""NCMEC CyberTipline documents: the ``report`` opened by /submit and the ``fileDetails`` sent to /fileinfo.

The schema (the CyberTipline Reporting API's XSD) is a tree of ``xs:sequence`` elements, so child
order matters: a document with the right elements in the wrong order is refused. ``SEQUENCES``
spells out the order of every element built here and ``REQUIRED`` the children that must be
present; ``_element`` is the one place both are enforced, so a value object can never be turned
into a document out of order or with a required field missing.
"""

from __future__ import annotations

import ipaddress
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Union

from brightline.errors import ValidationError

INCIDENT_CSAM = "Child Pornography (possession, manufacture, and distribution)"
INCIDENT_TYPES = (
    INCIDENT_CSAM,
    "Child Sex Trafficking",
    "Child Sex Tourism",
    "Child Sexual Molestation",
    "Misleading Domain Name",
    "Misleading Words or Digital Images on the Internet",
    "Online Enticement of Children for Sexual Acts",
    "Unsolicited Obscene Material Sent to a Child",
)
IP_EVENTS = ("Login", "Registration", "Purchase", "Upload", "Other", "Unknown")
INDUSTRY_CLASSIFICATIONS = ("A1", "A2", "B1", "B2")
FILE_RELEVANCE = ("Reported", "Supplemental Reported")

# Child order of each element, as the XSD's sequences give it (only the children brightline may write).
SEQUENCES: dict[str, tuple[str, ...]] = {
    "report": (
        "incidentSummary",
        "internetDetails",
        "lawEnforcement",
        "reporter",
        "personOrUserReported",
        "intendedRecipient",
        "victim",
        "additionalInfo",
    ),
    "incidentSummary": ("incidentType", "reportAnnotations", "incidentDateTime", "incidentDateTimeDescription"),
    "reporter": ("reportingPerson", "contactPerson", "companyTemplate", "termsOfService", "legalURL"),
    "reportingPerson": ("firstName", "lastName", "phone", "email"),
    "contactPerson": ("firstName", "lastName", "phone", "email"),
    "personOrUserReported": (
        "personOrUserReportedPerson",
        "espIdentifier",
        "espService",
        "screenName",
        "displayName",
        "profileUrl",
        "ipCaptureEvent",
        "deviceId",
        "additionalInfo",
    ),
    "personOrUserReportedPerson": ("firstName", "lastName", "phone", "email"),
    "ipCaptureEvent": ("ipAddress", "eventName", "dateTime", "possibleProxy", "port"),
    "fileDetails": (
        "reportId",
        "fileId",
        "originalFileName",
        "locationOfFile",
        "fileViewedByEsp",
        "exifViewedByEsp",
        "publiclyAvailable",
        "fileRelevance",
        "fileAnnotations",
        "industryClassification",
        "originalFileHash",
        "ipCaptureEvent",
        "deviceId",
        "details",
        "additionalInfo",
    ),
    "details": ("nameValuePair",),
    "nameValuePair": ("name", "value"),
}
# Children that must be present (and non-empty) for the service to accept the element.
REQUIRED: dict[str, tuple[str, ...]] = {
    "report": ("incidentSummary", "reporter"),
    "incidentSummary": ("incidentType", "incidentDateTime"),
    "reporter": ("reportingPerson",),
    "reportingPerson": ("email",),
    "ipCaptureEvent": ("ipAddress",),
    "fileDetails": ("reportId", "fileId"),
    "nameValuePair": ("name", "value"),
}
_MD5_RE = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Leaf:
    """A text element with attributes (``originalFileHash hashType="MD5"``)."""

    text: str
    attrs: Mapping[str, str] = field(default_factory=dict)


# What a child can be: text, a leaf with attributes, a nested element's children, or several of one.
Content = Union[str, Leaf, "Children", Sequence[Union[str, Leaf, "Children"]], None]
Children = Mapping[str, Content]


@dataclass(frozen=True)
class Reporter:
    """The person at the ESP who makes the report (from settings)."""

    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class IpCapture:
    """An IP address the reported user was seen at, with the event (Upload, Login...) and when."""

    ip_address: str
    event: str = "Upload"
    at: datetime | None = None


@dataclass(frozen=True)
class ReportedUser:
    """The account the content came from, as far as the platform told brightline."""

    esp_identifier: str | None = None
    esp_service: str | None = None
    screen_name: str | None = None
    display_name: str | None = None
    email: str | None = None
    profile_url: str | None = None
    ip_events: tuple[IpCapture, ...] = ()


@dataclass(frozen=True)
class IncidentReport:
    """What opens a report: incident type and time, the reporter and the reported user."""

    incident_at: datetime
    reporter: Reporter
    user: ReportedUser | None = None
    incident_type: str = INCIDENT_CSAM
    additional_info: str = ""


@dataclass(frozen=True)
class FileReport:
    """What the report says about one uploaded file (sent to /fileinfo once it has a file id)."""

    original_file_name: str
    md5: str | None
    viewed_by_esp: bool
    classification: str | None
    exif_viewed_by_esp: bool = False
    publicly_available: bool = False
    relevance: str = "Reported"
    details: tuple[tuple[str, str], ...] = ()
    ip_events: tuple[IpCapture, ...] = ()


def _when(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValidationError("report timestamps must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _empty(content: Content) -> bool:
    if content is None:
        return True
    if isinstance(content, str):
        return not content.strip()
    if isinstance(content, Leaf):
        return not content.text.strip()
    if isinstance(content, Mapping):
        return all(_empty(v) for v in content.values())
    return all(_empty(v) for v in content)


def _element(name: str, children: Children) -> ET.Element:
    """Build ``name`` with its children in schema order; refuses unknown children and missing required ones."""
    order = SEQUENCES[name]
    unknown = sorted(set(children) - set(order))
    if unknown:
        raise ValueError(f"<{name}> has no child {unknown[0]!r} in the CyberTipline schema")
    missing = [child for child in REQUIRED.get(name, ()) if _empty(children.get(child))]
    if missing:
        raise ValidationError(f"CyberTipline <{name}> needs <{missing[0]}>")
    element = ET.Element(name)
    for child in order:
        content = children.get(child)
        items = content if isinstance(content, Sequence) and not isinstance(content, str) else [content]
        for item in items:
            if _empty(item):
                continue
            if isinstance(item, Mapping):
                element.append(_element(child, item))
            elif isinstance(item, Leaf):
                ET.SubElement(element, child, dict(item.attrs)).text = item.text
            else:
                assert isinstance(item, str)
                ET.SubElement(element, child).text = item
    return element


def _document(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _ip_event(event: IpCapture) -> Children:
    try:
        address = str(ipaddress.ip_address(event.ip_address.strip()))
    except ValueError:
        raise ValidationError(f"not an IP address: {event.ip_address!r}") from None
    if event.event not in IP_EVENTS:
        raise ValidationError(f"IP capture event must be one of {', '.join(IP_EVENTS)}, got {event.event!r}")
    return {
        "ipAddress": address,
        "eventName": event.event,
        "dateTime": _when(event.at) if event.at is not None else None,
    }


def _user(user: ReportedUser) -> Children:
    return {
        "personOrUserReportedPerson": {"email": user.email},
        "espIdentifier": user.esp_identifier,
        "espService": user.esp_service,
        "screenName": user.screen_name,
        "displayName": user.display_name,
        "profileUrl": user.profile_url,
        "ipCaptureEvent": [_ip_event(e) for e in user.ip_events],
    }


def report_xml(report: IncidentReport) -> str:
    """The ``report`` document for POST /submit."""
    if report.incident_type not in INCIDENT_TYPES:
        raise ValidationError(f"unknown CyberTipline incident type {report.incident_type!r}")
    reporter = report.reporter
    if "@" not in reporter.email:
        raise ValidationError("the reporter's email (BRIGHTLINE_NCMEC_REPORTER_EMAIL) is required to report")
    children: Children = {
        "incidentSummary": {"incidentType": report.incident_type, "incidentDateTime": _when(report.incident_at)},
        "reporter": {
            "reportingPerson": {
                "firstName": reporter.first_name,
                "lastName": reporter.last_name,
                "email": reporter.email,
            }
        },
        "personOrUserReported": _user(report.user) if report.user is not None else None,
        "additionalInfo": report.additional_info,
    }
    return _document(_element("report", children))


def file_details_xml(file: FileReport, *, report_id: str, file_id: str) -> str:
    """The ``fileDetails`` document for POST /fileinfo, once /upload gave the file its id."""
    if file.classification is not None and file.classification not in INDUSTRY_CLASSIFICATIONS:
        raise ValidationError(f"industry classification must be one of {', '.join(INDUSTRY_CLASSIFICATIONS)}")
    if file.relevance not in FILE_RELEVANCE:
        raise ValidationError(f"file relevance must be one of {', '.join(FILE_RELEVANCE)}")
    md5 = file.md5.lower() if file.md5 else None
    if md5 is not None and _MD5_RE.fullmatch(md5) is None:
        raise ValidationError(f"not an MD5 hex digest: {file.md5!r}")
    children: Children = {
        "reportId": report_id,
        "fileId": file_id,
        "originalFileName": file.original_file_name,
        "fileViewedByEsp": _flag(file.viewed_by_esp),
        "exifViewedByEsp": _flag(file.exif_viewed_by_esp),
        "publiclyAvailable": _flag(file.publicly_available),
        "fileRelevance": file.relevance,
        "industryClassification": file.classification,
        "originalFileHash": Leaf(md5, {"hashType": "MD5"}) if md5 else None,
        "ipCaptureEvent": [_ip_event(e) for e in file.ip_events],
        "details": {"nameValuePair": [{"name": n, "value": v} for n, v in file.details]} if file.details else None,
    }
    return _document(_element("fileDetails", children))
