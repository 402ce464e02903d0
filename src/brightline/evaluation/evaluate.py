"""One evaluation end to end: split the corpus, edit and hash, score each method, build figures and the JSON."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brightline import __version__
from brightline.evaluation import plots
from brightline.evaluation.corpus import split_corpus
from brightline.evaluation.methods import EvalMethod, MethodOptions, MethodUnavailableError, create_method
from brightline.evaluation.metrics import FMR_KEY, score_method, summarise
from brightline.evaluation.overlays import emoji_assets
from brightline.evaluation.runner import HashedCorpus, hash_corpus
from brightline.evaluation.transforms import parse_spec

DEFAULT_METHODS = ("pdq", "pdq-dihedral")
PDQ_BITS = 256
# Called with (images just hashed, total images to hash).
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate: corpus, known-list size, edits, methods, seed and operating threshold."""

    corpus: Path
    known: int = 300
    transforms: str = "standard"
    methods: tuple[str, ...] = DEFAULT_METHODS
    seed: int = 0
    threshold: int | None = None  # in PDQ's 256-bit units; scaled for methods with other widths
    distractors: int | None = None
    workers: int = 2
    min_quality: int = 50


def method_threshold(method: EvalMethod, threshold: int | None) -> int:
    """The method's default, or the given PDQ-unit threshold scaled to the method's score range."""
    if threshold is None:
        return method.default_threshold
    if method.max_distance == PDQ_BITS:
        return threshold
    return round(threshold * method.max_distance / PDQ_BITS)


def _methods(config: EvalConfig) -> tuple[list[EvalMethod], dict[str, str]]:
    methods: list[EvalMethod] = []
    skipped: dict[str, str] = {}
    for name in dict.fromkeys(config.methods):
        try:
            methods.append(create_method(name, MethodOptions(min_quality=config.min_quality)))
        except MethodUnavailableError as exc:
            skipped[name] = str(exc)
    if not methods:
        raise ValueError(f"no method could run: {'; '.join(f'{k}: {v}' for k, v in skipped.items())}")
    return methods, skipped


def _query_name(hashed: HashedCorpus, row: int) -> str:
    if row < hashed.copies:
        owner = int(hashed.copy_owner[row])
        return f"{hashed.known_files[owner]} [{hashed.edits[int(hashed.copy_edit[row])].label}]"
    return hashed.distractor_files[row - hashed.copies]


def run_evaluation(
    config: EvalConfig, progress: ProgressCallback | None = None
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Run it; returns the JSON document and the PNG figures by name (no files written)."""
    started = time.perf_counter()
    edits = parse_spec(config.transforms)
    split = split_corpus(config.corpus, config.known, config.seed, config.distractors)
    methods, skipped = _methods(config)
    total = len(split.known) * (1 + len(edits)) + len(split.distractors)
    report = progress or (lambda done, total: None)
    hashed = hash_corpus(
        split, edits, methods, seed=config.seed, workers=config.workers, progress=lambda n: report(n, total)
    )
    hashed_at = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    for method in methods:
        result = summarise(score_method(method, hashed), method_threshold(method, config.threshold))
        result["closest_negatives"] = [
            {"score": c["score"], "query": _query_name(hashed, c["query"]), "known": hashed.known_files[c["known"]]}
            for c in result["closest_negatives"]
        ]
        results[method.name] = result
    scored_at = time.perf_counter()
    figures = {"heatmap": plots.heatmap_png(results)}
    for name, result in results.items():
        figures[f"roc_{name}"] = plots.roc_png(name, result)
        figures[f"recall_{name}"] = plots.recall_curves_png(name, result)
    done = time.perf_counter()
    primary = results[methods[0].name]
    doc: dict[str, Any] = {
        "primary_method": methods[0].name,
        "recall": primary["recall"],
        "false_match_rate": primary["false_match_rate"],
        "threshold": primary["threshold"],
        FMR_KEY: primary[FMR_KEY],
        "negative_pairs": primary["negative_pairs"],
        "methods": results,
        "skipped_methods": skipped,
        "brightline_version": __version__,
        "seed": config.seed,
        "transform_spec": config.transforms,
        "edits": [e.label for e in edits],
        "min_quality": config.min_quality,
        "emoji_source": "augly-twemoji" if emoji_assets() else "drawn",
        "corpus": {**split.info(), "known_files": hashed.known_files},
        "counts": {
            "images_found": split.total,
            "known": len(hashed.known_files),
            "known_dropped": len(split.known) - len(hashed.known_files),
            "distractors": len(hashed.distractor_files),
            "edits": len(edits),
            "copies": hashed.copies,
            "images_hashed": total,
            "hash_failures": len(hashed.failures),
        },
        "failures": hashed.failures,
        "timings": {
            "hashing_s": round(hashed_at - started, 2),
            "scoring_s": round(scored_at - hashed_at, 2),
            "figures_s": round(done - scored_at, 2),
            "total_s": round(done - started, 2),
        },
    }
    return doc, figures
