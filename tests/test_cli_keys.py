"""`brightline keys ...` through Typer's runner, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brightline.auth import ApiKeyService
from brightline.cli import app
from brightline.errors import AuthenticationError
from brightline.store import Database


@pytest.fixture
def cli_env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BRIGHTLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BRIGHTLINE_DATABASE_URL", database_url)
    return database_url


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _authenticate(url: str, token: str) -> int:
    db = Database(url)
    try:
        return ApiKeyService(db).authenticate(token).id
    finally:
        db.dispose()


def test_keys_create_prints_the_token_alone_on_stdout(cli_env: str) -> None:
    code, out, err = run("keys", "create", "--name", "uploader", "--scopes", "scan,hash", "--rate-limit", "30")
    assert code == 0
    (token,) = out.splitlines()
    assert token.startswith("bl_") and "not be shown again" in err
    assert _authenticate(cli_env, token) == 1


def test_keys_create_json_includes_the_key_and_its_info(cli_env: str) -> None:
    code, out, _ = run("keys", "create", "--name", "ops", "--scopes", "admin", "--json")
    record = json.loads(out)
    assert code == 0 and record["key"].startswith("bl_") and record["scopes"] == ["admin"]
    assert record["name"] == "ops" and record["prefix"] in record["key"]


def test_keys_create_refuses_unknown_scopes(cli_env: str) -> None:
    code, out, err = run("keys", "create", "--name", "x", "--scopes", "scan,everything")
    assert code == 2 and out == "" and "valid scopes" in err


def test_keys_list_never_shows_secrets(cli_env: str) -> None:
    _, token, _ = run("keys", "create", "--name", "uploader", "--scopes", "scan")
    secret = token.strip().split("_", 2)[2]
    code, out, _ = run("keys", "list", "--json")
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and record["name"] == "uploader" and secret not in out
    code, table, _ = run("keys", "list")
    assert code == 0 and "uploader" in table and secret not in table


def test_keys_list_when_empty(cli_env: str) -> None:
    code, out, _ = run("keys", "list")
    assert code == 0 and "no API keys yet" in out


def test_keys_revoke_stops_the_key_working(cli_env: str) -> None:
    _, token, _ = run("keys", "create", "--name", "uploader", "--scopes", "scan")
    code, out, _ = run("keys", "revoke", "1")
    assert code == 0 and "revoked API key 1" in out
    with pytest.raises(AuthenticationError):
        _authenticate(cli_env, token.strip())
    _, listed, _ = run("keys", "list", "--json")
    assert json.loads(listed)["revoked_at"] is not None


def test_keys_revoke_of_an_unknown_id_fails(cli_env: str) -> None:
    code, _, err = run("keys", "revoke", "42")
    assert code == 2 and "no API key with id 42" in err
