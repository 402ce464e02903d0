"""Evaluation metrics on a hand-computed fixture, the shared Hamming scorer and the method registry."""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from brightline.evaluation import EvalConfig, overlays, run_evaluation
from brightline.evaluation.methods import (
    HashRecord,
    MethodOptions,
    MethodUnavailableError,
    create_method,
    hamming_min_scores,
    register_method,
    registered_methods,
)
from brightline.evaluation.metrics import ScoreTable, score_method, summarise, threshold_at_fmr
from brightline.evaluation.runner import HashedCorpus
from brightline.evaluation.transforms import Edit

DEMO = Path(__file__).resolve().parent.parent / "src" / "brightline" / "demo" / "photos"
EDITS = [Edit((("crop", "0.1"),)), Edit((("jpeg", "50"),))]
# Rows: copies (known 0 x edit 0, known 0 x edit 1, known 1 x edit 0, known 1 x edit 1), then 2 distractors.
# Columns: the 2 known photos. Own-photo (positive) scores: 3, 0, 6, 1. 11 = no match (max_distance 10 + 1).
SCORES = np.array([[3, 9], [0, 7], [8, 6], [5, 1], [4, 10], [11, 2]], dtype=np.int32)
OWNER = np.array([0, 0, 1, 1])
EDIT = np.array([0, 1, 0, 1])


def _table() -> ScoreTable:
    return ScoreTable(SCORES, OWNER, EDIT, EDITS, max_distance=10)


def test_recall_per_transform_and_strength() -> None:
    r = summarise(_table(), threshold=5)
    assert r["recall"] == {"crop": {"0.1": 0.5}, "jpeg": {"50": 1.0}}
    assert r["median_score"] == {"crop": {"0.1": 4.5}, "jpeg": {"50": 0.5}}
    assert r["recall_overall"] == 0.75
    assert r["recall_curve"]["crop"]["0.1"][:7] == [0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 1.0]


def test_false_match_rate_counts_distractors_and_other_known_photos() -> None:
    r = summarise(_table(), threshold=5)
    # Negatives: copies vs the other photo 9, 7, 8, 5; distractors 4, 10, 11, 2. At <= 5: 5, 4, 2.
    assert (r["negative_pairs"], r["false_matches"], r["false_match_rate"]) == (8, 3, 0.375)
    assert (r["negative_pairs_distractors"], r["false_match_rate_distractors"]) == (4, 0.5)
    assert (r["negative_pairs_known_other"], r["false_match_rate_known_other"]) == (4, 0.25)


def test_threshold_at_fmr_and_whether_pairs_resolve_it() -> None:
    r = summarise(_table(), threshold=5)
    # 8 pairs cannot resolve 1e-6: the answer is the largest threshold with no false match (lowest negative is 2).
    assert r["threshold_at_fmr_1e-6"] == 1
    assert r["fmr_1e-6_resolved"] is False and r["fmr_1e-6_allowed_false_matches"] == 0
    assert r["recall_at_fmr_1e-6"] == 0.5
    negatives_at = np.array([0, 0, 1, 1, 2, 3, 3, 4, 5, 6, 7])
    assert threshold_at_fmr(negatives_at, 8, target=0.2) == 3
    assert threshold_at_fmr(np.array([1, 2]), 8) is None
    assert threshold_at_fmr(np.array([0, 0]), 2_000_000) == 1


def test_roc_points() -> None:
    roc = summarise(_table(), threshold=5)["roc"]
    assert len(roc) == 11
    assert roc[0] == {"threshold": 0, "recall": 0.25, "false_match_rate": 0.0, "false_matches": 0}
    assert roc[2] == {"threshold": 2, "recall": 0.5, "false_match_rate": 0.125, "false_matches": 1}
    assert roc[10] == {"threshold": 10, "recall": 1.0, "false_match_rate": 0.875, "false_matches": 7}


def test_closest_negatives_skip_own_copies() -> None:
    closest = summarise(_table(), threshold=5, closest=3)["closest_negatives"]
    assert closest == [
        {"query": 5, "known": 1, "score": 2},
        {"query": 4, "known": 0, "score": 4},
        {"query": 3, "known": 0, "score": 5},
    ]


