"""The actions layer audits evidence (stored, viewed, deleted), rule changes and enforcement."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from brightline.actions.enforcement import EnforcementService
from brightline.actions.evidence import EvidenceStore
from brightline.actions.keys import LocalKeyProvider
from brightline.actions.rulefile import RuleSet
from brightline.actions.rules import RuleService
from brightline.actions.ruletypes import DomainPolicy, Rule
from brightline.privacy.audit import verify
from brightline.store.audit import AuditLog, AuditRecord
from brightline.store.db import Database
from brightline.store.models import scan_records_table, utcnow


def _events(db: Database, prefix: str) -> list[AuditRecord]:
    return AuditLog(db).records(action=prefix)


def _scan(db: Database) -> int:
    with db.write_connection() as conn:
        return int(
            conn.execute(
                sa.insert(scan_records_table)
                .values(created_at=utcnow(), content_type="image", account_id="acct")
                .returning(scan_records_table.c.id)
            ).scalar_one()
        )


def test_evidence_store_read_and_delete_are_audited(db: Database, tmp_path: Path) -> None:
    store = EvidenceStore(db, tmp_path / "evidence", LocalKeyProvider(bytes(range(32))))
    scan_id = _scan(db)
    data = os.urandom(2048)
    info = store.put(scan_id, data, media_type="image/jpeg", actor="api_key:3")
    store.read(info.id, actor="reviewer:alice", purpose="review")
    store.delete(info.id, actor="system", reason="retention")
    stored, viewed, deleted = AuditLog(db).records()
    assert (stored.action, stored.actor) == ("evidence.stored", "api_key:3")
    assert stored.details == {"evidence_id": info.id, "scan_id": scan_id, "size": 2048}
    assert (viewed.action, viewed.actor) == ("media.viewed", "reviewer:alice")
    assert viewed.details == {"evidence_id": info.id, "scan_id": scan_id, "purpose": "review"}
    assert (deleted.action, deleted.details) == (
        "evidence.deleted",
        {"evidence_id": info.id, "scan_id": scan_id, "reason": "retention"},
    )
    # Never the media, nor its digests.
    assert info.sha256 not in str([e.as_dict() for e in (stored, viewed, deleted)])


def test_rule_changes_are_audited_once_per_real_change(db: Database) -> None:
    rules = RuleService(db)
    ruleset = RuleSet(rules=(Rule(name="csam-known", actions=("review",)),), domains=(DomainPolicy("third", False),))
    rules.apply(ruleset, actor="cli")
    rules.apply(ruleset)  # the same file again (every worker start): nothing changed, nothing written
    rules.put_rule(Rule(name="other", actions=("block",)), actor="api_key:2")
    rules.delete_rule("other", actor="api_key:2")
    events = _events(db, "rules.changed")
    assert [(e.actor, e.details) for e in events] == [
        ("cli", {"names": ["csam-known", "domain:third"], "how": "file"}),
        ("api_key:2", {"names": ["other"], "how": "api"}),
        ("api_key:2", {"names": ["other"], "how": "api"}),
    ]


def test_enforcement_applied_and_reversed_are_audited(db: Database) -> None:
    enforcement = EnforcementService(db)
    scan_id = _scan(db)
    for action in ("block", "quarantine", "block"):  # the second block is the same active one
        enforcement.apply(scan_id=scan_id, content_id="c1", account_id="a1", action=action, rule="r", actor="system")
    enforcement.reverse(scan_id=scan_id, actor="reviewer:bob", reason="appeal upheld")
    events = _events(db, "enforcement.*")
    assert [(e.action, e.actor, e.details) for e in events] == [
        ("enforcement.applied", "system", {"scan_id": scan_id, "action": "block"}),
        ("enforcement.applied", "system", {"scan_id": scan_id, "action": "quarantine"}),
        ("enforcement.reversed", "reviewer:bob", {"scan_id": scan_id, "actions": ["block", "quarantine"]}),
    ]
    assert verify(db).ok
