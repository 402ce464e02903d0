"""Each module writes its security-relevant events to the audit log, in the same transaction as the change."""

from __future__ import annotations

from pathlib import Path

import pytest

from brightline.auth import ApiKeyService
from brightline.auth.reviewers import ReviewerService
from brightline.banks import BankService
from brightline.errors import AuthenticationError
from brightline.matching import Match
from brightline.privacy.audit import verify
from brightline.privacy.audit_settings import record_settings
from brightline.records import RecordService, ScanMetadata, ScanRecord
from brightline.settings import Settings
from brightline.signals.hashing import MediaHashes
from brightline.store.audit import AuditLog, AuditRecord
from brightline.store.db import Database


def _events(db: Database, prefix: str) -> list[AuditRecord]:
    return AuditLog(db).records(action=prefix)


def test_api_key_creation_and_revocation_are_audited(db: Database) -> None:
    keys = ApiKeyService(db)
    token, info = keys.create("uploader", ["scan", "hash"], actor="cli")
    keys.revoke(info.id, actor="api_key:7")
    keys.revoke(info.id, actor="api_key:7")  # already revoked: nothing new happened
    created, revoked = _events(db, "key.*")
    assert (created.action, created.actor, created.subject) == ("key.created", "cli", f"api_key:{info.id}")
    assert created.details == {"key_id": info.id, "name": "uploader", "scopes": ["hash", "scan"]}
    assert (revoked.action, revoked.actor, revoked.details) == ("key.revoked", "api_key:7", {"key_id": info.id})
    assert token.split("_")[-1] not in str(created.as_dict())
    assert verify(db).ok


def test_reviewer_events_are_audited_without_passwords(db: Database) -> None:
    reviewers = ReviewerService(db)
    info = reviewers.create("alice", "correct horse battery", role="admin", actor="cli")
    reviewers.authenticate("alice", "correct horse battery")
    with pytest.raises(AuthenticationError):
        reviewers.authenticate("alice", "wrong password")
    with pytest.raises(AuthenticationError):
        reviewers.authenticate("my secret password", "x")
    reviewers.deactivate("alice", actor="reviewer:root")
    events = _events(db, "reviewer.*")
    assert [(e.action, e.actor) for e in events] == [
        ("reviewer.created", "cli"),
        ("reviewer.login", "reviewer:alice"),
        ("reviewer.login_failed", "anonymous"),
        ("reviewer.login_failed", "anonymous"),
        ("reviewer.deactivated", "reviewer:root"),
    ]
    assert events[0].details == {"reviewer_id": info.id, "username": "alice", "role": "admin"}
    assert events[1].details == {"reviewer_id": info.id}
    # A name nobody has may be a mistyped password: it is not written down.
    assert [e.details for e in events[2:4]] == [{"username": "alice"}, {"username": ""}]
    text = str([e.as_dict() for e in events])
    assert "correct horse" not in text and "wrong password" not in text and "my secret" not in text


def _scan(records: RecordService, matches: list[Match], key: int | None = None) -> ScanRecord | None:
    return records.record_scan(
        api_key_id=key,
        idempotency_key=None,
        metadata=ScanMetadata(content_id="c-1", account_id="a-1"),
        hashes=MediaHashes(md5="a" * 32, sha256="b" * 64, pdq="c" * 64, quality=90),
        content_type="image",
        matches=matches,
    )


def test_a_matched_scan_is_audited_with_its_hits_and_their_domain(db: Database) -> None:
    BankService(db).create_bank("known", domain="csam")
    _, key = ApiKeyService(db).create("uploader", ["scan"])
    record = _scan(
        RecordService(db),
        [Match(bank="known", entry_id=1, signal_type="pdq", distance=12), Match("known", 2, "md5", 0)],
        key=key.id,
    )
    assert record is not None
    (event,) = _events(db, "match.recorded")
    assert (event.actor, event.subject) == (f"api_key:{key.id}", f"scan:{record.id}")
    assert event.details == {
        "scan_id": record.id,
        "content_type": "image",
        "hits": [
            {"bank": "known", "domain": "csam", "signal_type": "md5", "distance": 0},
            {"bank": "known", "domain": "csam", "signal_type": "pdq", "distance": 12},
        ],
    }
    # Only ids and names: never the media's hashes.
    assert "cccc" not in str(event.as_dict()) and "aaaa" not in str(event.as_dict())


def test_a_scan_that_matches_nothing_leaves_no_audit_record(db: Database) -> None:
    assert _scan(RecordService(db), []) is None
    assert AuditLog(db).count() == 0


def test_settings_are_recorded_at_first_start_and_then_only_when_they_change(db: Database, tmp_path: Path) -> None:
    base = Settings(data_dir=tmp_path, secret_key="s" * 40, ncmec_password="hunter2-weak")
    loaded = record_settings(db, base, actor="system")
    assert loaded is not None and loaded.action == "settings.loaded"
    assert "pdq_threshold" in loaded.details["names"] and "secret_key" in loaded.details["names"]
    assert record_settings(db, base, actor="system") is None
    changed_settings = base.model_copy(update={"pdq_threshold": 10, "ncmec_password": "another-weak-one"})
    changed = record_settings(db, changed_settings, actor="cli")
    assert changed is not None and changed.action == "settings.changed" and changed.actor == "cli"
    assert changed.details["names"] == ["ncmec_password", "pdq_threshold"]
    text = str([r.as_dict() for r in AuditLog(db).records()])
    assert "hunter2" not in text and "another-weak" not in text and "s" * 40 not in text
