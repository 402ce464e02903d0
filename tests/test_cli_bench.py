"""`brightline bench match`: its JSON report, the realistic bank path, and the error without faiss."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from brightline.benchmarks import banks, matching
from brightline.cli import app
from brightline.cli import bench as bench_cli

needs_faiss = pytest.mark.skipif(importlib.util.find_spec("faiss") is None, reason="faiss not installed (bench extra)")
FIELDS = {"size", "queries", "brightline_qps", "faiss_flat_qps", "recall", "rss_mb", "build_s", "load_s"}


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIGHTLINE_DATA_DIR", str(tmp_path / "data"))


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@needs_faiss
def test_bench_match_json_reports_exact_recall() -> None:
    code, out, _ = run("bench", "match", "--size", "20000", "--queries", "40", "--repeat", "1", "--json")
    assert code == 0
    report = json.loads(out)
    assert report.keys() >= FIELDS
    assert report["size"] == 20000 and report["queries"] == 40
    assert report["recall"] == 1.0 and report["exact"] is True
    assert report["hits"] > 0  # planted near copies are found
    assert report["update_visible"] is True
    assert report["update_warmup_s"] > 0  # timed apart from the 10k update
    assert report["rss_mb"] > 0 and report["fresh_process"]["entries"] == 20000


@needs_faiss
def test_bench_match_realistic_bank_and_table(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    centres = banks.random_codes(30, rng)
    near = np.repeat(centres, 20, axis=0) ^ (rng.random((600, 4)) < 0.03).astype(np.uint64)
    fake = banks.RealisticCodes(near, np.repeat(np.arange(30), 20), centres ^ np.uint64(7), np.arange(30))
    seen: list[tuple[int, int]] = []
    monkeypatch.setattr(banks, "realistic_codes", lambda seed, edits, **_: seen.append((seed, edits)) or fake)
    code, out, _ = run(
        "bench",
        "match",
        "--size",
        "5000",
        "--queries",
        "20",
        "--bank",
        "realistic",
        "--repeat",
        "1",
        "--edits",
        "3",
        "--no-memory",
    )
    assert code == 0, out
    assert seen == [(0, 3)]
    assert "faiss IndexBinaryFlat" in out and "recall 1.000" in out
    assert "first-use kernel warm-up" in out


def test_bench_match_without_faiss_fails_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise matching.FaissMissingError("faiss is not installed: pip install 'brightline[bench]'")

    monkeypatch.setattr(bench_cli, "import_faiss", missing)
    code, out, err = run("bench", "match", "--size", "1000", "--json")
    assert code != 0
    assert "brightline[bench]" in err and "Traceback" not in err + out
    assert out == ""


def test_import_faiss_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "faiss", None)  # makes `import faiss` raise ImportError
    with pytest.raises(matching.FaissMissingError, match=r"brightline\[bench\]"):
        matching.import_faiss()


def test_realistic_edits_are_deterministic(shared_dir: Path) -> None:
    photo = sorted((shared_dir / "corpus" / "kodak24").iterdir())[0]
    first = banks.hash_photo(photo, 3, seed=1, edits=2)
    assert first.shape == (1 + 2 + banks.QUERY_EDITS, 4)
    assert np.array_equal(first, banks.hash_photo(photo, 3, seed=1, edits=2))


def test_realistic_codes_are_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    per_photo = [banks.random_codes(1 + 2 + banks.QUERY_EDITS, np.random.default_rng(i)) for i in range(12)]
    codes = banks._split(per_photo, 2)
    # Photo 0 is a holdout (original left out of the bank); queries are the extra edits of every photo.
    assert codes.bank.shape[0] == 12 * 3 - len(range(0, 12, banks.HOLDOUT))
    assert codes.queries.shape[0] == 12 * banks.QUERY_EDITS
    assert not np.any(np.all(codes.bank == per_photo[0][0], axis=1))
    monkeypatch.setattr(banks, "photo_paths", lambda shared: pytest.fail("should come from the cache"))
    np.savez(
        tmp_path / "realistic-pdq-seed5-edits2.npz",
        bank=codes.bank,
        bank_photo=codes.bank_photo,
        queries=codes.queries,
        query_photo=codes.query_photo,
    )
    again = banks.realistic_codes(5, 2, cache_dir=tmp_path)
    assert np.array_equal(again.bank, codes.bank) and np.array_equal(again.queries, codes.queries)