class FixedMethod:
    """A fake method: a record's single code is its row (query) or column (known) in SCORES."""

    name = "fixed"
    max_distance = 10
    default_threshold = 5

    def hash_known(self, data: bytes) -> HashRecord:
        return HashRecord(np.array([[int(data)]], dtype=np.uint64))

    def hash_query(self, data: bytes) -> HashRecord:
        return HashRecord(np.array([[int(data)]], dtype=np.uint64))

    def scores(self, queries: Sequence[HashRecord], known: Sequence[HashRecord]) -> np.ndarray:
        rows = [int(q.codes[0, 0]) for q in queries]
        cols = [int(k.codes[0, 0]) for k in known]
        return SCORES[np.ix_(rows, cols)]


def test_score_method_treats_failed_queries_as_misses() -> None:
    method = FixedMethod()
    queries: list[HashRecord | None] = [method.hash_query(str(i).encode()) for i in range(6)]
    queries[1] = None  # hashing this copy failed
    hashed = HashedCorpus(
        methods=[method],
        edits=EDITS,
        known_files=["a.jpg", "b.jpg"],
        distractor_files=["c.jpg", "d.jpg"],
        copy_owner=OWNER,
        copy_edit=EDIT,
        known_records={"fixed": [method.hash_known(b"0"), method.hash_known(b"1")]},
        query_records={"fixed": queries},
    )
    table = score_method(method, hashed)
    assert table.scores[1].tolist() == [11, 11]
    assert summarise(table, 5)["recall"]["jpeg"]["50"] == 0.5


def test_hamming_scores_take_the_minimum_over_codes_and_drop_low_quality() -> None:
    known = [HashRecord(np.array([[0b1111]], dtype=np.uint64)), HashRecord(np.array([[0]], dtype=np.uint64), 10)]
    queries = [
        HashRecord(np.array([[0b0001], [0b0111]], dtype=np.uint64)),  # distances to known 0: 3 and 1
        HashRecord(np.array([[0b11110000]], dtype=np.uint64)),
    ]
    scores = hamming_min_scores(queries, known, no_match=65, min_quality=50)
    assert scores.tolist() == [[1, 65], [8, 65]]
    wide = [HashRecord(np.array([[2**64 - 1] * 4], dtype=np.uint64))]
    assert hamming_min_scores(wide, [HashRecord(np.zeros((1, 4), np.uint64))], no_match=257).tolist() == [[256]]


def test_pdq_dihedral_matches_a_mirrored_copy_that_plain_pdq_misses() -> None:
    photo = sorted((DEMO / "known").iterdir())[0]
    with Image.open(photo) as im:
        buf = io.BytesIO()
        ImageOps.mirror(im.convert("RGB")).save(buf, "JPEG", quality=95)
    plain, dihedral = (create_method(n, MethodOptions()) for n in ("pdq", "pdq-dihedral"))
    known = [plain.hash_known(photo.read_bytes())]
    assert dihedral.hash_query(buf.getvalue()).codes.shape == (8, 4)
    assert plain.scores([plain.hash_query(buf.getvalue())], known)[0, 0] > 31
    assert dihedral.scores([dihedral.hash_query(buf.getvalue())], known)[0, 0] <= 31


def test_registry_runs_new_methods_and_skips_unavailable_ones(tmp_path: Path) -> None:
    def unavailable(options: MethodOptions) -> FixedMethod:
        raise MethodUnavailableError("not installed here")

    register_method("test-unavailable", unavailable, "always missing")
    assert "test-unavailable" in registered_methods()
    with pytest.raises(KeyError):
        create_method("no-such-method", MethodOptions())
    config = EvalConfig(DEMO, known=3, transforms="jpeg:50", methods=("pdq", "test-unavailable"), distractors=4)
    doc, figures = run_evaluation(config)
    assert doc["skipped_methods"] == {"test-unavailable": "not installed here"}
    assert list(doc["methods"]) == ["pdq"]
    assert doc["recall"] == {"jpeg": {"50": 1.0}}
    assert {"heatmap", "roc_pdq", "recall_pdq"} <= set(figures)


def test_baselines_are_unavailable_without_imagehash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "imagehash", None)  # import now raises ImportError
    with pytest.raises(MethodUnavailableError, match="imagehash"):
        create_method("phash", MethodOptions())


def test_emoji_are_drawn_when_augly_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(overlays, "emoji_assets", lambda: ())
    base = Image.new("RGB", (200, 150), (20, 60, 90))
    out = Edit((("emoji", "0.3"),)).apply(base, 0, "x")
    with Image.open(io.BytesIO(out)) as im:
        assert im.size == (200, 150)
        assert np.abs(np.asarray(im, np.int16) - np.asarray(base, np.int16)).max() > 100
