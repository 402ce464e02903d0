"""User notices and enforcement: recorded, listed, and enforcement reversed (e.g. after an appeal)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from brightline.actions.enforcement import EnforcementService
from brightline.actions.notices import NoticeService
from brightline.errors import ValidationError
from brightline.store.db import Database
from brightline.store.models import scan_records_table, utcnow


def scan(db: Database, content_id: str, account_id: str = "acct") -> int:
    with db.write_connection() as conn:
        return int(
            conn.execute(
                sa.insert(scan_records_table)
                .values(created_at=utcnow(), content_type="image", content_id=content_id, account_id=account_id)
                .returning(scan_records_table.c.id)
            ).scalar_one()
        )


def test_notices_are_listed_per_account_and_content(db: Database) -> None:
    notices = NoticeService(db)
    first = notices.create(scan_id=scan(db, "c1"), account_id="a1", content_id="c1", text="Removed.", rule="r")
    second = notices.create(scan_id=None, account_id="a1", content_id="c2", text="Removed too.", rule="r")
    notices.create(scan_id=None, account_id="a2", content_id="c3", text="Other.", rule="r")
    assert [n.id for n in notices.list(account_id="a1")] == [second.id, first.id]
    assert notices.list(content_id="c1") == [first]
    assert notices.list(scan_id=first.scan_id) == [first]
    long_rules = ",".join(f"rule-{i:02d}" for i in range(20))  # several rules fired: more than one name's length
    assert notices.create(scan_id=None, account_id=None, content_id="c4", text="x", rule=long_rules).rule == long_rules
    assert first.as_dict()["text"] == "Removed."
    assert len(notices.list(limit=2)) == 2
    with pytest.raises(ValidationError):
        notices.create(scan_id=None, account_id=None, content_id=None, text=" ", rule="r")


def test_enforcement_is_applied_once_and_listed(db: Database) -> None:
    service = EnforcementService(db)
    scan_id = scan(db, "c1")
    block = service.apply(scan_id=scan_id, content_id="c1", account_id="a1", action="block", rule="r", actor="system")
    again = service.apply(scan_id=scan_id, content_id="c1", account_id="a1", action="block", rule="r", actor="system")
    assert again == block and block.active
    service.apply(scan_id=scan_id, content_id="c1", account_id="a1", action="quarantine", rule="r", actor="system")
    service.apply(scan_id=None, content_id="c9", account_id="a2", action="block", rule="r", actor="system")
    assert [e.action for e in service.active(content_id="c1")] == ["block", "quarantine"]
    assert [e.content_id for e in service.active(account_id="a2")] == ["c9"]
    assert [e.action for e in service.active(scan_id=scan_id)] == ["block", "quarantine"]
    with pytest.raises(ValidationError):
        service.apply(scan_id=scan_id, content_id="c1", account_id=None, action="ban", rule="r", actor="system")
    with pytest.raises(ValidationError):
        service.apply(scan_id=None, content_id=None, account_id="a", action="block", rule="r", actor="system")


def test_reversal_lifts_active_enforcement_and_keeps_history(db: Database) -> None:
    service = EnforcementService(db)
    scan_id = scan(db, "c1")
    service.apply(scan_id=scan_id, content_id="c1", account_id="a1", action="block", rule="r", actor="system")
    service.apply(scan_id=None, content_id="c2", account_id="a1", action="block", rule="r", actor="system")
    reversed_ = service.reverse(scan_id=scan_id, actor="reviewer:ann", reason="appeal upheld")
    assert [(e.content_id, e.active, e.reversed_by, e.reverse_reason) for e in reversed_] == [
        ("c1", False, "reviewer:ann", "appeal upheld")
    ]
    assert service.reverse(scan_id=scan_id, actor="reviewer:ann", reason="again") == []
    assert [e.content_id for e in service.active(account_id="a1")] == ["c2"]
    assert [e.active for e in service.for_scan(scan_id)] == [False]
    # Blocking again after a reversal is a new enforcement, not the old one revived.
    fresh = service.apply(scan_id=scan_id, content_id="c1", account_id="a1", action="block", rule="r", actor="x")
    assert fresh.active and fresh.id != reversed_[0].id
    assert [e.content_id for e in service.reverse(content_id="c2", actor="x", reason="y")] == ["c2"]
    with pytest.raises(ValidationError):
        service.reverse(actor="x", reason="nothing named")
