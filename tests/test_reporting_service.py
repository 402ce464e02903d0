"""ReportService: only human-confirmed cases are reported, once; the XML sent is kept; evidence is preserved."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from test_reporting_support import (
    MEDIA,
    REPORTER,
    FakeEvidence,
    add_case,
    add_reviewer,
    events,
    scan_of,
    wired,
)

from brightline.errors import (
    CaseNotFoundError,
    ReportDeliveryError,
    ReportNotAllowedError,
    ReportNotFoundError,
    ReportOutcomeUnknownError,
)
from brightline.reporting import FileDropDestination, ReportService
from brightline.reporting.fake import validate
from brightline.store.db import Database
from brightline.store.models import utcnow


def test_confirmed_case_is_reported_with_the_exact_xml_kept(db: Database) -> None:
    reviewer = add_reviewer(db)
    case_id = add_case(db, decided_by=reviewer)
    reports, fake, evidence = wired(db, evidence=FakeEvidence({}))
    evidence.blobs[scan_of(db, case_id)] = MEDIA
    info = reports.create_and_send(case_id, actor="reviewer:rev")
    assert info.status == "finished" and info.attempts == 1 and info.finished_at is not None
    [sent] = fake.finished_reports
    assert info.remote_id == sent.report_id
    assert info.report_xml.encode() == sent.document
    assert sent.files[0].data == MEDIA and sent.files[0].filename == "holiday.png"
    assert info.file_xml == (sent.files[0].details.decode(),)  # type: ignore[union-attr]
    assert info.file_ids == (sent.files[0].file_id,)
    root = validate(info.report_xml.encode(), "report")
    assert root.findtext("personOrUserReported/espIdentifier") == "account-9"
    assert root.findtext("personOrUserReported/ipCaptureEvent/ipAddress") == "192.0.2.7"
    file_root = validate(info.file_xml[0].encode(), "fileDetails")
    assert file_root.findtext("industryClassification") == "A1"
    assert file_root.findtext("fileViewedByEsp") == "true"
    assert ("PDQ", "f" * 16 + "0" * 48) in [
        (p.findtext("name"), p.findtext("value")) for p in file_root.iter("nameValuePair")
    ]
    assert events(db, case_id) == ["report_created", "report_sent"]
    assert reports.list(case_id=case_id) == [info]


def test_report_preserves_the_evidence_for_the_jurisdictions_period(db: Database) -> None:
    case_id = add_case(db, decided_by=add_reviewer(db))
    evidence = FakeEvidence({})
    evidence.blobs[scan_of(db, case_id)] = MEDIA
    reports, _fake, _ = wired(db, evidence=evidence, preservation_days=30, jurisdiction_days={"US": 400})
    before = utcnow()
    info = reports.create_and_send(case_id, actor="reviewer:rev")
    until = evidence.preserved[scan_of(db, case_id)]
    assert before + timedelta(days=400) <= until <= utcnow() + timedelta(days=400)
    assert info.preserve_until is not None and abs(info.preserve_until - until) < timedelta(seconds=5)


def test_a_case_without_evidence_is_reported_with_its_hashes_only(db: Database) -> None:
    case_id = add_case(db, decided_by=add_reviewer(db))
    reports, fake, _ = wired(db)
    info = reports.create_and_send(case_id, actor="reviewer:rev")
    assert info.status == "finished" and info.file_ids == ()
    assert [e for _m, e in fake.requests] == ["submit", "finish"]


@pytest.mark.parametrize(
    ("status", "human", "classification", "kind"),
    [
        ("open", True, None, "match"),
        ("escalated", True, None, "match"),
        ("false_positive", True, None, "match"),
        ("confirmed", False, "A1", "match"),  # no human reviewer's confirmation
        ("confirmed", True, None, "match"),  # no classification
        ("confirmed", True, "A1", "appeal"),
    ],
)
def test_no_report_without_a_human_confirmation(
    db: Database, status: str, human: bool, classification: str | None, kind: str
) -> None:
    reviewer = add_reviewer(db)
    case_id = add_case(
        db, status=status, decided_by=reviewer if human else None, classification=classification, kind=kind
    )
    reports, fake, _ = wired(db)
    with pytest.raises(ReportNotAllowedError):
        reports.create_and_send(case_id, actor="reviewer:rev")
    assert fake.requests == [] and reports.list() == []


def test_unknown_case(db: Database) -> None:
    reports, _fake, _ = wired(db)
    with pytest.raises(CaseNotFoundError):
        reports.create_and_send(999, actor="reviewer:rev")


def test_a_case_is_reported_once(db: Database) -> None:
    case_id = add_case(db, decided_by=add_reviewer(db))
    reports, fake, _ = wired(db)
    first = reports.create_and_send(case_id, actor="reviewer:rev")
    with pytest.raises(ReportNotAllowedError, match="already reported"):
        reports.create_and_send(case_id, actor="reviewer:rev")
    assert len(fake.reports) == 1 and reports.list() == [reports.get(first.id)]


def test_a_failed_delivery_is_recorded_and_resumed_without_a_second_report(db: Database) -> None:
    case_id = add_case(db, decided_by=add_reviewer(db))
    evidence = FakeEvidence({})
    evidence.blobs[scan_of(db, case_id)] = MEDIA
    reports, fake, _ = wired(db, evidence=evidence)
    for _ in range(4):
        fake.fail_next("finish", 503)
    with pytest.raises(ReportDeliveryError):
        reports.create_and_send(case_id, actor="reviewer:rev")
    [failed] = reports.list(case_id=case_id)
    assert failed.status == "failed" and failed.remote_id is not None and "503" in failed.last_error
    info = reports.create_and_send(case_id, actor="reviewer:rev")
    assert info.id == failed.id and info.status == "finished" and info.attempts == 2
    assert len(fake.reports) == 1 and len(fake.finished_reports[0].files) == 1
    assert events(db, case_id) == ["report_created", "report_failed", "report_sent"]


def test_a_lost_submit_answer_needs_a_human_before_resubmitting(db: Database) -> None:
    case_id = add_case(db, decided_by=add_reviewer(db))
    reports, fake, _ = wired(db)
    fake.lose_answer_next("submit")
    with pytest.raises(ReportOutcomeUnknownError):
        reports.create_and_send(case_id, actor="reviewer:rev")
    with pytest.raises(ReportNotAllowedError, match="resubmit"):
        reports.create_and_send(case_id, actor="reviewer:rev")
    assert len(fake.reports) == 1
    fake.reports.clear()  # a person checked with NCMEC: it did not arrive after all
    info = reports.create_and_send(case_id, actor="reviewer:rev", resubmit=True)
    assert info.status == "finished" and len(fake.reports) == 1


def test_retract_withdraws_the_report(db: Database) -> None:
    case_id = add_case(db, decided_by=add_reviewer(db))
    reports, fake, _ = wired(db)
    info = reports.create_and_send(case_id, actor="reviewer:rev")
    retracted = reports.retract_case(case_id, actor="admin:x", reason="appeal upheld")
    assert retracted.id == info.id and retracted.status == "retracted" and retracted.retract_reason == "appeal upheld"
    assert fake.reports[info.remote_id or ""].retracted
    assert events(db, case_id)[-1] == "report_retracted"
    with pytest.raises(ReportNotFoundError):
        reports.retract_case(case_id, actor="admin:x", reason="again")
    with pytest.raises(ReportNotAllowedError):
        reports.retract(info.id, actor="admin:x", reason="again")


def test_reporting_service_needs_a_reporter_email(db: Database) -> None:
    from brightline.errors import ValidationError
    from brightline.reporting.ncmec_xml import Reporter

    case_id = add_case(db, decided_by=add_reviewer(db))
    reports, fake, evidence = wired(db)
    bad = ReportService(db, destination=reports.destination, evidence=evidence, reporter=Reporter("A", "B", ""))
    with pytest.raises(ValidationError, match="email"):
        bad.create_and_send(case_id, actor="reviewer:rev")
    assert bad.list() == [] and fake.requests == []


def test_file_drop_destination_writes_the_report_without_media(db: Database, tmp_path: Path) -> None:
    case_id = add_case(db, decided_by=add_reviewer(db))
    evidence = FakeEvidence({})
    evidence.blobs[scan_of(db, case_id)] = MEDIA
    drop = FileDropDestination(tmp_path / "outbox", name="hotline", jurisdiction="DE")
    reports = ReportService(db, destination=drop, evidence=evidence, reporter=REPORTER, jurisdiction_days={"DE": 90})
    info = reports.create_and_send(case_id, actor="reviewer:rev")
    folder = tmp_path / "outbox" / (info.remote_id or "")
    assert (folder / "report.xml").read_text() == info.report_xml
    assert (folder / "file-1.xml").read_text() == info.file_xml[0]
    assert json.loads((folder / "metadata.json").read_text())["case_id"] == case_id
    assert not any(p.name.endswith("holiday.png") for p in folder.iterdir())
    assert evidence.reads == []  # media never decrypted for a destination that does not take it
    assert info.jurisdiction == "DE" and reports.preservation_days == 90
    reports.retract(info.id, actor="admin:x", reason="test")
    assert (folder / "RETRACTED").exists()


def test_retract_for_case_counts_what_it_withdrew(db: Database) -> None:
    case_id = add_case(db, decided_by=add_reviewer(db))
    reports, fake, _ = wired(db)
    assert reports.retract_for_case(case_id, actor="reviewer:rev", reason="appeal upheld") == 0
    info = reports.create_and_send(case_id, actor="reviewer:rev")
    assert reports.retract_for_case(case_id, actor="reviewer:rev", reason="appeal upheld") == 1
    assert reports.get(info.id).status == "retracted" and fake.reports[info.remote_id or ""].retracted
    assert reports.retract_for_case(case_id, actor="reviewer:rev", reason="again") == 0
