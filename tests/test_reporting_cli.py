"""`brightline reports ...` and `brightline holds ...` through Typer's runner (file-drop destination: no network)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_reporting_support import add_case, add_reviewer
from typer.testing import CliRunner

from brightline.cli import app
from brightline.store.db import Database


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("BRIGHTLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BRIGHTLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("BRIGHTLINE_REPORT_DESTINATION", "file_drop")
    monkeypatch.setenv("BRIGHTLINE_REPORT_DROP_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("BRIGHTLINE_NCMEC_REPORTER_EMAIL", "trust@example.org")
    db = Database(database_url)
    db.upgrade()
    yield db
    db.dispose()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_send_list_show_and_retract(env: Database, tmp_path: Path) -> None:
    case_id = add_case(env, decided_by=add_reviewer(env))
    code, out, err = run("reports", "send", str(case_id), "--actor", "admin:test")
    assert code == 0, err
    assert "finished" in out
    code, out, _ = run("reports", "list", "--json")
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert listed["case_id"] == case_id and listed["status"] == "finished" and listed["destination"] == "file_drop"
    code, out, _ = run("reports", "show", str(listed["id"]), "--xml")
    assert code == 0 and out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<report>')
    assert (tmp_path / "outbox" / listed["remote_id"] / "report.xml").read_text() in out
    code, out, err = run("reports", "send", str(case_id))
    assert code == 2 and "already reported" in err
    code, out, _ = run("reports", "retract", str(listed["id"]), "--reason", "appeal upheld")
    assert code == 0 and "retracted" in out


def test_send_refuses_an_unconfirmed_case(env: Database) -> None:
    case_id = add_case(env, status="open", classification=None)
    code, _out, err = run("reports", "send", str(case_id))
    assert code == 2 and "confirmed" in err


def test_cybertipline_needs_credentials(env: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIGHTLINE_REPORT_DESTINATION", "cybertipline")
    case_id = add_case(env, decided_by=add_reviewer(env))
    code, _out, err = run("reports", "send", str(case_id))
    assert code == 2 and "BRIGHTLINE_NCMEC_USERNAME" in err
    code, out, _ = run("reports", "list")
    assert code == 0 and "no reports" in out


def test_holds_place_list_check_release(env: Database) -> None:
    case_id = add_case(env)
    code, _out, _ = run("holds", "check", str(case_id))
    assert code == 0
    code, out, err = run("holds", "place", str(case_id), "--reason", "subpoena", "--days", "30")
    assert code == 0, err
    code, out, _ = run("holds", "list", "--json")
    [hold] = [json.loads(line) for line in out.splitlines()]
    assert hold["case_id"] == case_id and hold["reason"] == "subpoena" and hold["expires_at"]
    code, out, _ = run("holds", "check", str(case_id))
    assert code == 1 and json.loads(out)["holds"] == [hold["id"]]
    code, out, _ = run("holds", "release", str(hold["id"]))
    assert code == 0 and "released" in out
    code, out, _ = run("holds", "list")
    assert "no active holds" in out
