"""Client of NCMEC's CyberTipline Reporting API: submit, upload, fileinfo, finish and retract.

Every call authenticates with HTTP Basic and answers with a ``reportResponse`` document whose
``responseCode`` 0 means success. Retries are limited to what cannot create anything twice:
a connection that never reached the service, a 5xx or 429 answer (the service did not do it),
and, for calls other than /submit, a lost answer. A lost answer to /submit raises
ReportOutcomeUnknownError instead: a report may have been opened, and sending it again would
make a second one (the service layer keeps the case's progress and asks a human to check).
"""

from __future__ import annotations

import contextlib
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from brightline.errors import ReportDeliveryError, ReportOutcomeUnknownError
from brightline.reporting import xmlsafe

TEST_URL = "https://exttest.cybertip.org/ispws"
PRODUCTION_URL = "https://report.cybertip.org/ispws"
# The longest Retry-After honoured; a longer wait is better left to the next attempt of the report.
MAX_RETRY_AFTER_S = 60.0
_XML = {"Content-Type": "text/xml; charset=utf-8"}


def base_url_for(environment: Literal["test", "production"], override: str = "") -> str:
    """The API base URL: ``override`` when given, else the official one for ``environment``."""
    if override:
        return override.rstrip("/")
    return PRODUCTION_URL if environment == "production" else TEST_URL


@dataclass(frozen=True)
class ApiResponse:
    """A parsed ``reportResponse``."""

    code: int
    description: str
    report_id: str | None = None
    file_id: str | None = None
    file_hash: str | None = None


@dataclass(frozen=True)
class FinishResult:
    """What /finish answered: the report id and the ids of the files it holds."""

    report_id: str
    file_ids: tuple[str, ...]


def _parse(response: httpx.Response) -> ET.Element | None:
    try:
        return xmlsafe.parse(response.content)
    except ET.ParseError:
        return None


def _text(root: ET.Element, name: str) -> str | None:
    value = root.findtext(name)
    return value.strip() if value is not None and value.strip() else None


class CyberTiplineClient:
    """One authenticated connection to the CyberTipline (test or production service)."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        transport: httpx.BaseTransport | None = None,
        max_attempts: int = 4,
        backoff_s: float = 1.0,
        timeout_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url, auth=httpx.BasicAuth(username, password), transport=transport, timeout=timeout_s
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> CyberTiplineClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _wait(self, attempt: int, response: httpx.Response | None) -> None:
        delay = self.backoff_s * (2**attempt)
        retry_after = response.headers.get("Retry-After") if response is not None else None
        if retry_after is not None:
            # An HTTP date is not understood: the exponential backoff stays.
            with contextlib.suppress(ValueError):
                delay = min(max(float(retry_after), 0.0), MAX_RETRY_AFTER_S)
        self._sleep(delay)

    def _request(self, method: str, path: str, *, lost_is_safe: bool, **kwargs: Any) -> httpx.Response:
        """Send with retries; returns the first 2xx answer or raises ReportDeliveryError."""
        last = ""
        for attempt in range(self.max_attempts):
            response: httpx.Response | None = None
            try:
                response = self._http.request(method, path, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                last = f"cannot connect: {exc}"
            except httpx.TransportError as exc:
                if not lost_is_safe:
                    raise ReportOutcomeUnknownError(
                        f"CyberTipline {path}: no answer ({exc}); it may have been received, so it is not resent"
                    ) from exc
                last = f"no answer: {exc}"
            else:
                if response.status_code < 400:
                    return response
                if response.status_code != 429 and response.status_code < 500:
                    raise self._refused(path, response)
                last = f"HTTP {response.status_code}"
            if attempt + 1 < self.max_attempts:
                self._wait(attempt, response)
        raise ReportDeliveryError(f"CyberTipline {path} failed after {self.max_attempts} attempts: {last}")

    def _refused(self, path: str, response: httpx.Response) -> ReportDeliveryError:
        root = _parse(response)
        detail = ""
        if root is not None:
            detail = f": code {_text(root, 'responseCode')}: {_text(root, 'responseDescription') or ''}"
        if response.status_code == 401:
            return ReportDeliveryError(f"CyberTipline {path}: authentication failed (check the user name and password)")
        return ReportDeliveryError(f"CyberTipline {path} refused: HTTP {response.status_code}{detail}")

    def _call(self, method: str, path: str, *, lost_is_safe: bool = True, **kwargs: Any) -> ApiResponse:
        response = self._request(method, path, lost_is_safe=lost_is_safe, **kwargs)
        root = _parse(response)
        if root is None:
            raise ReportDeliveryError(f"CyberTipline {path}: answer is not XML")
        code_text = _text(root, "responseCode")
        if code_text is None or not code_text.lstrip("-").isdigit():
            raise ReportDeliveryError(f"CyberTipline {path}: answer has no responseCode")
        answer = ApiResponse(
            code=int(code_text),
            description=_text(root, "responseDescription") or "",
            report_id=_text(root, "reportId"),
            file_id=_text(root, "fileId"),
            file_hash=_text(root, "hash"),
        )
        if answer.code != 0:
            raise ReportDeliveryError(f"CyberTipline {path} refused: code {answer.code}: {answer.description}")
        return answer

    def status(self) -> ApiResponse:
        """GET /status: check the connection and the credentials."""
        return self._call("GET", "/status")

    def submit(self, xml: str) -> str:
        """POST /submit: open a report; returns its id. Never retried once it may have reached the service."""
        answer = self._call("POST", "/submit", lost_is_safe=False, content=xml.encode(), headers=_XML)
        if answer.report_id is None:
            raise ReportDeliveryError("CyberTipline /submit answered without a reportId")
        return answer.report_id

    def upload(self, report_id: str, filename: str, data: bytes) -> str:
        """POST /upload (multipart ``id`` and ``file``): add a file to an open report; returns its file id."""
        answer = self._call(
            "POST",
            "/upload",
            data={"id": report_id},
            files={"file": (filename, data, "application/octet-stream")},
        )
        if answer.file_id is None:
            raise ReportDeliveryError("CyberTipline /upload answered without a fileId")
        return answer.file_id

    def file_info(self, xml: str) -> ApiResponse:
        """POST /fileinfo: describe an uploaded file with a ``fileDetails`` document."""
        return self._call("POST", "/fileinfo", content=xml.encode(), headers=_XML)

    def finish(self, report_id: str) -> FinishResult:
        """POST /finish: close the report; NCMEC processes it from then on."""
        response = self._request("POST", "/finish", lost_is_safe=True, data={"id": report_id})
        root = _parse(response)
        if root is None or _text(root, "responseCode") != "0":
            description = _text(root, "responseDescription") if root is not None else "answer is not XML"
            raise ReportDeliveryError(f"CyberTipline /finish refused: {description}")
        files = root.find("files")
        ids = tuple((f.text or "").strip() for f in files.iter("fileId")) if files is not None else ()
        return FinishResult(report_id=_text(root, "reportId") or report_id, file_ids=ids)

    def retract(self, report_id: str) -> ApiResponse:
        """POST /retract: withdraw a report."""
        return self._call("POST", "/retract", data={"id": report_id})
