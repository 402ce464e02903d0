"""`brightline bench hash`: one JSON object with the fixed field names; a clear message without pdqhash."""

from __future__ import annotations

import builtins
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from brightline.benchmarks.hashing import corpus_photos, make_copies
from brightline.cli.bench_hash import bench_hash_command


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("hash")(bench_hash_command)

    @app.callback()
    def main() -> None:
        """A throwaway parent so that "hash" stays a sub-command."""

    return app


def test_copies_are_resized_deterministically(shared_dir: Path, tmp_path: Path) -> None:
    sources = corpus_photos(shared_dir, 2)
    first = make_copies(sources, tmp_path / "a", 0.05)
    second = make_copies(sources, tmp_path / "b", 0.05)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    from PIL import Image

    with Image.open(first[0]) as image:
        assert abs(image.width * image.height - 50_000) < 1_000


@pytest.mark.skipif(importlib.util.find_spec("pdqhash") is None, reason="pdqhash (brightline[bench]) not installed")
def test_json_report_at_a_tiny_size(shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIGHTLINE_SHARED", str(shared_dir))
    result = CliRunner().invoke(_app(), ["hash", "--megapixels", "0.05", "--limit", "3", "--rounds", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["images"] == 3
    assert report["brightline_images_per_s"] > 0 and report["pdqhash_pil_images_per_s"] > 0
    assert 0 <= report["max_distance_to_full_decode"] <= 256
    assert report["max_distance_pdqhash_to_exact"] == 0  # the exact path is bit-exact with the reference
    assert sum(report["distance_histogram"].values()) == 3


@pytest.mark.skipif(importlib.util.find_spec("pdqhash") is None, reason="pdqhash (brightline[bench]) not installed")
def test_table_for_given_paths(shared_dir: Path) -> None:
    photos = corpus_photos(shared_dir, 2)
    result = CliRunner().invoke(_app(), ["hash", "--rounds", "1", *map(str, photos)])
    assert result.exit_code == 0, result.output
    assert "pdqhash + Pillow" in result.stdout and "2 photos" in result.stdout


def test_missing_pdqhash_fails_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pdqhash(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pdqhash":
            raise ImportError("No module named 'pdqhash'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pdqhash)
    result = CliRunner().invoke(_app(), ["hash", "--json"])
    assert result.exit_code == 2
    assert "brightline[bench]" in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_bench_hash_is_registered_under_brightline_bench() -> None:
    from brightline.cli.app import app

    result = CliRunner().invoke(app, ["bench", "hash", "--help"])
    assert result.exit_code == 0 and "--megapixels" in result.output
