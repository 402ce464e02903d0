"""Review cases, reports, legal holds and appeals write their audit records."""

from __future__ import annotations

import pytest
from test_reporting_support import MEDIA, FakeEvidence, add_case, add_reviewer, scan_of, wired

from brightline.actions.enforcement import EnforcementService
from brightline.actions.webhooks import WebhookService
from brightline.appeals.service import AppealService
from brightline.auth.reviewers import ReviewerService
from brightline.errors import ReportDeliveryError
from brightline.privacy.audit import verify
from brightline.reporting import HoldService
from brightline.review import ReviewQueue
from brightline.review.types import CaseHit
from brightline.store.audit import AuditLog, AuditRecord
from brightline.store.db import Database

HIT = CaseHit(bank="known", domain="csam", category="A1", signal_type="pdq", entry_id=1, distance=5, exact=False)


def _events(db: Database, prefix: str) -> list[AuditRecord]:
    return AuditLog(db).records(action=prefix)


def test_a_case_opened_viewed_decided_and_reversed_is_audited(db: Database) -> None:
    queue = ReviewQueue(db)
    reviewer = ReviewerService(db).create("alice", "correct horse")
    case = queue.open_case(scan_id=None, account_id="a1", content_id="c1", hits=[HIT], verified=False)
    queue.claim(case.id, reviewer.id)
    queue.mark_viewed(case.id, reviewer.id)
    queue.decide(case.id, reviewer.id, "confirm", classification="A1", domain="csam")
    queue.set_status(case.id, "false_positive", actor="reviewer:bob", reason="appeal upheld")
    opened, viewed, decided, changed = _events(db, "case.*")
    assert opened.actor == "system"
    assert opened.details == {
        "case_id": case.id,
        "kind": "match",
        "bank": "known",
        "domain": "csam",
        "signal_type": "pdq",
        "verified": False,
    }
    assert (viewed.action, viewed.actor, viewed.details) == ("case.viewed", "reviewer:alice", {"case_id": case.id})
    assert decided.action == "case.decided" and decided.actor == "reviewer:alice"
    seconds = decided.details.pop("seconds_to_decision")
    assert decided.details == {
        "case_id": case.id,
        "kind": "match",
        "decision": "confirm",
        "classification": "A1",
        "domain": "csam",
        "bank": "known",
        "signal_type": "pdq",
        "opened_at": opened.created_at.isoformat(timespec="microseconds"),
    }
    assert 0 <= seconds == pytest.approx((decided.created_at - opened.created_at).total_seconds(), abs=0.001)
    assert changed.details == {"case_id": case.id, "status": "false_positive", "reason": "appeal upheld"}
    assert verify(db).ok


def test_reports_sent_failed_and_retracted_and_holds_are_audited(db: Database) -> None:
    reviewer = add_reviewer(db)
    case_id = add_case(db, decided_by=reviewer)
    failing = add_case(db, decided_by=reviewer)
    reports, fake, _ = wired(db, evidence=FakeEvidence({scan_of(db, case_id): MEDIA, scan_of(db, failing): MEDIA}))
    report = reports.create_and_send(case_id, actor="reviewer:rev")
    reports.retract(report.id, actor="api_key:1", reason="appeal upheld")
    fake.fail_next("submit", 400)
    with pytest.raises(ReportDeliveryError):
        reports.create_and_send(failing, actor="cli")
    sent, retracted, failed = _events(db, "report.*")
    assert sent.action == "report.sent" and sent.actor == "reviewer:rev"
    assert sent.details["seconds_since_case_opened"] > 0
    assert {k: v for k, v in sent.details.items() if k != "seconds_since_case_opened"} == {
        "report_id": report.id,
        "case_id": case_id,
        "destination": "cybertipline",
    }
    assert (retracted.action, retracted.details) == ("report.retracted", {"report_id": report.id, "case_id": case_id})
    assert failed.action == "report.failed" and failed.details["case_id"] == failing

    holds = HoldService(db)
    hold = holds.place(case_id, reason="court order", actor="cli")
    holds.release(hold.id, actor="cli")
    placed, released = _events(db, "hold.*")
    assert placed.details == {"hold_id": hold.id, "case_id": case_id, "expires_at": None}
    assert released.details == {"hold_id": hold.id, "case_id": case_id}


@pytest.mark.parametrize("decision", ["uphold", "reject"])
def test_appeals_submitted_and_decided_are_audited(db: Database, decision: str) -> None:
    queue = ReviewQueue(db)
    reviewer = ReviewerService(db).create("alice", "correct horse", role="admin")
    original = add_case(db, decided_by=reviewer.id)
    appeals = AppealService(db, queue=queue, enforcement=EnforcementService(db), webhooks=WebhookService(db, b"s" * 32))
    queue.add_listener(appeals)
    appeal = appeals.submit(reason="that is my own photo", case_id=original, actor="api_key:4")
    queue.decide(appeal.review_case_id, reviewer.id, decision)
    submitted, decided = _events(db, "appeal.*")
    assert (submitted.actor, submitted.details) == ("api_key:4", {"appeal_id": appeal.id, "case_id": original})
    assert decided.actor == "reviewer:alice"
    assert decided.details == {
        "appeal_id": appeal.id,
        "case_id": original,
        "outcome": "upheld" if decision == "uphold" else "rejected",
        "bank": "known-list",
        "domain": "csam",
        "signal_type": "pdq",
    }
    assert verify(db).ok
