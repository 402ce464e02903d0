"""The transparency report's charts, drawn on matplotlib Figure objects (no pyplot global state)."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure, FigureBase
from matplotlib.ticker import EngFormatter

from brightline.privacy.transparency import ErrorRate, TransparencyReport

# Sized for an A4 page's text width, so the printed charts need no scaling.
_WIDTH = 7.2
_BLUE, _RED, _GREY = "#3b6ea8", "#c0392b", "#7f7f7f"


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=_GREY)
    ax.set_xticks([])
    ax.set_yticks([])


def _bars(ax: Axes, counts: Mapping[str, int], title: str, color: str) -> None:
    ax.set_title(title, fontsize=10)
    if not counts:
        _empty(ax, "no matches in the period")
        return
    names = sorted(counts, key=lambda n: (-counts[n], n))
    values = [counts[n] for n in names]
    bars = ax.barh(names, values, color=color)
    ax.bar_label(bars, padding=2, fontsize=8)
    ax.invert_yaxis()  # largest first, at the top
    ax.set_xlim(0, max(values) * 1.2)
    ax.tick_params(labelsize=8)
    ax.set_xlabel("matched scans", fontsize=8)


def draw_matches(fig: FigureBase, report: TransparencyReport) -> None:
    """Bars of matched scans per hash list (bank) and per list domain."""
    left, right = fig.subplots(1, 2)
    _bars(left, report.matches_by_bank, "Matches by hash list", _BLUE)
    _bars(right, report.matches_by_domain, "Matches by list domain", "#5b8f5b")


def _rate_bars(ax: Axes, rates: Mapping[str, ErrorRate], title: str) -> None:
    ax.set_title(title, fontsize=10)
    if not rates:
        _empty(ax, "nothing reviewed in the period")
        return
    names = sorted(rates)
    values = [100 * (rates[n].error_rate or 0.0) for n in names]
    bars = ax.bar(names, values, color=[_RED if rates[n].error_rate is not None else _GREY for n in names])
    labels = [
        "n/a" if rates[n].error_rate is None else f"{rates[n].false_positives}/{rates[n].reviewed}" for n in names
    ]
    ax.bar_label(bars, labels=labels, padding=2, fontsize=8)
    ax.set_ylim(0, max([*values, 1.0]) * 1.25)
    ax.set_ylabel("error rate (%)", fontsize=8)
    ax.tick_params(labelsize=8)
    for label in ax.get_xticklabels():
        label.set_rotation(20)
        label.set_horizontalalignment("right")


def draw_error_rates(fig: FigureBase, report: TransparencyReport) -> None:
    """Bars of the error rate per technology and per hash list, labelled false positives / reviewed."""
    left, right = fig.subplots(1, 2)
    _rate_bars(left, report.by_technology, "Error rate by technology")
    _rate_bars(right, report.by_bank, "Error rate by hash list")


def draw_volume(fig: FigureBase, report: TransparencyReport) -> None:
    """Lines of scans (left axis) and matched scans (right axis) per month."""
    ax = fig.subplots()
    ax.set_title("Media scanned per month", fontsize=10)
    months = [m for m, _, _ in report.monthly]
    ax.plot(months, [s for _, s, _ in report.monthly], marker="o", color=_BLUE, label="scans")
    ax.set_ylabel("scans", color=_BLUE, fontsize=8)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(EngFormatter(sep=" "))  # 1.5 M, not an offset "1e6" in the corner
    twin = ax.twinx()
    twin.plot(months, [x for _, _, x in report.monthly], marker="s", color=_RED, label="matched")
    twin.set_ylabel("matched scans", color=_RED, fontsize=8)
    twin.set_ylim(bottom=0)
    for axis in (ax, twin):
        axis.tick_params(labelsize=8)
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")
    ax.grid(True, alpha=0.3)


def draw_review_time(fig: FigureBase, report: TransparencyReport) -> None:
    """Histogram of the time from a match case opening to its review decision, in hours."""
    ax = fig.subplots()
    ax.set_title("Time to review", fontsize=10)
    hours = [s / 3600 for s in report.time_to_review.values]
    if not hours:
        _empty(ax, "no reviews in the period")
        return
    ax.hist(hours, bins=min(20, max(5, len(hours))), color=_BLUE, edgecolor="white")
    median = report.time_to_review.median_seconds
    if median is not None:
        ax.axvline(median / 3600, color="black", linestyle="--", linewidth=1, label=f"median {median / 3600:.1f} h")
        ax.legend(fontsize=8)
    ax.set_xlabel("hours from case opened to decision", fontsize=8)
    ax.set_ylabel("cases", fontsize=8)
    ax.tick_params(labelsize=8)


# Each chart's drawing function and its height (inches) on a page of _WIDTH.
CHARTS: dict[str, tuple[Callable[[FigureBase, TransparencyReport], None], float]] = {
    "volume": (draw_volume, 2.7),
    "matches": (draw_matches, 2.9),
    "error_rates": (draw_error_rates, 3.0),
    "review_time": (draw_review_time, 2.6),
}


def all_figures(report: TransparencyReport) -> dict[str, Figure]:
    """Every chart, by name, in the order the report shows them."""
    figures = {}
    for name, (draw, height) in CHARTS.items():
        fig = Figure(figsize=(_WIDTH, height), layout="constrained")
        draw(fig, report)
        figures[name] = fig
    return figures


def svg(fig: Figure) -> bytes:
    """The figure as SVG (sharp when printed); no date metadata, so the same figure gives the same bytes."""
    FigureCanvasSVG(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def png(fig: Figure, dpi: int = 120) -> bytes:
    """The figure as PNG, without software metadata."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
