"""An in-process fake of NCMEC's CyberTipline Reporting API, for tests and for trying brightline out.

Use it as an httpx transport: ``httpx.MockTransport(FakeCyberTipline().handle)``. It checks Basic
auth, that every document is well-formed XML with its elements in the schema's order and its
required fields present, assigns report and file ids, records everything sent, and can fail on
purpose (a 5xx, a 429, a connection error or a lost answer) to test retries.

Its schema is written down here on its own, in a small grammar (``!`` exactly one, ``?`` at most one,
``*`` any number, ``+`` at least one), independently of ``ncmec_xml``'s builder, so a builder that
writes elements out of order is caught rather than agreed with.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import ipaddress
import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs

import httpx

from brightline.reporting import xmlsafe

_GRAMMAR = """
report: incidentSummary! internetDetails* lawEnforcement? reporter! personOrUserReported? intendedRecipient*
    victim* additionalInfo?
incidentSummary: incidentType! reportAnnotations? incidentDateTime! incidentDateTimeDescription?
reporter: reportingPerson! contactPerson? companyTemplate? termsOfService? legalURL?
reportingPerson: firstName? lastName? phone* email+ address*
contactPerson: firstName? lastName? phone* email* address*
personOrUserReported: personOrUserReportedPerson? vehicleDescription? espIdentifier? espService? screenName?
    displayName* profileUrl* ipCaptureEvent* deviceId* thirdPartyUserReported? priorCTReports* groupIdentifier*
    accountTemporarilyDisabled? accountPermanentlyDisabled? estimatedLocation? additionalInfo?
personOrUserReportedPerson: firstName? lastName? phone* email* address* age? dateOfBirth?
ipCaptureEvent: ipAddress! eventName? dateTime? possibleProxy? port?
fileDetails: reportId! fileId! originalFileName? locationOfFile? fileViewedByEsp? exifViewedByEsp? publiclyAvailable?
    fileRelevance? fileAnnotations? industryClassification? originalFileHash* ipCaptureEvent* deviceId* details*
    additionalInfo?
details: nameValuePair+
nameValuePair: name! value!
"""
_LINE_RE = re.compile(r"^(\w+):((?:\s+\w+[!?*+])+)\s*$")
_BOOLEAN_ELEMENTS = {"fileViewedByEsp", "exifViewedByEsp", "publiclyAvailable", "possibleProxy"}
_ENUMS = {
    "incidentType": {
        "Child Pornography (possession, manufacture, and distribution)",
        "Child Sex Trafficking",
        "Child Sex Tourism",
        "Child Sexual Molestation",
        "Misleading Domain Name",
        "Misleading Words or Digital Images on the Internet",
        "Online Enticement of Children for Sexual Acts",
        "Unsolicited Obscene Material Sent to a Child",
    },
    "eventName": {"Login", "Registration", "Purchase", "Upload", "Other", "Unknown"},
    "industryClassification": {"A1", "A2", "B1", "B2"},
    "fileRelevance": {"Reported", "Supplemental Reported"},
}
_HASH_TYPES = {"MD5", "SHA1", "SHA256", "PDNA", "PDQ"}


def _parse_grammar(text: str) -> dict[str, list[tuple[str, str]]]:
    joined = re.sub(r"\n\s+", " ", text.strip())
    rules: dict[str, list[tuple[str, str]]] = {}
    for line in joined.splitlines():
        found = _LINE_RE.match(line)
        if found is None:
            raise AssertionError(f"bad grammar line: {line!r}")
        rules[found.group(1)] = [(token[:-1], token[-1]) for token in found.group(2).split()]
    return rules


SCHEMA = _parse_grammar(_GRAMMAR)


class SchemaViolationError(Exception):
    """A document the real service would refuse (ill-formed, out of order, missing a field, bad value)."""


def _check_children(element: ET.Element, path: str) -> None:
    rule = SCHEMA.get(element.tag)
    if rule is None:
        if len(element):
            raise SchemaViolationError(f"{path}: unexpected child elements")
        _check_leaf(element, path)
        return
    names = [child.tag for child in element]
    position = 0
    for name, quantity in rule:
        count = 0
        while position < len(names) and names[position] == name:
            position += 1
            count += 1
        if quantity in "!+" and count == 0:
            raise SchemaViolationError(f"{path}: missing required <{name}>")
        if quantity in "!?" and count > 1:
            raise SchemaViolationError(f"{path}: <{name}> may appear once")
    if position < len(names):
        raise SchemaViolationError(f"{path}: <{names[position]}> is unknown or out of order")
    for child in element:
        _check_children(child, f"{path}/{child.tag}")


def _check_leaf(element: ET.Element, path: str) -> None:
    text = (element.text or "").strip()
    tag = element.tag
    if not text:
        raise SchemaViolationError(f"{path}: empty value")
    if tag in _BOOLEAN_ELEMENTS and text not in ("true", "false"):
        raise SchemaViolationError(f"{path}: not a boolean: {text!r}")
    if tag in _ENUMS and text not in _ENUMS[tag]:
        raise SchemaViolationError(f"{path}: {text!r} is not an allowed value")
    if tag in ("incidentDateTime", "dateTime"):
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise SchemaViolationError(f"{path}: not an xs:dateTime: {text!r}") from None
        if parsed.tzinfo is None:
            raise SchemaViolationError(f"{path}: date-time without a zone")
    if tag == "ipAddress":
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise SchemaViolationError(f"{path}: not an IP address: {text!r}") from None
    if tag == "email" and "@" not in text:
        raise SchemaViolationError(f"{path}: not an email address")
    if tag == "originalFileHash":
        if element.get("hashType") not in _HASH_TYPES:
            raise SchemaViolationError(f"{path}: hashType attribute missing or unknown")
        if element.get("hashType") == "MD5" and re.fullmatch(r"[0-9a-fA-F]{32}", text) is None:
            raise SchemaViolationError(f"{path}: not an MD5 digest")


def validate(document: bytes, root: str) -> ET.Element:
    """Parse ``document`` and check it against the fake's schema; raises SchemaViolationError."""
    try:
        element = xmlsafe.parse(document)
    except ET.ParseError as exc:
        raise SchemaViolationError(f"not well-formed XML: {exc}") from None
    if element.tag != root:
        raise SchemaViolationError(f"expected a <{root}> document, got <{element.tag}>")
    _check_children(element, root)
    return element


