"""`brightline eval` end to end on the bundled demo photos: the report files, their keys, determinism."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from brightline.cli import app

DEMO = Path(__file__).resolve().parent.parent / "src" / "brightline" / "demo" / "photos"
ARGS = ["--corpus", str(DEMO), "--known", "4", "--transforms", "crop:0.05;jpeg:50;flip:h", "--seed", "5"]


def _run(out: Path, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["eval", *ARGS, "--out", str(out), *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads((out / "report.json").read_text())
    return doc


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("eval") / "a"
    return out, _run(out)


def test_report_files_and_fixed_json_keys(first: tuple[Path, dict[str, Any]]) -> None:
    out, doc = first
    names = {p.name for p in out.iterdir()}
    assert {"report.html", "report.json", "heatmap.png", "roc_pdq.png", "roc_pdq-dihedral.png"} <= names
    assert (out / "heatmap.png").read_bytes().startswith(b"\x89PNG")
    assert set(doc["recall"]) == {"crop", "jpeg", "flip"}
    assert set(doc["recall"]["crop"]) == {"0.05"} and set(doc["recall"]["jpeg"]) == {"50"}
    assert isinstance(doc["false_match_rate"], float) and doc["threshold"] == 31
    assert list(doc["methods"]) == ["pdq", "pdq-dihedral"]
    for result in doc["methods"].values():
        assert {"recall", "false_match_rate", "threshold", "threshold_at_fmr_1e-6", "roc"} <= set(result)
        assert len(result["roc"]) == 257
    assert doc["methods"]["pdq"]["recall"] == doc["recall"]
    assert doc["methods"]["pdq-dihedral"]["recall"]["flip"]["h"] == 1.0
    assert doc["counts"]["known"] == 4 and doc["counts"]["copies"] == 12 and doc["counts"]["distractors"] == 16
    # 12 copies x 3 other known photos + 16 distractors x 4 known photos.
    assert doc["negative_pairs"] == 12 * 3 + 16 * 4
    assert json.loads(json.dumps(doc)) == doc


def test_html_embeds_the_figures_and_tables(first: tuple[Path, dict[str, Any]]) -> None:
    out, _ = first
    html = (out / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == 5  # heatmap + ROC and recall curves per method
    assert "Recall by transform" in html and "pdq-dihedral" in html and "too few pairs" in html.lower()
    assert "http://" not in html and "https://" not in html  # self-contained


def test_same_seed_gives_the_same_figures(first: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    _, doc = first
    again = _run(tmp_path / "b")
    doc, again = dict(doc), dict(again)
    doc.pop("timings")
    again.pop("timings")
    assert again == doc


def test_unknown_method_and_bad_spec_fail_cleanly(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["eval", *ARGS, "--out", str(tmp_path), "--signals", "nope"])
    assert bad.exit_code == 2 and "unknown method" in bad.stderr
    spec = runner.invoke(app, ["eval", "--corpus", str(DEMO), "--transforms", "crop:9", "--out", str(tmp_path)])
    assert spec.exit_code == 2 and "crop" in spec.stderr
