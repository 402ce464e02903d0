"""`brightline rules ...` through Typer's runner (SQLite only: the rule store itself runs on both backends)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brightline.actions.rulefile import parse_rules
from brightline.cli import app

RULES = """
[domains.third_party]
verified = false

[[rules]]
name = "csam-known"
domains = ["csam"]
actions = ["block", "review", "report", "webhook"]
webhook_url = "https://platform.example/hooks/brightline"
exact_min_account_matches = 1

[[rules]]
name = "hashes-3"
actions = ["review"]
min_account_matches = 3
"""


@pytest.fixture(autouse=True)
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIGHTLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BRIGHTLINE_DATABASE_URL", raising=False)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def rule_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    return path


def test_load_list_show_export_delete(rule_file: Path, tmp_path: Path) -> None:
    code, out, _ = run("rules", "load", str(rule_file))
    assert code == 0 and "loaded 2 rules" in out
    code, out, _ = run("rules", "list", "--json")
    assert code == 0
    assert [json.loads(line)["name"] for line in out.splitlines()] == ["csam-known", "hashes-3"]
    code, out, _ = run("rules", "list")
    assert "csam-known" in out and "unverified list domains" in out and "third_party" in out
    code, out, _ = run("rules", "show", "csam-known", "--json")
    assert json.loads(out)["exact_min_account_matches"] == 1
    code, out, _ = run("rules", "export")
    assert code == 0 and parse_rules(out) == parse_rules(RULES)
    assert run("rules", "delete", "hashes-3")[0] == 0
    code, _, err = run("rules", "show", "hashes-3")
    assert code == 2 and "no rule named 'hashes-3'" in err


def test_merge_keeps_other_rules(rule_file: Path, tmp_path: Path) -> None:
    run("rules", "load", str(rule_file))
    extra = tmp_path / "extra.toml"
    extra.write_text('[[rules]]\nname = "extra"\nactions = ["quarantine"]\n')
    assert run("rules", "load", str(extra), "--merge")[0] == 0
    code, out, _ = run("rules", "list", "--json")
    assert code == 0 and len(out.splitlines()) == 3
    assert run("rules", "load", str(extra))[0] == 0
    code, out, _ = run("rules", "list", "--json")
    assert code == 0 and [json.loads(line)["name"] for line in out.splitlines()] == ["extra"]


def test_check_reports_the_rule_and_key(rule_file: Path, tmp_path: Path) -> None:
    code, out, _ = run("rules", "check", str(rule_file))
    assert code == 0 and "2 rules, 1 domain policies" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nname = "oops"\nactions = ["block", "smite"]\n')
    code, _, err = run("rules", "check", str(bad))
    assert code == 2 and "rule 'oops': unknown action 'smite'" in err
    code, _, err = run("rules", "load", str(bad))
    assert code == 2
    code, out, _ = run("rules", "list", "--json")
    assert code == 0 and out == ""
