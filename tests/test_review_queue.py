"""The review queue on SQLite and PostgreSQL: order, claims, decisions, the daily cap, listeners and feedback."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from brightline.auth.reviewers import ReviewerInfo, ReviewerService
from brightline.banks import BankService
from brightline.banks.types import EntryInput
from brightline.errors import (
    AuthenticationError,
    CaseNotFoundError,
    CaseStateError,
    ReviewCapReachedError,
    ValidationError,
)
from brightline.review import EntryFeedback, ReviewQueue
from brightline.review.types import CaseHit, Decision
from brightline.store.db import Database
from brightline.store.models import scan_records_table, utcnow
from brightline.store.models_cases import cases_table

PDQ = "f" * 64


def _hit(domain: str = "other", distance: int = 5, *, exact: bool = False, entry_id: int = 1) -> CaseHit:
    return CaseHit(
        bank="known", domain=domain, category="A1", signal_type="pdq", entry_id=entry_id, distance=distance, exact=exact
    )


def _reviewer(db: Database, name: str, role: str = "reviewer", daily_cap: int | None = None) -> ReviewerInfo:
    return ReviewerService(db).create(name, "correct horse", role=role, daily_cap=daily_cap)


def _scan(db: Database, pdq: str | None = PDQ) -> int:
    with db.write_connection() as conn:
        return int(
            conn.execute(
                sa.insert(scan_records_table)
                .values(content_type="image", pdq=pdq, md5="0" * 32, account_id="acct")
                .returning(scan_records_table.c.id)
            ).scalar_one()
        )


def _open(queue: ReviewQueue, *hits: CaseHit, account: str | None = None, scan_id: int | None = None) -> int:
    case = queue.open_case(scan_id=scan_id, account_id=account, content_id="c", hits=hits or (_hit(),))
    return case.id


def test_pending_orders_by_priority_then_age(db: Database) -> None:
    queue = ReviewQueue(db)
    far_other = _open(queue, _hit("other", 30))
    close_other = _open(queue, _hit("other", 2))
    csam = _open(queue, _hit("csam", 30))
    exact = _open(queue, _hit("other", 0, exact=True))
    same_as_first = _open(queue, _hit("other", 30))
    assert [c.id for c in queue.pending()] == [csam, exact, close_other, far_other, same_as_first]
    assert queue.count_pending() == 5


def test_account_history_raises_priority(db: Database) -> None:
    queue = ReviewQueue(db)
    admin = _reviewer(db, "boss", role="admin")
    first = _open(queue, account="repeat")
    before = queue.get(first).priority
    queue.decide(first, admin.id, "confirm", classification="B1")
    again = _open(queue, account="repeat")
    stranger = _open(queue, account="someone-else")
    assert queue.get(again).priority > queue.get(stranger).priority == before
    assert [c.id for c in queue.account_history("repeat")] == [again, first]


def test_open_case_is_idempotent_per_scan(db: Database) -> None:
    queue = ReviewQueue(db)
    scan = _scan(db)
    first = queue.open_case(scan_id=scan, account_id="a", content_id="c", hits=[_hit()])
    second = queue.open_case(scan_id=scan, account_id="a", content_id="c", hits=[_hit("csam")])
    assert second.id == first.id
    assert queue.count_pending() == 1
    assert [e.action for e in queue.history(first.id)] == ["opened"]


def test_open_case_keeps_the_closest_hit_and_refuses_nonsense(db: Database) -> None:
    queue = ReviewQueue(db)
    case = queue.open_case(
        scan_id=None,
        account_id=None,
        content_id=None,
        hits=[_hit(distance=9, entry_id=4), _hit(distance=3, entry_id=7)],
        rules=["escalate-csam", "report"],
    )
    assert (case.entry_id, case.distance, case.rules) == (7, 3, ("escalate-csam", "report"))
    with pytest.raises(ValidationError):
        queue.open_case(scan_id=None, account_id=None, content_id=None, hits=[])
    with pytest.raises(ValidationError):
        queue.open_case(scan_id=None, account_id=None, content_id=None, hits=[_hit()], kind="other")


def test_claim_release_and_ownership(db: Database) -> None:
    queue = ReviewQueue(db)
    alice, bob = _reviewer(db, "alice"), _reviewer(db, "bob")
    admin = _reviewer(db, "root", role="admin")
    case_id = _open(queue)
    assert queue.claim(case_id, alice.id).claimed_by == alice.id
    with pytest.raises(CaseStateError):
        queue.claim(case_id, bob.id)
    with pytest.raises(CaseStateError):
        queue.release(case_id, bob.id)
    assert queue.release(case_id, admin.id).claimed_by is None
    assert queue.claim(case_id, bob.id).claimed_by == bob.id
    assert queue.release(case_id, bob.id).claimed_by is None
    actions = [e.action for e in queue.history(case_id)]
    assert actions == ["opened", "claimed", "released", "claimed", "released"]


def test_expired_claims_count_as_released(db: Database) -> None:
    queue = ReviewQueue(db, claim_minutes=10)
    alice, bob = _reviewer(db, "alice"), _reviewer(db, "bob")
    case_id = _open(queue)
    queue.claim(case_id, alice.id)
    with db.write_connection() as conn:
        conn.execute(
            sa.update(cases_table)
            .values(claimed_at=utcnow() - timedelta(minutes=11))
            .where(cases_table.c.id == case_id)
        )
    assert queue.pending()[0].claimed_by is None
    assert queue.claim_next(bob.id).id == case_id
    with pytest.raises(CaseStateError):
        queue.decide(case_id, alice.id, "escalate")


def test_claim_next_takes_the_top_and_keeps_what_one_holds(db: Database) -> None:
    queue = ReviewQueue(db)
    alice, bob = _reviewer(db, "alice"), _reviewer(db, "bob")
    low = _open(queue, _hit("other", 30))
    high = _open(queue, _hit("csam", 1))
    assert queue.claim_next(alice.id).id == high
    assert queue.claim_next(alice.id).id == high
    assert queue.claim_next(bob.id).id == low
    with pytest.raises(CaseNotFoundError):
        queue.claim_next(_reviewer(db, "carol").id)


def test_concurrent_claim_next_never_hands_out_a_case_twice(db: Database) -> None:
    queue = ReviewQueue(db)
    cases = {_open(queue, _hit(distance=d)) for d in range(6)}
    reviewers = [_reviewer(db, f"r{i}") for i in range(6)]
    start = threading.Barrier(len(reviewers))

    def take(reviewer_id: int) -> int:
        start.wait()
        return queue.claim_next(reviewer_id).id

    with ThreadPoolExecutor(len(reviewers)) as pool:
        taken = list(pool.map(take, [r.id for r in reviewers]))
    assert sorted(taken) == sorted(cases)


def test_decide_validates_the_decision(db: Database) -> None:
    queue = ReviewQueue(db)
    alice, bob = _reviewer(db, "alice"), _reviewer(db, "bob")
    case_id = _open(queue)
    with pytest.raises(CaseStateError):
        queue.decide(case_id, alice.id, "confirm", classification="A1")  # not claimed
    queue.claim(case_id, alice.id)
    with pytest.raises(CaseStateError):
        queue.decide(case_id, bob.id, "confirm", classification="A1")  # someone else's claim
    for bad in (
        {"decision": "confirm"},
        {"decision": "confirm", "classification": "C3"},
        {"decision": "uphold"},
        {"decision": "escalate", "disable_entry": True},
        {"decision": "false_positive", "classification": "A1"},
        {"decision": "confirm", "classification": "A1", "domain": "Not A Domain"},
    ):
        with pytest.raises(ValidationError):
            queue.decide(case_id, alice.id, **bad)  # type: ignore[arg-type]
    decided = queue.decide(case_id, alice.id, "confirm", classification="a2", domain="csam")
    assert (decided.status, decided.classification, decided.decision_domain) == ("confirmed", "A2", "csam")
    assert (decided.decided_by, decided.claimed_by, decided.is_open) == (alice.id, None, False)
    with pytest.raises(CaseStateError):
        queue.decide(case_id, alice.id, "false_positive")
    assert queue.count_pending() == 0


def test_confirm_defaults_to_the_list_domain_and_admin_decides_unclaimed(db: Database) -> None:
    queue = ReviewQueue(db)
    admin = _reviewer(db, "root", role="admin")
    case_id = _open(queue, _hit("ncii"))
    decided = queue.decide(case_id, admin.id, "confirm", classification="B2")
    assert decided.decision_domain == "ncii"


def test_escalate_returns_the_case_on_top(db: Database) -> None:
    queue = ReviewQueue(db)
    alice = _reviewer(db, "alice")
    csam = _open(queue, _hit("csam", 0))
    other = _open(queue, _hit("other", 30))
    queue.claim(other, alice.id)
    escalated = queue.decide(other, alice.id, "escalate", note="not sure")
    assert (escalated.status, escalated.claimed_by, escalated.is_open) == ("escalated", None, True)
    assert [c.id for c in queue.pending()] == [other, csam]
    assert queue.history(other)[-1].details == {"decision": "escalate", "note": "not sure"}


def test_appeal_cases_take_uphold_or_reject(db: Database) -> None:
    queue = ReviewQueue(db)
    admin = _reviewer(db, "root", role="admin")
    contested = _open(queue, _hit("csam", 4, entry_id=9))
    queue.decide(contested, admin.id, "confirm", classification="A1")
    appeal = queue.open_case(
        scan_id=None, account_id="a", content_id="c", hits=[], kind="appeal", appeal_of=contested, note="mine"
    )
    assert (appeal.kind, appeal.entry_id, appeal.list_domain, appeal.appeal_of) == ("appeal", 9, "csam", contested)
    with pytest.raises(ValidationError):
        queue.decide(appeal.id, admin.id, "confirm", classification="A1")
    assert queue.decide(appeal.id, admin.id, "uphold").status == "appeal_upheld"
    reversed_case = queue.set_status(contested, "false_positive", actor="system", reason="appeal upheld")
    assert reversed_case.status == "false_positive"
    assert queue.history(contested)[-1].details == {
        "from": "confirmed",
        "to": "false_positive",
        "reason": "appeal upheld",
    }


def test_daily_cap_stops_decisions(db: Database) -> None:
    queue = ReviewQueue(db, daily_cap=2)
    alice = _reviewer(db, "alice")
    strict = _reviewer(db, "strict", daily_cap=1)
    ids = [_open(queue) for _ in range(5)]
    for case_id in ids[:2]:
        queue.claim(case_id, alice.id)
        queue.decide(case_id, alice.id, "false_positive")
    assert queue.decided_today(alice.id) == 2
    queue.claim(ids[2], alice.id)
    with pytest.raises(ReviewCapReachedError):
        queue.decide(ids[2], alice.id, "false_positive")
    with pytest.raises(ReviewCapReachedError):
        queue.claim_next(alice.id)
    assert queue.get(ids[2]).is_open
    queue.claim(ids[3], strict.id)
    queue.decide(ids[3], strict.id, "escalate")
    assert queue.cap_for(strict.id) == 1
    queue.claim(ids[4], strict.id)
    with pytest.raises(ReviewCapReachedError):
        queue.decide(ids[4], strict.id, "confirm", classification="A1")


def test_mark_viewed_records_the_first_view(db: Database) -> None:
    queue = ReviewQueue(db)
    alice, bob = _reviewer(db, "alice"), _reviewer(db, "bob")
    case_id = _open(queue)
    assert not queue.get(case_id).media_viewed
    first = queue.mark_viewed(case_id, alice.id)
    assert first.media_viewed and first.viewed_by == alice.id and first.viewed_at is not None
    assert queue.mark_viewed(case_id, bob.id).viewed_by == alice.id
    assert [e.actor for e in queue.history(case_id) if e.action == "viewed"] == ["reviewer:alice", "reviewer:bob"]


def test_inactive_or_unknown_reviewers_cannot_act(db: Database) -> None:
    queue = ReviewQueue(db)
    _reviewer(db, "gone")
    gone = ReviewerService(db).deactivate("gone")
    case_id = _open(queue)
    with pytest.raises(AuthenticationError):
        queue.claim(case_id, gone.id)
    with pytest.raises(AuthenticationError):
        queue.claim_next(9999)
    with pytest.raises(CaseNotFoundError):
        queue.get(12345)


class _Recorder:
    def __init__(self, queue: ReviewQueue) -> None:
        self.queue = queue
        self.seen: list[tuple[Decision, str]] = []

    def on_decision(self, decision: Decision) -> None:
        # What another connection reads now: the decision must already be committed.
        self.seen.append((decision, self.queue.get(decision.case.id).status))


class _Broken:
    def on_decision(self, decision: Decision) -> None:
        raise RuntimeError("report service down")


def test_listeners_run_after_commit_and_their_errors_are_recorded(db: Database) -> None:
    queue = ReviewQueue(db)
    recorder = _Recorder(queue)
    queue.add_listener(_Broken())
    queue.add_listener(recorder)
    alice = _reviewer(db, "alice")
    case_id = _open(queue)
    queue.claim(case_id, alice.id)
    decided = queue.decide(case_id, alice.id, "confirm", classification="A1", note="clear")
    assert decided.status == "confirmed"
    [(decision, status_then)] = recorder.seen
    assert status_then == "confirmed"
    assert (decision.decision, decision.reviewer, decision.classification, decision.note) == (
        "confirm",
        "alice",
        "A1",
        "clear",
    )
    failed = [e for e in queue.history(case_id) if e.action == "listener_failed"]
    assert failed[0].details == {"listener": "_Broken", "error": "RuntimeError: report service down"}


def test_entry_feedback_disables_the_entry_and_fills_a_negative_bank(db: Database) -> None:
    banks = BankService(db)
    banks.create_bank("known", domain="csam")
    banks.add_entries("known", [EntryInput(signal_type="pdq", value="a" * 64)])
    entry = banks.list_entries("known")[0]
    queue = ReviewQueue(db, listeners=[EntryFeedback(banks)])
    alice = _reviewer(db, "alice")
    scan = _scan(db)
    case = queue.open_case(scan_id=scan, account_id="a", content_id="c", hits=[_hit("csam", 3, entry_id=entry.id)])
    queue.claim(case.id, alice.id)
    queue.decide(case.id, alice.id, "false_positive", disable_entry=True, negative_bank="known-good")
    assert banks.get_entry(entry.id).enabled is False
    negative = banks.get_bank("known-good")
    assert negative.domain == "allow"
    [added] = banks.list_entries("known-good")
    assert (added.signal_type, added.value, added.source) == ("pdq", PDQ, f"case:{case.id}")
    assert not any(e.action == "listener_failed" for e in queue.history(case.id))


def test_entry_feedback_ignores_other_decisions(db: Database) -> None:
    banks = BankService(db)
    banks.create_bank("known", domain="csam")
    banks.add_entries("known", [EntryInput(signal_type="pdq", value="a" * 64)])
    entry = banks.list_entries("known")[0]
    queue = ReviewQueue(db, listeners=[EntryFeedback(banks)])
    admin = _reviewer(db, "root", role="admin")
    case_id = _open(queue, _hit("csam", 3, entry_id=entry.id))
    queue.decide(case_id, admin.id, "confirm", classification="A1")
    assert banks.get_entry(entry.id).enabled is True
