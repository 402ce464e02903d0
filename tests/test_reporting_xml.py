"""The CyberTipline documents: element order, required fields and values, checked by the fake's own schema."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from brightline.errors import ValidationError
from brightline.reporting.fake import SchemaViolationError, validate
from brightline.reporting.ncmec_xml import (
    INCIDENT_CSAM,
    FileReport,
    IncidentReport,
    IpCapture,
    ReportedUser,
    Reporter,
    file_details_xml,
    report_xml,
)

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REPORTER = Reporter("Ada", "Lovelace", "trust@example.org")
USER = ReportedUser(
    esp_identifier="account-9",
    screen_name="someone",
    email="someone@example.net",
    ip_events=(IpCapture("192.0.2.7", "Upload", WHEN),),
)
FILE = FileReport(
    original_file_name="holiday.png",
    md5="0123456789ABCDEF0123456789abcdef",
    viewed_by_esp=True,
    classification="A1",
    details=(("PDQ", "f" * 64), ("Match distance", "4")),
)


def _children(element: ET.Element) -> list[str]:
    return [child.tag for child in element]


def test_report_has_its_sections_in_schema_order_and_passes_the_fake() -> None:
    document = report_xml(IncidentReport(incident_at=WHEN, reporter=REPORTER, user=USER))
    root = validate(document.encode(), "report")
    assert _children(root) == ["incidentSummary", "reporter", "personOrUserReported"]
    assert root.findtext("incidentSummary/incidentType") == INCIDENT_CSAM
    assert root.findtext("incidentSummary/incidentDateTime") == "2026-03-01T12:00:00+00:00"
    assert _children(root.find("reporter/reportingPerson")) == ["firstName", "lastName", "email"]  # type: ignore[arg-type]
    user = root.find("personOrUserReported")
    assert user is not None
    assert _children(user) == ["personOrUserReportedPerson", "espIdentifier", "screenName", "ipCaptureEvent"]
    assert user.findtext("personOrUserReportedPerson/email") == "someone@example.net"
    assert _children(user.find("ipCaptureEvent")) == ["ipAddress", "eventName", "dateTime"]  # type: ignore[arg-type]


def test_file_details_are_in_schema_order_with_md5_classification_and_pdq() -> None:
    document = file_details_xml(FILE, report_id="100001", file_id="abc")
    root = validate(document.encode(), "fileDetails")
    assert _children(root) == [
        "reportId",
        "fileId",
        "originalFileName",
        "fileViewedByEsp",
        "exifViewedByEsp",
        "publiclyAvailable",
        "fileRelevance",
        "industryClassification",
        "originalFileHash",
        "details",
    ]
    digest = root.find("originalFileHash")
    assert digest is not None and digest.get("hashType") == "MD5"
    assert digest.text == "0123456789abcdef0123456789abcdef"
    assert root.findtext("fileViewedByEsp") == "true"
    assert root.findtext("industryClassification") == "A1"
    pairs = [(p.findtext("name"), p.findtext("value")) for p in root.iter("nameValuePair")]
    assert pairs == [("PDQ", "f" * 64), ("Match distance", "4")]


def test_the_fake_catches_elements_out_of_order() -> None:
    good = file_details_xml(FILE, report_id="1", file_id="2").encode()
    swapped = good.replace(b"<reportId>1</reportId><fileId>2</fileId>", b"<fileId>2</fileId><reportId>1</reportId>")
    assert swapped != good
    with pytest.raises(SchemaViolationError, match=r"out of order|missing"):
        validate(swapped, "fileDetails")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (b"<report><reporter/></report>", "missing required <incidentSummary>"),
        (b"<report><incidentSummary>", "not well-formed"),
        (
            b"<report><incidentSummary><incidentType>Spam</incidentType><incidentDateTime>2026-03-01T12:00:00Z"
            b"</incidentDateTime></incidentSummary><reporter><reportingPerson><email>a@b</email></reportingPerson>"
            b"</reporter></report>",
            "not an allowed value",
        ),
        (
            b"<report><incidentSummary><incidentType>Child Sex Tourism</incidentType><incidentDateTime>2026-03-01"
            b"T12:00:00</incidentDateTime></incidentSummary><reporter><reportingPerson><email>a@b</email>"
            b"</reportingPerson></reporter></report>",
            "without a zone",
        ),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><report/>', "not well-formed"),
    ],
)
def test_the_fake_refuses_incomplete_or_wrong_documents(document: bytes, problem: str) -> None:
    with pytest.raises(SchemaViolationError, match=problem):
        validate(document, "report")


def test_reporter_email_is_required() -> None:
    with pytest.raises(ValidationError, match="email"):
        report_xml(IncidentReport(incident_at=WHEN, reporter=Reporter("A", "B", "")))


def test_bad_values_are_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValidationError, match="IP address"):
        report_xml(IncidentReport(WHEN, REPORTER, ReportedUser(ip_events=(IpCapture("not-an-ip"),))))
    with pytest.raises(ValidationError, match="one of"):
        report_xml(IncidentReport(WHEN, REPORTER, ReportedUser(ip_events=(IpCapture("192.0.2.1", "Download"),))))
    with pytest.raises(ValidationError, match="classification"):
        file_details_xml(FileReport("a.png", None, True, "C3"), report_id="1", file_id="2")
    with pytest.raises(ValidationError, match="MD5"):
        file_details_xml(FileReport("a.png", "xyz", True, "A1"), report_id="1", file_id="2")
    with pytest.raises(ValidationError, match="timezone"):
        report_xml(IncidentReport(datetime(2026, 1, 1), REPORTER))


def test_text_is_escaped() -> None:
    user = ReportedUser(screen_name="<b>&co</b>")
    root = validate(report_xml(IncidentReport(WHEN, REPORTER, user)).encode(), "report")
    assert root.findtext("personOrUserReported/screenName") == "<b>&co</b>"
