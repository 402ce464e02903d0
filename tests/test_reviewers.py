"""Reviewer accounts and console sessions: hashing, authentication, sessions and the CLI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from brightline.auth.reviewers import ReviewerService, hash_password, token_digest, verify_password
from brightline.cli import app
from brightline.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from brightline.store.db import Database
from brightline.store.models import utcnow
from brightline.store.models_cases import console_sessions_table, reviewers_table


def test_password_hashes_are_salted_and_verify() -> None:
    first, second = hash_password("a long password"), hash_password("a long password")
    assert first != second and first.startswith("scrypt$")
    assert verify_password("a long password", first)
    assert not verify_password("a long passwore", first)
    assert not verify_password("a long password", "md5$nonsense")
    assert not verify_password("a long password", "scrypt$x$y$z$w$v")


def test_create_and_authenticate(db: Database) -> None:
    service = ReviewerService(db)
    info = service.create("Alice", "correct horse", role="admin", display_name="Alice A.", daily_cap=50)
    assert (info.username, info.role, info.daily_cap, info.is_admin) == ("alice", "admin", 50, True)
    with db.session() as session:
        stored = session.execute(sa.select(reviewers_table.c.password_hash)).scalar_one()
    assert "correct horse" not in stored
    assert service.authenticate("alice", "correct horse").last_login_at is not None
    with pytest.raises(AuthenticationError) as wrong:
        service.authenticate("alice", "wrong horse")
    with pytest.raises(AuthenticationError) as unknown:
        service.authenticate("nobody", "correct horse")
    assert str(wrong.value) == str(unknown.value)
    with pytest.raises(ConflictError):
        service.create("alice", "another password")


@pytest.mark.parametrize(
    ("username", "password", "role"),
    [
        ("", "long enough", "reviewer"),
        ("-x", "long enough", "reviewer"),
        ("bob", "short", "reviewer"),
        ("bob", "long enough", "owner"),
    ],
)
def test_create_refuses_bad_input(db: Database, username: str, password: str, role: str) -> None:
    with pytest.raises(ValidationError):
        ReviewerService(db).create(username, password, role=role)


def test_set_password_and_deactivate_end_sessions(db: Database) -> None:
    service = ReviewerService(db)
    bob = service.create("bob", "first password")
    token, _ = service.start_session(bob.id, 10)
    service.set_password("bob", "second password")
    with pytest.raises(AuthenticationError):
        service.session(token)
    with pytest.raises(AuthenticationError):
        service.authenticate("bob", "first password")
    token, _ = service.start_session(service.authenticate("bob", "second password").id, 10)
    assert not service.deactivate("bob").active
    with pytest.raises(AuthenticationError):
        service.session(token)
    with pytest.raises(AuthenticationError):
        service.authenticate("bob", "second password")
    with pytest.raises(AuthenticationError):
        service.start_session(bob.id, 10)
    with pytest.raises(NotFoundError):
        service.deactivate("nobody")


def test_sessions_store_only_digests_and_expire(db: Database) -> None:
    service = ReviewerService(db)
    carol = service.create("carol", "a password!")
    token, csrf = service.start_session(carol.id, 30)
    who, session_info = service.session(token)
    assert who.id == carol.id and session_info.csrf_token == csrf
    with db.session() as session:
        stored = session.execute(sa.select(console_sessions_table.c.token_hash)).scalar_one()
    assert stored == token_digest(token) and token not in stored
    with db.write_connection() as conn:
        conn.execute(sa.update(console_sessions_table).values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(AuthenticationError):
        service.session(token)
    with pytest.raises(AuthenticationError):
        service.session("x")


def test_end_session_and_break_reminder(db: Database) -> None:
    service = ReviewerService(db)
    dave = service.create("dave", "a password!")
    token, _ = service.start_session(dave.id, 30)
    assert service.session(token)[1].break_reminded_at is None
    service.remind_break(token)
    assert service.session(token)[1].break_reminded_at is not None
    service.end_session(token)
    with pytest.raises(AuthenticationError):
        service.session(token)


def test_cli_adds_lists_and_deactivates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIGHTLINE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("BRIGHTLINE_DATABASE_URL", raising=False)
    runner = CliRunner()
    added = runner.invoke(app, ["reviewers", "add", "erin", "--role", "admin", "--password-stdin"], input="pw-long-1\n")
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["reviewers", "list", "--json"])
    assert '"username": "erin"' in listed.output and '"role": "admin"' in listed.output
    assert runner.invoke(app, ["reviewers", "add", "erin", "--password-stdin"], input="pw-long-2\n").exit_code == 2
    assert runner.invoke(app, ["reviewers", "add", "fay", "--password-stdin"], input="short\n").exit_code == 2
    assert runner.invoke(app, ["reviewers", "deactivate", "erin"]).exit_code == 0
    db = Database(f"sqlite:///{tmp_path / 'brightline.db'}")
    try:
        with pytest.raises(AuthenticationError):
            ReviewerService(db).authenticate("erin", "pw-long-1")
    finally:
        db.dispose()
