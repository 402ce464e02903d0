"""Legal holds: placed with a reason, block deletion while active, expire or are released; preservation combines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_reporting_support import add_case, add_reviewer, events, wired

from brightline.errors import CaseNotFoundError, HoldNotFoundError, LegalHoldError, ValidationError
from brightline.reporting import HoldService, preservation_days_for
from brightline.store.db import Database
from brightline.store.models import utcnow


def test_a_hold_blocks_deletion_until_released(db: Database) -> None:
    case_id = add_case(db)
    holds = HoldService(db)
    holds.assert_deletable(case_id)
    hold = holds.place(case_id, reason="subpoena 2026-17", actor="admin:legal")
    assert holds.is_held(case_id) and holds.active(case_id) == [hold]
    with pytest.raises(LegalHoldError, match="legal hold"):
        holds.assert_deletable(case_id)
    assert holds.preserved_until(case_id).indefinite
    released = holds.release(hold.id, actor="admin:legal")
    assert released.released_by == "admin:legal" and released.released_at is not None
    assert not holds.is_held(case_id)
    holds.assert_deletable(case_id)
    with pytest.raises(LegalHoldError, match="already released"):
        holds.release(hold.id, actor="admin:legal")
    assert events(db, case_id) == ["hold_placed", "hold_released"]


def test_a_hold_expires(db: Database) -> None:
    case_id = add_case(db)
    holds = HoldService(db)
    expires = utcnow() + timedelta(days=10)
    hold = holds.place(case_id, reason="preservation letter", actor="admin:legal", expires_at=expires)
    assert holds.is_held(case_id)
    assert holds.preserved_until(case_id).until == expires
    later = expires + timedelta(seconds=1)
    assert not holds.is_held(case_id, at=later) and not hold.active_at(later)
    holds.assert_deletable(case_id, at=later)


def test_holds_are_per_case(db: Database) -> None:
    held, free = add_case(db), add_case(db)
    holds = HoldService(db)
    holds.place(held, reason="r", actor="a")
    assert holds.is_held(held) and not holds.is_held(free)
    assert [h.case_id for h in holds.active()] == [held]


def test_hold_arguments_are_checked(db: Database) -> None:
    case_id = add_case(db)
    holds = HoldService(db)
    with pytest.raises(CaseNotFoundError):
        holds.place(9999, reason="r", actor="a")
    with pytest.raises(ValidationError):
        holds.place(case_id, reason=" ", actor="a")
    with pytest.raises(ValidationError, match="future"):
        holds.place(case_id, reason="r", actor="a", expires_at=utcnow() - timedelta(days=1))
    with pytest.raises(HoldNotFoundError):
        holds.release(4242, actor="a")


def test_a_reported_case_is_preserved_for_the_report_period(db: Database) -> None:
    case_id = add_case(db, decided_by=add_reviewer(db))
    reports, _fake, _ = wired(db, preservation_days=365)
    info = reports.create_and_send(case_id, actor="reviewer:rev")
    holds = HoldService(db)
    preservation = holds.preserved_until(case_id)
    assert preservation.until == info.preserve_until and not preservation.indefinite
    assert info.preserve_until is not None and info.preserve_until > utcnow() + timedelta(days=364)
    with pytest.raises(LegalHoldError, match="preserved until"):
        holds.assert_deletable(case_id)
    holds.assert_deletable(case_id, at=info.preserve_until + timedelta(seconds=1))
    # A longer hold extends the date past the report's preservation.
    far = utcnow() + timedelta(days=800)
    holds.place(case_id, reason="litigation", actor="admin:legal", expires_at=far)
    assert holds.preserved_until(case_id).until == far


def test_preservation_days_per_jurisdiction() -> None:
    assert preservation_days_for("US", 365) == 365
    assert preservation_days_for("us", 365, {"US": 400}) == 400
    assert preservation_days_for("DE", 365, {"US": 400}) == 365
    assert preservation_days_for("DE", 365, {"de": 90}) == 90
    with pytest.raises(ValidationError):
        preservation_days_for("DE", 365, {"DE": 0})
