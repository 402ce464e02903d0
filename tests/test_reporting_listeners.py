"""Through the real review queue: report_on_confirm reports after a human confirms; an upheld appeal retracts."""

from __future__ import annotations

from test_reporting_support import add_case, add_reviewer, events, scan_of, wired

from brightline.reporting import FakeCyberTipline, ReportOnConfirm, ReportService, RetractOnReversal
from brightline.review.queue import ReviewQueue
from brightline.review.types import CaseHit
from brightline.store.db import Database

HIT = CaseHit(bank="known-list", domain="csam", category="", signal_type="pdq", entry_id=1, distance=4)


def _queue(db: Database) -> tuple[ReviewQueue, ReportService, FakeCyberTipline]:
    reports, fake, _ = wired(db)
    queue = ReviewQueue(db, listeners=[ReportOnConfirm(reports), RetractOnReversal(reports)])
    return queue, reports, fake


def _confirm(queue: ReviewQueue, case_id: int, reviewer: int, decision: str = "confirm") -> None:
    queue.claim(case_id, reviewer)
    queue.mark_viewed(case_id, reviewer)
    queue.decide(case_id, reviewer, decision, classification="A1" if decision == "confirm" else None)


def _scan(db: Database) -> int:
    # A scan record (and a throwaway decided case on it) from the shared helper.
    return scan_of(db, add_case(db, status="false_positive", classification=None))


def test_report_on_confirm_reports_after_the_human_decision_only(db: Database) -> None:
    queue, reports, fake = _queue(db)
    reviewer = add_reviewer(db)
    case = queue.open_case(scan_id=_scan(db), account_id="a", content_id="c", hits=[HIT], report_on_confirm=True)
    assert reports.list(case_id=case.id) == [] and fake.requests == []
    _confirm(queue, case.id, reviewer)
    [info] = reports.list(case_id=case.id)
    assert info.status == "finished" and info.created_by == "system:report_on_confirm"
    assert "report_sent" in events(db, case.id)


def test_without_report_on_confirm_nothing_is_sent(db: Database) -> None:
    queue, reports, fake = _queue(db)
    reviewer = add_reviewer(db)
    case = queue.open_case(scan_id=_scan(db), account_id="a", content_id="c", hits=[HIT])
    _confirm(queue, case.id, reviewer)
    assert reports.list() == [] and fake.requests == []


def test_a_false_positive_is_never_reported(db: Database) -> None:
    queue, reports, fake = _queue(db)
    reviewer = add_reviewer(db)
    case = queue.open_case(scan_id=_scan(db), account_id="a", content_id="c", hits=[HIT], report_on_confirm=True)
    _confirm(queue, case.id, reviewer, "false_positive")
    assert reports.list() == [] and fake.requests == []


def test_delivery_failure_is_recorded_and_the_decision_stands(db: Database) -> None:
    queue, reports, fake = _queue(db)
    for _ in range(4):
        fake.fail_next("submit", 503)
    reviewer = add_reviewer(db)
    case = queue.open_case(scan_id=_scan(db), account_id="a", content_id="c", hits=[HIT], report_on_confirm=True)
    _confirm(queue, case.id, reviewer)
    assert queue.get(case.id).status == "confirmed"
    assert "report_failed" in events(db, case.id)
    [info] = reports.list(case_id=case.id)
    assert info.status == "failed"


def test_appeal_upheld_retracts_the_report(db: Database) -> None:
    queue, reports, fake = _queue(db)
    reviewer = add_reviewer(db)
    admin = add_reviewer(db, "second")
    case = queue.open_case(scan_id=_scan(db), account_id="a", content_id="c", hits=[HIT], report_on_confirm=True)
    _confirm(queue, case.id, reviewer)
    [sent] = reports.list(case_id=case.id)
    appeal = queue.open_case(scan_id=None, account_id="a", content_id="c", hits=[], kind="appeal", appeal_of=case.id)
    queue.claim(appeal.id, admin)
    queue.decide(appeal.id, admin, "uphold")
    retracted = reports.get(sent.id)
    assert retracted.status == "retracted" and retracted.retracted_by == "reviewer:second"
    assert fake.reports[sent.remote_id or ""].retracted
    assert "report_retracted" in events(db, case.id)


def test_appeal_rejected_keeps_the_report(db: Database) -> None:
    queue, reports, _fake = _queue(db)
    reviewer = add_reviewer(db)
    case = queue.open_case(scan_id=_scan(db), account_id="a", content_id="c", hits=[HIT], report_on_confirm=True)
    _confirm(queue, case.id, reviewer)
    appeal = queue.open_case(scan_id=None, account_id="a", content_id="c", hits=[], kind="appeal", appeal_of=case.id)
    queue.claim(appeal.id, reviewer)
    queue.decide(appeal.id, reviewer, "reject")
    [info] = reports.list(case_id=case.id)
    assert info.status == "finished"
