"""PNG figures for the report, drawn on matplotlib Figure objects (Agg canvas, no pyplot global state)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

Result = Mapping[str, Any]


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    # No date or version metadata: the same figures give the same bytes.
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def roc_png(name: str, result: Result) -> bytes:
    """Two panels: recall and false-match rate against threshold, and recall against FMR (log scale)."""
    roc = cast(Sequence[Mapping[str, float]], result["roc"])
    pairs = int(result["negative_pairs"])
    t = np.array([p["threshold"] for p in roc])
    recall = np.array([p["recall"] for p in roc])
    fmr = np.array([p["false_match_rate"] for p in roc])
    # Zero false matches cannot sit on a log axis; draw them at half of one pair's share.
    floor = 0.5 / max(1, pairs)
    fmr_plot = np.maximum(fmr, floor)
    op = int(result["threshold"])
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot(t, recall, color="tab:blue", label="recall (all copies)")
    left.set_xlabel("threshold (score ≤ t matches)")
    left.set_ylabel("recall", color="tab:blue")
    left.set_ylim(0, 1.02)
    left.set_xlim(0, min(int(result["max_distance"]), max(op * 3, 16)))
    twin = left.twinx()
    twin.semilogy(t, fmr_plot, color="tab:red", label="false-match rate")
    twin.axhline(1e-6, color="tab:red", linestyle=":", linewidth=1)
    twin.set_ylabel("false-match rate", color="tab:red")
    twin.set_ylim(floor / 2, 1.0)
    left.axvline(op, color="black", linestyle="--", linewidth=1)
    left.set_title(f"{name}: by threshold (operating threshold {op})")
    right.semilogx(fmr_plot, recall, color="tab:blue", marker=".", markersize=3)
    right.axvline(1e-6, color="tab:red", linestyle=":", linewidth=1, label="FMR 1e-6")
    right.axvline(floor, color="grey", linestyle="-", linewidth=0.6, label=f"no false match ({pairs:,} pairs)")
    right.plot(fmr_plot[op], recall[op], "ko", label=f"threshold {op}")
    right.set_xlim(floor / 2, 1.0)
    right.set_ylim(0, 1.02)
    right.set_xlabel("false-match rate (log)")
    right.set_ylabel("recall")
    right.set_title(f"{name}: ROC")
    right.legend(loc="lower right", fontsize=8)
    right.grid(True, which="major", alpha=0.3)
    return _png(fig)


def recall_curves_png(name: str, result: Result) -> bytes:
    """Recall against threshold for every transform (its strengths pooled)."""
    curves = cast(Mapping[str, Mapping[str, Sequence[float]]], result["recall_curve"])
    counts = cast(Mapping[str, Mapping[str, int]], result["copies"])
    fig = Figure(figsize=(11, 5), layout="constrained")
    ax = fig.subplots()
    cmap = colormaps["tab20"]
    for i, (transform, by_strength) in enumerate(curves.items()):
        weights = np.array([counts[transform][s] for s in by_strength], dtype=float)
        stacked = np.array([by_strength[s] for s in by_strength], dtype=float)
        pooled = (weights[:, None] * stacked).sum(axis=0) / max(1.0, weights.sum())
        style = "-" if i < 20 else "--"
        ax.plot(np.arange(pooled.size), pooled, style, color=cmap(i % 20), label=transform, linewidth=1.2)
    op = int(result["threshold"])
    ax.axvline(op, color="black", linestyle="--", linewidth=1)
    ax.set_xlim(0, min(int(result["max_distance"]), max(op * 3, 16)))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("threshold")
    ax.set_ylabel("recall")
    ax.set_title(f"{name}: recall by transform across thresholds (strengths pooled)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, ncols=2)
    ax.grid(True, alpha=0.3)
    return _png(fig)


def heatmap_png(results: Mapping[str, Result]) -> bytes:
    """Recall at each method's operating threshold: transform x strength rows, methods as columns."""
    methods = list(results)
    first = cast(Mapping[str, Mapping[str, float]], results[methods[0]]["recall"])
    rows = [(t, s) for t, by_strength in first.items() for s in by_strength]
    grid = np.array(
        [[float(cast(Mapping[str, Mapping[str, float]], results[m]["recall"])[t][s]) for m in methods] for t, s in rows]
    )
    fig = Figure(figsize=(2.2 + 1.3 * len(methods), 1.2 + 0.24 * len(rows)), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(grid, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(methods)), [f"{m}\n(t={results[m]['threshold']})" for m in methods], fontsize=8)
    ax.set_yticks(range(len(rows)), [f"{t} {s}" for t, s in rows], fontsize=7)
    ax.xaxis.tick_top()
    for r in range(len(rows)):
        for c in range(len(methods)):
            value = grid[r, c]
            ax.text(c, r, f"{value:.0%}", ha="center", va="center", fontsize=6.5, color="black")
    fig.colorbar(image, ax=ax, fraction=0.05, label="recall")
    return _png(fig)
