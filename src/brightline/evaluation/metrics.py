"""Recall per edit, false-match rates, ROC points and the threshold meeting a false-match-rate target.

Positives: each edited copy against the known photo it was made from. Negatives: every distractor
against every known photo, and every copy against every *other* known photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from brightline.evaluation.methods import EvalMethod, QueryRecord
from brightline.evaluation.runner import HashedCorpus
from brightline.evaluation.transforms import Edit

FMR_TARGET = 1e-6
FMR_KEY = "threshold_at_fmr_1e-6"
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ScoreTable:
    """A method's (queries, known) score matrix with what each row is; rows < copies are edited copies."""

    scores: npt.NDArray[np.int32]
    copy_owner: IntArray
    copy_edit: IntArray
    edits: Sequence[Edit]
    max_distance: int

    @property
    def copies(self) -> int:
        """Number of copy rows (the rest are distractors)."""
        return int(self.copy_owner.shape[0])


def score_method(method: EvalMethod, hashed: HashedCorpus) -> ScoreTable:
    """Score every query against every known photo; failed queries never match."""
    no_match = method.max_distance + 1
    queries = hashed.query_records[method.name]
    known = hashed.known_records[method.name]
    valid = [i for i, r in enumerate(queries) if r is not None]
    scores = np.full((len(queries), len(known)), no_match, dtype=np.int32)
    if valid and known:
        records: list[QueryRecord] = [r for r in queries if r is not None]
        scores[valid] = np.asarray(method.scores(records, known), dtype=np.int32)
    return ScoreTable(scores, hashed.copy_owner, hashed.copy_edit, hashed.edits, method.max_distance)


def _sig(x: float) -> float:
    """Round for JSON: 6 significant digits keeps tiny rates readable and output stable."""
    return float(f"{x:.6g}")


def _cumulative(counts: npt.NDArray[np.int64], max_distance: int) -> npt.NDArray[np.int64]:
    """Pairs with score <= t, for t = 0..max_distance."""
    return np.cumsum(counts[: max_distance + 1])


def _hist(values: npt.NDArray[np.int32], max_distance: int) -> npt.NDArray[np.int64]:
    clipped = np.clip(values.reshape(-1), 0, max_distance + 1)
    return np.bincount(clipped, minlength=max_distance + 2).astype(np.int64)


def threshold_at_fmr(negatives_at: npt.NDArray[np.int64], pairs: int, target: float = FMR_TARGET) -> int | None:
    """The largest threshold whose false-match rate is <= target (None if even 0 exceeds it)."""
    if pairs == 0:
        return None
    ok = np.nonzero(negatives_at / pairs <= target)[0]
    # negatives_at is non-decreasing, so the allowed thresholds are a prefix.
    return int(ok[-1]) if ok.size else None


def summarise(table: ScoreTable, threshold: int, *, closest: int = 10) -> dict[str, Any]:
    """Every figure for one method, JSON-ready (strength keys are strings)."""
    m = table.max_distance
    c = table.copies
    s = table.scores
    k = s.shape[1]
    rows = np.arange(c)
    positives = s[rows, table.copy_owner] if c else np.zeros(0, dtype=np.int32)
    pos_hist = _hist(positives, m)
    neg_copies = _hist(s[:c], m) - pos_hist
    neg_distractors = _hist(s[c:], m)
    negatives = neg_copies + neg_distractors
    pairs_copies = c * (k - 1)
    pairs_distractors = (s.shape[0] - c) * k
    pairs = pairs_copies + pairs_distractors
    neg_at = _cumulative(negatives, m)
    pos_at = _cumulative(pos_hist, m)

    recall: dict[str, dict[str, float]] = {}
    median: dict[str, dict[str, float]] = {}
    curve: dict[str, dict[str, list[float]]] = {}
    counts: dict[str, dict[str, int]] = {}
    for edit_id, edit in enumerate(table.edits):
        mine = positives[table.copy_edit == edit_id]
        n = int(mine.size)
        at = _cumulative(_hist(mine, m), m) / max(1, n)
        recall.setdefault(edit.name, {})[edit.strength] = _sig(float(np.mean(mine <= threshold))) if n else 0.0
        median.setdefault(edit.name, {})[edit.strength] = float(np.median(mine)) if n else float(m + 1)
        curve.setdefault(edit.name, {})[edit.strength] = [round(float(v), 4) for v in at]
        counts.setdefault(edit.name, {})[edit.strength] = n

    def rate(count: int, total: int) -> float:
        return _sig(count / total) if total else 0.0

    t_fmr = threshold_at_fmr(neg_at, pairs)
    allowed = int(np.floor(pairs * FMR_TARGET))
    roc = [
        {
            "threshold": t,
            "recall": rate(int(pos_at[t]), c),
            "false_match_rate": rate(int(neg_at[t]), pairs),
            "false_matches": int(neg_at[t]),
        }
        for t in range(m + 1)
    ]
    op = min(max(threshold, 0), m)
    return {
        "threshold": threshold,
        "max_distance": m,
        "recall": recall,
        "recall_overall": rate(int(pos_at[op]), c),
        "median_score": median,
        "copies": counts,
        "recall_curve": curve,
        "false_match_rate": rate(int(neg_at[op]), pairs),
        "false_matches": int(neg_at[op]),
        "negative_pairs": pairs,
        "false_match_rate_distractors": rate(int(_cumulative(neg_distractors, m)[op]), pairs_distractors),
        "negative_pairs_distractors": pairs_distractors,
        "false_match_rate_known_other": rate(int(_cumulative(neg_copies, m)[op]), pairs_copies),
        "negative_pairs_known_other": pairs_copies,
        FMR_KEY: t_fmr,
        "recall_at_fmr_1e-6": rate(int(pos_at[t_fmr]), c) if t_fmr is not None else 0.0,
        "fmr_1e-6_resolved": allowed >= 1,
        "fmr_1e-6_allowed_false_matches": allowed,
        "roc": roc,
        "closest_negatives": closest_negatives(table, closest),
    }


def closest_negatives(table: ScoreTable, n: int) -> list[dict[str, int]]:
    """The n lowest-scoring negative pairs as (query row, known column, score), ties by position."""
    s = table.scores.astype(np.int64)
    if s.size == 0 or n <= 0:
        return []
    masked = s.copy()
    c = table.copies
    masked[np.arange(c), table.copy_owner] = np.iinfo(np.int64).max  # own-copy pairs are positives
    flat = masked.reshape(-1)
    n = min(n, flat.size)
    part = np.argpartition(flat, n - 1)[:n]
    # Stable order: by score, then row-major position.
    part = part[np.lexsort((part, flat[part]))]
    k = s.shape[1]
    return [
        {"query": int(i // k), "known": int(i % k), "score": int(flat[i])}
        for i in part
        if flat[i] <= table.max_distance
    ]
