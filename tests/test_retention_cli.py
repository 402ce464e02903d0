"""`brightline retention run|policy` through Typer's runner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from brightline.cli import app
from brightline.privacy.retention import retention_service_from_settings
from brightline.settings import Settings
from brightline.store.db import Database
from brightline.store.models import scan_records_table, utcnow
from tests.retention_scenario import Builder

POLICY = """
[default]
unconfirmed_days = 60
[jurisdictions.eu]
max_days = 365
"""


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("BRIGHTLINE_ENVIRONMENT", "test")
    monkeypatch.setenv("BRIGHTLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BRIGHTLINE_DATABASE_URL", database_url)
    policy = tmp_path / "retention.toml"
    policy.write_text(POLICY)
    monkeypatch.setenv("BRIGHTLINE_RETENTION_FILE", str(policy))
    db = Database(database_url)
    db.upgrade()
    yield db
    db.dispose()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _scans(db: Database) -> set[int]:
    with db.engine.connect() as conn:
        return set(conn.execute(sa.select(scan_records_table.c.id)).scalars())


def test_policy_prints_the_file_merged_with_the_defaults(env: Database) -> None:
    code, out, err = run("retention", "policy", "--json")
    assert code == 0, err
    policy = json.loads(out)
    assert policy["default"] == {
        "unconfirmed_days": 60,
        "false_positive_days": 30,
        "confirmed_days": 365,
        "max_days": 0,
    }
    assert policy["jurisdictions"] == {
        "EU": {"unconfirmed_days": 60, "false_positive_days": 30, "confirmed_days": 365, "max_days": 365}
    }
    code, out, _ = run("retention", "policy")
    assert code == 0 and "EU" in out and "no limit" in out


def test_dry_run_then_run(env: Database) -> None:
    evidence = retention_service_from_settings(env, Settings()).evidence
    builder = Builder(env, evidence, utcnow())
    old = builder.scan("old", 70)
    young = builder.scan("young", 50)
    held = builder.scan("held", 70)
    builder.case(held, "open", created=70)
    builder.hold(held)
    code, out, err = run("retention", "run", "--dry-run", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["dry_run"] is True and result["deleted"]["scan"] == 1
    assert [(i["id"], i["action"], i["reason"]) for i in result["plan"]["items"]] == [
        (old.scan_id, "delete", "due"),
        (held.case_ids[0], "keep", f"kept: legal hold {held.extra['hold'][0]}"),
    ]
    assert _scans(env) == {old.scan_id, young.scan_id, held.scan_id}
    code, out, err = run("retention", "run")
    assert code == 0, err
    assert "deleted: 1 scan" in out and "kept (held or preserved): 1" in out
    assert _scans(env) == {young.scan_id, held.scan_id}


def test_a_policy_deleting_us_reports_early_is_refused(
    env: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "short.toml"
    policy.write_text("[jurisdictions.US]\nconfirmed_days = 90\n")
    monkeypatch.setenv("BRIGHTLINE_RETENTION_FILE", str(policy))
    for command in (("retention", "policy"), ("retention", "run", "--dry-run")):
        code, _out, err = run(*command)
        assert code == 2
        assert "US.confirmed_days = 90" in err and "2258A" in err
