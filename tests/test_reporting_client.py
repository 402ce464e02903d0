"""The CyberTipline client against the fake: the whole flow, Basic auth, retries that never duplicate a report."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from brightline.errors import ReportDeliveryError, ReportOutcomeUnknownError
from brightline.reporting import (
    PRODUCTION_URL,
    TEST_URL,
    CyberTiplineClient,
    CyberTiplineDestination,
    DeliveryProgress,
    FakeCyberTipline,
    ReportFile,
    ReportPackage,
    base_url_for,
)
from brightline.reporting.ncmec_xml import FileReport, IncidentReport, Reporter, report_xml

REPORT = report_xml(IncidentReport(datetime(2026, 3, 1, tzinfo=UTC), Reporter("A", "B", "t@example.org")))
FILE = FileReport("a.png", "0" * 32, viewed_by_esp=True, classification="B1", details=(("PDQ", "a" * 64),))
PACKAGE = ReportPackage(case_id=1, report_xml=REPORT, files=(ReportFile("a.png", b"bytes", FILE),))


def _client(fake: FakeCyberTipline, *, password: str | None = None, attempts: int = 4) -> CyberTiplineClient:
    waits: list[float] = []
    client = CyberTiplineClient(
        TEST_URL,
        fake.username,
        fake.password if password is None else password,
        transport=httpx.MockTransport(fake.handle),
        max_attempts=attempts,
        backoff_s=0.5,
        sleep=waits.append,
    )
    client.waits = waits  # type: ignore[attr-defined]
    return client


def _send(fake: FakeCyberTipline, progress: DeliveryProgress | None = None) -> DeliveryProgress:
    progress = progress or DeliveryProgress()
    saved: list[str] = []
    CyberTiplineDestination(_client(fake)).send(PACKAGE, progress, lambda p: saved.append(p.to_json()))
    return progress


def test_base_urls_are_the_official_ones_unless_overridden() -> None:
    assert base_url_for("test") == TEST_URL == "https://exttest.cybertip.org/ispws"
    assert base_url_for("production") == PRODUCTION_URL == "https://report.cybertip.org/ispws"
    assert base_url_for("production", "http://localhost:9/ispws/") == "http://localhost:9/ispws"


def test_status_checks_credentials() -> None:
    fake = FakeCyberTipline()
    assert _client(fake).status().code == 0
    with pytest.raises(ReportDeliveryError, match="authentication failed"):
        _client(fake, password="wrong").status()


def test_full_flow_submit_upload_fileinfo_finish() -> None:
    fake = FakeCyberTipline()
    progress = _send(fake)
    assert [e for _m, e in fake.requests] == ["submit", "upload", "fileinfo", "finish"]
    [report] = fake.finished_reports
    assert progress.remote_id == report.report_id and progress.finished
    assert report.document == REPORT.encode()
    [file] = report.files
    assert file.filename == "a.png" and file.data == b"bytes"
    assert progress.file_ids == [file.file_id]
    assert file.details is not None and file.details.decode() == progress.file_documents[0]
    assert fake.rejections == []


def test_5xx_and_429_are_retried_without_a_second_report() -> None:
    fake = FakeCyberTipline()
    fake.fail_next("submit", 503)
    fake.fail_next("submit", 429, retry_after="7")
    fake.fail_next("upload", 500)
    fake.refuse_connection_next("finish")
    client = _client(fake)
    progress = DeliveryProgress()
    CyberTiplineDestination(client).send(PACKAGE, progress, lambda _p: None)
    assert len(fake.reports) == 1 and len(fake.finished_reports) == 1
    assert len(fake.reports[progress.remote_id or ""].files) == 1
    assert client.waits == [0.5, 7.0, 0.5, 0.5]  # type: ignore[attr-defined]


def test_retries_stop_after_max_attempts() -> None:
    fake = FakeCyberTipline()
    for _ in range(3):
        fake.fail_next("submit", 502)
    with pytest.raises(ReportDeliveryError, match="after 3 attempts"):
        _client(fake, attempts=3).submit(REPORT)
    assert fake.reports == {}


def test_a_refusal_is_not_retried() -> None:
    fake = FakeCyberTipline()
    with pytest.raises(ReportDeliveryError, match="Validation failed"):
        _client(fake).submit("<report><incidentSummary/></report>")
    assert len(fake.requests) == 1 and fake.rejections


def test_a_lost_answer_to_submit_is_not_resent() -> None:
    fake = FakeCyberTipline()
    fake.lose_answer_next("submit")
    with pytest.raises(ReportOutcomeUnknownError):
        _client(fake).submit(REPORT)
    assert len(fake.reports) == 1  # it did arrive: resending would have made a second one


def test_a_lost_answer_to_finish_is_retried() -> None:
    fake = FakeCyberTipline()
    client = _client(fake)
    report_id = client.submit(REPORT)
    fake.lose_answer_next("finish")
    # The first finish worked but its answer was lost; the retry is refused by the service
    # (already finished), which the client reports as a refusal rather than silently succeeding.
    with pytest.raises(ReportDeliveryError, match="finish refused"):
        client.finish(report_id)
    assert fake.reports[report_id].finished


def test_resuming_after_a_failure_repeats_no_step() -> None:
    fake = FakeCyberTipline()
    for _ in range(4):
        fake.fail_next("fileinfo", 503)
    progress = DeliveryProgress()
    with pytest.raises(ReportDeliveryError):
        CyberTiplineDestination(_client(fake)).send(PACKAGE, progress, lambda _p: None)
    assert progress.remote_id is not None and len(progress.file_ids) == 1 and not progress.finished
    resumed = _send(fake, DeliveryProgress.from_json(progress.to_json()))
    assert resumed.finished
    assert len(fake.reports) == 1 and len(fake.reports[resumed.remote_id or ""].files) == 1
    assert [e for _m, e in fake.requests].count("submit") == 1


def test_retract() -> None:
    fake = FakeCyberTipline()
    client = _client(fake)
    report_id = client.submit(REPORT)
    assert client.retract(report_id).code == 0
    assert fake.reports[report_id].retracted
    with pytest.raises(ReportDeliveryError):
        client.retract(report_id)