@dataclass
class FakeFile:
    """A file uploaded to a fake report."""

    file_id: str
    filename: str
    data: bytes
    details: bytes | None = None  # the fileDetails document, once sent


@dataclass
class FakeReport:
    """A report opened on the fake, with what was sent for it."""

    report_id: str
    document: bytes
    files: list[FakeFile] = field(default_factory=list)
    finished: bool = False
    retracted: bool = False


@dataclass
class _Failure:
    endpoint: str
    kind: str  # "status", "connect", "lost"
    status: int = 503
    retry_after: str | None = None


class FakeCyberTipline:
    """The fake service: ``handle`` is an httpx MockTransport handler."""

    def __init__(self, username: str = "esp", password: str = "secret") -> None:  # noqa: S107 - a fake
        self.username = username
        self.password = password
        self.reports: dict[str, FakeReport] = {}
        self.requests: list[tuple[str, str]] = []  # (method, endpoint) of every request that got through
        self.rejections: list[str] = []  # why documents were refused
        self._failures: list[_Failure] = []
        self._ids = itertools.count(100_001)

    # --- failure injection ----------------------------------------------------------------

    def fail_next(self, endpoint: str, status: int = 503, *, retry_after: str | None = None) -> None:
        """The next request to ``endpoint`` (e.g. "submit") gets ``status`` without being processed."""
        self._failures.append(_Failure(endpoint, "status", status, retry_after))

    def refuse_connection_next(self, endpoint: str) -> None:
        """The next request to ``endpoint`` fails to connect (nothing reaches the service)."""
        self._failures.append(_Failure(endpoint, "connect"))

    def lose_answer_next(self, endpoint: str) -> None:
        """The next request to ``endpoint`` is processed, but its answer is lost (a read timeout)."""
        self._failures.append(_Failure(endpoint, "lost"))

    def _take_failure(self, endpoint: str) -> _Failure | None:
        for failure in self._failures:
            if failure.endpoint == endpoint:
                self._failures.remove(failure)
                return failure
        return None

    # --- the API ------------------------------------------------------------------------

    @property
    def finished_reports(self) -> list[FakeReport]:
        """Reports that were finished and not retracted."""
        return [r for r in self.reports.values() if r.finished and not r.retracted]

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as the CyberTipline would."""
        endpoint = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        if not self._authorised(request):
            return _response(401, 1000, "Unauthorized")
        failure = self._take_failure(endpoint)
        if failure is not None and failure.kind == "connect":
            raise httpx.ConnectError("connection refused (injected)", request=request)
        if failure is not None and failure.kind == "status":
            headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
            return httpx.Response(failure.status, text="unavailable (injected)", headers=headers)
        self.requests.append((request.method, endpoint))
        routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]] = {
            ("GET", "status"): lambda _r: _response(200, 0, f"Remote User : {self.username}"),
            ("POST", "submit"): self._submit,
            ("POST", "upload"): self._upload,
            ("POST", "fileinfo"): self._fileinfo,
            ("POST", "finish"): self._finish,
            ("POST", "retract"): self._retract,
        }
        route = routes.get((request.method, endpoint))
        if route is None:
            return _response(404, 1000, f"no endpoint {request.method} /{endpoint}")
        response = route(request)
        if failure is not None and failure.kind == "lost":
            raise httpx.ReadTimeout("answer lost (injected)", request=request)
        return response

    def _authorised(self, request: httpx.Request) -> bool:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return bool(request.headers.get("Authorization", "") == f"Basic {expected}")

    def _refuse(self, message: str) -> httpx.Response:
        self.rejections.append(message)
        return _response(400, 4100, f"Validation failed: {message}")

    def _submit(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("Content-Type", "").startswith("text/xml"):
            return self._refuse("Content-Type must be text/xml")
        try:
            validate(request.content, "report")
        except SchemaViolationError as exc:
            return self._refuse(str(exc))
        report_id = str(next(self._ids))
        self.reports[report_id] = FakeReport(report_id, request.content)
        return _response(200, 0, "Success", reportId=report_id)

    def _open_report(self, report_id: str) -> FakeReport | None:
        report = self.reports.get(report_id)
        if report is None or report.finished or report.retracted:
            return None
        return report

    def _upload(self, request: httpx.Request) -> httpx.Response:
        fields = _multipart(request)
        report = self._open_report(fields.get("id", (b"", ""))[0].decode())
        if report is None:
            return _response(400, 4000, "no open report with that id")
        if "file" not in fields:
            return self._refuse("multipart field 'file' missing")
        data, filename = fields["file"]
        file_id = f"{next(self._ids):x}"
        report.files.append(FakeFile(file_id, filename, data))
        return _response(200, 0, "Success", reportId=report.report_id, fileId=file_id)

    def _fileinfo(self, request: httpx.Request) -> httpx.Response:
        try:
            element = validate(request.content, "fileDetails")
        except SchemaViolationError as exc:
            return self._refuse(str(exc))
        report = self._open_report(element.findtext("reportId", ""))
        file_id = element.findtext("fileId", "")
        found = [f for f in report.files if f.file_id == file_id] if report is not None else []
        if report is None or not found:
            return _response(400, 4000, "no such file in an open report")
        found[0].details = request.content
        return _response(200, 0, "Success", reportId=report.report_id)

    def _finish(self, request: httpx.Request) -> httpx.Response:
        report = self._open_report(_form_id(request))
        if report is None:
            return _response(400, 4000, "no open report with that id")
        report.finished = True
        files = "".join(f"<fileId>{f.file_id}</fileId>" for f in report.files)
        body = (
            "<?xml version='1.0' encoding='UTF-8'?><reportDoneResponse><responseCode>0</responseCode>"
            f"<reportId>{report.report_id}</reportId><files>{files}</files></reportDoneResponse>"
        )
        return httpx.Response(200, text=body, headers={"Content-Type": "application/xml"})

    def _retract(self, request: httpx.Request) -> httpx.Response:
        report = self.reports.get(_form_id(request))
        if report is None or report.retracted:
            return _response(400, 4000, "no report with that id to retract")
        report.retracted = True
        return _response(200, 0, "Success", reportId=report.report_id)


def _response(status: int, code: int, description: str, **fields: str) -> httpx.Response:
    root = ET.Element("reportResponse")
    ET.SubElement(root, "responseCode").text = str(code)
    ET.SubElement(root, "responseDescription").text = description
    for name, value in fields.items():
        ET.SubElement(root, name).text = value
    return httpx.Response(status, content=ET.tostring(root), headers={"Content-Type": "application/xml"})


def _form_id(request: httpx.Request) -> str:
    if request.headers.get("Content-Type", "").startswith("multipart/form-data"):
        return _multipart(request).get("id", (b"", ""))[0].decode()
    values = parse_qs(request.content.decode())
    return values.get("id", [""])[0]


def _multipart(request: httpx.Request) -> dict[str, tuple[bytes, str]]:
    """Form fields of a multipart body: name -> (bytes, filename)."""
    content_type = request.headers.get("Content-Type", "")
    if not content_type.startswith("multipart/form-data"):
        return {}
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    fields: dict[str, tuple[bytes, str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = (payload, part.get_filename() or "")
    return fields
