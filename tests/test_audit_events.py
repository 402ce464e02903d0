"""Each module writes its security-relevant events to the audit log, in the same transaction as the change."""

from __future__ import annotations

import pytest

from brightline.auth import ApiKeyService
from brightline.auth.reviewers import ReviewerService
from brightline.errors import AuthenticationError
from brightline.privacy.audit import verify
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
